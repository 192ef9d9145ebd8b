"""The steps of a case chunk: amounts, resolve, escalate, legal review, promises, month-end snapshot.
One statement each on PostgreSQL (`_PgSteps`); the ORM and the services on SQLite (`_OrmSteps`)."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q, Sum

from ...events import event_kind
from ...models import (
    Case,
    Hold,
    LegalReferral,
    MonthEndSnapshot,
    Payment,
    PlanStatus,
    PromiseToPay,
    RepaymentPlan,
    Strategy,
    VulnerabilityMarker,
)
from ...strategy import DEFAULT_THRESHOLDS
from ...workflow import OPEN_STATES, State
from ..cases import WITHDRAWN_REASON
from ..plans.progress import CASE_RESOLVED_REASON
from .base import (
    BROKEN_PROMISE_PRIORITY_BUMP,
    HELD_BACK_SQL,
    LEGAL_RETRY_DAYS,
    SWEEP_REASON,
    _StrategySql,
    _execute,
    _now,
    _sql,
)
from .plan_steps import _PAYLOAD, _SCHEDULE, _OrmPlanSteps, _PgPlanSteps


class _PgSteps(_PgPlanSteps):
    """Each step one statement; `UPDATE ... RETURNING` feeds the event insert in the same statement,
    and the event insert's RETURNING feeds the webhook outbox (`{WEBHOOKS}`, services/webhooks.py)."""

    def __init__(self, as_of, lo, hi, since=None):
        self.params = {
            "as_of": as_of,
            "lo": lo,
            "hi": hi,
            "now": _now(),
            "reason": SWEEP_REASON,
            "tz": str(settings.LENDER_TIME_ZONE),
            "since": since,
            "full": since is None,
        }
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
        return self.run(
            """
WITH before AS (
    SELECT id, state FROM {Case}
    WHERE id BETWEEN %(lo)s AND %(hi)s AND state IN {open_states} AND amount_overdue = 0
), resolved AS (
    UPDATE {Case} c SET state = 'resolved', resolved_at = %(now)s, oldest_unpaid_due_date = NULL, updated_at = %(now)s
    FROM before b WHERE c.id = b.id AND c.state = b.state AND c.id BETWEEN %(lo)s AND %(hi)s
    RETURNING c.id, c.loan_id, b.state AS from_state
), withdrawn AS (
    UPDATE {LegalReferral} r SET status = 'rejected', decided_by = 'system', decided_at = %(now)s,
                                 decision_reason = %(withdrawn)s
    FROM resolved x WHERE r.case_id = x.id AND x.from_state = 'visit' AND r.status = 'requested'
    RETURNING r.id, r.case_id
), plan_end AS (  -- services/plans/progress.py plans_end_with_case: kept if all met (or paid), else cancelled
    SELECT p.id, p.status = 'active' AND (
               NOT EXISTS (SELECT 1 FROM {PlanInstalment} i WHERE i.plan_id = p.id AND NOT i.met)
               OR COALESCE((SELECT SUM(pay.amount) FROM {Payment} pay WHERE pay.loan_id = x.loan_id
                            AND pay.reversed_at IS NULL AND pay.paid_at >= p.created_at), 0) >= p.total) AS kept
    FROM {RepaymentPlan} p JOIN resolved x ON x.id = p.case_id
    WHERE p.status IN ('proposed', 'active')
), ended AS (
    UPDATE {RepaymentPlan} p SET status = CASE WHEN e.kept THEN 'kept' ELSE 'cancelled' END, ended_at = %(now)s,
                                 ended_by = 'system', end_reason = CASE WHEN e.kept THEN '' ELSE %(plan_reason)s END
    FROM plan_end e WHERE p.id = e.id
    RETURNING p.id, p.case_id, p.kind, p.status, p.total, p.discount, p.end_reason
), all_met AS (
    UPDATE {PlanInstalment} i SET met = TRUE, met_at = %(now)s
    FROM ended e WHERE i.plan_id = e.id AND e.status = 'kept' AND NOT i.met
    RETURNING i.id
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[transition]}, 'system', from_state, 'resolved', %(reason)s,
       '{{"transition": "resolve", "amount_overdue": "0.00"}}'::jsonb, %(now)s
FROM resolved
UNION ALL
SELECT case_id, {kind[legal_referral_rejected]}, 'system', '', '', %(withdrawn)s,
       jsonb_build_object('referral_id', id), %(now)s
FROM withdrawn
UNION ALL
SELECT x.case_id, CASE WHEN x.status = 'kept' THEN {kind[plan_kept]} ELSE {kind[plan_cancelled]} END,
       'system', '', '', x.end_reason, {PLAN_PAYLOAD}, %(now)s
FROM ended x {PLAN_SCHEDULE}
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS}
SELECT count(*) FILTER (WHERE kind = {kind[transition]}) FROM ev
""".replace("{PLAN_PAYLOAD}", _PAYLOAD).replace("{PLAN_SCHEDULE}", _SCHEDULE),
            withdrawn=WITHDRAWN_REASON % "resolve",
            plan_reason=CASE_RESOLVED_REASON,
        )

    def _held_back(self):
        """Cases of the chunk a broken plan holds back today (base.HELD_BACK_SQL)."""
        with connection.cursor() as cursor:
            cursor.execute(_sql(HELD_BACK_SQL), self.params)
            return [row[0] for row in cursor.fetchall()]

    def escalate(self, from_state, to_state, name, threshold):
        return self.run(
            """
WITH moved AS (
    UPDATE {Case} c SET state = %(to_state)s, updated_at = %(now)s
    FROM {Case} c0 {STRATEGY_JOIN}
    WHERE c.id = c0.id AND c.id BETWEEN %(lo)s AND %(hi)s AND c0.id BETWEEN %(lo)s AND %(hi)s
      AND c0.state = %(from_state)s
      AND c0.oldest_unpaid_due_date <= %(as_of)s::date - {THRESHOLD}
      AND NOT {ACTIVE_HOLD} AND NOT {ACTIVE_PLAN} AND NOT {MOVED_SINCE_BREAK} {CARE}
    RETURNING c.id, (%(as_of)s::date - c.oldest_unpaid_due_date) AS dpd
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[transition]}, 'system', %(from_state)s, %(to_state)s, %(reason)s,
       jsonb_build_object('transition', %(name)s::text, 'dpd', dpd), %(now)s
FROM moved
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS}
SELECT count(*) FROM ev
""".replace("{THRESHOLD}", "{" + threshold.upper() + "}").replace(
                "{CARE}", "AND NOT {VULNERABLE}" if str(to_state) == State.VISIT else ""
            ),
            alias="c0",
            from_state=str(from_state),
            to_state=str(to_state),
            name=name,
            held_back=self._held_back(),
        )

    def request_legal(self):
        return self.run(
            """
WITH requested AS (
    INSERT INTO {LegalReferral} (case_id, status, reason, requested_by, requested_at, decided_by, decision_reason)
    SELECT c.id, 'requested', 'DPD reached legal review', 'system', %(now)s, '', ''
    FROM {Case} c {STRATEGY_JOIN}
    WHERE c.id BETWEEN %(lo)s AND %(hi)s AND c.state = 'visit'
      AND c.oldest_unpaid_due_date <= %(as_of)s::date - {LEGAL_AT_DPD}
      AND NOT {ACTIVE_HOLD} AND NOT {ACTIVE_PLAN} AND NOT {VULNERABLE} AND NOT {MOVED_SINCE_BREAK}
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
""",
            retry_after=_now() - timedelta(days=LEGAL_RETRY_DAYS),
            held_back=self._held_back(),
        )

    def settle_promises(self):
        counts = {}
        for status in ("kept", "broken"):
            counts[status] = self.run(
                """
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
""",
                status=status,
                kind=event_kind(f"promise_{status}").code,
                bump=BROKEN_PROMISE_PRIORITY_BUMP,
            )
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


