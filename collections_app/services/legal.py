"""Legal review: a request on a `visit` case, decided by a supervisor or legal officer. Approval runs
`refer_to_legal`; legal review is not a state of its own."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import LegalReferral, PlanStatus, RepaymentPlan
from ..workflow import State
from ._common import lock_visible_case, require_text
from .cases import apply_transition, require_escalation_by_hand
from .events import event_write


def legal_referral_request(*, case_id, actor=None, reason=""):
    actor = as_actor(actor)
    reason = (reason or "").strip()
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.LEGAL_REQUEST, case):
            raise DomainError("permission_denied")
        require_escalation_by_hand(case, actor, reason)
        if case.state != State.VISIT:
            raise DomainError(
                "transition_not_allowed",
                _("A legal referral is requested for cases in the visit stage."),
                allowed_transitions=case.allowed_transitions(actor),
                state=case.state,
            )
        if case.borrower_on_hold:
            raise DomainError("case_on_hold")
        if RepaymentPlan.objects.filter(case=case, status=PlanStatus.ACTIVE).exists():
            # Activation withdrew any pending referral; a plan being kept is not taken to court.
            raise DomainError(
                "transition_not_allowed",
                _("The case is on an active repayment plan: no legal referral while it runs."),
                allowed_transitions=case.allowed_transitions(actor),
                state=case.state,
            )
        if case.legal_referrals.filter(status=LegalReferral.Status.REQUESTED).exists():
            raise invalid("case", _("A legal referral is already waiting for a decision."))
        try:
            with transaction.atomic():
                referral = LegalReferral.objects.create(
                    case=case,
                    reason=reason,
                    **actor.stamp("requested_by"),
                )
        except IntegrityError:
            raise invalid("case", _("A legal referral is already waiting for a decision.")) from None
        event_write(case, "legal_referral_requested", actor, reason=reason, payload={"referral_id": referral.pk})
    return referral


def legal_referral_decide(*, referral_id, actor=None, approve, reason=""):
    """Approve (runs `refer_to_legal`) or reject (a reason is required) a pending referral."""
    actor = as_actor(actor)
    if not perms.may_decide_legal_referral(actor):
        raise DomainError("permission_denied")
    reason = (reason or "").strip()
    if not approve:
        reason = require_text(reason, "reason")
    with transaction.atomic():
        referral = LegalReferral.objects.filter(pk=referral_id).first()
        if referral is None:
            raise DomainError("not_found")
        case = lock_visible_case(referral.case_id, actor)
        if not perms.may(actor, perms.LEGAL_DECIDE, case):
            raise DomainError("permission_denied")
        referral = LegalReferral.objects.select_for_update().get(pk=referral_id)
        if referral.status != LegalReferral.Status.REQUESTED:
            raise DomainError("stale_version", _("This referral was already decided."), state=case.state)
        referral.status = LegalReferral.Status.APPROVED if approve else LegalReferral.Status.REJECTED
        referral.decided_by, referral.decided_by_user = actor.label, actor.user
        referral.decided_at, referral.decision_reason = timezone.now(), reason
        referral.save(update_fields=["status", "decided_by", "decided_by_user", "decided_at", "decision_reason"])
        event_write(
            case, f"legal_referral_{referral.status}", actor, reason=reason, payload={"referral_id": referral.pk}
        )
        if approve:
            if case.state != State.VISIT:
                raise DomainError(
                    "transition_not_allowed", allowed_transitions=case.allowed_transitions(actor), state=case.state
                )
            if case.borrower_on_hold:
                raise DomainError("case_on_hold")
            case._approved_referral = referral
            apply_transition(case, "refer_to_legal", actor, reason=reason, payload={"referral_id": referral.pk})
    return referral
