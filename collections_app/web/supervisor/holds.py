"""Supervisors' pages: holds (place, lift, filter, page through) and flagged breaches. What every
supervisor page holds to: the package's docstring."""

from functools import partial

from django.contrib import messages
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from ... import permissions as perms
from ...selectors import supervisor as supervisor_reads
from ...errors import REASONS, DomainError
from .forms import (
    HoldFilterForm,
    HoldLiftForm,
    HoldPlaceForm,
)
from ...masking import mask_name
from ...models import Borrower
from ...services import hold_lift, hold_place
from ..common import ability_required, actor_of, form_errors_from
from .shared import render_page, row_action
from .vulnerability_reviews import reviews_context


# --- Holds ----------------------------------------------------------------------------------


HOLDS_PAGE = 25  # active holds a page
BREACHES_PAGE = 25  # flagged breaches a page


def _render_holds(request, *, place_form=None, failed_id=None, lift_form=None, refusal=None, vulnerability_failed=None):
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
    return render_page(
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
            **reviews_context(actor, **dict(zip(("failed_id", "failed_form", "refusal"), vulnerability_failed or ()))),
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

    def lift(data):
        hold = hold_lift(hold_id=hold_id, actor=actor_of(request), **data)
        return _("Hold “%(code)s” lifted.") % {"code": hold.get_code_display()}

    again = partial(_render_holds, request, failed_id=hold_id, lift_form=form)
    return row_action(request, form, lift, back_to="collections:holds", again=again)
