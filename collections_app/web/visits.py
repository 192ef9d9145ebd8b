"""The field agent's visits: today and this week, with the address of each assigned visit."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import services
from ..calendar import lender_today
from ..errors import DomainError
from .cases.forms import VisitRecordForm
from ..masking import mask_name
from ..models import Visit
from ..permissions import VISIT_RECORD
from ..selectors.contacts import contact_policies_for
from ..services.pii import pii_log_visit_addresses
from .common import ability_required, actor_of, refusal_text


@ability_required(VISIT_RECORD)
def my_visits(request):
    """Planned visits of this agent from today to a week ahead. The address is shown because the
    visit is assigned to them; the page view is written to the audit log as one entry listing the
    visits, cases and borrowers shown."""
    actor = actor_of(request)
    today = lender_today()
    start = datetime.combine(today, time(0), tzinfo=settings.LENDER_TIME_ZONE)
    visits = list(
        Visit.objects.filter(
            agents=request.user,
            status=Visit.Status.PLANNED,
            scheduled_for__gte=start - timedelta(days=1),
            scheduled_for__lt=start + timedelta(days=8),
        )
        .select_related("case__borrower", "case__loan")
        .prefetch_related("agents")
        .order_by("scheduled_for")
    )
    if visits:
        pii_log_visit_addresses(actor=actor, visits=visits)
    policies = contact_policies_for([v.case.loan.product for v in visits]) if visits else {}
    for v in visits:
        v.masked_name = mask_name(v.case.borrower.name)
        v.is_today = v.scheduled_for.astimezone(settings.LENDER_TIME_ZONE).date() == today
        # What the browser needs to warn before a visit is recorded early or at night (app.js).
        v.policy = policies[v.case.loan.product]
        v.msg_early = _("This visit is planned for %(when)s, which is later than now. Record it anyway?") % {
            "when": date_format(localtime(v.scheduled_for), "SHORT_DATETIME_FORMAT")
        }
        v.msg_night = _(
            "It is night where the borrower lives (contact is allowed %(start)s-%(end)s). "
            "Record a visit at this hour anyway?"
        ) % {"start": v.policy.window_start.strftime("%H:%M"), "end": v.policy.window_end.strftime("%H:%M")}
    return render(request, "collections_app/visits.html", {"visits": visits, "form": VisitRecordForm()})


@ability_required(VISIT_RECORD)
@require_POST
def record_visit(request, visit_id):
    actor = actor_of(request)
    form = VisitRecordForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an outcome."))
        return redirect("collections:visits")
    try:
        services.visit_record(
            visit_id=visit_id, actor=actor, outcome=form.cleaned_data["outcome"], notes=form.cleaned_data["notes"]
        )
    except DomainError as refusal:
        if refusal.code == "not_found":
            raise Http404 from None
        messages.error(request, refusal_text(refusal))
        return redirect("collections:visits")
    messages.success(request, _("Visit recorded."))
    return redirect("collections:visits")
