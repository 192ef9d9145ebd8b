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
"""
import calendar as month_calendar
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min, Q, Sum
from django.utils import timezone

from ..events import SqlKinds, event_kind
from ..models import (
    Bucket, Case, CaseEvent, Hold, Instalment, LegalReferral, Loan, MonthEndSnapshot, Payment, PromiseToPay,
    Strategy,
)
from ..strategy import DEFAULT_THRESHOLDS
from ..workflow import OPEN_STATES, State
from .cases import WITHDRAWN_REASON
from .webhooks import pg_outbox_cte

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 50_000
REFRESH_LOOKBACK_DAYS = 7
SWEEP_REASON = "sweep"
LEGAL_RETRY_DAYS = 30  # a rejected referral is not asked again for this long
BROKEN_PROMISE_PRIORITY_BUMP = 20
ESCALATION_STEPS = (  # (from, to, transition, threshold field)
    (State.REMINDER, State.CALL, "start_calls", "call_at_dpd"),
    (State.CALL, State.VISIT, "schedule_visit", "visit_at_dpd"),
)


@dataclass
class SweepReport:
    as_of: date
    counts: Counter = field(default_factory=Counter)

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
            f"  month-end snapshot rows: {c['snapshot']}",
            f"  reminders planned: {c['reminders_planned']}  suppressed: {c['reminders_suppressed']}",
        ]


def _is_postgres():
    return connection.vendor == "postgresql"


def is_month_end(day):
    return day.day == month_calendar.monthrange(day.year, day.month)[1]


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


def sweep_chunk(*, as_of, kind, lo, hi, full_refresh=False):
    """One chunk, atomic. Returns a Counter of what it changed.

    Amounts change through the services the moment money or a schedule moves; what the sweep adds
    is instalments falling due, so it re-reads only loans with an instalment due in the last
    REFRESH_LOOKBACK_DAYS (a week of missed runs is caught up). `full_refresh` re-reads every loan."""
    counts = Counter()
    with transaction.atomic():
        if kind == "loans":
            counts.update(_open_cases(as_of, lo, hi))
        else:
            since = None if full_refresh else as_of - timedelta(days=REFRESH_LOOKBACK_DAYS)
            steps = (_PgSteps if _is_postgres() else _OrmSteps)(as_of, lo, hi, since)
            counts["amounts_changed"] += steps.refresh_amounts()
            counts["resolved"] += steps.resolve_paid()
            for from_state, to_state, name, threshold in ESCALATION_STEPS:
                counts[f"escalated_{to_state}"] += steps.escalate(from_state, to_state, name, threshold)
            counts["legal_requested"] += steps.request_legal()
            kept, broken = steps.settle_promises()
            counts["promises_kept"] += kept
            counts["promises_broken"] += broken
            if is_month_end(as_of):
                counts["snapshot"] += steps.snapshot()
    # The reopen path goes through the service, in its own transactions.
    if kind == "loans":
        counts["reopened"] += _reopen_recently_resolved(as_of, lo, hi)
    return +counts


def sweep_run(*, as_of=None, chunk_size=DEFAULT_CHUNK, plan_reminders=True, on_chunk=None, full_refresh=False):
    """Run a whole sweep in this process (the `sweep` command; the Celery path runs chunk tasks)."""
    from .reminders import reminders_plan

    as_of = as_of or _lender_today()
    report = SweepReport(as_of)
    for kind, lo, hi in sweep_plan(as_of, chunk_size):
        done = sweep_chunk(as_of=as_of, kind=kind, lo=lo, hi=hi, full_refresh=full_refresh)
        report.counts.update(done)
        if on_chunk:
            on_chunk(kind, lo, hi, done)
    if plan_reminders:
        planned = reminders_plan(as_of=as_of)
        report.add("reminders_planned", planned.queued)
        report.add("reminders_suppressed", planned.suppressed)
    return report


# --- runs of chunk tasks: claimed with a lease, resumable -----------------------------------

STALL_GRACE_SECONDS = 60  # a run with no live lease and no progress this long is handed on
MAX_CHUNK_ATTEMPTS = 3  # a chunk that raised this many times is marked failed and skipped


@dataclass
class ChunkOutcome:
    """What `sweep_chunk_next` did: `ran` a chunk (more may follow), found the next chunk `busy`
    (claimed by a live worker), `finished` the run (the caller plans the reminders), or found it
    already `over`."""

    outcome: str
    chunk_id: int | None = None
    counts: dict = field(default_factory=dict)
    as_of: date | None = None  # the run's date, when `finished` (the reminders to plan are that day's)


class _LeaseLost(Exception):
    """Our lease expired and another worker claimed the chunk: roll our work back, it runs there."""


def sweep_start(*, as_of, chunk_size=DEFAULT_CHUNK, full_refresh=False):
    """Record a run and its chunks (in the order they must run); workers then claim them one by one."""
    from ..models import SweepChunk, SweepRun

    chunks = sweep_plan(as_of, chunk_size)
    with transaction.atomic():
        run = SweepRun.objects.create(as_of=as_of, chunks_total=len(chunks), full_refresh=full_refresh)
        SweepChunk.objects.bulk_create(
            SweepChunk(run=run, seq=seq, kind=kind, lo=lo, hi=hi) for seq, (kind, lo, hi) in enumerate(chunks))
    return run


def _lease():
    return timedelta(seconds=settings.COLLECTIONS_SWEEP_LEASE_SECONDS)


def sweep_chunk_claim(*, run_id, now=None):
    """Claim the run's next chunk, by one conditional UPDATE: the first chunk not done that is
    pending or whose lease has expired. Chunks run in order (openings before the cases), so while the
    next one is held by a live lease nothing is claimed. Returns (chunk or None, outcome)."""
    from ..models import SweepChunk

    now = now or _now()
    Status = SweepChunk.Status
    nxt = (SweepChunk.objects.filter(run_id=run_id, status__in=[Status.PENDING, Status.RUNNING])
           .order_by("seq").first())
    if nxt is None:
        return None, "over"
    claimed = (
        SweepChunk.objects.filter(pk=nxt.pk, attempts=nxt.attempts)
        .filter(Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_until__lt=now))
        .update(status=Status.RUNNING, lease_until=now + _lease(), attempts=F("attempts") + 1)
    )
    if not claimed:
        return None, "busy"
    nxt.refresh_from_db()
    return nxt, "claimed"


def _finish_run(run, now):
    """Mark the run finished once (under its row lock); True if this call did it."""
    from ..models import SweepChunk

    if run.finished_at is not None:
        return False
    if SweepChunk.objects.filter(run_id=run.pk, status__in=["pending", "running"]).exists():
        return False
    run.finished_at = now
    return True


def sweep_chunk_next(*, run_id):
    """Claim the run's next chunk and run it. The chunk's work, its `done` mark and the run's counts
    commit in one transaction, so a chunk counts once per run however often it is redelivered; if
    our lease was lost to another worker meanwhile, our work rolls back."""
    from ..models import SweepChunk, SweepRun

    chunk, outcome = sweep_chunk_claim(run_id=run_id)
    if chunk is None:
        if outcome == "over":
            with transaction.atomic():
                run = SweepRun.objects.select_for_update().filter(pk=run_id).first()
                if run and _finish_run(run, _now()):
                    run.save(update_fields=["finished_at"])
                    return ChunkOutcome("finished", as_of=run.as_of)
        return ChunkOutcome(outcome)
    run = SweepRun.objects.get(pk=run_id)
    try:
        with transaction.atomic():
            counts = sweep_chunk(as_of=run.as_of, kind=chunk.kind, lo=chunk.lo, hi=chunk.hi,
                                 full_refresh=run.full_refresh)
            now = _now()
            marked = SweepChunk.objects.filter(pk=chunk.pk, status="running", attempts=chunk.attempts).update(
                status="done", lease_until=None, counts=dict(counts), finished_at=now)
            if not marked:
                raise _LeaseLost
            run = SweepRun.objects.select_for_update().get(pk=run_id)
            merged = dict(run.counts)
            for key, n in counts.items():
                merged[key] = merged.get(key, 0) + n
            run.counts, run.chunks_done = merged, run.chunks_done + 1
            finished = _finish_run(run, now)
            run.save(update_fields=["counts", "chunks_done", "finished_at"])
    except _LeaseLost:
        log.warning("sweep chunk %s: lease lost to another worker; its work rolled back here", chunk.pk)
        return ChunkOutcome("busy", chunk.pk)
    except Exception as exc:
        give_up = chunk.attempts >= MAX_CHUNK_ATTEMPTS
        SweepChunk.objects.filter(pk=chunk.pk, status="running", attempts=chunk.attempts).update(
            status="failed" if give_up else "pending", lease_until=None, error=repr(exc)[:2000])
        log.exception("sweep chunk %s (%s %s-%s) failed, attempt %s%s", chunk.pk, chunk.kind, chunk.lo, chunk.hi,
                      chunk.attempts, ": given up" if give_up else "")
        raise
    return ChunkOutcome("finished" if finished else "ran", chunk.pk, dict(counts), run.as_of if finished else None)


def sweep_requeue(*, now=None):
    """Ids of the runs to hand on: unfinished, the newest for their date and not superseded by a
    later one, with no live lease and no progress for STALL_GRACE_SECONDS (a worker died holding a
    chunk, or the message for the next chunk was lost). Handing on twice is harmless: claims are
    conditional."""
    from django.db.models import Exists, OuterRef

    from ..models import SweepChunk, SweepRun

    now = now or _now()
    quiet_since = now - timedelta(seconds=STALL_GRACE_SECONDS)
    latest = SweepRun.objects.order_by("-as_of", "-started_at").first()
    if latest is None:
        return []
    live = SweepChunk.objects.filter(run_id=OuterRef("pk"), status="running", lease_until__gte=now)
    recent = SweepChunk.objects.filter(run_id=OuterRef("pk"), finished_at__gte=quiet_since)
    runs = (SweepRun.objects.filter(finished_at__isnull=True, as_of=latest.as_of, started_at__lt=quiet_since,
                                    started_at__gte=now - timedelta(days=1))
            .exclude(Exists(live)).exclude(Exists(recent)))
    return list(runs.values_list("pk", flat=True))


def _lender_today():
    from ..calendar import lender_today

    return lender_today()


def _now():
    return timezone.now()


def _reopen_window_start(as_of):
    start_day = as_of - timedelta(days=settings.COLLECTIONS_REOPEN_WINDOW_DAYS)
    return datetime.combine(start_day, time(0), tzinfo=settings.LENDER_TIME_ZONE)


# --- opening --------------------------------------------------------------------------------


def _open_cases(as_of, lo, hi):
    if _is_postgres():
        return Counter(opened=_pg_open_cases(as_of, lo, hi))
    return Counter(opened=_orm_open_cases(as_of, lo, hi))


def _overdue_loans_without_case(as_of, lo, hi):
    """Loans in [lo, hi] with something past due, no open case and no case resolved within the
    reopen window (those are reopened instead)."""
    recent = _reopen_window_start(as_of)
    return (
        Loan.objects.filter(id__gte=lo, id__lte=hi)
        .filter(instalments__due_date__lt=as_of, instalments__amount_paid__lt=F("instalments__amount_due"))
        .exclude(cases__state__in=OPEN_STATES)
        .exclude(cases__state=State.RESOLVED, cases__resolved_at__gte=recent)
        .distinct()
    )


def _orm_open_cases(as_of, lo, hi):
    from .cases import case_sync_with_loan

    opened = 0
    for loan_id in _overdue_loans_without_case(as_of, lo, hi).values_list("id", flat=True):
        if case_sync_with_loan(loan_id=loan_id, as_of=as_of, cause=SWEEP_REASON).action == "opened":
            opened += 1
    return opened


def _reopen_recently_resolved(as_of, lo, hi):
    from .cases import case_sync_with_loan

    recent = _reopen_window_start(as_of)
    loan_ids = (
        Loan.objects.filter(id__gte=lo, id__lte=hi, cases__state=State.RESOLVED, cases__resolved_at__gte=recent)
        .filter(instalments__due_date__lt=as_of, instalments__amount_paid__lt=F("instalments__amount_due"))
        .exclude(cases__state__in=OPEN_STATES)
        .values_list("id", flat=True).distinct()
    )
    return sum(
        case_sync_with_loan(loan_id=loan_id, as_of=as_of, cause=SWEEP_REASON).action == "reopened"
        for loan_id in loan_ids
    )


def _tables():
    t = {m.__name__: m._meta.db_table for m in (
        Case, CaseEvent, Hold, Instalment, LegalReferral, Loan, MonthEndSnapshot, Payment, PromiseToPay, Strategy,
        Bucket,
    )}
    t["open_states"] = "('reminder', 'call', 'visit', 'legal')"
    return t


_ACTIVE_HOLD_SQL = """EXISTS (SELECT 1 FROM {Hold} h WHERE h.borrower_id = {alias}.borrower_id
    AND h.lifted_at IS NULL AND h.starts_at <= %(now)s AND (h.ends_at IS NULL OR h.ends_at > %(now)s))"""


class _StrategySql:
    """How a statement learns each case's thresholds. With only the default strategy (the common
    case) they are literals and no join is needed; with product strategies, loan and strategy are
    joined (a chunk then also reads those rows)."""

    def __init__(self):
        strategies = {st.product: st for st in Strategy.objects.all()}
        default = strategies.pop("", None)
        self.by_product = bool(strategies)
        base = default.thresholds if default else DEFAULT_THRESHOLDS
        self.defaults = {"call_at_dpd": base.call, "visit_at_dpd": base.visit, "legal_at_dpd": base.legal}

    def join(self, alias):
        if not self.by_product:
            return ""
        return f"""JOIN {{Loan}} l ON l.id = {alias}.loan_id
    LEFT JOIN {{Strategy}} s ON s.product = l.product AND s.product <> ''"""

    def threshold(self, field_name):
        default = int(self.defaults[field_name])
        return f"COALESCE(s.{field_name}, {default})" if self.by_product else str(default)


def _sql(template, alias="c", strategy=None):
    t = _tables()
    text = template.replace("{ACTIVE_HOLD}", _ACTIVE_HOLD_SQL.replace("{alias}", alias))
    if "{WEBHOOKS" in text:  # the webhook outbox, fed by the `ev` CTE in the same statement
        text = text.replace("{WEBHOOKS_OPENED}", pg_outbox_cte("ev", cases="opened"))
        text = text.replace("{WEBHOOKS}", pg_outbox_cte("ev"))
    if strategy is not None:
        text = text.replace("{STRATEGY_JOIN}", strategy.join(alias))
        for name in ("call_at_dpd", "visit_at_dpd", "legal_at_dpd"):
            text = text.replace("{" + name.upper() + "}", strategy.threshold(name))
    return text.format(**t, kind=SqlKinds())  # {kind[opened]}: a registered kind (events.py)


def _execute(sql, params):
    """Runs one statement; returns the rows it wrote, or the count a statement selects last (one
    whose event insert is a CTE feeding the webhook outbox ends `SELECT count(*) FROM ev`)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is not None:
            return cursor.fetchone()[0]
        return cursor.rowcount


