"""The daily escalation sweep: set-based and chunked.

For an as-of date, per chunk of ids, each chunk in one transaction:
1. open cases for newly overdue loans at the stage their DPD maps to (loan-id chunks);
   loans whose case was resolved within the reopen window are reopened through the service;
2. bring amounts in step with instalments that fell due (`amounts_changed`), resolve cases with
   nothing overdue, escalate by the strategy's thresholds (never under an active hold; a case that
   was held catches up one transition, one event, at a time), request legal review for visit
   cases past the legal threshold, settle promises whose date passed (broken ones come forward in
   the worklist);
3. on a month's last day, write the month-end snapshot.
On PostgreSQL each step is one statement: a writable CTE whose `UPDATE ... RETURNING` feeds the
event insert. On SQLite (the embedded default) the same result comes from the ORM and the services,
more slowly. Every step selects only rows still needing the change, so a rerun changes nothing and a
worker killed mid-sweep leaves whole chunks that the rerun completes.

Modules: `base` (constants, the clock, SQL templating), `chunks` (the plan, one chunk, a whole
sweep), `opening` (new and reopened cases), `steps` (a case chunk's steps, PostgreSQL and ORM),
`runs` (runs of chunk tasks, claimed with leases).
"""

from .base import DEFAULT_CHUNK, REFRESH_LOOKBACK_DAYS, SWEEP_REASON, is_month_end
from .chunks import SweepReport, sweep_chunk, sweep_plan, sweep_run
from .runs import (
    MAX_CHUNK_ATTEMPTS,
    STALL_GRACE_SECONDS,
    ChunkOutcome,
    sweep_chunk_claim,
    sweep_chunk_next,
    sweep_requeue,
    sweep_start,
)

__all__ = [
    "DEFAULT_CHUNK",
    "MAX_CHUNK_ATTEMPTS",
    "REFRESH_LOOKBACK_DAYS",
    "STALL_GRACE_SECONDS",
    "SWEEP_REASON",
    "ChunkOutcome",
    "SweepReport",
    "is_month_end",
    "sweep_chunk",
    "sweep_chunk_claim",
    "sweep_chunk_next",
    "sweep_plan",
    "sweep_requeue",
    "sweep_run",
    "sweep_start",
]
