"""A collector on a 390 px phone (issue 9, point 19): nothing scrolls sideways, the worklist's rows are
cards, and the case page shows its actions before the timeline. Screenshots: var/screenshots/phone-*."""

import pytest
from playwright.sync_api import expect

from ..factories import assigned_case
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": PHONE, "is_mobile": True, "has_touch": True}


def page_width(page):
    return page.evaluate("document.scrollingElement.scrollWidth")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_worklist_and_case_page_fit_a_phone(language, page, live_server, login, shot, collector, supervisor):
    cases = [assigned_case(to=collector, by=supervisor, days_overdue=days) for days in (3, 15, 45)]
    login("collector")
    if language != "en":
        with page.expect_navigation():
            page.select_option("[data-testid=language]", language)
    page.goto(f"{live_server.url}/worklist/")
    worklist = page.get_by_test_id("worklist")
    expect(worklist).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", language)
    shot(f"phone-worklist-{language}")
    assert page_width(page) <= PHONE["width"]
    # Rows are cards: no header row shown, each cell labelled, one card under the other.
    expect(worklist.locator("thead")).to_be_hidden()
    rows = worklist.locator("tbody tr")
    expect(rows).to_have_count(3)
    first, second = rows.nth(0).bounding_box(), rows.nth(1).bounding_box()
    assert first["width"] <= PHONE["width"] and second["y"] >= first["y"] + first["height"]
    label = rows.nth(0).locator("td").nth(3).evaluate("td => getComputedStyle(td, '::before').content")
    assert label not in ("none", "normal", '""')

    page.goto(f"{live_server.url}/cases/{cases[1].pk}/")
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_be_attached()
    shot(f"phone-case-{language}")
    assert page_width(page) <= PHONE["width"]
    action = page.locator("aside.actions button").first
    expect(action).to_be_visible()
    assert action.bounding_box()["y"] < timeline.bounding_box()["y"]
    page.screenshot(path=str(SCREENSHOTS / f"phone-case-full-{language}.png"), full_page=True)


def test_wide_screens_keep_the_table(page, live_server, login, collector, supervisor):
    page.set_viewport_size({"width": 1366, "height": 768})
    assigned_case(to=collector, by=supervisor, days_overdue=15)
    login("collector")
    expect(page.get_by_test_id("worklist").locator("thead")).to_be_visible()
