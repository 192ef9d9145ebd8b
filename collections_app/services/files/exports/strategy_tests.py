"""The "Strategy tests" table (`/strategy-tests/`) as a file: the same rows the page shows, rates as
percentages (12.5 for 12.5 %), each figure with its 95 % interval. No personal data."""

from django.utils.translation import gettext_lazy

from ....errors import DomainError
from ....permissions import DASHBOARD_VIEW, may_everywhere
from .registry import ExportKind, register


@register
class StrategyTestsExport(ExportKind):
    name = "strategy-tests"
    title = gettext_lazy("Strategy tests")
    always_inline = True  # two rows per test

    def check(self, actor, params):
        if not may_everywhere(actor, DASHBOARD_VIEW):
            raise DomainError("not_found")

    def filename(self, params, fmt, stamp):
        return f"strategy-tests-{stamp}.{fmt}"

    def open(self, actor, params):
        from ....selectors.strategy_tests import strategy_tests, table_columns, table_rows

        return table_columns(), iter(table_rows(strategy_tests()))
