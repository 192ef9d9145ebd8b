"""Issue 11's "Done when" story in a real browser: a collector offers a 6-month plan within their
authority (active at once); a supervisor approves, on /approvals/, a 12-month plan and a two-part
settlement with a 15 % discount that a collector proposed beyond their authority; the borrower misses
an instalment and the sweep breaks the plan after grace; a settlement paid in full closes the case as
settled."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from collections_app.calendar import lender_today
from collections_app.models import Case, OutboundMessage, PlanStatus, RepaymentPlan
from collections_app.services import payment_record

from ..factories import BorrowerFactory, assigned_case, proposed_plan
from .conftest import SCREENSHOTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _plan_templates(reference_data):
    """The plan_confirmation SMS templates (migration 0020) after a transactional test's flush."""
    importlib.import_module("collections_app.migrations.0020_plan_confirmation_template").forwards(django_apps, None)


def _offer_six_months_in_the_browser(page, live_server, login, shot, case):
    login("collector")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.get_by_test_id("offer-plan").click()
    form = page.get_by_test_id("plan-form")
    form.locator("[name=reason]").select_option("income_loss")
    form.locator("[name=months]").fill("6")
    form.locator("[name=first_due_date]").fill((lender_today() + timedelta(days=7)).isoformat())
    form.locator("[name=monthly_income]").fill("4000")
    form.locator("[name=essential_spending]").fill("2500")
    page.get_by_test_id("preview-plan").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("preview-outcome")).to_contain_text("active at once")
    expect(page.get_by_test_id("left-per-month")).to_have_text("1,500.00")
    expect(page.get_by_test_id("suggested-months")).to_have_text("4")  # 6,000 / 1,500
    page.get_by_test_id("case-plan").scroll_into_view_if_needed()
    shot("plan-preview")
    page.get_by_test_id("submit-plan").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("plan-status")).to_have_text("Active")
    expect(page.get_by_test_id("plan-instalments").locator("tbody tr")).to_have_count(6)
    page.get_by_test_id("case-plan").scroll_into_view_if_needed()
    shot("plan-active")


def test_the_plans_story(page, live_server, login, shot, collector, supervisor):
    six = assigned_case(to=collector, by=supervisor, instalments=6, borrower=BorrowerFactory(language="en"))
    twelve = assigned_case(to=collector, by=supervisor, instalments=12)
    settled = assigned_case(to=collector, by=supervisor, instalments=2)

    # 1. A collector offers a 6-month plan within their authority: active at once, SMS queued.
    _offer_six_months_in_the_browser(page, live_server, login, shot, six)
    plan = RepaymentPlan.objects.get(case=six)
    assert plan.status == PlanStatus.ACTIVE and plan.decided_by == "user:collector"
    assert OutboundMessage.objects.filter(case=six, template_code="plan_confirmation").exists()
    with page.expect_popup() as popup:
        page.get_by_test_id("plan-agreement").click()
    agreement = popup.value
    agreement.wait_for_load_state("networkidle")
    expect(agreement.get_by_test_id("borrower-name")).to_have_text(six.borrower.name)
    expect(agreement.get_by_test_id("agreement-schedule").locator("tbody tr")).to_have_count(6)
    agreement.screenshot(path=str(SCREENSHOTS / "plan-agreement.png"), full_page=True)
    agreement.close()

    # 2. Beyond a collector's authority: a 12-month plan and a two-part settlement, 15 % forgiven.
    long_plan = proposed_plan(twelve, collector, 12)
    settlement = proposed_plan(settled, collector, 2, kind="settlement", discount="300.00", reason="illness")
    assert long_plan.status == settlement.status == PlanStatus.PROPOSED
    page.context.clear_cookies()
    login("supervisor")
    page.goto(f"{live_server.url}/approvals/")
    waiting = page.get_by_test_id("plans")
    expect(waiting.locator("tbody tr")).to_have_count(2)
    expect(waiting.locator(f'[data-plan="{settlement.pk}"]')).to_contain_text("300.00 (15.0 %)")
    page.locator('[data-select-all="plans"]').check()
    page.locator("#id_plans_reason").fill("fits what the borrowers can pay")
    shot("approvals-plans")
    page.get_by_test_id("approve-plans").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("plans").locator("tbody")).to_contain_text("No plans are waiting")
    statuses = dict(RepaymentPlan.objects.values_list("pk", "status"))
    assert statuses[long_plan.pk] == statuses[settlement.pk] == PlanStatus.ACTIVE

    # 3. The settlement paid in full closes the case as settled.
    for n, amount in enumerate(settlement.instalments.order_by("number").values_list("amount", flat=True)):
        payment_record(
            external_id=f"SETTLE-{settled.pk}-{n}",
            loan=settled.loan,
            amount=amount,
            paid_at=timezone.now(),
            actor=supervisor,
        )
    case = Case.objects.get(pk=settled.pk)
    assert (case.state, case.close_reason) == ("closed", "settled")
    page.goto(f"{live_server.url}/cases/{settled.pk}/")
    expect(page.get_by_test_id("state")).to_have_text("Closed")
    page.get_by_test_id("past-plans").locator("summary").click()
    expect(page.get_by_test_id("past-plans")).to_contain_text("Kept")
    page.get_by_test_id("case-plan").scroll_into_view_if_needed()
    shot("plan-settled")


# The sweep's part of the story: a missed instalment breaks the plan only after grace.
def test_a_missed_instalment_breaks_the_plan_after_grace(page, live_server, login, shot, collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, instalments=6)
    plan = proposed_plan(case, collector, 6)
    first_due = plan.instalments.order_by("number").first().due_date
    grace = 5  # the default policy's grace days (migration 0018)
    call_command("sweep", "--date", (first_due + timedelta(days=grace - 1)).isoformat())
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.ACTIVE  # within grace
    call_command("sweep", "--date", (first_due + timedelta(days=grace + 1)).isoformat())
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.BROKEN
    login("collector")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.get_by_test_id("past-plans").locator("summary").click()
    expect(page.get_by_test_id("past-plans")).to_contain_text("Broken")
    shot("plan-broken")