def _pg_open_cases(as_of, lo, hi):
    strategy = _StrategySql()
    sql = _sql("""
WITH arrears AS (
    SELECT i.loan_id, MIN(i.due_date) AS oldest, MAX(i.due_date) AS newest, SUM(i.amount_due - i.amount_paid) AS amount
    FROM {Instalment} i
    WHERE i.loan_id BETWEEN %(lo)s AND %(hi)s AND i.due_date < %(as_of)s AND i.amount_paid < i.amount_due
    GROUP BY i.loan_id
), candidates AS (
    SELECT c.loan_id, c.borrower_id, c.oldest, c.newest, c.amount, (%(as_of)s::date - c.oldest) AS dpd,
           {CALL_AT_DPD} AS call_at, {VISIT_AT_DPD} AS visit_at, {ACTIVE_HOLD} AS on_hold
    FROM (SELECT a.*, l0.borrower_id FROM arrears a JOIN {Loan} l0 ON l0.id = a.loan_id
          WHERE l0.id BETWEEN %(lo)s AND %(hi)s) c
    {STRATEGY_JOIN}
    WHERE NOT EXISTS (
        SELECT 1 FROM {Case} k WHERE k.loan_id = c.loan_id AND k.loan_id BETWEEN %(lo)s AND %(hi)s
        AND (k.state IN {open_states} OR (k.state = 'resolved' AND k.resolved_at >= %(recent)s)))
      -- a close (settled, written off) covers the arrears due up to its day; see _covered_by_close
      AND NOT EXISTS (
        SELECT 1 FROM {Case} k WHERE k.loan_id = c.loan_id AND k.loan_id BETWEEN %(lo)s AND %(hi)s
        AND k.state = 'closed' AND (k.closed_at AT TIME ZONE %(tz)s)::date >= c.newest
        AND k.id = (SELECT MAX(k2.id) FROM {Case} k2 WHERE k2.loan_id = c.loan_id
                    AND k2.loan_id BETWEEN %(lo)s AND %(hi)s))
), opened AS (
    INSERT INTO {Case} (loan_id, borrower_id, state, oldest_unpaid_due_date, amount_overdue, priority,
                        opened_at, updated_at, close_reason)
    SELECT loan_id, borrower_id,
           CASE WHEN on_hold THEN 'reminder' WHEN dpd >= visit_at THEN 'visit'
                WHEN dpd >= call_at THEN 'call' ELSE 'reminder' END,
           oldest, amount, 0, %(now)s, %(now)s, ''
    FROM candidates
    ORDER BY loan_id
    ON CONFLICT (loan_id) WHERE state IN {open_states} DO NOTHING
    RETURNING id, loan_id, state, oldest_unpaid_due_date, amount_overdue
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[opened]}, 'system', '', state, %(reason)s,
       jsonb_build_object('dpd', %(as_of)s::date - oldest_unpaid_due_date,
                          'amount_overdue', amount_overdue::text,
                          'oldest_unpaid_due_date', oldest_unpaid_due_date::text),
       %(now)s
FROM opened
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS_OPENED}
SELECT count(*) FROM ev
""", strategy=strategy)
    return _execute(sql, {"lo": lo, "hi": hi, "as_of": as_of, "now": _now(), "recent": _reopen_window_start(as_of),
                          "reason": SWEEP_REASON, "tz": str(settings.LENDER_TIME_ZONE)})


