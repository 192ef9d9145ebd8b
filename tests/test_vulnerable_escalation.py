"""A vulnerable borrower's case goes to a visit or to legal review only by a supervisor's hand, with a
reason (CONTRACT.md, Vulnerability): collectors are refused and not offered the button."""

from datetime import timedelta

import pytest

from collections_app import permissions as perms
from collections_app import roles as r
from collections_app.actors import SYSTEM, actor_for_client, actor_for_user
from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import VulnerabilityMarker
from collections_app.services import case_transition, legal_referral_request

from .factories import assigned_case, fresh

pytestmark = pytest.mark.django_db


def _mark(case):
    VulnerabilityMarker.objects.create(
        borrower=case.borrower, code="illness", set_by="user:supervisor", review_on=lender_today() + timedelta(days=90)
    )


def test_only_supervisors_and_admins_escalate_a_vulnerable_borrower_by_hand():
    def holder(role):
        from collections_app.actors import Actor

        return Actor(label=f"user:{role}", roles=frozenset({role}))

    assert {role for role in r.ALL_ROLES if perms.may(holder(role), perms.VULNERABLE_ESCALATE)} == {
        r.SUPERVISOR,
        r.ADMIN,
    }
    assert not perms.may(SYSTEM, perms.VULNERABLE_ESCALATE)
    assert not any(perms.may(actor_for_client("c", [s]), perms.VULNERABLE_ESCALATE) for s in r.ALL_SCOPES)


def test_a_collector_is_refused_and_not_offered_the_visit(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40 - 30)  # call stage
    assert case.state == "call"
    _mark(case)
    case = fresh(case)
    assert "schedule_visit" not in perms.case_abilities(actor_for_user(collector), case)["transitions"]
    with pytest.raises(DomainError) as refusal:
        case_transition(case_id=case.pk, transition="schedule_visit", actor=collector, reason="no answer")
    assert refusal.value.code == "permission_denied"
    assert "vulnerable" in str(refusal.value.message)
    assert fresh(case).state == "call"


def test_a_supervisor_moves_it_with_a_reason_only(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    _mark(case)
    assert "schedule_visit" in perms.case_abilities(actor_for_user(supervisor), fresh(case))["transitions"]
    with pytest.raises(DomainError) as refusal:
        case_transition(case_id=case.pk, transition="schedule_visit", actor=supervisor)
    assert "reason" in refusal.value.fields
    case_transition(case_id=case.pk, transition="schedule_visit", actor=supervisor, reason="family asked us to visit")
    assert fresh(case).state == "visit"


def test_a_legal_referral_for_a_vulnerable_borrower_needs_a_supervisor_and_a_reason(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40)
    assert case.state == "visit"
    _mark(case)
    case = fresh(case)
    assert not perms.case_abilities(actor_for_user(collector), case)["request_legal"]
    with pytest.raises(DomainError) as refused:
        legal_referral_request(case_id=case.pk, actor=collector, reason="no contact")
    assert refused.value.code == "permission_denied"
    with pytest.raises(DomainError) as no_reason:
        legal_referral_request(case_id=case.pk, actor=supervisor)
    assert "reason" in no_reason.value.fields
    referral = legal_referral_request(case_id=case.pk, actor=supervisor, reason="recovered, refuses to pay")
    assert referral.status == "requested"


def test_the_api_list_reads_the_marker_only_for_a_client_that_sees_personal_data():
    from collections_app.api.cases.representation import AllowedTransitions

    client = AllowedTransitions(actor_for_client("dialler", [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE]))
    assert "schedule_visit" in client("call", False, False)
    assert "schedule_visit" not in client("call", False, True)  # asked with the marker: not offered
    # The list asks with the marker only with pii:read (a missing transition would tell it otherwise).


def test_the_api_event_feeds_never_carry_the_vulnerability_code(collector, supervisor):
    from collections_app.api.cases.views import event_dict
    from collections_app.models import CaseEvent

    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    event = CaseEvent.objects.create(
        case=case, kind="vulnerability_set", actor="user:supervisor", payload={"code": "illness", "marker_id": 1}
    )
    body = event_dict(event)
    assert body["payload"]["code"] is None and body["payload"]["marker_id"] == 1
