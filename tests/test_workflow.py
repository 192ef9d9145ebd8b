"""The case state machine through services.case_transition: every transition allowed and refused,
with the reason code of CONTRACT.md."""

import pytest

from collections_app import roles as r
from collections_app import services
from collections_app.actors import actor_for_client
from collections_app.errors import REASONS, DomainError
from collections_app.models import CaseEvent, Hold

from .factories import assigned_case, case_in_state, fresh, legal_case, overdue_case
from .helpers import refused

pytestmark = pytest.mark.django_db

LABELS = {
    "collector": "user:collector",
    "supervisor": "user:supervisor",
    "system": "system",
    "api_client_writer": "client:dialler",
    "api_client_manager": "client:loan-system",
}


def transition_events(case):
    return list(CaseEvent.objects.filter(case_id=case.pk, kind="transition").order_by("id"))


def place_hold(case, supervisor, code=Hold.Code.COMPLAINT):
    return services.hold_place(borrower_id=case.borrower_id, code=code, actor=supervisor, reason="complaint filed")


# --- start_calls and schedule_visit --------------------------------------------------------------


@pytest.mark.parametrize("who", ["collector", "supervisor", "system", "api_client_writer"])
def test_start_calls_moves_reminder_to_call_and_writes_one_event(who, actor_named, collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    assert case.state == "reminder"

    returned = services.case_transition(
        case_id=case.pk, transition="start_calls", actor=actor_named(who), reason="no answer to SMS"
    )

    assert returned.state == "call"
    assert fresh(case).state == "call"
    [event] = transition_events(case)
    assert (event.from_state, event.to_state, event.actor) == ("reminder", "call", LABELS[who])
    assert event.payload["transition"] == "start_calls"
    assert event.reason == "no answer to SMS"


@pytest.mark.parametrize("who", ["collector", "supervisor", "system", "api_client_writer"])
def test_schedule_visit_moves_call_to_visit(who, actor_named, collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    assert case.state == "call"

    services.case_transition(case_id=case.pk, transition="schedule_visit", actor=actor_named(who))

    assert fresh(case).state == "visit"
    [event] = transition_events(case)
    assert (event.from_state, event.to_state, event.actor) == ("call", "visit", LABELS[who])


def test_person_transition_event_links_the_user(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)
    [event] = transition_events(case)
    assert event.actor_user_id == collector.pk


def test_client_transition_event_has_no_user_link(collector, supervisor, api_client_writer):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=api_client_writer)
    [event] = transition_events(case)
    assert event.actor_user_id is None
    assert event.actor == "client:dialler"


def test_start_calls_from_call_is_transition_not_allowed_with_allowed_transitions(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10)

    with refused("transition_not_allowed") as info:
        services.case_transition(case_id=case.pk, transition="start_calls", actor=supervisor)

    assert set(info.value.extra["allowed_transitions"]) == {"schedule_visit", "de_escalate", "close"}
    assert info.value.extra["state"] == "call"
    assert fresh(case).state == "call"
    assert transition_events(case) == []


def test_schedule_visit_from_reminder_is_transition_not_allowed(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)

    with refused("transition_not_allowed") as info:
        services.case_transition(case_id=case.pk, transition="schedule_visit", actor=collector)

    assert info.value.extra["allowed_transitions"] == ["start_calls"]
    assert fresh(case).state == "reminder"


# --- refer_to_legal --------------------------------------------------------------------------------


def test_refer_to_legal_is_refused_directly_even_for_a_supervisor(supervisor):
    case = overdue_case(days_overdue=40)
    assert case.state == "visit"

    with refused("transition_not_allowed") as info:
        services.case_transition(case_id=case.pk, transition="refer_to_legal", actor=supervisor)

    assert "refer_to_legal" not in info.value.extra["allowed_transitions"]
    assert fresh(case).state == "visit"
    assert transition_events(case) == []


def test_refer_to_legal_is_refused_directly_even_for_a_superuser(superuser):
    case = overdue_case(days_overdue=40)
    with refused("transition_not_allowed"):
        services.case_transition(case_id=case.pk, transition="refer_to_legal", actor=superuser)
    assert fresh(case).state == "visit"


def test_collector_may_not_refer_to_legal(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40)
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="refer_to_legal", actor=collector)


def test_refer_to_legal_runs_when_a_referral_is_approved(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40)
    referral = services.legal_referral_request(case_id=case.pk, actor=collector, reason="refuses to pay")

    services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=True, reason="ok")

    assert fresh(case).state == "legal"
    [event] = transition_events(case)
    assert (event.from_state, event.to_state, event.actor) == ("visit", "legal", "user:supervisor")
    assert event.payload == {"transition": "refer_to_legal", "referral_id": referral.pk}


