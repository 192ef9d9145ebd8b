"""The sweep's part of repayment plans (CONTRACT.md, "Repayment plans and settlements"), per case
chunk: expire undecided proposals, bring instalments' `met` in step with the payments (a reversal
un-meets), keep plans whose instalments are all met (a kept settlement closes its case `settled`),
and break plans with an instalment unmet past the policy's grace days (never while a hold is active;
after a hold, grace counts from its end). One statement each on PostgreSQL (`_PgPlanSteps`, mixed
into steps._PgSteps); the plan services on SQLite (`_OrmPlanSteps`). services/plans/progress.py is
the one-plan twin that payments call; keep the two in step."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from ...actors import SYSTEM
from ...calendar import lender_date_of
from ...models import (
    Case,
    Hold,
    Payment,
    PlanInstalment,
    PlanKind,
    PlanPolicy,
    PlanStatus,
    RepaymentPlan,
    Strategy,
)
from ...workflow import OPEN_STATES, CloseReason
from ..cases import WITHDRAWN_REASON
from .base import BROKEN_PROMISE_PRIORITY_BUMP, REFRESH_LOOKBACK_DAYS

DEFAULT_GRACE_DAYS = PlanPolicy._meta.get_field("grace_days").default
# Stored, so in one language (pages translate the event kind).
EXPIRED_REASON = "Not decided within the policy's days."
BROKEN_REASON = "An instalment was not met within the grace days."
SETTLEMENT_NOTE = "settlement kept"

# The plan's event payload (services/plans/payload.py), for a CTE `x` of plan rows.
_PAYLOAD = """jsonb_build_object('plan_id', x.id, 'kind', x.kind, 'status', x.status, 'total', x.total::text,
       'discount', x.discount::text, 'instalments', sched.n, 'first_due_date', sched.first_due::text,
       'last_due_date', sched.last_due::text)"""
_SCHEDULE = """LEFT JOIN LATERAL (SELECT count(*) AS n, MIN(si.due_date) AS first_due, MAX(si.due_date) AS last_due
           FROM {PlanInstalment} si WHERE si.plan_id = x.id) sched ON TRUE"""
_EVENT_COLUMNS = "(case_id, kind, actor, from_state, to_state, reason, payload, at)"
_EVENT_RETURNING = "RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at"


def _plan_events(cte, kind, reason_sql, extra_payload=""):
    payload = f"({_PAYLOAD} || {extra_payload})" if extra_payload else _PAYLOAD
    return f"""SELECT x.case_id, {{kind[{kind}]}}, 'system', '', '', {reason_sql}, {payload}, %(now)s
FROM {cte} x {_SCHEDULE}"""


def money_since(since):
    """From when money moves are re-read: the lookback counted back from now, since payments and
    reversals are stamped when they are recorded, whatever date the sweep is for (None on a full
    refresh, where the statements do not ask)."""
    if since is None:
        return None
    return timezone.now() - timedelta(days=REFRESH_LOOKBACK_DAYS)


def default_grace_days():
    """The default strategy's grace days (a product's strategy without a policy uses these)."""
    grace = PlanPolicy.objects.filter(strategy__product="").values_list("grace_days", flat=True).first()
    return DEFAULT_GRACE_DAYS if grace is None else grace


class _PgPlanSteps:
    def plans_lock_cases(self):
        """Lock the chunk's cases that have an open plan, in id order, before any plan row: the
        services lock a case, then its plan, so taking them in the same order here means a sweep
        chunk and a decision or a payment on the same case wait for each other, never deadlock."""
        return self.run("""
SELECT count(*) FROM (
    SELECT c.id FROM {Case} c
    WHERE c.id BETWEEN %(lo)s AND %(hi)s
      AND EXISTS (SELECT 1 FROM {RepaymentPlan} p WHERE p.case_id = c.id AND p.status IN ('proposed', 'active'))
    ORDER BY c.id
    FOR UPDATE OF c
) locked
""")

    def plans_expire(self):
        return self.run(
            """
