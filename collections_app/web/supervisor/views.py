"""Supervisors' pages: queues and assignment, legal approvals, holds and flagged breaches.

Reads go through selectors (row scope, fixed query counts), writes through services; a refusal is
shown in place with its reason, never as a 500. Pages answer 404 to other roles; action URLs are
POST only (405 otherwise) and CSRF-protected.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from ... import permissions as perms
from ...selectors import cases as case_reads
from ...selectors import supervisor as supervisor_reads
from ...calendar import lender_today
from ...errors import REASONS, DomainError
from .forms import (
    MAX_CASES_PER_ACTION,
    AssignActionForm,
    AssignFilterForm,
    DecideReferralForm,
    DecideReferralsForm,
    HoldFilterForm,
    HoldLiftForm,
    HoldPlaceForm,
)
from ...masking import mask_name
from ...models import Borrower, Queue
from ...services import case_assign, hold_lift, hold_place, legal_referral_decide
from ...services.assignment import (
    UNDO_SECONDS,
    case_distribute_evenly,
    case_distribution_preview,
    case_distribution_undo,
)
from ..common import ability_required, actor_of, form_errors_from, refusal_text

PENDING_SHOWN = 100  # oldest requests first; the rest appear as these are decided
UNDO_SESSION_KEY = "collections.distribution_undo"


def _render(request, template, context):
    context.setdefault("currency", settings.COLLECTIONS_CURRENCY)
    return render(request, f"collections_app/supervisor/{template}", context)


def _mark_case(case, today, buckets):
    """What a case row shows beyond its fields: masked borrower name, DPD and bucket (no queries)."""
    case.masked_name = mask_name(case.borrower.name)
    case.dpd_today = case.dpd(today)
    case.bucket_name = case_reads.bucket_for(case.dpd_today, buckets) if buckets is not None else None
    return case


# --- Queues ---------------------------------------------------------------------------------


@ability_required(perms.ASSIGN)
@require_safe
def queues(request):
    context = supervisor_reads.queue_floor(actor_of(request))
    context["undo_offer"] = _undo_offer(request)
    return _render(request, "queues.html", context)


@ability_required(perms.ASSIGN)
@require_safe
def distribute_preview(request, queue_id):
    """ "Distribute evenly" asks first: how many cases would move, and to whom."""
    queue = get_object_or_404(Queue, pk=queue_id)
    try:
        preview = case_distribution_preview(queue=queue, actor=actor_of(request))
    except DomainError as error:
        messages.error(request, refusal_text(error))
        return redirect("collections:queues")
    return _render(request, "distribute.html", {"queue": queue, "preview": preview, "undo_seconds": UNDO_SECONDS})


@ability_required(perms.ASSIGN)
@require_POST
def distribute(request, queue_id):
    queue = get_object_or_404(Queue, pk=queue_id)
    try:
        result = case_distribute_evenly(queue=queue, actor=actor_of(request))
    except DomainError as error:
        messages.error(request, refusal_text(error))
        return redirect("collections:queues")
    if not result.shares:
        messages.info(request, _("Queue “%(queue)s” has no unassigned open cases.") % {"queue": queue.label})
    else:
        detail = ", ".join(f"{name} +{n}" for name, n in result.shares.items())
        text = ngettext(
            "%(count)d case of “%(queue)s” distributed: %(detail)s.",
            "%(count)d cases of “%(queue)s” distributed: %(detail)s.",
            result.total,
        ) % {"count": result.total, "queue": queue.label, "detail": detail}
        if result.more_left:
            text += " " + _("More unassigned cases remain: press “Distribute evenly” again to continue.")
        messages.success(request, text)
        # The queues page offers the undo while it lasts (the token itself expires after UNDO_SECONDS).
        request.session[UNDO_SESSION_KEY] = {
            "token": result.undo_token,
            "queue": queue.label,
            "count": result.total,
            "until": (timezone.now() + timedelta(seconds=UNDO_SECONDS)).isoformat(),
        }
    return redirect("collections:queues")


@ability_required(perms.ASSIGN)
@require_POST
def distribute_undo(request):
    request.session.pop(UNDO_SESSION_KEY, None)
    token = request.POST.get("token", "")
    try:
        result = case_distribution_undo(token=token, actor=actor_of(request))
    except DomainError as error:
        messages.error(request, refusal_text(error))
        return redirect("collections:queues")
    text = ngettext(
        "Distribution undone: %(count)d case is unassigned again.",
        "Distribution undone: %(count)d cases are unassigned again.",
        result.undone,
    ) % {"count": result.undone}
    if result.kept:
        text += " " + ngettext(
            "%(count)d case was changed since and keeps its collector.",
            "%(count)d cases were changed since and keep their collector.",
            result.kept,
        ) % {"count": result.kept}
    messages.success(request, text)
    return redirect("collections:queues")


def _undo_offer(request):
    """The undo of the last distribution this person made, while it lasts (else None)."""
    offer = request.session.get(UNDO_SESSION_KEY)
    if not offer:
        return None
    try:
        until = datetime.fromisoformat(offer["until"])
    except (KeyError, TypeError, ValueError):
        until = None
    if until is None or until <= timezone.now():
        request.session.pop(UNDO_SESSION_KEY, None)
        return None
    return {**offer, "seconds_left": int((until - timezone.now()).total_seconds())}


# --- Assign ---------------------------------------------------------------------------------


@ability_required(perms.ASSIGN)
@require_http_methods(["GET", "POST"])
def assign(request):
    actor = actor_of(request)
    queue_list = list(Queue.objects.order_by("name"))
    buckets = case_reads.bucket_list()
    filters = AssignFilterForm(request.GET, queues=queue_list, buckets=buckets)
    # Working one queue, the assignee list offers only that queue's collectors.
    queue_id = filters.cleaned_data["queue"] if filters.is_valid() else None
    people = list(supervisor_reads.assign_candidates(queue_id=queue_id))
    refusal = None
    if request.method == "POST":
        action = AssignActionForm(request.POST, queues=queue_list, assignees=people, auto_id="action_%s")
        if action.is_valid():
            arguments = action.service_arguments()
            try:
                changed = case_assign(actor=actor, **arguments)
            except DomainError as error:
                form_errors_from(error, action)
                refusal = refusal_text(error)
            else:
                selected = len(arguments["case_ids"])
                text = ngettext("%(count)d case assigned.", "%(count)d cases assigned.", changed) % {"count": changed}
                if changed < selected:
                    text += " " + ngettext(
                        "%(count)d already had that assignment.",
                        "%(count)d already had that assignment.",
                        selected - changed,
                    ) % {"count": selected - changed}
                messages.success(request, text)
                # Back to the same list: the POST went to this page's URL with its filters.
                return redirect(request.get_full_path())
    else:
        action = AssignActionForm(queues=queue_list, assignees=people, auto_id="action_%s")

    rows, next_after = [], None
    if filters.is_valid():
        data = filters.cleaned_data
        rows, next_after = supervisor_reads.case_assign_list(
            actor,
            queue_id=data["queue"],
            state=data["state"] or None,
            assigned_to=data["assigned_to"],
            bucket=data["bucket"],
            loan=data["loan"],
            after=data["after"],
        )
    today = lender_today()
    for case in rows:
        _mark_case(case, today, buckets)
    # After a refusal the same boxes stay ticked.
    selected = set(request.POST.getlist("cases")) if request.method == "POST" else set()
    return _render(
        request,
        "assign.html",
        {
            "filters": filters,
            "action": action,
            "cases": rows,
            "next_after": next_after,
            "refusal": refusal,
            "selected": selected,
            "people": people,
            "max_cases": MAX_CASES_PER_ACTION,
            "paged": bool(filters.is_valid() and filters.cleaned_data["after"]),
        },
    )


# --- Approvals ------------------------------------------------------------------------------


def _render_approvals(request, *, failed_id=None, failed_form=None, refusal=None, bulk_form=None):
    actor = actor_of(request)
    pending = supervisor_reads.legal_referrals_pending(actor, limit=PENDING_SHOWN + 1)
    more_pending, pending = len(pending) > PENDING_SHOWN, pending[:PENDING_SHOWN]
    decided = supervisor_reads.legal_referrals_decided(actor)
    today = lender_today()
    for referral in pending + decided:
        _mark_case(referral.case, today, None)
    for referral in pending:
        if referral.pk == failed_id:
            referral.form, referral.refusal = failed_form, refusal
        else:
            referral.form = DecideReferralForm(auto_id=f"id_referral{referral.pk}_%s")
    # A refusal about a referral no longer in the list (decided meanwhile) is shown above it.
    orphan = refusal if refusal and failed_id not in {p.pk for p in pending} else None
    checked = set(request.POST.getlist("referrals")) if bulk_form is not None else set()
    for referral in pending:
        referral.checked = str(referral.pk) in checked
    return _render(
        request,
        "approvals.html",
        {
            "pending": pending,
            "more_pending": more_pending,
            "decided": decided,
            "refusal": orphan,
            "bulk_form": bulk_form or DecideReferralsForm(auto_id="id_bulk_%s"),
        },
    )


@ability_required(perms.LEGAL_DECIDE)
@require_safe
def approvals(request):
    return _render_approvals(request)


@ability_required(perms.LEGAL_DECIDE)
@require_POST
def decide_referral(request, referral_id):
    form = DecideReferralForm(request.POST, auto_id=f"id_referral{referral_id}_%s")
    refusal = None
    if form.is_valid():
        try:
            referral = legal_referral_decide(
                referral_id=referral_id,
                actor=actor_of(request),
                approve=form.approve,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as error:
            form_errors_from(error, form)
            refusal = refusal_text(error)
        else:
            if form.approve:
                text = _("Referral approved: case %(case)d moved to legal.")
            else:
                text = _("Referral rejected: case %(case)d stays in its stage.")
            messages.success(request, text % {"case": referral.case_id})
            return redirect("collections:approvals")
    return _render_approvals(request, failed_id=referral_id, failed_form=form, refusal=refusal)


@ability_required(perms.LEGAL_DECIDE)
@require_POST
def decide_referrals(request):
    """Several pending referrals decided at once: the same service as one at a time, per referral,
    each checked for permission and state on its own; those refused are named with the reason and stay
    pending, the others are decided."""
    form = DecideReferralsForm(request.POST, auto_id="id_bulk_%s")
    if not form.is_valid():
        return _render_approvals(request, bulk_form=form)
    actor = actor_of(request)
    done, refused = [], []
    for referral_id in form.cleaned_data["referrals"]:
        try:
            referral = legal_referral_decide(
                referral_id=referral_id, actor=actor, approve=form.approve, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            refused.append((referral_id, refusal_text(error)))
        else:
            done.append(referral.case_id)
    if done:
        cases = ", ".join(f"#{pk}" for pk in done)
        if form.approve:
            text = ngettext(
                "%(count)d referral approved (%(cases)s): moved to legal.",
                "%(count)d referrals approved (%(cases)s): moved to legal.",
                len(done),
            )
        else:
            text = ngettext(
                "%(count)d referral rejected (%(cases)s).", "%(count)d referrals rejected (%(cases)s).", len(done)
            )
        messages.success(request, text % {"count": len(done), "cases": cases})
    for referral_id, text in refused:
        messages.error(request, _("Referral %(id)d not decided: %(reason)s") % {"id": referral_id, "reason": text})
    return redirect("collections:approvals")


# --- Holds ----------------------------------------------------------------------------------


HOLDS_PAGE = 25  # active holds a page
BREACHES_PAGE = 25  # flagged breaches a page


def _render_holds(request, *, place_form=None, failed_id=None, lift_form=None, refusal=None):
    """Breaches first (newest first, paged), then disputes to review and the other active holds
    (newest first, paged, filtered by code and source), then the form to place a hold."""
    actor = actor_of(request)
    filters = HoldFilterForm(request.GET)
    code = source = ""
    if filters.is_valid():
        code, source = filters.cleaned_data["code"], filters.cleaned_data["source"]
    disputes = supervisor_reads.disputes_to_review(actor, code=code, source=source)
    try:
        before = max(int(request.GET.get("before", "")), 1)
    except ValueError:
        before = None
    others, next_before = supervisor_reads.holds_active(
        actor, exclude_ids=[h.pk for h in disputes], before=before, limit=HOLDS_PAGE, code=code, source=source
    )
    try:
        breaches_after = (
            supervisor_reads.BreachCursor.decode(request.GET["breaches_before"])
            if request.GET.get("breaches_before")
            else supervisor_reads.BreachCursor.FIRST
        )
    except DomainError:
        breaches_after = supervisor_reads.BreachCursor.FIRST
    breaches, next_breaches = supervisor_reads.contact_breaches(actor, limit=BREACHES_PAGE, before=breaches_after)
    for hold in disputes + others:
        hold.masked_name = mask_name(hold.borrower.name)
        if hold.pk == failed_id:
            hold.form, hold.refusal = lift_form, refusal
        else:
            hold.form = HoldLiftForm(auto_id=f"id_hold{hold.pk}_%s")
    for contact in breaches:
        contact.masked_name = mask_name(contact.borrower.name)
        contact.breach_message = REASONS[contact.breach][1] if contact.breach in REASONS else contact.breach
    orphan = (
        refusal if refusal and failed_id is not None and failed_id not in {h.pk for h in disputes + others} else None
    )
    return _render(
        request,
        "holds.html",
        {
            "disputes": disputes,
            "holds": others,
            "next_before": next_before,
            "paged": before is not None,
            "breaches": breaches,
            "next_breaches": next_breaches.encode() if next_breaches else None,
            "breaches_paged": breaches_after is not supervisor_reads.BreachCursor.FIRST,
            "place_form": place_form or HoldPlaceForm(),
            "refusal": orphan,
            "filters": filters,
        },
    )


@ability_required(perms.HOLD_PLACE, everywhere=True)
@require_safe
def holds(request):
    return _render_holds(request)


@ability_required(perms.HOLD_PLACE, everywhere=True)
@require_POST
def place_hold(request):
    form = HoldPlaceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        borrower_id = Borrower.objects.filter(external_id=data["borrower"]).values_list("pk", flat=True).first()
        if borrower_id is None:
            form.add_error("borrower", _("No borrower with this number."))
        else:
            started = timezone.now()
            try:
                hold = hold_place(
                    borrower_id=borrower_id,
                    code=data["code"],
                    actor=actor_of(request),
                    reason=data["reason"],
                    ends_at=form.ends_at_moment,
                )
            except DomainError as error:
                form_errors_from(error, form)
            else:
                if hold.placed_at >= started:
                    messages.success(
                        request,
                        _("Hold “%(code)s” placed on borrower %(borrower)s.")
                        % {"code": hold.get_code_display(), "borrower": data["borrower"]},
                    )
                else:
                    messages.info(
                        request,
                        _("Borrower %(borrower)s already has an active “%(code)s” hold.")
                        % {"code": hold.get_code_display(), "borrower": data["borrower"]},
                    )
                return redirect("collections:holds")
    return _render_holds(request, place_form=form)


@ability_required(perms.HOLD_PLACE, everywhere=True)
@require_POST
def lift_hold(request, hold_id):
    form = HoldLiftForm(request.POST, auto_id=f"id_hold{hold_id}_%s")
    refusal = None
    if form.is_valid():
        try:
            hold = hold_lift(hold_id=hold_id, actor=actor_of(request), reason=form.cleaned_data["reason"])
        except DomainError as error:
            form_errors_from(error, form)
            refusal = refusal_text(error)
        else:
            messages.success(request, _("Hold “%(code)s” lifted.") % {"code": hold.get_code_display()})
            return redirect("collections:holds")
    return _render_holds(request, failed_id=hold_id, lift_form=form, refusal=refusal)
