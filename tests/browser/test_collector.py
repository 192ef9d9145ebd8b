"""What a collector does in a real browser."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from collections_app.calendar import lender_today
from collections_app.models import ContactAttempt, PromiseToPay

from ..factories import BorrowerFactory, assigned_case

# Transactional: the live server answers from another thread.
pytestmark = pytest.mark.django_db(transaction=True)


def test_collector_finds_a_case_by_phone_digits_logs_a_call_and_a_promise(
    page, live_server, login, shot, collector, supervisor
):
    for _ in range(3):
        assigned_case(to=collector, by=supervisor, days_overdue=9)
    borrower = BorrowerFactory(phones=["13912344321"], consent_after_hours=True)
    case = assigned_case(to=collector, by=supervisor, days_overdue=15, borrower=borrower)

    login("collector")
    expect(page.get_by_test_id("worklist")).to_be_visible()
    shot("worklist")
    page.get_by_test_id("search").fill("4321")
    page.get_by_test_id("search").press("Enter")
    expect(page.get_by_test_id("worklist").locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name=f"#{case.pk}").click()

    expect(page.get_by_test_id("contact-check")).to_have_attribute("data-allowed", "true")
    page.get_by_test_id("call-now").click()
    page.select_option("#id_outcome", "promise_made")
    page.fill("#id_notes", "Borrower will pay on Friday")
    page.get_by_test_id("save-contact").click()
    expect(page.get_by_text("Contact recorded.")).to_be_visible()

    page.get_by_text("Promise to pay", exact=False).first.click()
    page.fill("#id_amount", "600.00")
    page.fill("#id_due_date", (lender_today() + timedelta(days=4)).isoformat())
    page.get_by_test_id("save-promise").click()
    expect(page.get_by_text("Promise to pay recorded.")).to_be_visible()

    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator('li[data-kind="contact_logged"]')).to_contain_text("Promise made")
    expect(timeline.locator('li[data-kind="promise_recorded"]')).to_contain_text("600.00")
    shot("case")
    assert ContactAttempt.objects.get(case=case).notes == "Borrower will pay on Friday"
    assert PromiseToPay.objects.get(case=case).status == "pending"


def _zone_at_local_hour(hour):
    offset = (hour - timezone.now().hour) % 24
    return f"Etc/GMT-{offset}" if offset <= 12 else f"Etc/GMT+{24 - offset}"


def test_dialling_outside_contact_hours_is_blocked_with_the_reason_and_next_time(
    page, live_server, login, shot, collector, supervisor
):
    borrower = BorrowerFactory(time_zone=_zone_at_local_hour(3))
    case = assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=borrower)

    login("collector")
    page.goto(f"{live_server.url}/cases/{case.pk}/")

    check = page.get_by_test_id("contact-check")
    expect(check).to_have_attribute("data-allowed", "false")
    expect(check).to_contain_text("outside the borrower's permitted contact hours")
    expect(check.locator("time")).to_contain_text("08:00")
    expect(page.get_by_test_id("call-now")).to_be_disabled()
    shot("case-blocked")


def test_the_language_switch_turns_the_worklist_into_chinese(page, live_server, login, shot, collector, supervisor):
    assigned_case(to=collector, by=supervisor, days_overdue=9)
    login("collector")
    expect(page.get_by_role("heading", name="My worklist")).to_be_visible()

    page.get_by_test_id("language").select_option("zh-hans")
    page.wait_for_load_state("networkidle")

    expect(page.get_by_role("heading", name="我的工作清单")).to_be_visible()
    expect(page.get_by_test_id("worklist").locator("thead")).to_contain_text("逾期金额")
    shot("worklist-zh")
