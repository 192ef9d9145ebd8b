"""Working a case: contacts that happened, promises to pay, visits, notes."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import compliance
from .. import permissions as perms
from ..actors import as_actor
from ..calendar import lender_today
from ..errors import DomainError, invalid
from ..models import Borrower, ContactAttempt, Hold, Instalment, PlanStatus, PromiseToPay, RepaymentPlan, Visit
from ..selectors.contacts import borrower_contact_facts, contact_counters
from ..workflow import OPEN_STATES, State
from ._common import lock_visible_case, parse_day, parse_moment, parse_money, require_choice, require_text
from .events import event_write
from .holds import hold_place

PROMISE_MAX_DAYS = getattr(settings, "COLLECTIONS_PROMISE_MAX_DAYS", 30)


def contact_check(*, case, channel, at=None, phone=""):
    """The compliance decision for an outbound contact on this case now (no writes). A number that
    is not the borrower's is a contact person's: allowed only when the rules allow third parties."""
    require_choice(channel, ContactAttempt.Channel.choices, "channel")
    at = at or timezone.now()
    borrower = case.borrower
    number = phone or borrower.primary_phone
    return compliance.check_contact(
        facts=borrower_contact_facts(borrower, at),
        channel=channel,
        at=at,
        counters=contact_counters(borrower, at=at, phone=number, loan_id=case.loan_id),
        policy=contact_policy_for(case.loan),
        to_third_party=bool(channel == "call" and number and borrower.phones and number not in borrower.phones),
    )


def contact_policy_for(loan):
    """The contact policy of the loan's strategy (its product's, or the default)."""
    from ..models import Strategy

    strategies = {s.product: s for s in Strategy.objects.filter(product__in=[loan.product, ""])}
    strategy = strategies.get(loan.product) or strategies.get("")
    return compliance.policy_named(strategy.contact_policy if strategy else settings.COLLECTIONS_CONTACT_POLICY)


def contact_log(
    *,
    case_id,
    actor=None,
    channel,
    outcome,
    direction=ContactAttempt.Direction.OUTBOUND,
    phone=None,
    notes="",
    occurred_at=None,
):
    """Record a contact that took place. Never refused for breaking a contact rule: the breach is
    recorded on it for supervisors to follow up. `dispute_raised` places a dispute hold."""
    actor = as_actor(actor)
    require_choice(channel, ContactAttempt.Channel.choices, "channel")
    require_choice(outcome, ContactAttempt.Outcome.choices, "outcome")
    require_choice(direction, ContactAttempt.Direction.choices, "direction")
    occurred = parse_moment(occurred_at, "occurred_at", default_now=True, not_future=True)
    notes = (notes or "").strip()
    if len(notes) > 4000:
        raise invalid("notes", _("At most 4000 characters."))
    with transaction.atomic():
        if outcome == ContactAttempt.Outcome.DISPUTE_RAISED:
            # hold_place locks borrower then cases: take the locks in that order here too.
            _lock_borrower_of_case(case_id, actor)
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.CONTACT_RECORD, case):
            raise DomainError("permission_denied")
        borrower = case.borrower
        number = (phone or "").strip() or borrower.primary_phone
        breach = ""
        if direction == ContactAttempt.Direction.OUTBOUND:
            decision = contact_check(case=case, channel=channel, at=occurred, phone=number)
            breach = "" if decision.allowed else decision.code
        contact = ContactAttempt.objects.create(
            case=case,
            borrower=borrower,
            channel=channel,
            direction=direction,
            phone=number,
            outcome=outcome,
            notes=notes,
            breach=breach,
            **actor.stamp(),
            occurred_at=occurred,
        )
        event_write(
            case,
            "contact_logged",
            actor,
            reason=notes[:200],
            at=occurred,
            payload={
                "contact_id": contact.pk,
                "channel": channel,
                "direction": direction,
                "outcome": outcome,
                "breach": breach or None,
            },
        )
        if outcome == ContactAttempt.Outcome.DISPUTE_RAISED:
            hold_place(
                borrower_id=borrower.pk,
                code=Hold.Code.DISPUTE,
                actor=actor,
                reason=notes or _("Dispute raised during a contact"),
                _authorised=True,
            )
    return contact


def _lock_borrower_of_case(case_id, actor):
    borrower_id = perms.visible_cases(actor).filter(pk=case_id).values_list("borrower_id", flat=True).first()
    if borrower_id is None:
        raise DomainError("not_found")
    Borrower.objects.select_for_update().filter(pk=borrower_id).first()


def _loan_outstanding(loan_id):
    from django.db.models import F

    return (
        Instalment.objects.filter(loan_id=loan_id).aggregate(total=Sum(F("amount_due") - F("amount_paid")))["total"]
        or 0
    )


def promise_record(*, case_id, actor=None, amount, due_date, contact_id=None):
    """Record a promise to pay. One pending promise per case: a new one waits until it is settled."""
    actor = as_actor(actor)
    amount = parse_money(amount, "amount")
    due = parse_day(due_date, "due_date")
    today = lender_today()
    if due < today:
        raise invalid("due_date", _("The promised date cannot be in the past."))
    if due > today + timedelta(days=PROMISE_MAX_DAYS):
        raise invalid("due_date", _("The promised date must be within %d days.") % PROMISE_MAX_DAYS)
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.PROMISE_RECORD, case):
            raise DomainError("permission_denied")
        if case.state not in OPEN_STATES:
            raise DomainError("transition_not_allowed", _("Promises are taken on open cases only."))
        if RepaymentPlan.objects.filter(case=case, status=PlanStatus.ACTIVE).exists():
            raise DomainError(
                "transition_not_allowed",
                _("A repayment plan is active on this case: the borrower pays by the plan's dates, not by a promise."),
            )
        if amount > _loan_outstanding(case.loan_id):
            raise invalid("amount", _("The promise exceeds what is outstanding on the loan."))
        pending = case.promises.filter(status=PromiseToPay.Status.PENDING).first()
        if pending is not None:
            raise invalid(
                "due_date",
                _("A promise of %(amount)s due %(date)s is still pending.")
                % {"amount": pending.amount, "date": pending.due_date.isoformat()},
            )
        promise = PromiseToPay.objects.create(
            case=case,
            amount=amount,
            due_date=due,
            contact_id=contact_id,
            **actor.stamp(),
        )
        # Look again the morning after the promised date.
        check_at = datetime.combine(due + timedelta(days=1), time(9), tzinfo=settings.LENDER_TIME_ZONE)
        case.next_action_at = check_at
        case.updated_at = timezone.now()
        case.save(update_fields=["next_action_at", "updated_at"])
        event_write(
            case,
            "promise_recorded",
            actor,
            payload={
                "promise_id": promise.pk,
                "amount": str(amount),
                "due_date": due.isoformat(),
            },
        )
    return promise


def note_add(*, case_id, actor=None, text):
    actor = as_actor(actor)
    text = require_text(text, "text", max_length=4000)
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.NOTE_ADD, case):
            raise DomainError("permission_denied")
        return event_write(case, "note_added", actor, reason=text)


def visit_schedule(*, case_id, actor=None, scheduled_for, agents):
    """Plan a home visit: a case in `visit`, at least two distinct field agents (China preset)."""
    actor = as_actor(actor)
    when = parse_moment(scheduled_for, "scheduled_for")
    if when < timezone.now() - timedelta(minutes=5):
        raise invalid("scheduled_for", _("A visit is planned for a time to come."))
    names = sorted({(a.get_username() if hasattr(a, "get_username") else str(a)).strip() for a in agents or []} - {""})
    users = list(get_user_model().objects.filter(username__in=names, is_active=True).prefetch_related("groups"))
    unknown = sorted(set(names) - {u.username for u in users})
    if unknown:
        raise invalid("agents", _("Unknown users: %s") % ", ".join(unknown))
    not_agents = sorted(u.username for u in users if not perms.holds_role_in(u, perms.VISIT_AGENT_ROLES))
    if not_agents:
        raise invalid("agents", _("Not field agents: %s") % ", ".join(not_agents))
    if len(users) < 2:
        raise DomainError("visit_needs_two_agents", fields={"agents": [_("Name at least two field agents.")]})
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.VISIT_PLAN, case):
            raise DomainError("permission_denied")
        if case.state != State.VISIT:
            raise DomainError(
                "transition_not_allowed",
                _("Visits are planned for cases in the visit stage."),
                allowed_transitions=case.allowed_transitions(actor),
            )
        if case.borrower_on_hold:
            raise DomainError("case_on_hold")
        visit = Visit.objects.create(case=case, scheduled_for=when, planned_by=actor.label)
        visit.agents.set(users)
        event_write(
            case,
            "visit_scheduled",
            actor,
            payload={
                "visit_id": visit.pk,
                "scheduled_for": when.isoformat(),
                "agents": [u.username for u in users],
            },
        )
    return visit


# A visit's outcome, as the contact it amounts to.
_VISIT_CONTACT_OUTCOME = {
    Visit.Outcome.MET_BORROWER: ContactAttempt.Outcome.RIGHT_PARTY_CONTACT,
    Visit.Outcome.NOT_HOME: ContactAttempt.Outcome.NO_ANSWER,
    Visit.Outcome.MOVED: ContactAttempt.Outcome.WRONG_NUMBER,
    Visit.Outcome.REFUSED: ContactAttempt.Outcome.REFUSED,
    Visit.Outcome.PROMISE_MADE: ContactAttempt.Outcome.PROMISE_MADE,
}


def visit_record(*, visit_id, actor=None, outcome, notes=""):
    """A field agent of the visit (or a supervisor) records how it went; it counts as a contact."""
    actor = as_actor(actor)
    require_choice(outcome, Visit.Outcome.choices, "outcome")
    with transaction.atomic():
        visit = Visit.objects.select_for_update().filter(pk=visit_id).first()
        if visit is None:
            raise DomainError("not_found")
        case = lock_visible_case(visit.case_id, actor)
        if not perms.may(actor, perms.VISIT_RECORD, visit):
            raise DomainError("permission_denied")
        if visit.status != Visit.Status.PLANNED:
            raise invalid("visit", _("This visit is already recorded."))
        visit.status, visit.outcome, visit.notes, visit.recorded_at = (
            Visit.Status.DONE,
            outcome,
            notes or "",
            timezone.now(),
        )
        visit.save(update_fields=["status", "outcome", "notes", "recorded_at"])
        event_write(
            case, "visit_recorded", actor, reason=notes or "", payload={"visit_id": visit.pk, "outcome": outcome}
        )
        contact_log(
            case_id=case.pk,
            actor=actor,
            channel=ContactAttempt.Channel.VISIT,
            outcome=_VISIT_CONTACT_OUTCOME[outcome],
            notes=notes,
            occurred_at=visit.recorded_at,
        )
    return visit
