"""A dashboard table (`/dashboard/`) as a file: the same `Dashboard` tables the page and its CSV
show. Percentages are numbers (25.0 for 25 %), amounts two-decimal money. No personal data."""

from django.utils.translation import gettext_lazy

from ....charts import percent_value
from ....errors import DomainError
from ....selectors.dashboard.period import period_for, require_portfolio_view
from .registry import ExportKind, register


def _board_and_table(params):
    # The tables are built by the dashboard page's module (one definition for page, CSV and XLSX).
    from ....selectors.dashboard.board import Dashboard
    from ....selectors.dashboard.tables import Rate

    if params.get("table") not in Dashboard.TABLES:
        raise DomainError("not_found")
    board = Dashboard(period_for(params.get("month") or None))
    return board.table(params["table"]), Rate


@register
class DashboardExport(ExportKind):
    name = "dashboard"
    title = gettext_lazy("Dashboard table")
    always_inline = True  # a handful of aggregate rows

    def check(self, actor, params):
        from ....selectors.dashboard.board import Dashboard

        require_portfolio_view(actor)
        if params.get("table") not in Dashboard.TABLES:
            raise DomainError("not_found")
        period_for(params.get("month") or None)

    def filename(self, params, fmt, stamp):
        return f"dashboard-{params['table']}-{period_for(params.get('month') or None).key}.{fmt}"

    def open(self, actor, params):
        table, rate = _board_and_table(params)
        rows = (
            [
                float(percent_value(v.fraction))
                if isinstance(v, rate) and v.fraction is not None
                else (None if isinstance(v, rate) else v)
                for v in row
            ]
            for row in table.all_rows()
        )
        return [str(c) for c in table.columns], rows