WITH expired AS (
    UPDATE {RepaymentPlan} p SET status = 'expired', ended_at = %(now)s, ended_by = 'system',
                                 end_reason = %(expired_reason)s
    WHERE p.case_id BETWEEN %(lo)s AND %(hi)s AND p.status = 'proposed' AND p.expires_on < %(as_of)s
    RETURNING p.id, p.case_id, p.kind, p.status, p.total, p.discount
), touched AS (
    UPDATE {Case} c SET updated_at = %(now)s FROM (SELECT DISTINCT case_id FROM expired) e
    WHERE c.id = e.case_id AND c.id BETWEEN %(lo)s AND %(hi)s
    RETURNING c.id
), ev AS (
INSERT INTO {CaseEvent} """
            + _EVENT_COLUMNS
            + "\n"
            + _plan_events("expired", "plan_expired", "%(expired_reason)s")
            + "\n"
            + _EVENT_RETURNING
            + """
), {WEBHOOKS}
SELECT count(*) FROM ev
""",
            expired_reason=EXPIRED_REASON,
        )

    def plans_refresh_met(self):
        """An instalment is met when the payments since the plan began (less reversals) cover the
        plan's amounts up to it; writes only the flags that change. The payment services keep the
        flags as money moves; this is the net under them, so (as refresh_amounts) it re-reads only
        plans whose loan saw a payment recorded or reversed within the lookback, every plan on a
        full refresh."""
        return self.run(
            """
WITH plans AS (
    SELECT p.id, COALESCE((SELECT SUM(pay.amount) FROM {Payment} pay
                           WHERE pay.loan_id = c.loan_id AND pay.reversed_at IS NULL
                             AND pay.paid_at >= p.created_at), 0) AS paid
    FROM {RepaymentPlan} p JOIN {Case} c ON c.id = p.case_id
    WHERE p.case_id BETWEEN %(lo)s AND %(hi)s AND p.status = 'active'
      AND (%(full)s OR EXISTS (SELECT 1 FROM {Payment} q WHERE q.loan_id = c.loan_id
                               AND (q.created_at >= %(money_since)s OR q.reversed_at >= %(money_since)s)))
), running AS (
    SELECT i.id, SUM(i.amount) OVER (PARTITION BY i.plan_id ORDER BY i.number) <= pl.paid AS met
    FROM {PlanInstalment} i JOIN plans pl ON pl.id = i.plan_id
)
UPDATE {PlanInstalment} i SET met = r.met, met_at = CASE WHEN r.met THEN %(now)s ELSE NULL END
FROM running r WHERE i.id = r.id AND i.met <> r.met
""",
            money_since=money_since(self.params["since"]),
        )

    def plans_keep(self):
        """Active plans with every instalment met are kept; a kept settlement closes its open case
        (`settled`, the forgiven amount in the close event). Returns (kept, settled)."""
        kept = self.run(
            """
WITH kept AS (
    UPDATE {RepaymentPlan} p SET status = 'kept', ended_at = %(now)s, ended_by = 'system', end_reason = ''
    WHERE p.case_id BETWEEN %(lo)s AND %(hi)s AND p.status = 'active'
      AND EXISTS (SELECT 1 FROM {PlanInstalment} i WHERE i.plan_id = p.id)
      AND NOT EXISTS (SELECT 1 FROM {PlanInstalment} i WHERE i.plan_id = p.id AND NOT i.met)
    RETURNING p.id, p.case_id, p.kind, p.status, p.total, p.discount
), closing AS (
    SELECT k.id AS plan_id, k.case_id, k.discount, c.state AS from_state
    FROM kept k JOIN {Case} c ON c.id = k.case_id
    WHERE k.kind = 'settlement' AND c.state IN {open_states} AND c.id BETWEEN %(lo)s AND %(hi)s
), cases AS (
    UPDATE {Case} c SET updated_at = %(now)s,
           state = CASE WHEN cl.case_id IS NULL THEN c.state ELSE 'closed' END,
           close_reason = CASE WHEN cl.case_id IS NULL THEN c.close_reason ELSE %(settled)s END,
           closed_at = CASE WHEN cl.case_id IS NULL THEN c.closed_at ELSE %(now)s END
    FROM (SELECT DISTINCT case_id FROM kept) k LEFT JOIN closing cl ON cl.case_id = k.case_id
    WHERE c.id = k.case_id AND c.id BETWEEN %(lo)s AND %(hi)s
    RETURNING c.id
), withdrawn AS (
    UPDATE {LegalReferral} r SET status = 'rejected', decided_by = 'system', decided_at = %(now)s,
                                 decision_reason = %(withdrawn)s
    FROM closing cl WHERE r.case_id = cl.case_id AND cl.from_state = 'visit' AND r.status = 'requested'
    RETURNING r.id, r.case_id
), ev AS (
INSERT INTO {CaseEvent} """
            + _EVENT_COLUMNS
            + "\n"
            + _plan_events("kept", "plan_kept", "''")
            + """
UNION ALL
SELECT case_id, {kind[transition]}, 'system', from_state, 'closed', %(settled)s,
       jsonb_build_object('transition', 'close', 'plan_id', plan_id, 'forgiven', discount::text,
                          'note', %(note)s::text), %(now)s
FROM closing
UNION ALL
SELECT case_id, {kind[legal_referral_rejected]}, 'system', '', '', %(withdrawn)s,
       jsonb_build_object('referral_id', id), %(now)s
FROM withdrawn
"""
            + _EVENT_RETURNING
            + """
), {WEBHOOKS}
SELECT count(*) FILTER (WHERE kind = {kind[plan_kept]}) * 1000000
       + count(*) FILTER (WHERE kind = {kind[transition]}) FROM ev
