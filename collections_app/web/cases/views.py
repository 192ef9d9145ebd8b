"""The case page and the actions on it. Views parse input, call a service, and render; refusals
come back as messages on the page, naming the field, never as a 500. The page's reads come first,
then its actions, whose POST actions.py takes alike."""

from functools import partial

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ... import services
from ... import permissions as perms
from ...permissions import case_abilities
from ...calendar import lender_today
from ..context import may_open
from ...errors import DomainError
from .forms import (
    CloseForm,
    ContactForm,
    LegalReferralForm,
    MessageForm,
    NoteForm,
    PromiseForm,
    RevealForm,
    TransitionForm,
    VisitScheduleForm,
)
from ...masking import mask_address, mask_email, mask_name, mask_national_id, mask_phone
from ...models import LegalReferral, MessageTemplate, PromiseToPay
from ...selectors.cases import bucket_for, bucket_list, case_detail, case_timeline
from ...selectors.worklist import WorklistCursor, case_worklist
from ...timeline import describe
from ..common import STAFF, ability_required, actor_of, refusal_text
from .actions import act_on_case, back_to_case, case_action
from .vulnerability import vulnerability_context
from ..jinja import render_rows

TIMELINE_PAGE = 50


def _case_or_404(actor, case_id, **options):
    try:
        return case_detail(actor, case_id, **options)
    except DomainError:
        raise Http404 from None


def _timeline(actor, case, before=None):
    """A page of the timeline as HTML (its fifty rows rendered by Jinja2, web/jinja.py), with the
    button for older events when there are more; `case` as _case_or_404 read it for this actor."""
    events = case_timeline(actor, case=case, before_id=before, limit=TIMELINE_PAGE + 1)
    more = len(events) > TIMELINE_PAGE
    events = events[:TIMELINE_PAGE]
    for event in events:
        event.title, event.detail = describe(event)
    older = events[-1].pk if more else None
    return render_rows("collections_app/rows/timeline.html", {"events": events, "older": older, "case_id": case.pk})


def _check_view(decision):
    if decision is None:
        return None
    from ...errors import REASONS

    return {
        "allowed": decision.allowed,
        "code": decision.code,
        "reason": REASONS[decision.code][1] if decision.code in REASONS else "",
        "next_allowed_at": decision.next_allowed_at,
    }


def _sms_templates():
    return sorted(set(MessageTemplate.objects.filter(channel="sms").values_list("code", flat=True)))


def _field_agents():
    return list(
        get_user_model()
        .objects.filter(groups__name__in=perms.VISIT_AGENT_ROLES, is_active=True)
        .order_by("username")
        .values_list("username", flat=True)
    )


def _render_case(request, case_id, *, status=200, revealed=None, **bound_forms):
    from .plans import plan_context

    actor = actor_of(request)
    case = _case_or_404(actor, case_id, with_plans=True)
    today = lender_today()
    dpd = case.dpd(today)
    borrower = case.borrower
    timeline = _timeline(actor, case)
    try:
        call_check = services.contact_check(case=case, channel="call")
    except DomainError:
        call_check = None
    can = case_abilities(actor, case)
    forms = {
        "contact_form": ContactForm(),
        "promise_form": PromiseForm(),
        "note_form": NoteForm(),
        "message_form": MessageForm(templates=_sms_templates()) if can["send_message"] else None,
        "legal_form": LegalReferralForm(auto_id="id_legal_%s"),
        "close_form": CloseForm(auto_id="id_close_%s"),
        "reveal_form": RevealForm(),
        "visit_form": VisitScheduleForm(agents=_field_agents()) if can["plan_visit"] else None,
    }
    forms.update(vulnerability_context(case, can))  # the marker and its forms (partials/case_vulnerability.html)
    forms.update(bound_forms)
    context = {
        "case": case,
        "dpd": dpd,
        "bucket": bucket_for(dpd, bucket_list()),
        "hold_codes": case.active_hold_codes,
        "borrower": {
            "name": mask_name(borrower.name),
            "national_id": mask_national_id(borrower.national_id),
            "phones": [mask_phone(p) for p in borrower.phones],
            "email": mask_email(borrower.email),
            "address": mask_address(borrower.address),
            "city": borrower.city,
            "time_zone": borrower.time_zone,
            "language": borrower.get_language_display(),
        },
        "revealed": revealed,
        "instalments": list(case.loan.instalments.order_by("number")),
        "payments": list(case.loan.payments.order_by("-paid_at")[:20]),
        "pending_promise": case.promises.filter(status=PromiseToPay.Status.PENDING).first(),
        "pending_referral": case.legal_referrals.filter(status=LegalReferral.Status.REQUESTED).first(),
        "visits": list(case.visits.prefetch_related("agents").order_by("-scheduled_for")[:5]),
        "timeline": timeline,
        "check": _check_view(call_check),
        "can": can,
        **forms,
    }
    context.update(plan_context(case, can, bound_forms))
    return render(request, "collections_app/case.html", context, status=status)


