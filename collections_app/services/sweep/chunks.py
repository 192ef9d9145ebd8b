"""A sweep as a plan of chunks (loan chunks open cases, then case chunks do the rest), one chunk
(atomic), and a whole sweep in this process (the `sweep` command)."""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min, Q

from ...models import Case, Loan
from ...workflow import OPEN_STATES, State
from .base import (
    DEFAULT_CHUNK,
    ESCALATION_STEPS,
    REFRESH_LOOKBACK_DAYS,
    _is_postgres,
    _lender_today,
    _reopen_window_start,
    is_month_end,
)
from .opening import _open_cases, _reopen_recently_resolved
from .steps import _OrmSteps, _PgSteps


@dataclass
class SweepReport:
    as_of: date
    counts: Counter = field(default_factory=Counter)
    timings: Counter = field(default_factory=Counter)  # seconds: `plan_steps`, `chunk` (every chunk)
    extra_lines: list = field(default_factory=list)  # what ran after the chunks (risk scoring)

    def add(self, key, n):
        if n:
            self.counts[key] += n

    def lines(self):
        c = self.counts
        return [
            f"sweep for {self.as_of.isoformat()}",
            f"  opened: {c['opened']}  reopened: {c['reopened']}",
            f"  escalated: to call {c['escalated_call']}, to visit {c['escalated_visit']}",
            f"  legal referrals requested: {c['legal_requested']}",
            f"  amounts changed: {c['amounts_changed']}  resolved: {c['resolved']}",
            f"  promises broken: {c['promises_broken']}  kept: {c['promises_kept']}",
            f"  plans expired: {c['plans_expired']}  kept: {c['plans_kept']} (settlements closed: {c['settled']})"
            f"  broken: {c['plans_broken']}  instalments re-marked: {c['plan_instalments_changed']}"
            f"  ({self.timings['plan_steps']:.2f} s of {self.timings['chunk']:.2f} s)",
            f"  month-end snapshot rows: {c['snapshot']}",
            f"  reminders planned: {c['reminders_planned']}  suppressed: {c['reminders_suppressed']}",
            *self.extra_lines,
        ]


def _ranges(lo, hi, size):
    if lo is None:
        return []
    return [(start, min(start + size - 1, hi)) for start in range(lo, hi + 1, size)]


MAX_ID = 2**63 - 1


def sweep_plan(as_of, chunk_size=DEFAULT_CHUNK):
    """The chunks of a sweep, in the order they must run: ("loans", lo, hi) chunks open cases, then
    ("cases", lo, hi) chunks do the rest. The last case chunk is open-ended, so cases opened by this
    very sweep are escalated and referred by it too."""
    loans = Loan.objects.aggregate(lo=Min("id"), hi=Max("id"))
    # Cases resolved within the reopen window may be reopened by the loan chunks: cover their ids too.
    cases = Case.objects.filter(
        Q(state__in=OPEN_STATES) | Q(state=State.RESOLVED, resolved_at__gte=_reopen_window_start(as_of))
    ).aggregate(lo=Min("id"), hi=Max("id"))
    case_ranges = _ranges(cases["lo"], cases["hi"], chunk_size)
    last_seen = Case.objects.aggregate(hi=Max("id"))["hi"] or 0
    case_ranges.append((max(last_seen, cases["hi"] or 0) + 1, MAX_ID))
    return [("loans", lo, hi) for lo, hi in _ranges(loans["lo"], loans["hi"], chunk_size)] + [
        ("cases", lo, hi) for lo, hi in case_ranges
    ]


