"""Issue 9, point 22 in a real browser: the worklist's search box shows its whole placeholder, it
sorts by a header, `p`/`s` open their panels on the case page, and a field agent recording a visit
before its time or at night is asked to confirm first."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from collections_app import services
from collections_app.models import Visit

from ..factories import BorrowerFactory, assigned_case, overdue_case

pytestmark = pytest.mark.django_db(transaction=True)

PLACEHOLDER_FITS = """(el) => {
  const style = getComputedStyle(el);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  const text = ctx.measureText(el.placeholder).width;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {text, room};
}"""


@pytest.mark.parametrize("width", [1366, 390])
def test_the_search_box_shows_its_whole_placeholder(page, live_server, login, collector, supervisor, width):
    page.set_viewport_size({"width": width, "height": 800})
    assigned_case(to=collector, by=supervisor, days_overdue=9)
    login("collector")
    fit = page.get_by_test_id("search").evaluate(PLACEHOLDER_FITS)
    assert fit["text"] <= fit["room"], fit


def test_a_header_click_sorts_the_worklist_and_pages_keep_working(page, live_server, login, collector, supervisor):
    from decimal import Decimal

    small = assigned_case(to=collector, by=supervisor, days_overdue=9, amount=Decimal("10.00"))
    big = assigned_case(to=collector, by=supervisor, days_overdue=9, amount=Decimal("900.00"))
    login("collector")
    expect(page.get_by_test_id("match-count")).to_have_text("2 cases match")
    page.get_by_test_id("sort-amount").click()
    rows = page.get_by_test_id("worklist").locator("tbody tr")
    expect(rows.first).to_contain_text(f"#{big.pk}")
    page.get_by_test_id("sort-amount").click()
    expect(rows.first).to_contain_text(f"#{small.pk}")


def test_p_and_s_open_their_panels(page, live_server, login, collector, supervisor):
    borrower = BorrowerFactory(consent_after_hours=True)
    case = assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=borrower)
    login("collector")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.locator("body").press("p")
    expect(page.locator("#id_amount")).to_be_visible()
    expect(page.locator("#id_amount")).to_be_focused()
    page.locator("#id_amount").press("Escape")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("s")
    expect(page.locator("#id_template")).to_be_visible()


def _zone_at_local_hour(hour):
    offset = (hour - timezone.now().hour) % 24
    return f"Etc/GMT-{offset}" if offset <= 12 else f"Etc/GMT+{24 - offset}"


def _visit(supervisor, agents, *, borrower, scheduled_for):
    case = overdue_case(days_overdue=40, borrower=borrower)
    return services.visit_schedule(case_id=case.pk, actor=supervisor, scheduled_for=scheduled_for, agents=agents)


def test_recording_a_visit_before_its_time_asks_first(page, live_server, login, supervisor, field_agent, field_agent2):
    borrower = BorrowerFactory(time_zone=_zone_at_local_hour(12))
    visit = _visit(
        supervisor, [field_agent, field_agent2], borrower=borrower, scheduled_for=timezone.now() + timedelta(hours=3)
    )
    login("field_agent")
    dialogs = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_test_id("record-visit").get_by_role("button").click()
    page.wait_for_timeout(300)
    assert len(dialogs) == 1 and "later than now" in dialogs[0]
    assert Visit.objects.get(pk=visit.pk).status == "planned"  # dismissed: nothing saved

    page.remove_listener("dialog", dismiss)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("record-visit").get_by_role("button").click()
    expect(page.get_by_text("Visit recorded.")).to_be_visible()
    assert Visit.objects.get(pk=visit.pk).status == "done"


def test_recording_a_visit_at_the_borrowers_night_asks_first(
    page, live_server, login, supervisor, field_agent, field_agent2
):
    borrower = BorrowerFactory(time_zone=_zone_at_local_hour(3))
    _visit(
        supervisor, [field_agent, field_agent2], borrower=borrower, scheduled_for=timezone.now() - timedelta(minutes=4)
    )
    login("field_agent")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_test_id("record-visit").get_by_role("button").click()
    page.wait_for_timeout(300)
    assert len(dialogs) == 1 and "night" in dialogs[0] and "later than now" not in dialogs[0]


def test_recording_a_visit_on_time_in_the_day_asks_nothing(
    page, live_server, login, supervisor, field_agent, field_agent2
):
    borrower = BorrowerFactory(time_zone=_zone_at_local_hour(12))
    visit = _visit(
        supervisor, [field_agent, field_agent2], borrower=borrower, scheduled_for=timezone.now() - timedelta(minutes=4)
    )
    login("field_agent")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_test_id("record-visit").get_by_role("button").click()
    expect(page.get_by_text("Visit recorded.")).to_be_visible()
    assert dialogs == [] and Visit.objects.get(pk=visit.pk).status == "done"
