"""A plan becoming active: what it withdraws (a pending promise, a pending legal referral, the
visit queue's claim on the case) and what it tells."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from ...actors import SYSTEM
from ...models import LegalReferral, PlanStatus, PromiseToPay
from ..events import event_write
from .confirmation import plan_confirmation_on_commit
from .payload import plan_payload

# Stored, so in one language (pages translate the event kind).
REFERRAL_WITHDRAWN_REASON = "Withdrawn: a repayment plan was agreed."


def touch_case(case, **fields):
    """A plan changed: the case's `updated_at` (and so its change position) moves (CONTRACT.md, Sync)."""
    case.updated_at = timezone.now()
    for name, value in fields.items():
        setattr(case, name, value)
    case.save(update_fields=["updated_at", *fields])


def plan_activate(plan, case, actor):
    """Make a proposed plan active, decided by `actor` (the proposer when within their authority)."""
    now = timezone.now()
    plan.status, plan.decided_by, plan.decided_by_user, plan.decided_at = (
        PlanStatus.ACTIVE,
        actor.label,
        actor.user,
        now,
    )
    plan.save(update_fields=["status", "decided_by", "decided_by_user", "decided_at"])
    for promise in PromiseToPay.objects.select_for_update().filter(case=case, status=PromiseToPay.Status.PENDING):
        promise.status, promise.settled_at = PromiseToPay.Status.WITHDRAWN, now
        promise.save(update_fields=["status", "settled_at"])
        event_write(
            case,
            "promise_withdrawn",
            SYSTEM,
            payload={"promise_id": promise.pk, "amount": str(promise.amount), "plan_id": plan.pk},
        )
    for referral in LegalReferral.objects.select_for_update().filter(case=case, status=LegalReferral.Status.REQUESTED):
        referral.status, referral.decided_by, referral.decided_at = LegalReferral.Status.REJECTED, "system", now
        referral.decision_reason = REFERRAL_WITHDRAWN_REASON
        referral.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        event_write(
            case,
            "legal_referral_rejected",
            SYSTEM,
            reason=REFERRAL_WITHDRAWN_REASON,
            payload={"referral_id": referral.pk},
        )
    first_due = plan.instalments.order_by("number").values_list("due_date", flat=True).first()
    touch_case(case, next_action_at=_morning_after(first_due) if first_due else case.next_action_at)
    event_write(case, "plan_activated", actor, payload=plan_payload(plan))
    plan_confirmation_on_commit(plan.pk)  # the borrower's SMS, once the activation is committed


def _morning_after(day):
    return datetime.combine(day + timedelta(days=1), time(9), tzinfo=settings.LENDER_TIME_ZONE)
