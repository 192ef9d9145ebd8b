"""/admin/ for plan policies (editable, `clean()` enforced), repayment plans and vulnerability markers
(read-only, personal data masked): operators only."""

from datetime import timedelta

import pytest

from collections_app import roles as r
from collections_app.calendar import lender_today
from collections_app.masking import mask_name
from collections_app.models import PlanPolicy, Strategy
from collections_app.services.plans import plan_propose
from collections_app.services.vulnerability import vulnerability_set

from .factories import BorrowerFactory, UserFactory, assigned_case

pytestmark = pytest.mark.django_db

POLICY_FORM = {
    "max_months": "36",
    "min_first_payment_share": "0.050",
    "grace_days": "5",
    "proposal_expiry_days": "7",
    "settlement_max_parts": "3",
    "collector_max_months": "6",
    "collector_max_discount": "0",
    "supervisor_max_months": "24",
    "supervisor_max_discount": "0.200",
    "legal_officer_max_months": "36",
    "legal_officer_max_discount": "0.400",
    "borrower_max_months": "6",
    "borrower_max_discount": "0",
}


@pytest.fixture
def operator(admin_user):
    admin_user.is_staff = True
    admin_user.save()
    return admin_user


@pytest.fixture
def policy(reference_data):
    strategy = Strategy.objects.first()
    return PlanPolicy.objects.get_or_create(strategy=strategy)[0]


@pytest.fixture
def plan_and_marker(collector, supervisor):
    borrower = BorrowerFactory(name="王小明")
    case = assigned_case(to=collector, by=supervisor, borrower=borrower, instalments=6)
    plan = plan_propose(
        case_id=case.pk,
        actor=collector,
        kind="plan",
        reason="illness",
        notes="husband in hospital",
        months=6,
        first_due_date=(lender_today() + timedelta(days=7)).isoformat(),
    )
    marker = vulnerability_set(
        case_id=case.pk,
        actor=collector,
        code="illness",
        note="husband in hospital",
        review_on=(lender_today() + timedelta(days=90)).isoformat(),
    )
    return plan, marker


def test_an_operator_edits_a_policy_and_its_clean_is_enforced(client, operator, policy):
    client.force_login(operator)
    url = f"/admin/collections_app/planpolicy/{policy.pk}/change/"
    assert client.get(url).status_code == 200
    beyond = client.post(url, {**POLICY_FORM, "strategy": policy.strategy_id, "collector_max_months": "40"})
    assert beyond.status_code == 200 and "An authority cannot reach beyond the longest plan." in beyond.content.decode()
    policy.refresh_from_db()
    assert policy.collector_max_months == 6
    saved = client.post(url, {**POLICY_FORM, "strategy": policy.strategy_id, "collector_max_months": "12"})
    assert saved.status_code == 302
    policy.refresh_from_db()
    assert policy.collector_max_months == 12


def test_the_policy_is_inline_on_its_strategy(client, superuser, policy):
    client.force_login(superuser)
    page = client.get(f"/admin/collections_app/strategy/{policy.strategy_id}/change/").content.decode()
    assert "plan_policy-0-collector_max_months" in page


def test_plans_and_markers_are_read_only_and_masked(client, operator, plan_and_marker):
    plan, marker = plan_and_marker
    client.force_login(operator)
    pages = [
        "/admin/collections_app/repaymentplan/",
        f"/admin/collections_app/repaymentplan/{plan.pk}/change/",
        "/admin/collections_app/vulnerabilitymarker/",
        f"/admin/collections_app/vulnerabilitymarker/{marker.pk}/change/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "王小明" not in body and "husband in hospital" not in body, url
    assert mask_name("王小明") in client.get(pages[0]).content.decode()
    detail = client.get(pages[1]).content.decode()
    assert "planinstalment" in detail.lower() or "instalments" in detail.lower()
    assert 'name="_save"' not in detail  # read-only
    assert client.get("/admin/collections_app/repaymentplan/add/").status_code == 403
    assert client.post(f"/admin/collections_app/vulnerabilitymarker/{marker.pk}/delete/").status_code == 403


@pytest.mark.parametrize("role", [r.COLLECTOR, r.SUPERVISOR, r.AUDITOR])
def test_no_one_but_operators(client, role, plan_and_marker, policy):
    user = UserFactory(username=f"staff_{role}", roles=[role], is_staff=True)
    client.force_login(user)
    for url in ("/admin/collections_app/planpolicy/", "/admin/collections_app/vulnerabilitymarker/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