# --- de_escalate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "target"), [("call", "reminder"), ("visit", "call"), ("legal", "visit")])
def test_supervisor_de_escalates_one_stage(start, target, supervisor):
    case = case_in_state(start, supervisor=supervisor)
    before = len(transition_events(case))

    services.case_transition(case_id=case.pk, transition="de_escalate", actor=supervisor, reason="paid half")

    assert fresh(case).state == target
    events = transition_events(case)
    assert len(events) == before + 1
    assert (events[-1].from_state, events[-1].to_state) == (start, target)
    assert events[-1].payload["transition"] == "de_escalate"


@pytest.mark.parametrize("start", ["call", "visit", "legal"])
def test_api_client_with_cases_manage_de_escalates(start, supervisor, api_client_manager):
    case = case_in_state(start, supervisor=supervisor)
    services.case_transition(case_id=case.pk, transition="de_escalate", actor=api_client_manager)
    assert fresh(case).state != start
    assert transition_events(case)[-1].actor == "client:loan-system"


def test_de_escalate_from_reminder_is_transition_not_allowed(supervisor):
    case = overdue_case(days_overdue=3)
    with refused("transition_not_allowed") as info:
        services.case_transition(case_id=case.pk, transition="de_escalate", actor=supervisor)
    assert set(info.value.extra["allowed_transitions"]) == {"start_calls", "close"}


def test_collector_may_not_de_escalate(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="de_escalate", actor=collector)
    assert fresh(case).state == "call"


# --- close -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["reminder", "call", "visit", "legal"])
@pytest.mark.parametrize("reason", ["settled", "written_off"])
def test_supervisor_closes_an_open_case_with_a_reason(start, reason, supervisor):
    case = case_in_state(start, supervisor=supervisor)

    services.case_transition(
        case_id=case.pk, transition="close", actor=supervisor, reason=reason, note="agreed with the borrower"
    )

    case = fresh(case)
    assert case.state == "closed"
    assert case.close_reason == reason
    assert case.closed_at is not None
    event = transition_events(case)[-1]
    assert (event.from_state, event.to_state, event.reason) == (start, "closed", reason)
    assert event.payload == {"transition": "close", "note": "agreed with the borrower"}


@pytest.mark.parametrize("reason", ["", "paid", "SETTLED", "resolved"])
def test_close_with_an_invalid_reason_is_a_validation_error_on_reason(reason, supervisor):
    case = overdue_case(days_overdue=10)
    with refused("validation_error", field="reason"):
        services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason=reason)
    assert fresh(case).state == "call"
    assert transition_events(case) == []


def test_close_of_a_closed_case_is_transition_not_allowed_with_nothing_allowed(supervisor):
    case = case_in_state("closed", supervisor=supervisor)
    with refused("transition_not_allowed") as info:
        services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="settled")
    assert info.value.extra["allowed_transitions"] == []


def test_close_of_a_resolved_case_is_transition_not_allowed(supervisor):
    case = case_in_state("resolved", supervisor=supervisor)
    with refused("transition_not_allowed"):
        services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="settled")
    assert fresh(case).state == "resolved"


# --- names that cannot be requested --------------------------------------------------------------


@pytest.mark.parametrize("name", ["resolve", "reopen"])
@pytest.mark.parametrize("who", ["supervisor", "system", "superuser"])
def test_resolve_and_reopen_are_never_requestable(name, who, actor_named):
    case = overdue_case(days_overdue=10)
    with refused("validation_error", field="transition"):
        services.case_transition(case_id=case.pk, transition=name, actor=actor_named(who))
    assert fresh(case).state == "call"


@pytest.mark.parametrize("name", ["escalate", "", "START_CALLS", "save"])
def test_unknown_transition_name_is_a_validation_error_on_transition(name, supervisor):
    case = overdue_case(days_overdue=3)
    with refused("validation_error", field="transition"):
        services.case_transition(case_id=case.pk, transition=name, actor=supervisor)


# --- expected_state ----------------------------------------------------------------------------------


def test_expected_state_mismatch_is_stale_version(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=supervisor)

    with refused("stale_version") as info:
        services.case_transition(case_id=case.pk, transition="start_calls", actor=collector, expected_state="reminder")

    assert info.value.extra["state"] == "call"
    assert fresh(case).state == "call"
    assert len(transition_events(case)) == 1