def _without_jit():
    """For this chunk's transaction. PostgreSQL compiles a statement whose estimated cost passes
    `jit_above_cost`; most of a chunk's statements pass it, and compiling each took 80-230 ms of a
    statement that ran in 50-900 ms (EXPLAIN ANALYZE at 1M cases): more than JIT ever won back."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


def sweep_chunk(*, as_of, kind, lo, hi, full_refresh=False, timings=None):
    """One chunk, atomic. Returns a Counter of what it changed; `timings` (a Counter), when given,
    gains the seconds its plan steps took (`plan_steps`) and the whole chunk's (`chunk`).

    Amounts change through the services the moment money or a schedule moves; what the sweep adds
    is instalments falling due, so it re-reads only loans with an instalment due in the last
    REFRESH_LOOKBACK_DAYS (a week of missed runs is caught up). `full_refresh` re-reads every loan.

    Plan steps run before the case is resolved or escalated: a plan kept today resolves (or, a
    settlement, closes) its case today. Breaking runs after escalation: a plan broken today lets the
    case escalate from the next sweep, one stage per sweep (CONTRACT.md)."""
    counts = Counter()
    timings = timings if timings is not None else Counter()
    started = time.perf_counter()
    with transaction.atomic():
        if _is_postgres():
            _without_jit()
        if kind == "loans":
            counts.update(_open_cases(as_of, lo, hi))
        else:
            since = None if full_refresh else as_of - timedelta(days=REFRESH_LOOKBACK_DAYS)
            steps = (_PgSteps if _is_postgres() else _OrmSteps)(as_of, lo, hi, since)
            counts["amounts_changed"] += steps.refresh_amounts()
            plans_started = time.perf_counter()
            steps.plans_lock_cases()
            counts["plans_expired"] += steps.plans_expire()
            counts["plan_instalments_changed"] += steps.plans_refresh_met()
            kept, settled = steps.plans_keep()
            counts["plans_kept"] += kept
            counts["settled"] += settled
            plan_seconds = time.perf_counter() - plans_started
            counts["resolved"] += steps.resolve_paid()
            for from_state, to_state, name, threshold in ESCALATION_STEPS:
                counts[f"escalated_{to_state}"] += steps.escalate(from_state, to_state, name, threshold)
            counts["legal_requested"] += steps.request_legal()
            # After escalation: a plan broken today lets the case escalate from the next sweep
            # (CONTRACT.md), one stage per sweep.
            plans_started = time.perf_counter()
            counts["plans_broken"] += steps.plans_break()
            timings["plan_steps"] += plan_seconds + time.perf_counter() - plans_started
            kept, broken = steps.settle_promises()
            counts["promises_kept"] += kept
            counts["promises_broken"] += broken
            if is_month_end(as_of):
                counts["snapshot"] += steps.snapshot()
    # The reopen path goes through the service, in its own transactions.
    if kind == "loans":
        counts["reopened"] += _reopen_recently_resolved(as_of, lo, hi)
    timings["chunk"] += time.perf_counter() - started
    return +counts


def sweep_run(
    *, as_of=None, chunk_size=DEFAULT_CHUNK, plan_reminders=True, on_chunk=None, full_refresh=False, score_risk=False
):
    """Run a whole sweep in this process (the `sweep` command; the Celery path runs chunk tasks).
    `score_risk`: score risk after the chunks and before the reminder plan, as the nightly chain
    does (tasks/risk.py); a failed scoring is reported and leaves the previous scores."""
    from ..reminders import reminders_plan

    as_of = as_of or _lender_today()
    report = SweepReport(as_of)
    for kind, lo, hi in sweep_plan(as_of, chunk_size):
        done = sweep_chunk(as_of=as_of, kind=kind, lo=lo, hi=hi, full_refresh=full_refresh, timings=report.timings)
        report.counts.update(done)
        if on_chunk:
            on_chunk(kind, lo, hi, done)
    if score_risk:
        from ..risk.score import risk_score  # numpy loads with the scoring only

        run = risk_score(as_of=as_of)
        report.extra_lines.append(
            f"  risk scored: {run.counts.get('cases', 0)} cases, {run.counts.get('loans', 0)} loans due soon"
            if run.status == "ok"
            else f"  risk scoring FAILED (previous scores kept): {run.error.splitlines()[0] if run.error else ''}"
        )
    if plan_reminders:
        planned = reminders_plan(as_of=as_of)
        report.add("reminders_planned", planned.queued)
        report.add("reminders_suppressed", planned.suppressed)
    return report
