"""Repayment plans on the case page (issue 11): offer with a preview and affordability, the open plan
with its instalments, cancel, no promise while a plan is active, the printable agreement."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import AuditLog, PlanStatus, RepaymentPlan
from collections_app.services import promise_record
from collections_app.services.plans import plan_propose

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db

# The case page with an active 24-instalment plan: the page's own reads plus two for the plans and
# their instalments (prefetched by selectors.cases.case_detail), whatever the number of instalments.
CASE_PAGE_QUERIES = 19  # with the vulnerability banner's marker; the timeline reuses the case read through the scope


def _first_due(days=7):
    return (lender_today() + timedelta(days=days)).isoformat()


def _offer(months, **extra):
    return {
        "kind": extra.pop("kind", "plan"),
        "reason": "income_loss",
        "months": str(months),
        "first_due_date": _first_due(),
        **extra,
    }


def _propose(case, actor, months, **extra):
    return plan_propose(
        case_id=case.pk,
        actor=actor,
        kind=extra.pop("kind", "plan"),
        reason="illness",
        months=months,
        first_due_date=_first_due(),
        **extra,
    )


@pytest.fixture
def six_case(collector, supervisor):
    return assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=6)


def test_preview_shows_the_schedule_affordability_and_that_it_is_active_at_once(client, collector, six_case):
    client.force_login(collector)
    response = client.post(
        reverse("collections:case-plan-offer", args=[six_case.pk]),
        {**_offer(6), "monthly_income": "3000", "essential_spending": "1800", "preview": "1"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="plan-preview"' in body
    assert "6,000.00" in body  # the total
    assert "active at once" in body
    assert 'data-testid="left-per-month">1,200.00<' in body
    assert 'data-testid="suggested-months">5<' in body  # ceil(6000 / 1200)
    assert not RepaymentPlan.objects.exists()  # a preview writes nothing


def test_preview_beyond_authority_says_whose_approval_it_waits_for(client, collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=12)
    client.force_login(collector)
    body = client.post(
        reverse("collections:case-plan-offer", args=[case.pk]), {**_offer(12), "preview": "1"}
    ).content.decode()
    assert "wait for the approval of a supervisor" in body


def test_a_collector_offers_a_plan_and_sees_it_active_with_its_instalments(client, collector, six_case):
    client.force_login(collector)
    response = client.post(reverse("collections:case-plan-offer", args=[six_case.pk]), _offer(6))
    assert response.status_code == 302
    plan = RepaymentPlan.objects.get(case=six_case)
    assert plan.status == PlanStatus.ACTIVE
    body = client.get(reverse("collections:case", args=[six_case.pk])).content.decode()
    assert 'data-testid="open-plan"' in body
    assert body.count("<tr><td>") >= 6
    assert 'data-testid="offer-plan"' not in body  # one open plan per case
    assert 'data-testid="save-promise"' not in body  # no promise while a plan is active
    assert 'data-testid="cancel-plan"' in body  # the collector proposed it


def test_a_refused_offer_names_the_field_on_the_page(client, collector, six_case):
    client.force_login(collector)
    response = client.post(
        reverse("collections:case-plan-offer", args=[six_case.pk]), {**_offer(6), "discount": "100.00"}
    )
    assert response.status_code == 400
    assert "a plan has no discount" in response.content.decode()


def test_an_offer_outside_every_authority_is_refused_with_the_limits(client, supervisor, six_case):
    client.force_login(supervisor)
    response = client.post(
        reverse("collections:case-plan-offer", args=[six_case.pk]),
        _offer(3, kind="settlement", discount="3000.00"),
    )
    assert response.status_code == 422
    assert "outside every authority" in response.content.decode()


def test_cancel_with_a_reason_ends_the_plan(client, collector, six_case):
    plan = _propose(six_case, collector, 6)
    client.force_login(collector)
    url = reverse("collections:case-plan-cancel", args=[six_case.pk, plan.pk])
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "borrower paid another way"}).status_code == 302
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.CANCELLED
    body = client.get(reverse("collections:case", args=[six_case.pk])).content.decode()
    assert 'data-testid="past-plans"' in body and 'data-testid="offer-plan"' in body


def test_a_collector_is_not_offered_cancel_of_a_plan_someone_else_proposed(client, collector, supervisor, six_case):
    _propose(six_case, supervisor, 6)
    client.force_login(collector)
    body = client.get(reverse("collections:case", args=[six_case.pk])).content.decode()
    assert 'data-testid="open-plan"' in body and 'data-testid="cancel-plan"' not in body


def test_the_promise_service_refuses_a_promise_while_a_plan_is_active(collector, six_case):
    _propose(six_case, collector, 6)
    with pytest.raises(DomainError) as refusal:
        promise_record(case_id=six_case.pk, actor=collector, amount="100.00", due_date=lender_today().isoformat())
    assert "plan is active" in str(refusal.value.message)


def test_case_page_with_a_24_instalment_plan_runs_a_fixed_number_of_queries(
    client, collector, supervisor, django_assert_num_queries
):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=24)
    plan = _propose(case, supervisor, 24, down_payment="1200.00")
    assert plan.status == PlanStatus.ACTIVE and plan.instalments.count() == 24
    client.force_login(collector)
    url = reverse("collections:case", args=[case.pk])
    client.get(url)  # warm the per-process caches (buckets, labels)
    with django_assert_num_queries(CASE_PAGE_QUERIES):
        response = client.get(url)
    assert response.content.decode().count("<tr><td>") >= 24


def test_the_agreement_is_in_the_borrowers_language_with_the_full_name_and_is_audited(client, collector, supervisor):
    borrower = BorrowerFactory(language="en")
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=2, borrower=borrower)
    plan = _propose(case, supervisor, 2, kind="settlement", discount="300.00")
    client.force_login(collector)
    response = client.get(reverse("collections:case-plan-agreement", args=[case.pk, plan.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert borrower.name in body
    assert "Settlement agreement" in body and "@media print" in body
    assert 'data-testid="agreement-total">1,700.00<' in body
    assert 'data-testid="agreement-discount">300.00<' in body
    entry = AuditLog.objects.get(case=case)
    assert entry.fields == ["name"] and entry.actor == "user:collector"
    assert plan.total == Decimal("1700.00")


def test_the_agreement_is_not_there_for_those_who_may_not_reveal_or_see_the_case(
    client, collector, other_collector, supervisor, six_case
):
    plan = _propose(six_case, collector, 6)
    client.force_login(other_collector)
    url = reverse("collections:case-plan-agreement", args=[six_case.pk, plan.pk])
    assert client.get(url).status_code == 404
    client.force_login(collector)
    other = assigned_case(to=collector, by=supervisor, days_overdue=10)
    assert client.get(reverse("collections:case-plan-agreement", args=[other.pk, plan.pk])).status_code == 404
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("role", ["collector", "supervisor"])
def test_every_id_on_the_case_page_is_unique(role, client, collector, supervisor):
    """Forms of one page share field names (notes, reason): their ids must not collide, or a label
    and a browser's autofill point at the wrong field."""
    import re
    from collections import Counter

    case = assigned_case(to=collector, by=supervisor, days_overdue=40, instalments=6)
    client.force_login(collector if role == "collector" else supervisor)
    html = client.get(f"/cases/{case.pk}/").content.decode()
    ids = Counter(re.findall(r'\bid="([^"]+)"', html))
    assert [name for name, n in ids.items() if n > 1] == []
