"""/approvals/: repayment plans waiting for a decision that the viewer's authority covers, decided
several at once with one reason (issue 11)."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from collections_app.models import PlanStatus, RepaymentPlan

from .factories import assigned_case, proposed_plan

pytestmark = pytest.mark.django_db

# session, user, roles; plans waiting; referrals pending; referrals decided
APPROVALS_QUERIES = 6


def _waiting_plan(collector, supervisor, months=12):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=months)
    plan = proposed_plan(case, collector, months)
    assert plan.status == PlanStatus.PROPOSED
    return plan


def _beyond_a_supervisor(collector, supervisor):
    """A settlement with a 30 % discount: only a legal officer's authority covers it."""
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=2)
    plan = proposed_plan(case, collector, 2, kind="settlement", discount="600.00", reason="illness")
    assert plan.needs_authority == "legal_officer"
    return plan


def test_a_supervisor_sees_the_plans_their_authority_covers_with_the_borrower_masked(client, collector, supervisor):
    plan = _waiting_plan(collector, supervisor)
    beyond = _beyond_a_supervisor(collector, supervisor)
    client.force_login(supervisor)
    response = client.get(reverse("collections:approvals"))
    body = response.content.decode()
    assert f'data-plan="{plan.pk}"' in body and f'data-plan="{beyond.pk}"' not in body
    row = body[body.index(f'data-plan="{plan.pk}"') :]
    row = row[: row.index("</tr>")]
    name = plan.case.borrower.name
    assert name not in row and name[0] + "*" in row
    assert "collector" in row and "12,000.00" in row and "Loss of income" in row
    assert ">12<" in row  # months


def test_a_legal_officer_sees_those_needing_a_legal_officer(client, collector, supervisor, legal_officer):
    beyond = _beyond_a_supervisor(collector, supervisor)
    client.force_login(legal_officer)
    body = client.get(reverse("collections:approvals")).content.decode()
    row = body[body.index(f'data-plan="{beyond.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "600.00 (30.0 %)" in row and "Settlement" in row and "Illness" in row


def test_approve_several_at_once_and_each_is_reported(client, collector, supervisor):
    first, second = _waiting_plan(collector, supervisor), _waiting_plan(collector, supervisor)
    beyond = _beyond_a_supervisor(collector, supervisor)
    client.force_login(supervisor)
    response = client.post(
        reverse("collections:approvals-decide-plans"),
        {"plans": [first.pk, second.pk, beyond.pk], "decision": "approve", "reason": "fits the income"},
    )
    assert response.status_code == 302
    statuses = dict(RepaymentPlan.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == PlanStatus.ACTIVE
    assert statuses[beyond.pk] == PlanStatus.PROPOSED
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"Plan {first.pk}" in t and "approved" in t for t in texts)
    assert any(f"Plan {beyond.pk} not decided" in t and "legal officer" in t for t in texts)


def test_decline_needs_a_reason_and_declines_with_one(client, collector, supervisor):
    plan = _waiting_plan(collector, supervisor)
    client.force_login(supervisor)
    url = reverse("collections:approvals-decide-plans")
    response = client.post(url, {"plans": [plan.pk], "decision": "decline", "reason": ""})
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.PROPOSED
    assert any("not decided" in str(m) for m in get_messages(response.wsgi_request))
    client.post(url, {"plans": [plan.pk], "decision": "decline", "reason": "income cannot carry it"})
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.DECLINED


def test_nothing_selected_is_refused_on_the_page(client, supervisor):
    client.force_login(supervisor)
    response = client.post(reverse("collections:approvals-decide-plans"), {"decision": "approve"})
    assert response.status_code == 400
    assert "Select at least one plan." in response.content.decode()


def test_a_collector_has_no_approvals_page(client, collector):
    client.force_login(collector)
    assert client.get(reverse("collections:approvals")).status_code == 404
    assert client.post(reverse("collections:approvals-decide-plans"), {}).status_code == 404


@pytest.mark.parametrize("waiting", [2, 200])
def test_approvals_with_many_waiting_plans_runs_a_fixed_number_of_queries(
    client, collector, supervisor, waiting, django_assert_num_queries
):
    for _ in range(waiting):
        _waiting_plan(collector, supervisor, months=8)
    client.force_login(supervisor)
    with django_assert_num_queries(APPROVALS_QUERIES):
        response = client.get(reverse("collections:approvals"))
    assert len(response.context["plans"]) == waiting
