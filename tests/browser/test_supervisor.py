"""What a supervisor does in a real browser."""

import pytest
from playwright.sync_api import expect

from collections_app.models import Case, CaseEvent

from ..factories import assigned_case

pytestmark = pytest.mark.django_db(transaction=True)


def test_supervisor_filters_selects_fifty_cases_and_reassigns_them(
    page, live_server, login, shot, collector, other_collector, supervisor
):
    cases = [assigned_case(to=collector, by=supervisor, days_overdue=12) for _ in range(55)]
    assigned_case(to=other_collector, by=supervisor, days_overdue=12)  # filtered out

    login("supervisor")
    page.goto(f"{live_server.url}/queues/assign/?assigned_to=collector")
    rows = page.get_by_test_id("cases").locator("tbody tr")
    expect(rows).to_have_count(50)
    page.locator("[data-select-all]").check()
    expect(page.locator("[data-selected-count]")).to_have_text("50")
    page.locator("#assign-action [name=assignee]").select_option("collector2")
    shot("assign")
    page.get_by_role("button", name="Apply to selected").click()
    page.wait_for_load_state("networkidle")

    moved = Case.objects.filter(pk__in=[c.pk for c in cases], assigned_to=other_collector).count()
    assert moved == 50
    assert (
        CaseEvent.objects.filter(
            case__in=cases, kind="assigned", payload__from_user="collector", payload__to_user="collector2"
        ).count()
        == 50
    )
    expect(page.get_by_role("status")).to_contain_text("50")


def test_the_dashboard_renders_its_charts(page, live_server, login, shot, collector, supervisor):
    for days in (3, 12, 40):
        assigned_case(to=collector, by=supervisor, days_overdue=days)
    login("supervisor")
    page.goto(f"{live_server.url}/dashboard/")
    charts = page.locator("svg.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 4
    expect(page.get_by_test_id("figure-portfolio")).to_contain_text("8-30")
    shot("dashboard")
