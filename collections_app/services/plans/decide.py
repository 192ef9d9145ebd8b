"""Deciding a waiting plan (approve or decline) and cancelling an open one. Both lock the case, then
the plan: of a decision and a cancel that race, the second finds the plan no longer pending and is
refused (`plan_not_pending`); nothing is half-written."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ... import permissions as perms
from ...actors import as_actor
from ...errors import DomainError
from ...models import PlanStatus, RepaymentPlan
from .._common import lock_visible_case, require_choice, require_text
from ..events import event_write
from .activate import plan_activate, touch_case
from .payload import plan_payload
from ...permissions import plan_authority_to_decide as authority_to_decide
from .policy import authority_covers

DECISIONS = [("approve", gettext_lazy("Approve")), ("decline", gettext_lazy("Decline"))]


def _locked_plan(plan_id, actor):
    """The plan and its case, both locked (the case first, as every case service does); 404 when the
    actor may not see the case."""
    try:
        case_id = RepaymentPlan.objects.filter(pk=plan_id).values_list("case_id", flat=True).first()
    except (ValueError, TypeError):
        case_id = None
    if case_id is None:
        raise DomainError("not_found")
    case = lock_visible_case(case_id, actor)
    plan = RepaymentPlan.objects.select_for_update().get(pk=plan_id)
    return plan, case


def plan_decide(*, plan_id, actor=None, decision, reason=""):
    """Approve (the plan becomes active) or decline (a reason is required) a proposed plan, within
    the decider's authority."""
    actor = as_actor(actor)
    decision = require_choice(decision, DECISIONS, "decision")
    reason = (reason or "").strip()
    if decision == "decline":
        reason = require_text(reason, "reason")
    with transaction.atomic():
        plan, case = _locked_plan(plan_id, actor)
        if not perms.may(actor, perms.PLAN_DECIDE, case):
            raise DomainError("permission_denied")
        if plan.status != PlanStatus.PROPOSED:
            raise DomainError("plan_not_pending", status=plan.status)
        if not authority_covers(authority_to_decide(actor), plan.needs_authority):
            raise DomainError(
                "permission_denied",
                _("This plan needs the approval of a %(who)s or above.")
                % {"who": plan.get_needs_authority_display().lower()},
            )
        plan.decision_reason = reason
        if decision == "approve":
            plan.save(update_fields=["decision_reason"])
            plan_activate(plan, case, actor)
        else:
            plan.status, plan.decided_by, plan.decided_by_user = PlanStatus.DECLINED, actor.label, actor.user
            plan.decided_at = plan.ended_at = timezone.now()
            plan.save(
                update_fields=["status", "decided_by", "decided_by_user", "decided_at", "ended_at", "decision_reason"]
            )
            touch_case(case)
            event_write(case, "plan_declined", actor, reason=reason, payload=plan_payload(plan))
    return plan


def plan_cancel(*, plan_id, actor=None, reason=""):
    """Cancel an open plan (proposed or active). A collector cancels only plans they proposed."""
    actor = as_actor(actor)
    reason = require_text(reason, "reason")
    with transaction.atomic():
        plan, case = _locked_plan(plan_id, actor)
        if not perms.may(actor, perms.PLAN_CANCEL, case):
            raise DomainError("permission_denied")
        if not perms.may_cancel_plan(actor, plan):
            raise DomainError("permission_denied", _("A collector cancels only the plans they proposed."))
        if not plan.is_open:
            raise DomainError("plan_not_pending", _("The plan has already ended."), status=plan.status)
        plan_end(plan, case, PlanStatus.CANCELLED, actor, reason=reason)
    return plan


def plan_end(plan, case, status, actor, *, reason="", **payload):
    """End an open plan (kept, broken, cancelled) and tell; the caller holds the locks."""
    plan.status, plan.ended_at, plan.ended_by, plan.end_reason = status, timezone.now(), actor.label, reason
    plan.save(update_fields=["status", "ended_at", "ended_by", "end_reason"])
    touch_case(case)
    event_write(case, f"plan_{status}", actor, reason=reason, payload=plan_payload(plan, **payload))
