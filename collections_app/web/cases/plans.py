"""Repayment plans on the case page: the open plan and the past ones, "Offer a plan" with its
schedule preview and affordability, "Cancel plan", and the printable agreement for the borrower.

The preview is a second submit button of the same form: the page is rendered again with the schedule
the service would write (services.plans.plan_preview writes nothing), so it works without JavaScript.
Every refusal comes back on the form, naming the field, as the other case forms do."""

import math
from decimal import Decimal
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ... import permissions as perms
from ...calendar import lender_today
from ...errors import DomainError
from ...models import HardshipReason, PlanKind, PlanStatus
from ...models.plans import OPEN_PLAN_STATUSES
from ...selectors.cases import case_detail
from ...services import pii_reveal
from ...services.plans import plan_cancel, plan_preview, plan_propose
from ..common import STAFF, ability_required, actor_of, form_errors_from, refusal_text
from ..fields import DayField, MoneyField
from .actions import case_action, render_case

AGREEMENT_LANGUAGES = ("zh-hans", "en")


class PlanOfferForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=PlanKind.choices, initial=PlanKind.PLAN)
    reason = forms.ChoiceField(label=gettext_lazy("Hardship"), choices=HardshipReason.choices)
    months = forms.IntegerField(
        label=gettext_lazy("Months (parts, for a settlement)"),
        min_value=1,
        max_value=60,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    first_due_date = DayField(label=gettext_lazy("First payment on"))
    down_payment = MoneyField(label=gettext_lazy("Down payment (optional)"), required=False)
    discount = MoneyField(label=gettext_lazy("Settlement discount (forgiven if kept)"), required=False)
    monthly_income = MoneyField(label=gettext_lazy("Monthly income"), required=False, allow_zero=True)
    essential_spending = MoneyField(label=gettext_lazy("Essential monthly spending"), required=False, allow_zero=True)
    notes = forms.CharField(
        label=gettext_lazy("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def proposal(self):
        """The service's keyword arguments (it parses and checks them again: one set of rules)."""
        data = self.cleaned_data

        def text(value):
            return "" if value is None else str(value)

        return {
            "kind": data["kind"],
            "reason": data["reason"],
            "notes": data["notes"],
            "months": data["months"],
            "first_due_date": data["first_due_date"].isoformat(),
            "down_payment": text(data["down_payment"]),
            "discount": text(data["discount"]),
            "monthly_income": text(data["monthly_income"]),
            "essential_spending": text(data["essential_spending"]),
        }


class PlanCancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why cancel"), max_length=2000)


def affordability(form, total=None):
    """What is left each month (income less essential spending) and the number of months whose
    payments fit it (total / left, rounded up), or None when income and spending are not both given."""
    data = getattr(form, "cleaned_data", None) or {}
    income, spending = data.get("monthly_income"), data.get("essential_spending")
    if income is None or spending is None:
        return None
    left = income - spending
    suggested = math.ceil(total / left) if total is not None and left > 0 else None
    return {"income": income, "spending": spending, "left": left, "total": total, "suggested_months": suggested}


def _mark(plan):
    plan.discount_pct = (plan.discount_share * 100).quantize(Decimal("0.1"))
    plan.instalments_shown = getattr(plan, "instalment_list", None) or list(plan.instalments.order_by("number"))
    plan.met_count = sum(1 for i in plan.instalments_shown if i.met)
    return plan


def plan_context(case, can, bound):
    """The case page's plan card: open plan, past plans, the offer form (with a preview and
    affordability after "Preview") and the cancel form. No query: plans come prefetched."""
    plans = [_mark(p) for p in getattr(case, "plan_list", [])]
    open_plan = next((p for p in plans if p.status in OPEN_PLAN_STATUSES), None)
    today = lender_today()
    form = bound.get("plan_form")
    if form is None and can.get("offer_plan"):
        form = PlanOfferForm(auto_id="id_plan_%s", initial={"first_due_date": today.isoformat(), "kind": PlanKind.PLAN})
    return {
        "open_plan": open_plan,
        "past_plans": [p for p in plans if p is not open_plan],
        "plan_form": form,
        "plan_draft": bound.get("plan_draft"),
        "plan_affordability": bound.get("plan_affordability"),
        "plan_cancel_form": bound.get("plan_cancel_form") or PlanCancelForm(auto_id="id_plan_cancel_%s"),
        "plan_active": open_plan is not None and open_plan.status == PlanStatus.ACTIVE,
    }


@ability_required(perms.PLAN_PROPOSE)
@require_POST
def offer_plan(request, case_id):
    """Preview (button `preview`) or propose a plan; the page again with the schedule, or the case
    page with what happened."""
    actor = actor_of(request)
    form = PlanOfferForm(request.POST, auto_id="id_plan_%s")
    if not form.is_valid():
        return render_case(request, case_id, status=400, plan_form=form, plan_affordability=affordability(form))
    previewing = "preview" in request.POST
    try:
        if previewing:
            draft = plan_preview(case_id=case_id, actor=actor, **form.proposal())
        else:
            plan = plan_propose(case_id=case_id, actor=actor, **form.proposal())
    except DomainError as refusal:
        if refusal.code == "not_found":
            raise Http404 from None
        form_errors_from(refusal, form)
        if not refusal.fields:
            messages.error(request, refusal_text(refusal))
        return render_case(
            request,
            case_id,
            status=refusal.http_status if refusal.http_status < 500 else 400,
            plan_form=form,
            plan_affordability=affordability(form),
        )
    if previewing:
        draft.needs_label = _needs_label(draft.needs)
        return render_case(
            request, case_id, plan_form=form, plan_draft=draft, plan_affordability=affordability(form, draft.total)
        )
    if plan.status == PlanStatus.ACTIVE:
        messages.success(request, _("The plan is active: the borrower pays by its dates from now on."))
    else:
        messages.success(
            request,
            _("The plan waits for the approval of a %(who)s (on the approvals page).")
            % {"who": _needs_label(plan.needs_authority)},
        )
    return redirect(reverse("collections:case", args=[case_id]))


def _needs_label(authority):
    from ...models import Proposer

    return str(Proposer(authority).label).lower() if authority in Proposer.values else authority


@case_action(perms.PLAN_CANCEL, partial(PlanCancelForm, auto_id="id_plan_cancel_%s"), "plan_cancel_form")
def cancel_plan(request, case_id, data, plan_id):
    actor = actor_of(request)
    _plan_of_case(actor, case_id, plan_id)
    plan_cancel(plan_id=plan_id, actor=actor, **data)
    return _("The plan is cancelled.")


def _plan_of_case(actor, case_id, plan_id):
    """The case (through the actor's row scope, with its plans) and its plan `plan_id`; not_found
    when either is out of reach or the plan is another case's."""
    case = case_detail(actor, case_id, with_plans=True)
    plan = next((p for p in case.plan_list if p.pk == plan_id), None)
    if plan is None:
        raise DomainError("not_found")
    return case, plan


@ability_required(STAFF)
@require_GET
def plan_agreement(request, case_id, plan_id):
    """The plan as a document for the borrower, in their language, with their full name: opening it
    is a look at personal data, so it is offered only to those who may reveal it, and the look is
    written to the audit log (services.pii_reveal) before the page is."""
    actor = actor_of(request)
    try:
        case, plan = _plan_of_case(actor, case_id, plan_id)
    except DomainError:
        raise Http404 from None
    if not perms.may(actor, perms.PII_REVEAL, case):
        raise Http404
    revealed = pii_reveal(
        actor=actor, case_id=case.pk, fields=("name",), reason=f"Repayment plan agreement #{plan.pk} for the borrower"
    )
    language = case.borrower.language if case.borrower.language in AGREEMENT_LANGUAGES else "zh-hans"
    _mark(plan)
    context = {
        "case": case,
        "plan": plan,
        "borrower_name": revealed["name"],
        "lender": settings.COLLECTIONS_LENDER_NAME,
        "currency": case.loan.currency,
        "language": language,
        "today": lender_today(),
        "is_settlement": plan.kind == PlanKind.SETTLEMENT,
    }
    with translation.override(language):
        return render(request, "collections_app/plan_agreement.html", context)
