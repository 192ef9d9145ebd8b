"""The portfolio dashboard page (`/dashboard/`), for supervisors, auditors and admins (others get
404). Its figures and tables are selectors/dashboard/board.py's; each table downloads as CSV or
XLSX through the exports (services/files/exports/dashboard.py), which write the download to the audit
log. The page runs a fixed number of queries whatever the size of the portfolio
(tests/test_dashboard.py pins it), none at all while its figures are in the cache.
"""

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse

from ..selectors.dashboard.period import period_for, require_portfolio_view
from ..calendar import lender_today
from ..selectors.dashboard.board import Dashboard
from ..selectors.dashboard.tables import page_cell
from ..selectors.risk import scoring_note, scoring_run_latest
from ..errors import DomainError
from ..permissions import DASHBOARD_VIEW
from .common import ability_required, actor_of


def _period_or_error(request):
    """(period, None) or (None, the message for a bad `?month=`)."""
    try:
        return period_for(request.GET.get("month")), None
    except DomainError as error:
        return None, " ".join(str(m) for m in error.fields.get("month", [error.message]))


@ability_required(DASHBOARD_VIEW)
def dashboard(request):
    require_portfolio_view(actor_of(request))
    today = lender_today()
    period, error = _period_or_error(request)
    context = {"error": error, "month_value": request.GET.get("month", ""), "current_month": today.strftime("%Y-%m")}
    if error:
        return render(request, "collections_app/dashboard/page.html", context, status=400)
    board = Dashboard(period, today)
    figures = board.figures()
    for figure in figures:
        for table in figure.tables:
            table.csv_url = reverse("collections:dashboard-csv", args=[table.slug]) + f"?month={period.key}"
            table.header = list(zip(table.columns, table.numeric))
            numeric = table.numeric
            table.page_rows = [list(zip((page_cell(v) for v in row), numeric)) for row in table.rows]
            table.page_total = list(zip((page_cell(v) for v in table.total), numeric)) if table.total else None
    context.update(
        {
            "period": period,
            "currency": settings.COLLECTIONS_CURRENCY,
            "month_value": period.key,
            "previous_month": period.previous.key,
            "next_month": period.next.key if not board.is_current else None,
            "figures": figures,
            "computed_at": board.computed_at,
        }
    )
    context["scoring_note"], context["scoring_failed"] = scoring_note(scoring_run_latest())
    return render(request, "collections_app/dashboard/page.html", context)