@ability_required(STAFF)
@require_GET
def case_page(request, case_id):
    return _render_case(request, case_id)


@ability_required(STAFF)
@require_GET
def timeline_page(request, case_id):
    """Older events, fifty at a time (HTMX swaps them in below the ones shown)."""
    actor = actor_of(request)
    case = _case_or_404(actor, case_id)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        raise Http404 from None
    try:
        return HttpResponse(_timeline(actor, case, before=before))
    except DomainError:
        raise Http404 from None


@ability_required(STAFF)
@require_GET
def contact_check(request, case_id):
    actor = actor_of(request)
    case = _case_or_404(actor, case_id)
    channel = request.GET.get("channel", "call")
    try:
        decision = services.contact_check(case=case, channel=channel)
    except DomainError as refusal:
        return render(
            request, "collections_app/partials/contact_check.html", {"error": refusal_text(refusal)}, status=400
        )
    return render(
        request, "collections_app/partials/contact_check.html", {"check": _check_view(decision), "channel": channel}
    )


@ability_required(STAFF)
@require_GET
def message_preview(request, case_id):
    """The SMS as the borrower would read it, in their language, with their name masked as this page
    shows it (nothing is written; the dispatcher builds the real text when it sends)."""
    from ...services.reminders import message_preview as preview

    actor = actor_of(request)
    case = _case_or_404(actor, case_id)
    text = preview(case=case, template=request.GET.get("template", ""))
    return render(request, "collections_app/partials/message_preview.html", {"text": text})


@ability_required(STAFF)
@require_GET
def next_case(request, case_id):
    """The case after this one in my worklist's order (keyset: no list is loaded)."""
    actor = actor_of(request)
    case = _case_or_404(actor, case_id)
    position = WorklistCursor(case.priority, case.next_action_at, case.pk)
    following = case_worklist(actor).filter(position.after_q()).values_list("pk", flat=True).first()
    if following:
        return redirect("collections:case", following)
    messages.info(request, _("That was the last case in your worklist."))
    return redirect("collections:worklist" if may_open(request.user, "collections:worklist") else "collections:desk")


# --- Actions: the forms of the page, each posted here (actions.py takes them alike) ----------


@case_action(STAFF, ContactForm, "contact_form")
def log_contact(request, case_id, data):
    contact = services.contact_log(case_id=case_id, actor=actor_of(request), **data)
    if contact.breach:
        messages.warning(
            request, _("Recorded, and flagged for your supervisor: %s") % refusal_text(DomainError(contact.breach))
        )
    return _("Contact recorded.")


@case_action(STAFF, PromiseForm, "promise_form")
def record_promise(request, case_id, data):
    services.promise_record(case_id=case_id, actor=actor_of(request), **data)
    return _("Promise to pay recorded.")


@case_action(STAFF, NoteForm, "note_form")
def add_note(request, case_id, data):
    services.note_add(case_id=case_id, actor=actor_of(request), **data)
    return _("Note added.")


@case_action(STAFF, lambda post: MessageForm(post, templates=_sms_templates()), "message_form")
def send_message(request, case_id, data):
    from ...services.reminders import message_request

    message_request(case_id=case_id, actor=actor_of(request), channel="sms", **data)
    return _("Message queued.")


@case_action(STAFF, partial(LegalReferralForm, auto_id="id_legal_%s"), "legal_form")
def request_legal_referral(request, case_id, data):
    services.legal_referral_request(case_id=case_id, actor=actor_of(request), **data)
    return _("Legal referral requested; a supervisor or legal officer will decide.")


@ability_required(STAFF)
@require_POST
def transition(request, case_id):
    """A button that moves the case on (`transition` names it); closing has its own form, with its
    reasons."""
    name = request.POST.get("transition", "")
    if name == "close":
        form, form_name = CloseForm(request.POST, auto_id="id_close_%s"), "close_form"
    else:
        form, form_name = TransitionForm(request.POST), "transition_form"
    return act_on_case(
        request,
        case_id,
        form,
        form_name,
        lambda data: services.case_transition(
            case_id=case_id,
            transition=name,
            actor=actor_of(request),
            reason=data.get("reason", ""),
            note=data.get("note", ""),
            expected_state=request.POST.get("expected_state") or None,
        ),
        lambda result: back_to_case(request, case_id, _("Done.")),
    )


@case_action(STAFF, RevealForm, "reveal_form", shows="revealed")
def reveal(request, case_id, data):
    """Show the borrower's real data on this response only; the look is audited first."""
    return services.pii_reveal(actor=actor_of(request), case_id=case_id, **data)


@case_action(perms.VISIT_PLAN, lambda post: VisitScheduleForm(post, agents=_field_agents()), "visit_form")
def schedule_visit(request, case_id, data):
    services.visit_schedule(case_id=case_id, actor=actor_of(request), **data)
    return _("Visit planned.")
