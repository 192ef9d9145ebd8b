"""The dashboard's repayment plans figure in a real browser."""

import pytest
from playwright.sync_api import expect

from ..test_dashboard_plans import build_plans

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_shows_the_plans_figure(page, live_server, login, shot, collector, other_collector, supervisor):
    build_plans(collector, other_collector, supervisor)
    login("supervisor")
    page.goto(f"{live_server.url}/dashboard/#plans")
    figure = page.get_by_test_id("figure-plans")
    expect(figure).to_be_visible()
    expect(figure.locator("svg.chart").first).to_be_visible()
    expect(figure).to_contain_text("Forgiven by settlements kept in the period")
    expect(figure).to_contain_text("300.00")
    expect(figure).to_contain_text("66.7%")
    figure.scroll_into_view_if_needed()
    shot("dashboard-plans")
