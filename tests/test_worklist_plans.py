"""Plans in the worklist (filters "on plan" and "plan instalment due today", the "on plan" badge)
and in the visit queue (a case on an active plan is not waiting for a visit). Issue 11."""

from datetime import timedelta

import pytest
from django.urls import reverse

from collections_app.calendar import lender_today
from collections_app.selectors.supervisor import cases_awaiting_visit_plan
from collections_app.selectors.worklist import WorklistFilters, case_worklist_page
from collections_app.services.plans import plan_propose

from .factories import assigned_case, overdue_case

pytestmark = pytest.mark.django_db


def _plan(case, actor, *, first_due_in_days):
    return plan_propose(
        case_id=case.pk,
        actor=actor,
        kind="plan",
        reason="income_loss",
        months=3,
        first_due_date=(lender_today() + timedelta(days=first_due_in_days)).isoformat(),
    )


@pytest.fixture
def three_cases(collector, supervisor):
    due_today = assigned_case(to=collector, by=supervisor, instalments=3)
    later = assigned_case(to=collector, by=supervisor, instalments=3)
    plain = assigned_case(to=collector, by=supervisor, instalments=3)
    _plan(due_today, supervisor, first_due_in_days=0)
    _plan(later, supervisor, first_due_in_days=10)
    return due_today, later, plain


def _ids(actor, **filters):
    rows, _cursor = case_worklist_page(actor, WorklistFilters(**filters))
    return {c.pk for c in rows}


def test_the_worklist_filters_on_plan_and_plan_instalment_due_today(collector, three_cases):
    due_today, later, plain = three_cases
    assert _ids(collector) == {due_today.pk, later.pk, plain.pk}
    assert _ids(collector, on_plan=True) == {due_today.pk, later.pk}
    assert _ids(collector, plan_due_today=True) == {due_today.pk}


def test_the_worklist_page_shows_the_badge_and_the_filters(
    client, collector, three_cases, django_assert_max_num_queries
):
    due_today, later, plain = three_cases
    client.force_login(collector)
    with django_assert_max_num_queries(9):  # as without plans: the badge is a column of the page's query
        body = client.get(reverse("collections:worklist")).content.decode()
    assert body.count('data-testid="on-plan"') == 2
    assert 'name="on_plan"' in body and 'name="plan_due_today"' in body
    body = client.get(reverse("collections:worklist"), {"plan_due_today": "on"}).content.decode()
    assert f"#{due_today.pk}<" in body and f"#{later.pk}<" not in body and f"#{plain.pk}<" not in body


def test_the_visit_queue_leaves_out_cases_on_an_active_plan(supervisor):
    waiting = overdue_case(days_overdue=45, instalments=4)
    on_plan = overdue_case(days_overdue=40, instalments=4)
    assert waiting.state == on_plan.state == "visit"
    _plan(on_plan, supervisor, first_due_in_days=5)
    assert [c.pk for c in cases_awaiting_visit_plan(supervisor)] == [waiting.pk]