def test_expected_state_mismatch_is_stale_version_even_when_the_transition_would_run(supervisor):
    case = overdue_case(days_overdue=10)
    with refused("stale_version"):
        services.case_transition(
            case_id=case.pk, transition="schedule_visit", actor=supervisor, expected_state="reminder"
        )
    assert fresh(case).state == "call"


def test_matching_expected_state_runs_the_transition(supervisor):
    case = overdue_case(days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=supervisor, expected_state="reminder")
    assert fresh(case).state == "call"


# --- holds ---------------------------------------------------------------------------------------------


def test_hold_stops_start_calls_with_case_on_hold(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    place_hold(case, supervisor)

    with refused("case_on_hold") as info:
        services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)

    assert "start_calls" not in info.value.extra["allowed_transitions"]
    assert fresh(case).state == "reminder"
    assert transition_events(case) == []


def test_hold_stops_schedule_visit_with_case_on_hold(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    place_hold(case, supervisor, code=Hold.Code.DISPUTE)

    with refused("case_on_hold"):
        services.case_transition(case_id=case.pk, transition="schedule_visit", actor=supervisor)

    assert fresh(case).state == "call"


def test_hold_stops_the_system_too(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    place_hold(case, supervisor)
    with refused("case_on_hold"):
        services.case_transition(case_id=case.pk, transition="start_calls", actor=None)


def test_held_escalations_leave_allowed_transitions_but_close_and_de_escalate_stay(collector, supervisor):
    reminder = assigned_case(to=collector, by=supervisor, days_overdue=3)
    call = assigned_case(to=collector, by=supervisor, days_overdue=10, borrower=reminder.borrower)
    assert set(fresh(reminder).allowed_transitions(supervisor)) == {"start_calls", "close"}

    place_hold(reminder, supervisor)

    assert fresh(reminder).allowed_transitions(collector) == []
    assert fresh(reminder).allowed_transitions(supervisor) == ["close"]
    assert set(fresh(call).allowed_transitions(supervisor)) == {"de_escalate", "close"}
    assert fresh(call).allowed_transitions(collector) == []


def test_hold_stops_approving_a_legal_referral(supervisor):
    case = overdue_case(days_overdue=40)
    referral = services.legal_referral_request(case_id=case.pk, actor=supervisor, reason="refuses")
    place_hold(case, supervisor)

    with refused("case_on_hold"):
        services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=True)

    assert fresh(case).state == "visit"


def test_lifting_the_hold_brings_the_escalations_back(collector, supervisor):
    reminder = assigned_case(to=collector, by=supervisor, days_overdue=3)
    call = assigned_case(to=collector, by=supervisor, days_overdue=10, borrower=reminder.borrower)
    hold = place_hold(reminder, supervisor)
    assert fresh(reminder).allowed_transitions(collector) == []

    services.hold_lift(hold_id=hold.pk, actor=supervisor, reason="complaint answered")

    assert fresh(reminder).allowed_transitions(collector) == ["start_calls"]
    assert fresh(call).allowed_transitions(collector) == ["schedule_visit"]
    services.case_transition(case_id=reminder.pk, transition="start_calls", actor=collector)
    services.case_transition(case_id=call.pk, transition="schedule_visit", actor=collector)
    assert (fresh(reminder).state, fresh(call).state) == ("call", "visit")


def test_an_expired_hold_no_longer_stops_escalation(collector, supervisor):
    from datetime import timedelta

    from django.utils import timezone

    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    hold = place_hold(case, supervisor)
    # The hold ran out: the model is the subject here, so move its end into the past directly.
    Hold.objects.filter(pk=hold.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(days=1)
    )

    services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)
    assert fresh(case).state == "call"


# --- allowed_transitions per role and scope ------------------------------------------------------

CLIENTS = {
    "client_read": [r.SCOPE_CASES_READ],
    "client_write": [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE],
    "client_manage": [r.SCOPE_CASES_READ, r.SCOPE_CASES_MANAGE],
    "client_write_manage": [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE, r.SCOPE_CASES_MANAGE],
    "client_payments": [r.SCOPE_PAYMENTS_WRITE],
}