# --- case chunks ----------------------------------------------------------------------------


class _PgSteps:
    """Each step one statement; `UPDATE ... RETURNING` feeds the event insert in the same statement,
    and the event insert's RETURNING feeds the webhook outbox (`{WEBHOOKS}`, services/webhooks.py)."""

    def __init__(self, as_of, lo, hi, since=None):
        self.params = {"as_of": as_of, "lo": lo, "hi": hi, "now": _now(), "reason": SWEEP_REASON,
                       "tz": str(settings.LENDER_TIME_ZONE), "since": since, "full": since is None}
        self.strategy = _StrategySql()

    def run(self, template, alias="c", **extra):
        return _execute(_sql(template, alias, self.strategy), {**self.params, **extra})

    def refresh_amounts(self):
        return self.run("""
WITH current AS (
    SELECT c.id, c.amount_overdue AS before, c.oldest_unpaid_due_date AS oldest_before,
           a.oldest, COALESCE(a.amount, 0.00) AS amount
    FROM {Case} c
    LEFT JOIN LATERAL (
        SELECT MIN(i.due_date) AS oldest, SUM(i.amount_due - i.amount_paid) AS amount
        FROM {Instalment} i
        WHERE i.loan_id = c.loan_id AND i.due_date < %(as_of)s AND i.amount_paid < i.amount_due
    ) a ON TRUE
    WHERE c.id BETWEEN %(lo)s AND %(hi)s AND c.state IN {open_states}
      AND (%(full)s OR EXISTS (SELECT 1 FROM {Instalment} n WHERE n.loan_id = c.loan_id
                               AND n.due_date >= %(since)s AND n.due_date < %(as_of)s))
), changed AS (
    UPDATE {Case} c SET amount_overdue = cur.amount, oldest_unpaid_due_date = cur.oldest, updated_at = %(now)s
    FROM current cur
    WHERE c.id = cur.id AND c.id BETWEEN %(lo)s AND %(hi)s
      AND (c.amount_overdue <> cur.amount OR c.oldest_unpaid_due_date IS DISTINCT FROM cur.oldest)
    RETURNING c.id, cur.before, cur.amount, cur.oldest
)
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[amounts_changed]}, 'system', '', '', %(reason)s,
       jsonb_build_object('amount_overdue_before', before::text, 'amount_overdue', amount::text,
                          'oldest_unpaid_due_date', oldest::text),
       %(now)s
FROM changed
""")

    def resolve_paid(self):
        return self.run("""
WITH before AS (
    SELECT id, state FROM {Case}
    WHERE id BETWEEN %(lo)s AND %(hi)s AND state IN {open_states} AND amount_overdue = 0
), resolved AS (
    UPDATE {Case} c SET state = 'resolved', resolved_at = %(now)s, oldest_unpaid_due_date = NULL, updated_at = %(now)s
    FROM before b WHERE c.id = b.id AND c.state = b.state AND c.id BETWEEN %(lo)s AND %(hi)s
    RETURNING c.id, b.state AS from_state
), withdrawn AS (
    UPDATE {LegalReferral} r SET status = 'rejected', decided_by = 'system', decided_at = %(now)s,
                                 decision_reason = %(withdrawn)s
    FROM resolved x WHERE r.case_id = x.id AND x.from_state = 'visit' AND r.status = 'requested'
    RETURNING r.id, r.case_id
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[transition]}, 'system', from_state, 'resolved', %(reason)s,
       '{{"transition": "resolve", "amount_overdue": "0.00"}}'::jsonb, %(now)s
FROM resolved
UNION ALL
SELECT case_id, {kind[legal_referral_rejected]}, 'system', '', '', %(withdrawn)s,
       jsonb_build_object('referral_id', id), %(now)s
FROM withdrawn
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS}
SELECT count(*) FROM ev
""", withdrawn=WITHDRAWN_REASON % "resolve")

    def escalate(self, from_state, to_state, name, threshold):
        return self.run("""
WITH moved AS (
    UPDATE {Case} c SET state = %(to_state)s, updated_at = %(now)s
    FROM {Case} c0 {STRATEGY_JOIN}
    WHERE c.id = c0.id AND c.id BETWEEN %(lo)s AND %(hi)s AND c0.id BETWEEN %(lo)s AND %(hi)s
      AND c0.state = %(from_state)s
      AND c0.oldest_unpaid_due_date <= %(as_of)s::date - {THRESHOLD}
      AND NOT {ACTIVE_HOLD}
    RETURNING c.id, (%(as_of)s::date - c.oldest_unpaid_due_date) AS dpd
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[transition]}, 'system', %(from_state)s, %(to_state)s, %(reason)s,
       jsonb_build_object('transition', %(name)s::text, 'dpd', dpd), %(now)s
FROM moved
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS}
SELECT count(*) FROM ev
""".replace("{THRESHOLD}", "{" + threshold.upper() + "}"), alias="c0", from_state=str(from_state),
            to_state=str(to_state), name=name)

    def request_legal(self):
        return self.run("""
WITH requested AS (
    INSERT INTO {LegalReferral} (case_id, status, reason, requested_by, requested_at, decided_by, decision_reason)
    SELECT c.id, 'requested', 'DPD reached legal review', 'system', %(now)s, '', ''
    FROM {Case} c {STRATEGY_JOIN}
    WHERE c.id BETWEEN %(lo)s AND %(hi)s AND c.state = 'visit'
      AND c.oldest_unpaid_due_date <= %(as_of)s::date - {LEGAL_AT_DPD}
      AND NOT {ACTIVE_HOLD}
      AND NOT EXISTS (SELECT 1 FROM {LegalReferral} r WHERE r.case_id = c.id
                      AND (r.status = 'requested' OR r.requested_at >= %(retry_after)s))
    ORDER BY c.id
    ON CONFLICT (case_id) WHERE status = 'requested' DO NOTHING
    RETURNING id, case_id
)
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT case_id, {kind[legal_referral_requested]}, 'system', '', '', 'DPD reached legal review',
       jsonb_build_object('referral_id', id), %(now)s
FROM requested
""", retry_after=_now() - timedelta(days=LEGAL_RETRY_DAYS))

    def settle_promises(self):
        counts = {}
        for status in ("kept", "broken"):
            counts[status] = self.run("""
WITH due AS (
    SELECT p.id, p.case_id, p.amount,
           COALESCE((SELECT SUM(pay.amount) FROM {Payment} pay
                     WHERE pay.loan_id = c.loan_id AND pay.reversed_at IS NULL AND pay.paid_at >= p.created_at
                       AND pay.paid_at < ((p.due_date + 1)::timestamp AT TIME ZONE %(tz)s)), 0) AS paid
    FROM {PromiseToPay} p JOIN {Case} c ON c.id = p.case_id
    WHERE p.case_id BETWEEN %(lo)s AND %(hi)s AND p.status = 'pending' AND p.due_date < %(as_of)s
), settled AS (
    UPDATE {PromiseToPay} p SET status = %(status)s, settled_at = %(now)s
    FROM due d WHERE p.id = d.id AND p.status = 'pending'
      AND (CASE WHEN d.paid >= d.amount THEN 'kept' ELSE 'broken' END) = %(status)s
    RETURNING p.id, p.case_id, p.amount
), forward AS (
    UPDATE {Case} c SET priority = LEAST(c.priority + %(bump)s, 100), next_action_at = %(now)s, updated_at = %(now)s
    FROM (SELECT DISTINCT case_id FROM settled) s
    WHERE c.id = s.case_id AND %(status)s = 'broken' AND c.state IN {open_states}
    RETURNING c.id
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT case_id, %(kind)s, 'system', '', '', %(reason)s,
       jsonb_build_object('promise_id', id, 'amount', amount::text), %(now)s
FROM settled
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS}
SELECT count(*) FROM ev
""", status=status, kind=event_kind(f"promise_{status}").code, bump=BROKEN_PROMISE_PRIORITY_BUMP)
        return counts["kept"], counts["broken"]

    def snapshot(self):
        return self.run("""
INSERT INTO {MonthEndSnapshot} (month_end, case_id, state, dpd, bucket, amount_overdue)
SELECT %(as_of)s, c.id, c.state, GREATEST(COALESCE(%(as_of)s::date - c.oldest_unpaid_due_date, 0), 0),
       COALESCE((SELECT b.name FROM {Bucket} b
                 WHERE GREATEST(COALESCE(%(as_of)s::date - c.oldest_unpaid_due_date, 0), 0) >= b.min_dpd
                   AND (b.max_dpd IS NULL
                        OR GREATEST(COALESCE(%(as_of)s::date - c.oldest_unpaid_due_date, 0), 0) <= b.max_dpd)
                 ORDER BY b.min_dpd LIMIT 1), ''),
       c.amount_overdue
FROM {Case} c
WHERE c.id BETWEEN %(lo)s AND %(hi)s AND c.state IN {open_states}
ON CONFLICT (month_end, case_id) DO NOTHING
""")


