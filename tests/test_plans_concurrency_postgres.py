"""Plans under real concurrency (PostgreSQL row locks): two proposals at once make exactly one plan;
a decision racing a cancel ends in one of them, whole, never both or a half."""

from datetime import timedelta

import pytest
from django.db import connection

from collections_app import roles as r
from collections_app import services
from collections_app.actors import actor_for_client
from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import CaseEvent, PlanStatus, RepaymentPlan
from collections_app.services.plans import plan_cancel, plan_decide, plan_propose

from .factories import loan_with_schedule
from .helpers import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITER = actor_for_client("dialler", [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE])
DECIDER = actor_for_client("plans-desk", [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE, r.SCOPE_PLANS_DECIDE])


@pytest.fixture(autouse=True)
def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


def _propose(case, months):
    return plan_propose(
        case_id=case.pk,
        actor=WRITER,
        kind="plan",
        reason="income_loss",
        months=months,
        first_due_date=(lender_today() + timedelta(days=5)).isoformat(),
    )


def test_two_proposals_at_once_make_exactly_one_plan():
    case = services.case_open_for_loan(loan_id=loan_with_schedule(days_overdue=10, instalments=6).pk)

    results = race(lambda i: _propose(case, 3 + i), threads=2)

    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["error", "ok"], results
    error = next(value for kind, value in results if kind == "error")
    assert isinstance(error, DomainError) and error.code == "plan_exists"
    assert RepaymentPlan.objects.filter(case=case).count() == 1
    assert CaseEvent.objects.filter(case=case, kind="plan_proposed").count() == 1


def test_a_decision_racing_a_cancel_ends_in_exactly_one_of_them():
    case = services.case_open_for_loan(loan_id=loan_with_schedule(days_overdue=10, instalments=12).pk)
    plan = _propose(case, 12)  # beyond a collector's (a cases:write client's) authority: waits
    assert plan.status == PlanStatus.PROPOSED

    def act(i):
        if i == 0:
            return plan_decide(plan_id=plan.pk, actor=DECIDER, decision="approve", reason="fits")
        return plan_cancel(plan_id=plan.pk, actor=WRITER, reason="borrower withdrew")

    results = race(act, threads=2)

    outcome = RepaymentPlan.objects.get(pk=plan.pk).status
    kinds = sorted(kind for kind, _ in results)
    if kinds == ["error", "ok"]:
        error = next(value for kind, value in results if kind == "error")
        assert error.code == "plan_not_pending"
        assert outcome in {PlanStatus.ACTIVE, PlanStatus.CANCELLED}
    else:  # the approval first, then the cancel of the active plan: both succeed, in that order
        assert kinds == ["ok", "ok"] and outcome == PlanStatus.CANCELLED
    events = list(CaseEvent.objects.filter(case=case, kind__startswith="plan_").values_list("kind", flat=True))
    assert events.count("plan_activated") <= 1 and events.count("plan_cancelled") <= 1
    assert ("plan_cancelled" in events) == (outcome == PlanStatus.CANCELLED)
