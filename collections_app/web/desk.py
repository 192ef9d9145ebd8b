"""My desk: where each role lands, and the collector's worklist."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..calendar import lender_today
from .context import landing_url_name
from ..errors import DomainError
from .cases.forms import WorklistFilterForm
from ..masking import mask_name
from ..permissions import PROMISE_RECORD
from ..selectors.cases import bucket_for, bucket_list
from ..selectors.worklist import WorklistFilters, case_worklist_count, case_worklist_page, worklist_cursor_decode
from .common import ability_required, actor_of, refusal_text
from .jinja import render_rows


@login_required
def desk(request):
    landing = landing_url_name(request.user)
    if landing:
        return redirect(landing)
    return render(request, "collections_app/no_role.html", status=403)


# Sortable columns: column -> the sort its header asks for first (most urgent first).
SORTABLE = {"dpd": "-dpd", "amount": "-amount", "next_action": "next_action"}


def _sort_links(request, current):
    """For each sortable header: the link that sorts by it (again: the other way) from the first page,
    keeping the filters, and the direction it is sorted in now (for aria-sort)."""
    links = {}
    for column, first in SORTABLE.items():
        query = request.GET.copy()
        query.pop("after", None)
        if current == column:
            query["sort"], direction = f"-{column}", "ascending"
        elif current == f"-{column}":
            query["sort"], direction = column, "descending"
        else:
            query["sort"], direction = first, ""
        links[column] = {"url": "?" + query.urlencode(), "direction": direction}
    return links


def _count_text(count, more):
    if more:
        return _("%(count)s+ cases match") % {"count": number_format(count, force_grouping=True)}
    return ngettext("%(count)s case matches", "%(count)s cases match", count) % {
        "count": number_format(count, force_grouping=True)
    }


# The worklist: for those who work cases by phone (the "promise to pay" row: collectors on their
# own cases, supervisors and admins).
@ability_required(PROMISE_RECORD)
def worklist(request):
    actor = actor_of(request)
    form = WorklistFilterForm(request.GET or None)
    filters, error, status = WorklistFilters(), None, 200
    if form.is_bound and form.is_valid():
        # The form's fields are the filters', but for the search box's (`q` in the address).
        data = dict(form.cleaned_data)
        filters = WorklistFilters(search=data.pop("q"), **data)
    elif form.is_bound and "sort" in form.errors:
        error, status = _("This list cannot be sorted that way."), 400
    rows, next_cursor, count_text = [], None, ""
    today = lender_today()
    if status == 200:
        try:
            after = worklist_cursor_decode(request.GET["after"], filters.sort) if request.GET.get("after") else None
            rows, next_cursor = case_worklist_page(actor, filters, after=after, as_of=today)
            count_text = _count_text(*case_worklist_count(actor, filters, as_of=today))
        except DomainError as refusal:
            error = refusal_text(refusal)
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
    return render(
        request,
        "collections_app/worklist.html",
        {
            "form": form,
            "rows": rows,
            "rows_html": render_rows(
                "collections_app/rows/worklist.html", {"rows": rows, "first_page": not request.GET.get("after")}
            ),
            "next_url": next_url,
            "error": error,
            "count_text": count_text,
            "first_page": not request.GET.get("after"),
            "sort_links": _sort_links(request, filters.sort),
        },
        status=status,
    )