""",
            settled=str(CloseReason.SETTLED),
            note=SETTLEMENT_NOTE,
            withdrawn=WITHDRAWN_REASON % "close",
        )
        return divmod(kept, 1000000)

    def plans_break(self):
        """Active plans with an instalment unmet more than the policy's grace days past its due date
        (or past the end of the borrower's last hold, if later) are broken, unless a hold is active
        now; their cases come forward in the worklist as after a broken promise."""
        return self.run(
            """
WITH candidates AS MATERIALIZED (
    -- Plans with an unmet instalment already due: the few that may break. Only these have their
    -- grace days and hold end looked up (per plan, below), not every active plan of the chunk;
    -- materialized, so their cases are read by id rather than the chunk's every case (2.8x faster
    -- at 1M cases).
    SELECT p.id, p.case_id
    FROM {RepaymentPlan} p
    WHERE p.case_id BETWEEN %(lo)s AND %(hi)s AND p.status = 'active'
      AND EXISTS (SELECT 1 FROM {PlanInstalment} i0 WHERE i0.plan_id = p.id AND NOT i0.met AND i0.due_date < %(as_of)s)
), due AS (
    SELECT p.id
    FROM candidates p JOIN {Case} c ON c.id = p.case_id JOIN {Loan} l ON l.id = c.loan_id
    CROSS JOIN LATERAL (
        SELECT COALESCE((SELECT pp.grace_days FROM {PlanPolicy} pp JOIN {Strategy} s ON s.id = pp.strategy_id
                         WHERE s.product = l.product AND s.product <> ''), %(default_grace)s) AS days,
               (SELECT MAX((LEAST(h.lifted_at, h.ends_at) AT TIME ZONE %(tz)s)::date) FROM {Hold} h
                WHERE h.borrower_id = c.borrower_id AND LEAST(h.lifted_at, h.ends_at) <= %(now)s) AS hold_end
    ) g
    WHERE c.id BETWEEN %(lo)s AND %(hi)s
      AND NOT {ACTIVE_HOLD}
      AND EXISTS (SELECT 1 FROM {PlanInstalment} i
                  WHERE i.plan_id = p.id AND NOT i.met AND i.due_date < %(as_of)s
                    AND %(as_of)s::date - GREATEST(i.due_date, COALESCE(g.hold_end, i.due_date)) > g.days)
), broken AS (
    UPDATE {RepaymentPlan} p SET status = 'broken', ended_at = %(now)s, ended_by = 'system',
                                 end_reason = %(broken_reason)s
    FROM due d WHERE p.id = d.id AND p.status = 'active'
    RETURNING p.id, p.case_id, p.kind, p.status, p.total, p.discount
), forward AS (
    UPDATE {Case} c SET priority = LEAST(c.priority + %(bump)s, 100), next_action_at = %(now)s,
                        updated_at = %(now)s
    FROM broken b WHERE c.id = b.case_id AND c.id BETWEEN %(lo)s AND %(hi)s
    RETURNING c.id
), ev AS (
INSERT INTO {CaseEvent} """
            + _EVENT_COLUMNS
            + "\n"
            + _plan_events(
                "broken", "plan_broken", "%(broken_reason)s", "jsonb_build_object('sweep_date', %(as_of)s::date::text)"
            )
            + "\n"
            + _EVENT_RETURNING
            + """
), {WEBHOOKS}
SELECT count(*) FROM ev
""",
            default_grace=default_grace_days(),
            broken_reason=BROKEN_REASON,
            bump=BROKEN_PROMISE_PRIORITY_BUMP,
        )


class _OrmPlanSteps:
    def plans_lock_cases(self):
        return 0  # SQLite: one writer at a time, no row locks to order

    def _plans(self, status):
        return (
            RepaymentPlan.objects.filter(case_id__gte=self.lo, case_id__lte=self.hi, status=status)
            .select_related("case", "case__loan")
            .order_by("id")
        )

    def plans_expire(self):
        from ..plans.decide import plan_end

        expired = 0
        for plan in self._plans(PlanStatus.PROPOSED).filter(expires_on__lt=self.as_of).select_for_update():
            plan_end(plan, plan.case, PlanStatus.EXPIRED, SYSTEM, reason=EXPIRED_REASON)
            expired += 1
        return expired

    def plans_refresh_met(self):
        from ..plans.progress import paid_since

        changed = []
        plans = self._plans(PlanStatus.ACTIVE)
        if self.since is not None:
            start = money_since(self.since)
            recent = Payment.objects.filter(loan_id=OuterRef("case__loan_id")).filter(
                Q(created_at__gte=start) | Q(reversed_at__gte=start)
            )
            plans = plans.filter(Exists(recent))
        for plan in plans:
            paid, running = paid_since(plan), Decimal("0.00")
            for instalment in plan.instalments.order_by("number"):
                running += instalment.amount
                met = running <= paid
                if met != instalment.met:
                    instalment.met, instalment.met_at = met, (self.now if met else None)
                    changed.append(instalment)
        PlanInstalment.objects.bulk_update(changed, ["met", "met_at"])
        return len(changed)

    def plans_keep(self):
        from ..cases import apply_transition
        from ..plans.decide import plan_end

        unmet = PlanInstalment.objects.filter(plan_id=OuterRef("pk"), met=False)
        kept = settled = 0
        some = PlanInstalment.objects.filter(plan_id=OuterRef("pk"))
        plans = self._plans(PlanStatus.ACTIVE).filter(Exists(some)).exclude(Exists(unmet))
        for plan in plans.select_for_update(of=("self",)):
            case = Case.objects.select_for_update().get(pk=plan.case_id)
            plan_end(plan, case, PlanStatus.KEPT, SYSTEM, reason="")
            kept += 1
            if plan.kind == PlanKind.SETTLEMENT and case.state in OPEN_STATES:
                apply_transition(
                    case,
                    "close",
                    SYSTEM,
                    reason=CloseReason.SETTLED,
                    payload={"plan_id": plan.pk, "forgiven": str(plan.discount), "note": SETTLEMENT_NOTE},
                    args=(CloseReason.SETTLED,),
                )
                settled += 1
        return kept, settled

    def _grace_days(self):
        policies = dict(
            PlanPolicy.objects.filter(strategy__in=Strategy.objects.exclude(product="")).values_list(
                "strategy__product", "grace_days"
            )
        )
        default = default_grace_days()
        return lambda product: policies.get(product, default)

    def _hold_ends(self, borrower_ids):
        """The lender-calendar day the borrower's last hold ended (lifted, or ran out), if any."""
        ends = {}
        for borrower_id, lifted_at, ends_at in Hold.objects.filter(borrower_id__in=borrower_ids).values_list(
            "borrower_id", "lifted_at", "ends_at"
        ):
            end = min((t for t in (lifted_at, ends_at) if t is not None), default=None)
            if end is None or end > self.now:
                continue
            day = lender_date_of(end)
            ends[borrower_id] = max(ends.get(borrower_id, day), day)
        return ends

    def plans_break(self):
        from ..plans.decide import plan_end

        plans = list(self._plans(PlanStatus.ACTIVE))
        borrowers = {p.case.borrower_id for p in plans}
        held = set(
            Hold.objects.active(self.now).filter(borrower_id__in=borrowers).values_list("borrower_id", flat=True)
        )
        hold_ends, grace = self._hold_ends(borrowers), self._grace_days()
        broken = 0
        for plan in plans:
            if plan.case.borrower_id in held:
                continue
            days, hold_end = grace(plan.case.loan.product), hold_ends.get(plan.case.borrower_id)
            missed = [
                i
                for i in plan.instalments.filter(met=False, due_date__lt=self.as_of)
                if (self.as_of - max(i.due_date, hold_end or i.due_date)).days > days
            ]
            if not missed:
                continue
            case = Case.objects.select_for_update().get(pk=plan.case_id)
            plan_end(plan, case, PlanStatus.BROKEN, SYSTEM, reason=BROKEN_REASON, sweep_date=self.as_of.isoformat())
            Case.objects.filter(pk=case.pk).update(
                priority=min(case.priority + BROKEN_PROMISE_PRIORITY_BUMP, 100),
                next_action_at=self.now,
                updated_at=self.now,
            )
            broken += 1
        return broken
