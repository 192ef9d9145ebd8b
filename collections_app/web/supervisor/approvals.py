"""Supervisors' pages: repayment plans and legal referrals waiting for a decision, decided in bulk
(referrals also one by one). What every supervisor page holds to: the package's docstring."""

from decimal import Decimal
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import messages
from django.utils import timezone
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from ... import permissions as perms
from ...selectors import supervisor as supervisor_reads
from ...calendar import lender_today
from ...errors import DomainError
from .forms import (
    CaseIdsField,
    DecideReferralForm,
    DecideReferralsForm,
)
from ...models import Proposer
from ...services import legal_referral_decide
from ...services.plans import plan_decide
from ...services.plans.policy import authority_covers
from ...services.plans.schedule import months_between
from ..jinja import render_rows
from ..common import ability_required, actor_of, refusal_text
from .shared import mark_case, render_page, row_action

PENDING_SHOWN = 100  # oldest requests first; the rest appear as these are decided
PLANS_SHOWN = 200  # oldest proposals first; the rest appear as these are decided


class PlanIdsField(CaseIdsField):
    """Many plan ids from the approvals page's checkboxes."""

    default_error_messages = {
        "required": gettext_lazy("Select at least one plan."),
        "invalid": gettext_lazy("Plan ids must be whole numbers."),
        "too_many": gettext_lazy("You can decide at most %(max)d plans at once; you selected %(n)d."),
    }


class DecidePlansForm(forms.Form):
    """Several waiting plans approved or declined at once, with one reason (required to decline:
    the service says so, naming the field)."""

    plans = PlanIdsField(label=gettext_lazy("Plans"))
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[("approve", gettext_lazy("Approve")), ("decline", gettext_lazy("Decline"))],
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason (required to decline)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _plans_waiting(actor):
    """The proposals this person's authority covers, marked for their rows (no further query)."""
    decider = perms.plan_authority_to_decide(actor)
    if decider is None or not perms.may(actor, perms.PLAN_DECIDE):
        return [], False
    covered = [p for p in Proposer.values if authority_covers(decider, p)]
    plans = supervisor_reads.plans_waiting(actor, covered, limit=PLANS_SHOWN + 1)
    more, plans = len(plans) > PLANS_SHOWN, plans[:PLANS_SHOWN]
    today = lender_today()
    for plan in plans:
        mark_case(plan.case, today, None)
        proposed_on = timezone.localtime(plan.created_at, settings.LENDER_TIME_ZONE).date()
        plan.months = months_between(proposed_on, plan.last_due) if plan.last_due else None
        plan.discount_pct = (plan.discount_share * 100).quantize(Decimal("0.1"))
    return plans, more


# --- Approvals ------------------------------------------------------------------------------


def _render_approvals(
    request, *, failed_id=None, failed_form=None, refusal=None, bulk_form=None, plans_form=None, status=200
):
    actor = actor_of(request)
    plans, more_plans = _plans_waiting(actor)
    checked_plans = set(request.POST.getlist("plans")) if plans_form is not None else set()
    for plan in plans:
        plan.checked = str(plan.pk) in checked_plans
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
    response = render_page(
        request,
        "approvals.html",
        {
            "pending": pending,
            "more_pending": more_pending,
            "decided": decided,
            "refusal": orphan,
            "bulk_form": bulk_form or DecideReferralsForm(auto_id="id_bulk_%s"),
            "plans": plans,
            "plan_rows": render_rows("collections_app/rows/approvals_plans.html", {"plans": plans}),
            "more_plans": more_plans,
            "plans_form": plans_form or DecidePlansForm(auto_id="id_plans_%s"),
            "may_decide_plans": perms.plan_authority_to_decide(actor) is not None,
        },
    )
    response.status_code = status
    return response


@ability_required(perms.LEGAL_DECIDE)
@require_safe
def approvals(request):
    return _render_approvals(request)


@ability_required(perms.LEGAL_DECIDE)
@require_POST
def decide_referral(request, referral_id):
    form = DecideReferralForm(request.POST, auto_id=f"id_referral{referral_id}_%s")

    def decide(data):
        referral = legal_referral_decide(
            referral_id=referral_id, actor=actor_of(request), approve=form.approve, reason=data["reason"]
        )
        if form.approve:
            text = _("Referral approved: case %(case)d moved to legal.")
        else:
            text = _("Referral rejected: case %(case)d stays in its stage.")
        return text % {"case": referral.case_id}

    again = partial(_render_approvals, request, failed_id=referral_id, failed_form=form)
    return row_action(request, form, decide, back_to="collections:approvals", again=again)


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


@ability_required(perms.LEGAL_DECIDE)
@require_POST
def decide_plans(request):
    """Several waiting plans decided at once: plan_decide per plan, each checked for permission,
    authority and state on its own; the page says what happened to each."""
    form = DecidePlansForm(request.POST, auto_id="id_plans_%s")
    if not form.is_valid():
        return _render_approvals(request, plans_form=form, status=400)
    actor = actor_of(request)
    decision, reason = form.cleaned_data["decision"], form.cleaned_data["reason"]
    for plan_id in form.cleaned_data["plans"]:
        try:
            plan = plan_decide(plan_id=plan_id, actor=actor, decision=decision, reason=reason)
        except DomainError as error:
            messages.error(
                request, _("Plan %(id)d not decided: %(reason)s") % {"id": plan_id, "reason": refusal_text(error)}
            )
        else:
            text = (
                _("Plan %(id)d (case #%(case)d) approved: it is active.")
                if decision == "approve"
                else _("Plan %(id)d (case #%(case)d) declined.")
            )
            messages.success(request, text % {"id": plan.pk, "case": plan.case_id})
    return redirect("collections:approvals")
