"""Repayment plans: the core services (propose, decide, cancel, payments keeping and settling)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import CaseEvent, PlanStatus, PromiseToPay, RepaymentPlan
from collections_app.services import payment_record, promise_record
from collections_app.services.plans import plan_cancel, plan_decide, plan_propose

from .factories import assigned_case, fresh, proposed_plan

pytestmark = pytest.mark.django_db


def test_a_collector_offers_six_months_within_authority_and_it_is_active_at_once(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=6)
    promise_record(case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today().isoformat())
    plan = proposed_plan(case, collector, 6)
    assert plan.status == PlanStatus.ACTIVE
    assert plan.decided_by == "user:collector"
    amounts = [i.amount for i in plan.instalments.order_by("number")]
    assert len(amounts) == 6 and sum(amounts) == plan.total
    # Everything overdue by its last date: instalments of months 0..5 (30-day steps) are due by then.
    assert plan.total == Decimal("6000.00")
    assert PromiseToPay.objects.get(case=case).status == PromiseToPay.Status.WITHDRAWN
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert "plan_proposed" in kinds and "plan_activated" in kinds and "promise_withdrawn" in kinds


def test_twelve_months_by_a_collector_waits_for_a_supervisor(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=12)
    plan = proposed_plan(case, collector, 12)
    assert plan.status == PlanStatus.PROPOSED and plan.needs_authority == "supervisor"
    with pytest.raises(DomainError) as refusal:
        plan_decide(plan_id=plan.pk, actor=collector, decision="approve")
    assert refusal.value.code == "permission_denied"
    plan_decide(plan_id=plan.pk, actor=supervisor, decision="approve", reason="fits income")
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.ACTIVE
    with pytest.raises(DomainError) as again:
        plan_decide(plan_id=plan.pk, actor=supervisor, decision="approve")
    assert again.value.code == "plan_not_pending"
    with pytest.raises(DomainError) as second:
        proposed_plan(case, supervisor, 3)
    assert second.value.code == "plan_exists"


def test_outside_every_authority_is_refused_with_the_limits(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=3)
    with pytest.raises(DomainError) as refusal:
        proposed_plan(case, collector, 3, kind="settlement", discount="1500.00")
    assert refusal.value.code == "plan_outside_policy"
    assert "40" in str(refusal.value.message)


def test_a_settlement_paid_in_full_closes_the_case_as_settled(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=2)
    plan = proposed_plan(case, supervisor, 2, kind="settlement", discount="300.00")
    assert plan.status == PlanStatus.ACTIVE and plan.total == Decimal("1700.00")
    for n, amount in enumerate(plan.instalments.order_by("number").values_list("amount", flat=True)):
        payment_record(external_id=f"S-{n}", loan=case.loan, amount=amount, paid_at=timezone.now(), actor=supervisor)
    case = fresh(case)
    assert case.state == "closed" and case.close_reason == "settled"
    plan = RepaymentPlan.objects.get(pk=plan.pk)
    assert plan.status == PlanStatus.KEPT
    close = CaseEvent.objects.get(case=case, kind="transition", to_state="closed")
    assert close.payload["forgiven"] == "300.00"


def test_a_plan_paid_in_full_resolves_the_case_and_is_kept(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=1)
    plan = proposed_plan(case, collector, 2)
    payment_record(external_id="P-all", loan=case.loan, amount=plan.total, paid_at=timezone.now(), actor=supervisor)
    assert fresh(case).state == "resolved"
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.KEPT


def test_bad_input_names_the_field(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=3)
    today = lender_today()
    cases = [
        (
            {"instalments": [{"due_date": (today - timedelta(days=1)).isoformat(), "amount": "3000.00"}]},
            "instalments[0].due_date",
        ),
        ({"instalments": [{"due_date": today.isoformat(), "amount": "10.001"}]}, "instalments[0].amount"),
        ({"discount": "10.00", "months": 2, "first_due_date": today.isoformat()}, "discount"),
        ({"months": "two", "first_due_date": today.isoformat()}, "months"),
    ]
    for extra, field in cases:
        with pytest.raises(DomainError) as refusal:
            plan_propose(case_id=case.pk, actor=collector, kind="plan", reason="illness", **extra)
        assert field in refusal.value.fields, (extra, refusal.value.fields)


def test_a_collector_cancels_only_their_own_proposal(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=3)
    plan = proposed_plan(case, supervisor, 3)
    with pytest.raises(DomainError):
        plan_cancel(plan_id=plan.pk, actor=collector, reason="borrower changed mind")
    plan_cancel(plan_id=plan.pk, actor=supervisor, reason="borrower changed mind")
    assert RepaymentPlan.objects.get(pk=plan.pk).status == PlanStatus.CANCELLED


def test_no_legal_referral_is_asked_while_a_plan_runs(collector, supervisor):
    from collections_app import permissions as perms
    from collections_app.actors import actor_for_user
    from collections_app.services import legal_referral_request

    case = assigned_case(to=collector, by=supervisor, days_overdue=40, instalments=3)
    assert case.state == "visit"
    proposed_plan(case, collector, 3)
    assert not perms.case_abilities(actor_for_user(collector), fresh(case))["request_legal"]
    with pytest.raises(DomainError) as refusal:
        legal_referral_request(case_id=case.pk, actor=collector, reason="no contact")
    assert refusal.value.code == "transition_not_allowed"


def test_a_schedule_that_would_hold_a_zero_instalment_is_refused_naming_the_field(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=3)
    with pytest.raises(DomainError) as refusal:
        proposed_plan(case, supervisor, 3, kind="settlement", down_payment="2999.99")
    assert "down_payment" in refusal.value.fields


def test_a_kept_settlement_closes_the_case_as_the_system_whoever_paid(collector, supervisor):
    from collections_app.actors import actor_for_client

    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=1)
    plan = proposed_plan(case, supervisor, 1, kind="settlement", discount="100.00")
    bank = actor_for_client("bank", ["payments:write"])
    payment_record(external_id="S-bank", loan=case.loan, amount=plan.total, paid_at=timezone.now(), actor=bank)
    close = CaseEvent.objects.get(case=case, kind="transition", to_state="closed")
    assert close.actor == "system" and close.reason == "settled"
    assert fresh(case).amount_overdue == Decimal("100.00")  # what was left when it closed