class _OrmSteps(_OrmPlanSteps):
    """The embedded-SQLite path: the same results through the ORM and the services."""

    def __init__(self, as_of, lo, hi, since=None):
        self.as_of, self.lo, self.hi, self.since = as_of, lo, hi, since
        self.now = _now()

    def _open_cases(self):
        return Case.objects.filter(id__gte=self.lo, id__lte=self.hi, state__in=OPEN_STATES)

    @staticmethod
    def _active_plan():
        return RepaymentPlan.objects.filter(case_id=OuterRef("pk"), status=PlanStatus.ACTIVE)

    @staticmethod
    def _vulnerable():
        return set(VulnerabilityMarker.objects.active().values_list("borrower_id", flat=True))

    def _moved_since_break(self, case, dpd):
        """After a broken plan, one stage per sweep (base._MOVED_SINCE_BREAK_SQL): a sweep for this
        date already moved the case since the break if a transition event carries today's DPD."""
        breaks = RepaymentPlan.objects.filter(case=case, status=PlanStatus.BROKEN).values_list("ended_at", flat=True)
        if breaks and case.events.filter(kind="plan_broken", payload__sweep_date=self.as_of.isoformat()).exists():
            return True  # broken by a sweep for this date: escalation resumes from the next one
        return any(
            case.events.filter(
                kind="transition", actor="system", reason=SWEEP_REASON, at__gte=ended_at, payload__dpd=dpd
            ).exists()
            for ended_at in breaks
        )

    def refresh_amounts(self):
        from ...selectors.book import loan_arrears
        from ..events import event_build, events_write

        events = []
        cases = self._open_cases()
        if self.since is not None:
            cases = cases.filter(
                loan__instalments__due_date__gte=self.since, loan__instalments__due_date__lt=self.as_of
            ).distinct()
        for case in cases:
            oldest, amount = loan_arrears(case.loan_id, self.as_of)
            if (case.oldest_unpaid_due_date, case.amount_overdue) == (oldest, amount):
                continue
            events.append(
                event_build(
                    case,
                    "amounts_changed",
                    None,
                    reason=SWEEP_REASON,
                    at=self.now,
                    payload={
                        "amount_overdue_before": str(case.amount_overdue),
                        "amount_overdue": str(amount),
                        "oldest_unpaid_due_date": oldest.isoformat() if oldest else None,
                    },
                )
            )
            Case.objects.filter(pk=case.pk).update(
                oldest_unpaid_due_date=oldest, amount_overdue=amount, updated_at=self.now
            )
        events_write(events)
        return len(events)

    def resolve_paid(self):
        from ..cases import apply_transition

        resolved = 0
        for case in self._open_cases().filter(amount_overdue=0).select_for_update():
            case.oldest_unpaid_due_date = None
            apply_transition(case, "resolve", None, reason=SWEEP_REASON, payload={"amount_overdue": "0.00"})
            resolved += 1
        return resolved

    def _thresholds(self):
        """(case) -> its thresholds: the strategy in force on it, else its product's, else the default
        (base._StrategySql says the same in SQL). Cases come with `select_related("loan", "strategy")`."""
        strategies = {s.product: s for s in Strategy.objects.exclude(product__isnull=True)}
        default = strategies.get("")

        def thresholds(case):
            strategy = case.strategy or strategies.get(case.loan.product) or default
            return strategy.thresholds if strategy else DEFAULT_THRESHOLDS

        return thresholds

    def escalate(self, from_state, to_state, name, threshold):
        from ..cases import apply_transition

        thresholds = self._thresholds()
        held = set(Hold.objects.active(self.now).values_list("borrower_id", flat=True))
        if str(to_state) == State.VISIT:
            held |= self._vulnerable()
        moved = 0
        cases = self._open_cases().filter(state=from_state).exclude(Exists(self._active_plan()))
        for case in cases.select_related("loan", "strategy").select_for_update(of=("self",)):
            limit = getattr(thresholds(case), threshold.replace("_at_dpd", ""))
            dpd = case.dpd(self.as_of)
            if case.borrower_id in held or case.oldest_unpaid_due_date is None or dpd < limit:
                continue
            if self._moved_since_break(case, dpd):
                continue
            case.active_hold_exists = False
            apply_transition(case, name, None, reason=SWEEP_REASON, payload={"dpd": dpd})
            moved += 1
        return moved

    def request_legal(self):
        from ..events import event_write

        thresholds = self._thresholds()
        held = set(Hold.objects.active(self.now).values_list("borrower_id", flat=True)) | self._vulnerable()
        retry_after = self.now - timedelta(days=LEGAL_RETRY_DAYS)
        requested = 0
        cases = self._open_cases().filter(state=State.VISIT).exclude(Exists(self._active_plan()))
        for case in cases.select_related("loan", "strategy"):
            if case.borrower_id in held or case.dpd(self.as_of) < thresholds(case).legal:
                continue
            if self._moved_since_break(case, case.dpd(self.as_of)):
                continue
            if case.legal_referrals.filter(Q(status="requested") | Q(requested_at__gte=retry_after)).exists():
                continue
            referral = LegalReferral.objects.create(
                case=case, reason="DPD reached legal review", requested_by="system", requested_at=self.now
            )
            event_write(
                case,
                "legal_referral_requested",
                None,
                reason="DPD reached legal review",
                at=self.now,
                payload={"referral_id": referral.pk},
            )
            requested += 1
        return requested

    def settle_promises(self):
        from ..events import event_write

        kept = broken = 0
        due = PromiseToPay.objects.filter(
            case_id__gte=self.lo, case_id__lte=self.hi, status="pending", due_date__lt=self.as_of
        ).select_related("case")
        for promise in due.select_for_update():
            end = datetime.combine(promise.due_date + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE)
            paid = (
                Payment.objects.filter(
                    loan_id=promise.case.loan_id,
                    reversed_at__isnull=True,
                    paid_at__gte=promise.created_at,
                    paid_at__lt=end,
                ).aggregate(t=Sum("amount"))["t"]
                or 0
            )
            status = "kept" if paid >= promise.amount else "broken"
            PromiseToPay.objects.filter(pk=promise.pk).update(status=status, settled_at=self.now)
            if status == "broken" and promise.case.state in OPEN_STATES:
                Case.objects.filter(pk=promise.case_id).update(
                    priority=min(promise.case.priority + BROKEN_PROMISE_PRIORITY_BUMP, 100),
                    next_action_at=self.now,
                    updated_at=self.now,
                )
            event_write(
                promise.case,
                f"promise_{status}",
                None,
                reason=SWEEP_REASON,
                at=self.now,
                payload={"promise_id": promise.pk, "amount": str(promise.amount)},
            )
            kept, broken = kept + (status == "kept"), broken + (status == "broken")
        return kept, broken

    def snapshot(self):
        from ...selectors.cases import bucket_for, bucket_list

        buckets = bucket_list()
        done = set(
            MonthEndSnapshot.objects.filter(
                month_end=self.as_of, case_id__gte=self.lo, case_id__lte=self.hi
            ).values_list("case_id", flat=True)
        )
        rows = []
        for case in self._open_cases().exclude(pk__in=done):
            dpd = case.dpd(self.as_of)
            rows.append(
                MonthEndSnapshot(
                    month_end=self.as_of,
                    case=case,
                    state=case.state,
                    dpd=dpd,
                    bucket=bucket_for(dpd, buckets) or "",
                    amount_overdue=case.amount_overdue,
                )
            )
        MonthEndSnapshot.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows)
