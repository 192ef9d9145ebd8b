"""Supervisors' pages: legal referrals waiting for a decision, decided one by one or in bulk.

Reads go through selectors (row scope, fixed query counts), writes through services; a refusal is
shown in place with its reason, never as a 500. Pages answer 404 to other roles; action URLs are
POST only (405 otherwise) and CSRF-protected.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from ... import permissions as perms
from ...selectors import supervisor as supervisor_reads
from ...calendar import lender_today
from ...errors import DomainError
from .forms import (
    DecideReferralForm,
    DecideReferralsForm,
)
from ...services import legal_referral_decide
from ..common import ability_required, actor_of, form_errors_from, refusal_text
from .shared import mark_case, render_page

PENDING_SHOWN = 100  # oldest requests first; the rest appear as these are decided


# --- Approvals ------------------------------------------------------------------------------


def _render_approvals(request, *, failed_id=None, failed_form=None, refusal=None, bulk_form=None):
    actor = actor_of(request)
    pending = supervisor_reads.legal_referrals_pending(actor, limit=PENDING_SHOWN + 1)
    more_pending, pending = len(pending) > PENDING_SHOWN, pending[:PENDING_SHOWN]
    decided = supervisor_reads.legal_referrals_decided(actor)
    today = lender_today()
    for referral in pending + decided:
        mark_case(referral.case, today, None)
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
    return render_page(
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