EXPECTED = {
    # state: {actor: allowed}
    "reminder": {
        "collector": {"start_calls"},
        "field_agent": set(),
        "supervisor": {"start_calls", "close"},
        "legal_officer": set(),
        "auditor": set(),
        "admin_user": {"start_calls", "close"},
        "superuser": {"start_calls", "close"},
        "system": {"start_calls", "close"},
        "client_read": set(),
        "client_write": {"start_calls"},
        "client_manage": {"close"},
        "client_write_manage": {"start_calls", "close"},
        "client_payments": set(),
    },
    "call": {
        "collector": {"schedule_visit"},
        "field_agent": set(),
        "supervisor": {"schedule_visit", "de_escalate", "close"},
        "legal_officer": set(),
        "auditor": set(),
        "admin_user": {"schedule_visit", "de_escalate", "close"},
        "superuser": {"schedule_visit", "de_escalate", "close"},
        "system": {"schedule_visit", "close"},
        "client_read": set(),
        "client_write": {"schedule_visit"},
        "client_manage": {"de_escalate", "close"},
        "client_write_manage": {"schedule_visit", "de_escalate", "close"},
        "client_payments": set(),
    },
    "visit": {
        "collector": set(),
        "field_agent": set(),
        "supervisor": {"de_escalate", "close"},
        "legal_officer": set(),
        "auditor": set(),
        "admin_user": {"de_escalate", "close"},
        "superuser": {"de_escalate", "close"},
        "system": {"close"},
        "client_read": set(),
        "client_write": set(),
        "client_manage": {"de_escalate", "close"},
        "client_write_manage": {"de_escalate", "close"},
        "client_payments": set(),
    },
    "legal": {
        "collector": set(),
        "field_agent": set(),
        "supervisor": {"de_escalate", "close"},
        "legal_officer": set(),
        "auditor": set(),
        "admin_user": {"de_escalate", "close"},
        "superuser": {"de_escalate", "close"},
        "system": {"close"},
        "client_read": set(),
        "client_write": set(),
        "client_manage": {"de_escalate", "close"},
        "client_write_manage": {"de_escalate", "close"},
        "client_payments": set(),
    },
}
ACTOR_KEYS = list(EXPECTED["reminder"])


def _actor(key, actor_named):
    if key in CLIENTS:
        return actor_for_client(key, CLIENTS[key])
    return actor_named(key)


@pytest.mark.parametrize("state", list(EXPECTED))
def test_allowed_transitions_per_role_and_scope(state, actor_named, supervisor):
    case = fresh(case_in_state(state, supervisor=supervisor))
    got = {key: set(case.allowed_transitions(_actor(key, actor_named))) for key in ACTOR_KEYS}
    assert got == EXPECTED[state]


@pytest.mark.parametrize("state", ["resolved", "closed"])
def test_final_states_allow_nothing_for_anyone(state, actor_named, supervisor):
    case = fresh(case_in_state(state, supervisor=supervisor))
    assert case.state == state
    for key in ACTOR_KEYS:
        assert case.allowed_transitions(_actor(key, actor_named)) == [], key


def test_allowed_transitions_never_lists_resolve_or_reopen(supervisor, superuser):
    case = fresh(case_in_state("call", supervisor=supervisor))
    for actor in (None, supervisor, superuser):
        assert not {"resolve", "reopen"} & set(case.allowed_transitions(actor))


def test_legal_officer_has_no_transition_to_run_on_a_legal_case(supervisor, legal_officer):
    case = fresh(legal_case(by=supervisor))
    assert "refer_to_legal" not in case.allowed_transitions(legal_officer)
    assert case.allowed_transitions(legal_officer) == []


# --- reason codes --------------------------------------------------------------------------------------

CONTRACT_STATUSES = {
    "transition_not_allowed": 409,
    "stale_version": 409,
    "case_on_hold": 409,
    "idempotency_conflict": 409,
    "permission_denied": 403,
    "not_found": 404,
    "validation_error": 400,
    "not_authenticated": 401,
    "method_not_allowed": 405,
    "unsupported_media_type": 415,
    "throttled": 429,
    "outside_contact_hours": 422,
    "daily_call_cap": 422,
    "daily_dial_cap": 422,
    "seven_in_seven": 422,
    "seven_days_after_conversation": 422,
    "channel_opted_out": 422,
    "third_party_not_allowed": 422,
    "visit_needs_two_agents": 422,
    "plan_exists": 409,
    "plan_not_pending": 409,
    "plan_outside_policy": 422,
}


def test_every_contract_reason_code_exists_with_its_http_status():
    assert set(REASONS) == set(CONTRACT_STATUSES)
    assert {code: DomainError(code).http_status for code in REASONS} == CONTRACT_STATUSES


def test_domain_error_body_has_code_detail_fields_and_extra():
    error = DomainError("transition_not_allowed", "nope", fields={"transition": ["bad"]}, allowed_transitions=["close"])
    assert error.as_dict() == {
        "code": "transition_not_allowed",
        "detail": "nope",
        "fields": {"transition": ["bad"]},
        "allowed_transitions": ["close"],
    }
    with pytest.raises(ValueError):
        DomainError("made_up_code")
