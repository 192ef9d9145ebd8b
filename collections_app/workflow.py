"""The case state machine (CONTRACT.md, docs/workflow.md).

Transition bodies only set fields. Who may run a transition is decided by the predicates in
permissions.py, which django-fsm calls with an `Actor` through `has_transition_perm`; the
services call that, since django-fsm does not enforce `permission=` on its own.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from . import permissions as perms


class State(models.TextChoices):
    REMINDER = "reminder", _("Reminder")
    CALL = "call", _("Call")
    VISIT = "visit", _("Visit")
    LEGAL = "legal", _("Legal")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATES = (State.REMINDER, State.CALL, State.VISIT, State.LEGAL)


class CloseReason(models.TextChoices):
    SETTLED = "settled", _("Settled")
    WRITTEN_OFF = "written_off", _("Written off")


# Transitions a request may name (resolve and reopen are run by the payment and loan services).
REQUESTABLE_TRANSITIONS = ("start_calls", "schedule_visit", "refer_to_legal", "de_escalate", "close")
TRANSITION_LABELS = {
    "start_calls": _("Start calls"),
    "schedule_visit": _("Move to visit"),
    "refer_to_legal": _("Refer to legal"),
    "de_escalate": _("De-escalate"),
    "resolve": _("Resolve"),
    "close": _("Close"),
    "reopen": _("Reopen"),
}
# Transitions a hold stops.
ESCALATIONS = ("start_calls", "schedule_visit", "refer_to_legal")


def not_on_hold(case):
    return not case.borrower_on_hold


def has_approved_referral(case):
    return bool(getattr(case, "_approved_referral", None))


def escalation(field, source, target, permission, *conditions):
    """A transition one stage up (ESCALATIONS): never while the borrower is on hold."""
    return transition(
        field=field, source=source, target=target, conditions=[not_on_hold, *conditions], permission=permission
    )


class CaseWorkflow(ConcurrentTransitionMixin, models.Model):
    state = FSMField(_("state"), max_length=20, choices=State.choices, default=State.REMINDER, protected=True)

    class Meta:
        abstract = True

    @escalation(state, State.REMINDER, State.CALL, perms.may_escalate)
    def start_calls(self):
        pass

    @escalation(state, State.CALL, State.VISIT, perms.may_schedule_visit)
    def schedule_visit(self):
        pass

    @escalation(state, State.VISIT, State.LEGAL, perms.may_refer_to_legal, has_approved_referral)
    def refer_to_legal(self):
        pass

    @transition(field=state, source=State.CALL, target=State.REMINDER, permission=perms.may_manage)
    @transition(field=state, source=State.VISIT, target=State.CALL, permission=perms.may_manage)
    @transition(field=state, source=State.LEGAL, target=State.VISIT, permission=perms.may_manage)
    def de_escalate(self):
        pass

    @transition(field=state, source=list(OPEN_STATES), target=State.RESOLVED, permission=perms.system_only)
    def resolve(self):
        self.resolved_at = timezone.now()

    @transition(field=state, source=list(OPEN_STATES), target=State.CLOSED, permission=perms.may_close)
    def close(self, reason):
        self.close_reason = reason
        self.closed_at = timezone.now()

    @transition(
        field=state,
        source=State.RESOLVED,
        target=RETURN_VALUE(State.REMINDER, State.CALL, State.VISIT),
        permission=perms.system_only,
    )
    def reopen(self, stage):
        self.resolved_at = None
        return stage
