"""Case lifecycle: opening for an overdue loan, keeping amounts in step with the loan, transitions,
assignment. Every function here is atomic, locks what it changes and writes its events."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from .. import permissions as perms
from ..actors import as_actor
from ..calendar import lender_date_of, lender_today
from ..errors import DomainError, invalid
from ..models import Case, Loan, Queue
from ..selectors.book import loan_arrears
from ..strategy import DEFAULT_THRESHOLDS, opening_stage
from ..workflow import ESCALATIONS, OPEN_STATES, REQUESTABLE_TRANSITIONS, TRANSITION_LABELS, CloseReason, State
from ._common import lock_visible_case, require_choice
from .events import event_build, event_write, events_write
from .plans.progress import plans_end_with_case

log = logging.getLogger(__name__)


def _transition_permission(name):
    meta = getattr(Case, name)._django_fsm
    return next(iter(meta.transitions.values())).permission


def _refuse_transition(case, actor, name, code="transition_not_allowed", message=None):
    raise DomainError(
        code,
        message
        or _("“%(transition)s” is not allowed while the case is in “%(state)s”.")
        % {"transition": TRANSITION_LABELS.get(name, name), "state": State(case.state).label},
        allowed_transitions=case.allowed_transitions(actor),
        state=case.state,
    )


def apply_transition(case, name, actor, *, reason="", payload=None, args=()):
    """Run a transition the caller has already authorised on a locked case; save; write its event.

    The services call this after their own checks; `resolve` and `reopen` come only through here.
    """
    from_state = case.state
    getattr(case, name)(*args)
    case.updated_at = timezone.now()
    try:
        case.save()
    except ConcurrentTransition:
        raise DomainError("stale_version", state=from_state) from None
    event = event_write(
        case,
        "transition",
        actor,
        from_state=from_state,
        to_state=case.state,
        reason=reason,
        payload={"transition": name, **(payload or {})},
    )
    if from_state == State.VISIT and case.state != State.LEGAL:
        _withdraw_pending_referrals(case, name)
    if case.state in (State.RESOLVED, State.CLOSED):
        plans_end_with_case(case, actor)
    return event


# Stored, so in one language whoever's request caused it (pages translate the event kind).
WITHDRAWN_REASON = "Withdrawn: the case left the visit stage (%s)."


def _withdraw_pending_referrals(case, transition_name):
    """A referral asks to take a `visit` case to legal; once the case leaves `visit` another way,
    it has nothing left to decide, so it is closed (rejected by the system) with the reason why."""
    from ..models import LegalReferral

    for referral in LegalReferral.objects.select_for_update().filter(case=case, status=LegalReferral.Status.REQUESTED):
        reason = WITHDRAWN_REASON % transition_name
        referral.status, referral.decided_by, referral.decided_at = (
            LegalReferral.Status.REJECTED,
            "system",
            timezone.now(),
        )
        referral.decision_reason = reason
        referral.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        event_write(case, "legal_referral_rejected", None, reason=reason, payload={"referral_id": referral.pk})


def case_transition(*, case_id, transition, actor=None, reason="", expected_state=None, note=""):
    """A person, client or task asks for a transition. Returns the case after it.

    Refusals, in this order: unknown name (validation_error), not this actor's to run
    (permission_denied), state moved on since the caller looked (stale_version), not from this state
    (transition_not_allowed, with what is allowed), a hold stops it (case_on_hold).
    """
    actor = as_actor(actor)
    require_choice(transition, [(t, t) for t in REQUESTABLE_TRANSITIONS], "transition")
    reason = (reason or "").strip()
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if transition == "schedule_visit":
            require_escalation_by_hand(case, actor, reason)
        if not _transition_permission(transition)(case, actor):
            raise DomainError("permission_denied")
        if expected_state and case.state != expected_state:
            raise DomainError("stale_version", state=case.state, allowed_transitions=case.allowed_transitions(actor))
        method = getattr(case, transition)
        if not can_proceed(method, check_conditions=False):
            _refuse_transition(case, actor, transition)
        if transition in ESCALATIONS and case.borrower_on_hold:
            _refuse_transition(case, actor, transition, "case_on_hold")
        if transition == "refer_to_legal":
            _refuse_transition(
                case,
                actor,
                transition,
                message=_("Legal referral needs approval: request a legal referral for a supervisor or legal officer."),
            )
        if not has_transition_perm(method, actor):
            _refuse_transition(case, actor, transition)
        args, payload = (), {}
        if transition == "close":
            require_choice(reason, CloseReason.choices, "reason")
            args = (reason,)
            if note:
                payload["note"] = note.strip()
        apply_transition(case, transition, actor, reason=reason, payload=payload, args=args)
    return case


def require_escalation_by_hand(case, actor, reason):
    """A vulnerable borrower's case goes to a visit or to legal review only by a supervisor's hand,
    with a reason (CONTRACT.md, Vulnerability)."""
    if not case.borrower_vulnerable:
        return
    if not perms.may_escalate_borrower(case, actor):
        raise DomainError(
            "permission_denied",
            _("This borrower is marked vulnerable: only a supervisor may take the case further, with a reason."),
        )
    if not (reason or "").strip():
        raise invalid("reason", _("This borrower is marked vulnerable: say why the case must go further."))


@dataclass(frozen=True)
class LoanSyncResult:
    case: Case | None
    action: str  # opened, reopened, resolved, updated, unchanged, none


def case_sync_with_loan(*, loan_id, actor=None, as_of=None, cause=""):
    """Bring the loan's case in step with its instalments: open, reopen, resolve or re-age it.

    Called by the payment and loan services whenever money or the schedule changes, with the actor
    whose action caused it, and by `case_open_for_loan`. Escalation by age is the sweep's job.
    """
    actor = as_actor(actor)
    as_of = as_of or lender_today()
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan_id)
        oldest, amount = loan_arrears(loan.pk, as_of)
        case = Case.objects.select_for_update().filter(loan=loan, state__in=OPEN_STATES).first()
        if case is not None:
            return _sync_open_case(case, oldest, amount, actor, cause)
        if amount <= 0:
            return LoanSyncResult(None, "none")
        latest = Case.objects.select_for_update().filter(loan=loan).order_by("-opened_at", "-id").first()
        if latest is not None and latest.state == State.CLOSED and _covered_by_close(latest, as_of):
            return LoanSyncResult(None, "closed")
        window_start = as_of - timezone.timedelta(days=settings.COLLECTIONS_REOPEN_WINDOW_DAYS)
        if (
            latest is not None
            and latest.state == State.RESOLVED
            and latest.resolved_at
            and lender_date_of(latest.resolved_at) >= window_start
        ):
            return _reopen(latest, oldest, amount, as_of, actor, cause)
        return _open(loan, oldest, amount, as_of, actor, cause)


def cases_sync_with_loans(loan_ids, *, as_of=None, cause="sync"):
    """`case_sync_with_loan` for a chunk of loans (after an import, say); a refused loan is logged and
    counted. Returns counts by action. Safe to rerun: a loan already in step changes nothing."""
    counts = {}
    for loan_id in loan_ids:
        try:
            result = case_sync_with_loan(loan_id=loan_id, as_of=as_of, cause=cause)
        except DomainError as refusal:
            log.warning("loan %s not synced: %s", loan_id, refusal)
            counts["refused"] = counts.get("refused", 0) + 1
            continue
        counts[result.action] = counts.get(result.action, 0) + 1
    return counts


def _covered_by_close(closed_case, as_of):
    """A closed (settled or written-off) case ends collection of the arrears it covered: a new case
    opens only for an instalment that fell due after the close and is unpaid."""
    from django.db.models import F, Max

    from ..models import Instalment

    newest = Instalment.objects.filter(
        loan_id=closed_case.loan_id, due_date__lt=as_of, amount_paid__lt=F("amount_due")
    ).aggregate(newest=Max("due_date"))["newest"]
    if newest is None:
        return False
    if newest <= lender_date_of(closed_case.closed_at):
        return True
    # A kept settlement paid for the whole balance: later instalments are covered too, until the
    # loan system changes the schedule after the close.
    return settled_for_good(closed_case)


def settled_for_good(closed_case):
    from ..models import PlanKind, PlanStatus, RepaymentPlan

    return (
        closed_case.close_reason == CloseReason.SETTLED
        and closed_case.loan.updated_at <= closed_case.closed_at
        and RepaymentPlan.objects.filter(case=closed_case, kind=PlanKind.SETTLEMENT, status=PlanStatus.KEPT).exists()
    )


def case_open_for_loan(*, loan_id, actor=None, as_of=None):
    """Open (or return) the case of a loan that is overdue as of a date; None if nothing is overdue."""
    return case_sync_with_loan(loan_id=loan_id, actor=actor, as_of=as_of, cause="overdue").case


def _sync_open_case(case, oldest, amount, actor, cause):
    if amount <= 0:
        case.oldest_unpaid_due_date, case.amount_overdue = None, amount
        apply_transition(case, "resolve", actor, reason=cause, payload={"amount_overdue": "0.00"})
        return LoanSyncResult(case, "resolved")
    if (case.oldest_unpaid_due_date, case.amount_overdue) == (oldest, amount):
        return LoanSyncResult(case, "unchanged")
    before = str(case.amount_overdue)
    case.oldest_unpaid_due_date, case.amount_overdue = oldest, amount
    case.updated_at = timezone.now()
    case.save(update_fields=["oldest_unpaid_due_date", "amount_overdue", "updated_at"])
    event_write(
        case,
        "amounts_changed",
        actor,
        reason=cause,
        payload={
            "amount_overdue_before": before,
            "amount_overdue": str(amount),
            "oldest_unpaid_due_date": oldest.isoformat() if oldest else None,
        },
    )
    return LoanSyncResult(case, "updated")


def _stage_for(loan, oldest, as_of):
    from ..models import Hold, Strategy, VulnerabilityMarker

    on_hold = Hold.objects.active().filter(borrower_id=loan.borrower_id).exists()
    dpd = (as_of - oldest).days if oldest else 0
    strategies = {s.product: s for s in Strategy.objects.filter(product__in=[loan.product, ""])}
    strategy = strategies.get(loan.product) or strategies.get("")
    thresholds = strategy.thresholds if strategy else DEFAULT_THRESHOLDS
    stage = opening_stage(dpd, on_hold=on_hold, thresholds=thresholds)
    # A borrower who needs care opens at most at `call` (no visit by the system; sweep/opening.py).
    if stage == State.VISIT and VulnerabilityMarker.objects.active().filter(borrower_id=loan.borrower_id).exists():
        stage = State.CALL
    return stage, dpd


def _reopen(case, oldest, amount, as_of, actor, cause):
    stage, dpd = _stage_for(case.loan, oldest, as_of)
    case.oldest_unpaid_due_date, case.amount_overdue = oldest, amount
    try:
        with transaction.atomic():
            apply_transition(case, "reopen", actor, reason=cause, payload={"dpd": dpd}, args=(stage,))
    except IntegrityError:  # another open case for this loan appeared meanwhile
        raise DomainError("stale_version") from None
    return LoanSyncResult(case, "reopened")


def _open(loan, oldest, amount, as_of, actor, cause):
    stage, dpd = _stage_for(loan, oldest, as_of)
    now = timezone.now()
    case = Case(
        loan=loan,
        borrower_id=loan.borrower_id,
        oldest_unpaid_due_date=oldest,
        amount_overdue=amount,
        opened_at=now,
        updated_at=now,
        state=stage,
    )
    case.save(force_insert=True)
    event_write(
        case,
        "opened",
        actor,
        to_state=stage,
        reason=cause,
        payload={
            "dpd": dpd,
            "amount_overdue": str(amount),
            "oldest_unpaid_due_date": oldest.isoformat(),
        },
    )
    return LoanSyncResult(case, "opened")


def case_assign(*, case_ids, actor=None, assignee=None, queue=None, reason=""):
    """Assign one or many open cases to a collector and/or a queue, one event per case changed.

    `assignee` takes a user or username (`""` unassigns), `queue` a Queue or name (`""` removes it);
    None leaves that side as it is. All or nothing: an unknown or closed case refuses the whole
    request, naming the cases. Returns how many cases changed.
    """
    actor = as_actor(actor)
    if not perms.may_assign(actor):
        raise DomainError("permission_denied")
    try:
        ids = sorted({int(i) for i in case_ids})
    except (TypeError, ValueError):
        raise invalid("cases", _("Case ids must be whole numbers.")) from None
    if not ids:
        raise invalid("cases", _("Choose at least one case."))
    if assignee is None and queue is None:
        raise invalid("assignee", _("Choose a collector or a queue."))
    user = _resolve_assignee(assignee)
    target_queue = _resolve_queue(queue)
    with transaction.atomic():
        locked = perms.visible_cases(actor, Case.objects.select_for_update(of=("self",)))
        cases = list(locked.filter(pk__in=ids).select_related("assigned_to", "queue").order_by("pk"))
        missing = sorted(set(ids) - {c.pk for c in cases})
        if missing:
            raise DomainError("not_found", fields={"cases": [_("Unknown cases: %s") % ", ".join(map(str, missing))]})
        closed = [c.pk for c in cases if c.state not in OPEN_STATES]
        if closed:
            raise invalid("cases", _("Only open cases can be assigned: %s") % ", ".join(map(str, closed)))
        now = timezone.now()
        events, changed = [], []
        for case in cases:
            new_user = case.assigned_to if assignee is None else user
            new_queue = case.queue if queue is None else target_queue
            if (new_user, new_queue) == (case.assigned_to, case.queue):
                continue
            events.append(
                event_build(
                    case,
                    "assigned",
                    actor,
                    reason=reason,
                    at=now,
                    payload={
                        "from_user": case.assigned_to.get_username() if case.assigned_to else None,
                        "to_user": new_user.get_username() if new_user else None,
                        "from_queue": case.queue.name if case.queue else None,
                        "to_queue": new_queue.name if new_queue else None,
                    },
                )
            )
            changed.append(case.pk)
        if changed:
            updates = {"updated_at": now}
            if assignee is not None:
                updates["assigned_to"] = user
            if queue is not None:
                updates["queue"] = target_queue
            Case.objects.filter(pk__in=changed).update(**updates)
            events_write(events)
    return len(changed)


def _resolve_assignee(assignee):
    if assignee is None or assignee == "":
        return None
    User = get_user_model()
    user = assignee if isinstance(assignee, User) else User.objects.filter(username=assignee, is_active=True).first()
    if user is None or not user.is_active:
        raise invalid("assignee", _("No active user named “%s”.") % assignee)
    if not perms.holds_role_in(user, perms.ASSIGNEE_ROLES):
        raise invalid("assignee", _("Cases can be assigned to collectors, field agents and supervisors only."))
    return user


def _resolve_queue(queue):
    if queue is None or queue == "":
        return None
    found = queue if isinstance(queue, Queue) else Queue.objects.filter(name=queue).first()
    if found is None:
        raise invalid("queue", _("No queue named “%s”.") % queue)
    return found
