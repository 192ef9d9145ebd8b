"""My desk: where each role lands, and the collector's worklist."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .. import roles as r
from ..calendar import lender_today
from ..context import landing_url_name
from ..errors import DomainError
from ..forms.cases import WorklistFilterForm
from ..masking import mask_name
from ..selectors import WorklistCursor, WorklistFilters, bucket_for, bucket_list, case_worklist_page
from .common import actor_of, refusal_text, roles_required


@login_required
def desk(request):
    landing = landing_url_name(request.user)
    if landing:
        return redirect(landing)
    return render(request, "collections_app/no_role.html", status=403)


@roles_required(r.COLLECTOR, r.SUPERVISOR, r.ADMIN)
def worklist(request):
    actor = actor_of(request)
    form = WorklistFilterForm(request.GET or None)
    filters, error = WorklistFilters(), None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = WorklistFilters(stage=data["stage"], bucket=data["bucket"], promise_due=data["promise_due"],
                                  never_contacted=data["never_contacted"], search=data["q"])
    rows, next_cursor = [], None
    try:
        after = WorklistCursor.decode(request.GET["after"]) if request.GET.get("after") else None
        rows, next_cursor = case_worklist_page(actor, filters, after=after)
    except DomainError as refusal:
        error = refusal_text(refusal)
    today = lender_today()
    buckets = bucket_list()
    for case in rows:
        case.dpd_today = case.dpd(today)
        case.bucket_name = bucket_for(case.dpd_today, buckets)
        case.masked_name = mask_name(case.borrower.name)
    query = request.GET.copy()
    query.pop("after", None)
    next_url = None
    if next_cursor:
        query["after"] = next_cursor.encode()
        next_url = "?" + query.urlencode()
    return render(request, "collections_app/worklist.html", {
        "form": form, "rows": rows, "next_url": next_url, "error": error,
        "first_page": not request.GET.get("after"),
    })
