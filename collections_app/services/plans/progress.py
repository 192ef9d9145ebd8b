"""A plan as money arrives or goes back: which instalments are met, a plan kept, a kept settlement
closing its case, and a plan ending because its case resolved or closed. The payment services call
`plan_refresh`; the case service calls `plans_end_with_case`; the sweep does the same set-based."""

from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from ...actors import SYSTEM
from ...calendar import lender_today
from ...models import Payment, PlanInstalment, PlanKind, PlanStatus, RepaymentPlan
from ...selectors.book import loan_arrears
from ...workflow import CloseReason, State
from .decide import plan_end

# Stored, so in one language (pages translate the event kind).
CASE_RESOLVED_REASON = "The case resolved."
CASE_CLOSED_REASON = "The case closed."


def paid_since(plan):
    """Payments to the plan's loan since it was proposed, less reversals."""
    return Payment.objects.filter(
        loan_id=plan.case.loan_id, reversed_at__isnull=True, paid_at__gte=plan.created_at
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


def plan_refresh(case, actor):
    """Bring the case's active plan in step with the payments (the caller holds the case lock).
    Marks instalments met or unmet; every one met keeps the plan, and a kept settlement closes
    the case as settled with the forgiven amount in the event."""
    plan = RepaymentPlan.objects.select_for_update().filter(case=case, status=PlanStatus.ACTIVE).first()
    if plan is None:
        return None
    plan.case = case
    paid = paid_since(plan)
    now = timezone.now()
    running = Decimal("0.00")
    changed = []
    instalments = list(plan.instalments.order_by("number"))
    for instalment in instalments:
        running += instalment.amount
        met = running <= paid
        if met != instalment.met:
            instalment.met, instalment.met_at = met, (now if met else None)
            changed.append(instalment)
    if changed:
        PlanInstalment.objects.bulk_update(changed, ["met", "met_at"])
    if instalments and all(i.met for i in instalments):
        plan_end(plan, case, PlanStatus.KEPT, SYSTEM, reason="")
        if plan.kind == PlanKind.SETTLEMENT and case.state not in (State.RESOLVED, State.CLOSED):
            from ..cases import apply_transition

            # The closed case keeps what was overdue when it closed (the payment's part included).
            case.oldest_unpaid_due_date, case.amount_overdue = loan_arrears(case.loan_id, lender_today())
            apply_transition(
                case,
                "close",
                SYSTEM,  # CONTRACT.md: a kept settlement closes the case as the system
                reason=CloseReason.SETTLED,
                payload={"plan_id": plan.pk, "forgiven": str(plan.discount), "note": "settlement kept"},
                args=(CloseReason.SETTLED,),
            )
    return plan


def plans_end_with_case(case, actor):
    """The case resolved or closed (apply_transition calls this): an open plan ends. Resolving keeps
    an active plan whose instalments are all met, else cancels it (by the system); closing cancels
    any open plan (a kept settlement has already ended)."""
    for plan in RepaymentPlan.objects.select_for_update().filter(
        case=case, status__in=[PlanStatus.PROPOSED, PlanStatus.ACTIVE]
    ):
        if case.state == State.RESOLVED and plan.status == PlanStatus.ACTIVE:
            plan.case = case
            all_met = not plan.instalments.filter(met=False).exists()
            if not all_met:
                paid = paid_since(plan)
                all_met = paid >= plan.total
                if all_met:
                    plan.instalments.filter(met=False).update(met=True, met_at=timezone.now())
            status = PlanStatus.KEPT if all_met else PlanStatus.CANCELLED
        else:
            status = PlanStatus.CANCELLED
        reason = (
            ""
            if status == PlanStatus.KEPT
            else (CASE_RESOLVED_REASON if case.state == State.RESOLVED else CASE_CLOSED_REASON)
        )
        plan_end(plan, case, status, SYSTEM, reason=reason)