class _OrmSteps:
    """The embedded-SQLite path: the same results through the ORM and the services."""

    def __init__(self, as_of, lo, hi, since=None):
        self.as_of, self.lo, self.hi, self.since = as_of, lo, hi, since
        self.now = _now()

    def _open_cases(self):
        return Case.objects.filter(id__gte=self.lo, id__lte=self.hi, state__in=OPEN_STATES)

    def refresh_amounts(self):
        from ..selectors.book import loan_arrears
        from .events import event_build, events_write

        events = []
        cases = self._open_cases()
        if self.since is not None:
            cases = cases.filter(loan__instalments__due_date__gte=self.since,
                                 loan__instalments__due_date__lt=self.as_of).distinct()
        for case in cases:
            oldest, amount = loan_arrears(case.loan_id, self.as_of)
            if (case.oldest_unpaid_due_date, case.amount_overdue) == (oldest, amount):
                continue
            events.append(event_build(case, "amounts_changed", None, reason=SWEEP_REASON, at=self.now, payload={
                "amount_overdue_before": str(case.amount_overdue), "amount_overdue": str(amount),
                "oldest_unpaid_due_date": oldest.isoformat() if oldest else None,
            }))
            Case.objects.filter(pk=case.pk).update(oldest_unpaid_due_date=oldest, amount_overdue=amount, updated_at=self.now)
        events_write(events)
        return len(events)

    def resolve_paid(self):
        from .cases import apply_transition

        resolved = 0
        for case in self._open_cases().filter(amount_overdue=0).select_for_update():
            case.oldest_unpaid_due_date = None
            apply_transition(case, "resolve", None, reason=SWEEP_REASON, payload={"amount_overdue": "0.00"})
            resolved += 1
        return resolved

    def _thresholds(self):
        strategies = {s.product: s for s in Strategy.objects.all()}
        default = strategies.get("")
        return lambda product: getattr(strategies.get(product) or default, "thresholds", None) or DEFAULT_THRESHOLDS

    def escalate(self, from_state, to_state, name, threshold):
        from .cases import apply_transition

        thresholds = self._thresholds()
        held = set(Hold.objects.active(self.now).values_list("borrower_id", flat=True))
        moved = 0
        for case in self._open_cases().filter(state=from_state).select_related("loan").select_for_update():
            limit = getattr(thresholds(case.loan.product), threshold.replace("_at_dpd", ""))
            dpd = case.dpd(self.as_of)
            if case.borrower_id in held or case.oldest_unpaid_due_date is None or dpd < limit:
                continue
            case.active_hold_exists = False
            apply_transition(case, name, None, reason=SWEEP_REASON, payload={"dpd": dpd})
            moved += 1
        return moved

    def request_legal(self):
        from .events import event_write

        thresholds = self._thresholds()
        held = set(Hold.objects.active(self.now).values_list("borrower_id", flat=True))
        retry_after = self.now - timedelta(days=LEGAL_RETRY_DAYS)
        requested = 0
        for case in self._open_cases().filter(state=State.VISIT).select_related("loan"):
            if case.borrower_id in held or case.dpd(self.as_of) < thresholds(case.loan.product).legal:
                continue
            if case.legal_referrals.filter(Q(status="requested") | Q(requested_at__gte=retry_after)).exists():
                continue
            referral = LegalReferral.objects.create(case=case, reason="DPD reached legal review", requested_by="system",
                                                    requested_at=self.now)
            event_write(case, "legal_referral_requested", None, reason="DPD reached legal review", at=self.now,
                        payload={"referral_id": referral.pk})
            requested += 1
        return requested

    def settle_promises(self):
        from .events import event_write

        kept = broken = 0
        due = PromiseToPay.objects.filter(case_id__gte=self.lo, case_id__lte=self.hi, status="pending",
                                          due_date__lt=self.as_of).select_related("case")
        for promise in due.select_for_update():
            end = datetime.combine(promise.due_date + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE)
            paid = Payment.objects.filter(loan_id=promise.case.loan_id, reversed_at__isnull=True,
                                          paid_at__gte=promise.created_at, paid_at__lt=end).aggregate(t=Sum("amount"))["t"] or 0
            status = "kept" if paid >= promise.amount else "broken"
            PromiseToPay.objects.filter(pk=promise.pk).update(status=status, settled_at=self.now)
            if status == "broken" and promise.case.state in OPEN_STATES:
                Case.objects.filter(pk=promise.case_id).update(
                    priority=min(promise.case.priority + BROKEN_PROMISE_PRIORITY_BUMP, 100), next_action_at=self.now,
                    updated_at=self.now)
            event_write(promise.case, f"promise_{status}", None, reason=SWEEP_REASON, at=self.now,
                        payload={"promise_id": promise.pk, "amount": str(promise.amount)})
            kept, broken = kept + (status == "kept"), broken + (status == "broken")
        return kept, broken

    def snapshot(self):
        from ..selectors.cases import bucket_for, bucket_list

        buckets = bucket_list()
        done = set(MonthEndSnapshot.objects.filter(month_end=self.as_of, case_id__gte=self.lo, case_id__lte=self.hi)
                   .values_list("case_id", flat=True))
        rows = []
        for case in self._open_cases().exclude(pk__in=done):
            dpd = case.dpd(self.as_of)
            rows.append(MonthEndSnapshot(month_end=self.as_of, case=case, state=case.state, dpd=dpd,
                                         bucket=bucket_for(dpd, buckets) or "", amount_overdue=case.amount_overdue))
        MonthEndSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows)
