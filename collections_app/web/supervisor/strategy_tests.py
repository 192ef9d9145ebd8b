"""The "Strategy tests" page (`/strategy-tests/`): supervisors, auditors and admins (others get 404,
and no link). Every running champion/challenger test with its figures per group, their 95 %
intervals and the verdict (selectors/strategy_tests.py; docs/strategies.md); the same table as CSV
and XLSX through the exports, which write the download to the audit log. Three queries whatever the
size of the portfolio (tests/test_strategy_tests.py pins the count)."""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from ...permissions import DASHBOARD_VIEW, EXPORT_REPORTS
from ...selectors.strategy_tests import FIGURES, GROUPS, group_label, strategy_tests, verdict_label
from ..common import ability_required
from ..exports.views import _deliver


def _cell(interval, percent):
    if interval is None:
        return None
    value, low, high = interval
    if percent:
        return {"value": f"{value * 100:.1f} %", "range": f"{low * 100:.1f}–{high * 100:.1f}"}
    return {"value": f"{value:.2f}", "range": f"{low:.2f}–{high:.2f}"}


@ability_required(DASHBOARD_VIEW, everywhere=True)
@require_safe
def strategy_tests_page(request):
    tests = []
    for test in strategy_tests():
        rows = []
        for title, attr, percent in FIGURES:
            rows.append(
                {
                    "title": title,
                    "cells": [_cell(getattr(test.groups[g], attr), percent) for g in GROUPS],
                }
            )
        difference = test.cure_difference
        tests.append(
            {
                "test": test,
                "groups": [(group_label(g), test.groups[g].cases) for g in GROUPS],
                "rows": rows,
                "difference": (
                    {
                        "value": f"{difference[0] * 100:+.1f}",
                        "range": _("%(low)s to %(high)s")
                        % {"low": f"{difference[1] * 100:+.1f}", "high": f"{difference[2] * 100:+.1f}"},
                    }
                    if difference
                    else None
                ),
                "verdict": verdict_label(test.verdict),
                "verdict_code": test.verdict,
            }
        )
    return render(request, "collections_app/supervisor/strategy_tests.html", {"tests": tests})


@ability_required(EXPORT_REPORTS, everywhere=True)
@require_safe
def export_strategy_tests(request, fmt):
    return _deliver(request, "strategy-tests", fmt, {})
