"""Working a case: contacts and their breaches, disputes, promises, visits, legal referrals, the
contact check and audited PII reveal. Times are passed explicitly (`occurred_at`, `at`)."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from collections_app import compliance, services
from collections_app.calendar import lender_today
from collections_app.models import AuditLog, CaseEvent, ContactAttempt, Hold, LegalReferral, PromiseToPay, Visit

from .factories import BorrowerFactory, UserFactory, assigned_case, fresh
from .helpers import refused

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(days_ago, hour, minute=0, zone=SHANGHAI):
    """A past moment at a wall-clock time in `zone` (days_ago counted in the lender's calendar)."""
    return datetime.combine(lender_today() - timedelta(days=days_ago), time(hour, minute), tzinfo=zone)


@pytest.fixture
def case(collector, supervisor):
    """A `call` case (1000.00 overdue of 3000.00 outstanding) assigned to the collector."""
    return assigned_case(to=collector, by=supervisor, days_overdue=10)


def log(case, actor, **kwargs):
    kwargs.setdefault("channel", "call")
    kwargs.setdefault("outcome", "right_party_contact")
    kwargs.setdefault("occurred_at", local(1, 10))
    return services.contact_log(case_id=case.pk, actor=actor, **kwargs)


def case_for(borrower, collector, supervisor, days_overdue=10):
    return assigned_case(to=collector, by=supervisor, days_overdue=days_overdue, borrower=borrower)


# --- contact_log ---------------------------------------------------------------------------------


def test_contact_in_hours_is_recorded_without_breach(case, collector):
    contact = log(case, collector, outcome="no_answer", notes="rang out", occurred_at=local(1, 10))

    contact = ContactAttempt.objects.get(pk=contact.pk)
    assert contact.breach == ""
    assert (contact.channel, contact.direction, contact.outcome) == ("call", "outbound", "no_answer")
    assert contact.phone == "13812348000"  # the borrower's first phone by default
    assert contact.actor == "user:collector" and contact.actor_user == collector
    assert contact.occurred_at == local(1, 10)
    event = CaseEvent.objects.get(case=case, kind="contact_logged")
    assert event.payload == {
        "contact_id": contact.pk,
        "channel": "call",
        "direction": "outbound",
        "outcome": "no_answer",
        "breach": None,
    }
    assert event.at == local(1, 10)


def test_call_at_23_shanghai_is_recorded_with_outside_contact_hours(case, collector):
    contact = log(case, collector, occurred_at=local(1, 23))
    assert ContactAttempt.objects.filter(pk=contact.pk, breach="outside_contact_hours").exists()
    assert CaseEvent.objects.get(case=case, kind="contact_logged").payload["breach"] == "outside_contact_hours"


@pytest.mark.parametrize(
    ("hour", "minute", "breach"),
    [
        (7, 59, "outside_contact_hours"),
        (8, 0, ""),
        (21, 59, ""),
        (22, 0, "outside_contact_hours"),
        (2, 0, "outside_contact_hours"),
    ],
)
def test_contact_window_edges_in_shanghai(hour, minute, breach, case, collector):
    contact = log(case, collector, outcome="no_answer", occurred_at=local(1, hour, minute))
    assert contact.breach == breach


def test_contact_window_is_the_borrowers_own_zone(collector, supervisor):
    borrower = BorrowerFactory(time_zone="Europe/London")
    case = case_for(borrower, collector, supervisor)
    # 23:00 in Shanghai is the afternoon in London: in hours for this borrower.
    assert log(case, collector, occurred_at=local(1, 23)).breach == ""
    # 23:00 in London is outside.
    assert (
        log(case, collector, outcome="no_answer", occurred_at=local(2, 23, zone=ZoneInfo("Europe/London"))).breach
        == "outside_contact_hours"
    )


def test_after_hours_consent_lifts_the_window(collector, supervisor):
    case = case_for(BorrowerFactory(consent_after_hours=True), collector, supervisor)
    assert log(case, collector, occurred_at=local(1, 23)).breach == ""


def test_fourth_connected_call_in_the_borrowers_day_breaches_the_daily_call_cap(case, collector):
    first_three = [log(case, collector, occurred_at=local(1, h)) for h in (9, 10, 11)]
    fourth = log(case, collector, occurred_at=local(1, 12))

    assert [c.breach for c in first_three] == ["", "", ""]
    assert fourth.breach == "daily_call_cap"


def test_the_call_cap_counts_per_borrower_across_loans(collector, supervisor):
    borrower = BorrowerFactory()
    case_a = case_for(borrower, collector, supervisor)
    case_b = case_for(borrower, collector, supervisor, days_overdue=3)
    for h in (9, 10, 11):
        log(case_a, collector, occurred_at=local(1, h))
    assert log(case_b, collector, occurred_at=local(1, 12)).breach == "daily_call_cap"


def test_unanswered_and_inbound_calls_do_not_count_towards_the_connected_cap(case, collector):
    for h in (9, 10, 11):
        log(case, collector, outcome="no_answer", occurred_at=local(1, h))
        log(case, collector, direction="inbound", occurred_at=local(1, h, 30))
    assert log(case, collector, occurred_at=local(1, 12)).breach == ""


def test_connected_calls_on_another_day_do_not_count(case, collector):
    for h in (9, 10, 11):
        log(case, collector, occurred_at=local(2, h))
    assert log(case, collector, occurred_at=local(1, 9)).breach == ""


def test_seventh_dial_to_the_same_number_breaches_the_dial_cap(case, collector):
    six = [log(case, collector, outcome="no_answer", occurred_at=local(1, 9 + h)) for h in range(6)]
    seventh = log(case, collector, outcome="no_answer", occurred_at=local(1, 16))
    other_number = log(case, collector, outcome="no_answer", phone="13900000000", occurred_at=local(1, 17))
    assert [c.breach for c in six] == [""] * 6
    assert seventh.breach == "daily_dial_cap"
    assert other_number.breach == ""


def test_sms_to_an_opted_out_borrower_breaches_channel_opted_out(collector, supervisor):
    case = case_for(BorrowerFactory(consent_sms=False), collector, supervisor)
    contact = log(case, collector, channel="sms", outcome="no_answer")
    assert contact.breach == "channel_opted_out"
    assert ContactAttempt.objects.filter(case=case).count() == 1


def test_email_to_an_opted_out_borrower_breaches_channel_opted_out(collector, supervisor):
    case = case_for(BorrowerFactory(consent_email=False), collector, supervisor)
    assert log(case, collector, channel="email", outcome="no_answer").breach == "channel_opted_out"


def test_contact_under_a_hold_breaches_case_on_hold(case, collector, supervisor):
    services.hold_place(
        borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complained", starts_at=local(3, 9)
    )
    assert log(case, collector).breach == "case_on_hold"


@pytest.mark.parametrize("hour", [23, 3])
def test_inbound_contacts_never_breach(hour, collector, supervisor):
    case = case_for(BorrowerFactory(consent_sms=False), collector, supervisor)
    for h in (9, 10, 11):
        log(case, collector, occurred_at=local(1, h))
    services.hold_place(
        borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="x", starts_at=local(3, 9)
    )

    call = log(case, collector, direction="inbound", occurred_at=local(1, hour))
    sms = log(case, collector, direction="inbound", channel="sms", occurred_at=local(1, hour))

    assert (call.breach, sms.breach) == ("", "")


def test_dispute_raised_places_a_dispute_hold_and_stops_start_calls(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    assert fresh(case).allowed_transitions(collector) == ["start_calls"]

    log(case, collector, outcome="dispute_raised", notes="says the loan was repaid")

    hold = Hold.objects.get(borrower=case.borrower)
    assert hold.is_active()
    assert (hold.code, hold.source, hold.placed_by_label) == ("dispute", "staff", "user:collector")
    assert hold.reason == "says the loan was repaid"
    assert CaseEvent.objects.filter(case=case, kind="hold_placed").count() == 1
    assert fresh(case).allowed_transitions(collector) == []
    with refused("case_on_hold"):
        services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)
    assert fresh(case).state == "reminder"


def test_second_dispute_does_not_duplicate_the_hold(case, collector):
    log(case, collector, outcome="dispute_raised")
    log(case, collector, outcome="dispute_raised", occurred_at=local(1, 11))
    assert Hold.objects.filter(borrower=case.borrower, code="dispute").count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channel", "fax"),
        ("channel", ""),
        ("outcome", "hung_up"),
        ("outcome", None),
        ("direction", "sideways"),
    ],
)
def test_invalid_choice_is_a_validation_error_naming_the_field(field, value, case, collector):
    with refused("validation_error", field=field):
        log(case, collector, **{field: value})
    assert not ContactAttempt.objects.exists()


def test_occurred_at_must_be_aware_and_not_in_the_future(case, collector):
    with refused("validation_error", field="occurred_at"):
        log(case, collector, occurred_at=datetime(2025, 1, 1, 10, 0))
    with refused("validation_error", field="occurred_at"):
        log(case, collector, occurred_at=timezone.now() + timedelta(hours=2))
    assert not ContactAttempt.objects.exists()


def test_contact_without_occurred_at_is_recorded_now(case, collector):
    before = timezone.now()
    contact = services.contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer")
    assert before <= contact.occurred_at <= timezone.now()


# --- promise_record ------------------------------------------------------------------------------


def test_promise_is_recorded_and_sets_the_next_action(case, collector):
    due = lender_today() + timedelta(days=7)
    promise = services.promise_record(case_id=case.pk, actor=collector, amount="1500.00", due_date=due)

    assert (promise.status, promise.amount, promise.due_date) == ("pending", Decimal("1500.00"), due)
    assert promise.actor == "user:collector"
    after = fresh(case)
    assert after.next_action_at == datetime.combine(due + timedelta(days=1), time(9), tzinfo=SHANGHAI)
    event = CaseEvent.objects.get(case=case, kind="promise_recorded")
    assert event.payload == {"promise_id": promise.pk, "amount": "1500.00", "due_date": due.isoformat()}


def test_promise_may_cover_everything_outstanding_but_not_more(case, collector):
    with refused("validation_error", field="amount"):
        services.promise_record(
            case_id=case.pk, actor=collector, amount="3000.01", due_date=lender_today() + timedelta(days=3)
        )
    promise = services.promise_record(
        case_id=case.pk, actor=collector, amount="3000.00", due_date=lender_today() + timedelta(days=3)
    )
    assert promise.amount == Decimal("3000.00")


def test_promise_date_in_the_past_is_refused(case, collector):
    with refused("validation_error", field="due_date"):
        services.promise_record(
            case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today() - timedelta(days=1)
        )
    assert not PromiseToPay.objects.exists()


def test_promise_date_more_than_30_days_ahead_is_refused(case, collector):
    with refused("validation_error", field="due_date"):
        services.promise_record(
            case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today() + timedelta(days=31)
        )
    assert not PromiseToPay.objects.exists()


@pytest.mark.parametrize("days", [0, 30])
def test_promise_date_from_today_to_30_days_is_accepted(days, case, collector):
    promise = services.promise_record(
        case_id=case.pk, actor=collector, amount="100.00", due_date=(lender_today() + timedelta(days=days)).isoformat()
    )
    assert promise.due_date == lender_today() + timedelta(days=days)


def test_second_pending_promise_is_refused(case, collector):
    services.promise_record(
        case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today() + timedelta(days=3)
    )
    with refused("validation_error", field="due_date"):
        services.promise_record(
            case_id=case.pk, actor=collector, amount="200.00", due_date=lender_today() + timedelta(days=5)
        )
    assert PromiseToPay.objects.filter(case=case).count() == 1


def test_a_new_promise_may_follow_a_kept_one(case, collector):
    services.promise_record(
        case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today() + timedelta(days=3)
    )
    services.payment_record(external_id="P-k", loan=case.loan, amount="100.00", paid_at=timezone.now())
    services.promise_record(
        case_id=case.pk, actor=collector, amount="200.00", due_date=lender_today() + timedelta(days=5)
    )
    assert list(PromiseToPay.objects.filter(case=case).order_by("id").values_list("status", flat=True)) == [
        "kept",
        "pending",
    ]


@pytest.mark.parametrize(("amount", "due"), [("0", 3), ("-5", 3), (1.5, 3), ("abc", 3), ("10.00", "soon")])
def test_promise_input_is_validated(amount, due, case, collector):
    due_date = lender_today() + timedelta(days=due) if isinstance(due, int) else due
    with refused("validation_error"):
        services.promise_record(case_id=case.pk, actor=collector, amount=amount, due_date=due_date)


def test_promise_on_a_closed_case_is_refused(case, collector, supervisor):
    services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="settled")
    with refused("transition_not_allowed"):
        services.promise_record(
            case_id=case.pk, actor=supervisor, amount="10.00", due_date=lender_today() + timedelta(days=1)
        )


# --- visits ----------------------------------------------------------------------------------------------


@pytest.fixture
def visit_case(collector, supervisor):
    return assigned_case(to=collector, by=supervisor, days_overdue=40)


def schedule(case, actor, agents, when=None):
    return services.visit_schedule(
        case_id=case.pk, actor=actor, agents=agents, scheduled_for=when or timezone.now() + timedelta(days=1)
    )


def test_visit_is_scheduled_with_two_field_agents(visit_case, supervisor, field_agent, field_agent2):
    visit = schedule(visit_case, supervisor, [field_agent, "field_agent2"])

    assert visit.status == "planned"
    assert set(visit.agents.values_list("username", flat=True)) == {"field_agent", "field_agent2"}
    event = CaseEvent.objects.get(case=visit_case, kind="visit_scheduled")
    assert event.payload["agents"] == ["field_agent", "field_agent2"]
    assert event.actor == "user:supervisor"


@pytest.mark.parametrize("agents", [["field_agent"], ["field_agent", "field_agent"], []])
def test_visit_with_fewer_than_two_agents_is_visit_needs_two_agents(agents, visit_case, supervisor, field_agent):
    with refused("visit_needs_two_agents", field="agents") as info:
        schedule(visit_case, supervisor, agents)
    assert info.value.http_status == 422
    assert not Visit.objects.exists()


def test_visit_agents_must_be_known_field_agents(visit_case, supervisor, collector, field_agent):
    with refused("validation_error", field="agents"):
        schedule(visit_case, supervisor, [field_agent, collector])
    with refused("validation_error", field="agents"):
        schedule(visit_case, supervisor, [field_agent, "ghost"])


@pytest.mark.parametrize("days", [10, 3])
def test_visit_needs_the_case_in_visit(days, collector, supervisor, field_agent, field_agent2):
    case = assigned_case(to=collector, by=supervisor, days_overdue=days)
    with refused("transition_not_allowed"):
        schedule(case, supervisor, [field_agent, field_agent2])
    assert not Visit.objects.exists()


def test_visit_in_the_past_is_refused(visit_case, supervisor, field_agent, field_agent2):
    with refused("validation_error", field="scheduled_for"):
        schedule(visit_case, supervisor, [field_agent, field_agent2], when=timezone.now() - timedelta(hours=1))


def test_visit_under_a_hold_is_refused(visit_case, supervisor, field_agent, field_agent2):
    services.hold_place(borrower_id=visit_case.borrower_id, code="deceased", actor=supervisor, reason="x")
    with refused("case_on_hold"):
        schedule(visit_case, supervisor, [field_agent, field_agent2])


def test_visit_record_by_an_agent_of_the_visit_logs_a_contact(visit_case, supervisor, field_agent, field_agent2):
    visit = schedule(visit_case, supervisor, [field_agent, field_agent2])

    services.visit_record(visit_id=visit.pk, actor=field_agent, outcome="promise_made", notes="will pay Friday")

    visit = Visit.objects.get(pk=visit.pk)
    assert (visit.status, visit.outcome, visit.notes) == ("done", "promise_made", "will pay Friday")
    assert visit.recorded_at is not None
    contact = ContactAttempt.objects.get(case=visit_case)
    assert (contact.channel, contact.outcome, contact.actor) == ("visit", "promise_made", "user:field_agent")
    assert contact.occurred_at == visit.recorded_at
    kinds = list(CaseEvent.objects.filter(case=visit_case, actor="user:field_agent").values_list("kind", flat=True))
    assert kinds == ["visit_recorded", "contact_logged"]


@pytest.mark.parametrize(
    ("outcome", "contact_outcome"),
    [
        ("met_borrower", "right_party_contact"),
        ("not_home", "no_answer"),
        ("moved", "wrong_number"),
        ("refused", "refused"),
    ],
)
def test_visit_outcome_maps_to_a_contact_outcome(
    outcome, contact_outcome, visit_case, supervisor, field_agent, field_agent2
):
    visit = schedule(visit_case, supervisor, [field_agent, field_agent2])
    services.visit_record(visit_id=visit.pk, actor=field_agent2, outcome=outcome)
    assert ContactAttempt.objects.get(case=visit_case).outcome == contact_outcome


def test_visit_is_recorded_once(visit_case, supervisor, field_agent, field_agent2):
    visit = schedule(visit_case, supervisor, [field_agent, field_agent2])
    services.visit_record(visit_id=visit.pk, actor=field_agent, outcome="not_home")
    with refused("validation_error", field="visit"):
        services.visit_record(visit_id=visit.pk, actor=field_agent2, outcome="not_home")
    assert ContactAttempt.objects.count() == 1


def test_field_agent_not_on_the_visit_may_not_record_it(visit_case, supervisor, field_agent, field_agent2):
    outsider = UserFactory(username="field_agent3", roles=["field_agent"])
    visit = schedule(visit_case, supervisor, [field_agent, field_agent2])
    with refused("not_found"):
        services.visit_record(visit_id=visit.pk, actor=outsider, outcome="not_home")
    with refused("not_found"):
        services.visit_record(visit_id=999999, actor=field_agent, outcome="not_home")
    with refused("validation_error", field="outcome"):
        services.visit_record(visit_id=visit.pk, actor=field_agent, outcome="party")


# --- legal referrals -------------------------------------------------------------------------------


def test_legal_referral_request_on_a_visit_case(visit_case, collector):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector, reason=" refuses ")

    assert (referral.status, referral.reason, referral.requested_by) == ("requested", "refuses", "user:collector")
    event = CaseEvent.objects.get(case=visit_case, kind="legal_referral_requested")
    assert event.payload == {"referral_id": referral.pk}
    assert fresh(visit_case).state == "visit"  # a request is not a transition


def test_a_pending_referral_blocks_a_second(visit_case, collector, supervisor):
    services.legal_referral_request(case_id=visit_case.pk, actor=collector)
    with refused("validation_error", field="case"):
        services.legal_referral_request(case_id=visit_case.pk, actor=supervisor)
    assert LegalReferral.objects.filter(case=visit_case).count() == 1


def test_legal_referral_needs_the_case_in_visit(case, collector):
    with refused("transition_not_allowed"):
        services.legal_referral_request(case_id=case.pk, actor=collector)


def test_legal_referral_under_a_hold_is_refused(visit_case, collector, supervisor):
    services.hold_place(borrower_id=visit_case.borrower_id, code="complaint", actor=supervisor, reason="x")
    with refused("case_on_hold"):
        services.legal_referral_request(case_id=visit_case.pk, actor=collector)


def test_rejecting_a_referral_needs_a_reason(visit_case, collector, supervisor):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector)
    with refused("validation_error", field="reason"):
        services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=False, reason="  ")
    assert LegalReferral.objects.get(pk=referral.pk).status == "requested"


def test_rejected_referral_keeps_the_case_in_visit_and_frees_a_new_request(visit_case, collector, legal_officer):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector)

    services.legal_referral_decide(referral_id=referral.pk, actor=legal_officer, approve=False, reason="try again")

    referral = LegalReferral.objects.get(pk=referral.pk)
    assert (referral.status, referral.decided_by, referral.decision_reason) == (
        "rejected",
        "user:legal_officer",
        "try again",
    )
    assert fresh(visit_case).state == "visit"
    assert CaseEvent.objects.get(case=visit_case, kind="legal_referral_rejected").reason == "try again"
    assert services.legal_referral_request(case_id=visit_case.pk, actor=collector).status == "requested"


def test_approving_a_referral_moves_the_case_to_legal(visit_case, collector, legal_officer):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector)

    services.legal_referral_decide(referral_id=referral.pk, actor=legal_officer, approve=True)

    assert LegalReferral.objects.get(pk=referral.pk).status == "approved"
    assert fresh(visit_case).state == "legal"
    kinds = list(CaseEvent.objects.filter(case=visit_case, actor="user:legal_officer").values_list("kind", flat=True))
    assert kinds == ["legal_referral_approved", "transition"]


@pytest.mark.parametrize("who", ["collector", "field_agent", "auditor", "api_client_writer", "system"])
def test_only_supervisors_and_legal_officers_decide_referrals(who, actor_named, visit_case, collector):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector)
    with refused("permission_denied"):
        services.legal_referral_decide(referral_id=referral.pk, actor=actor_named(who), approve=True)
    assert fresh(visit_case).state == "visit"


def test_a_referral_is_decided_once(visit_case, collector, supervisor):
    referral = services.legal_referral_request(case_id=visit_case.pk, actor=collector)
    services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=False, reason="no")
    with refused("stale_version"):
        services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=True)
    with refused("not_found"):
        services.legal_referral_decide(referral_id=999999, actor=supervisor, approve=True)


# --- contact_check -------------------------------------------------------------------------------


def test_contact_check_answers_a_decision_with_next_allowed_at_in_the_borrowers_zone(case):
    decision = services.contact_check(case=case, channel="call", at=local(1, 23))

    assert isinstance(decision, compliance.Decision)
    assert (decision.allowed, decision.code) == (False, "outside_contact_hours")
    assert decision.next_allowed_at == local(0, 8)
    assert decision.next_allowed_at.utcoffset() == timedelta(hours=8)
    assert decision.next_allowed_at.isoformat().endswith("T08:00:00+08:00")


def test_contact_check_early_morning_points_to_the_same_day(case):
    decision = services.contact_check(case=case, channel="sms", at=local(1, 6, 30))
    assert decision.next_allowed_at == local(1, 8)


def test_contact_check_next_allowed_at_uses_another_borrower_zone(collector, supervisor):
    tokyo = ZoneInfo("Asia/Tokyo")
    case = case_for(BorrowerFactory(time_zone="Asia/Tokyo"), collector, supervisor)

    decision = services.contact_check(case=case, channel="call", at=local(2, 23, 30, zone=tokyo))

    assert decision.code == "outside_contact_hours"
    assert decision.next_allowed_at.utcoffset() == timedelta(hours=9)
    assert decision.next_allowed_at == local(1, 8, zone=tokyo)


def test_contact_check_allows_in_hours_and_writes_nothing(case):
    events_before = CaseEvent.objects.count()
    decision = services.contact_check(case=case, channel="call", at=local(1, 10))
    assert decision == compliance.Decision(True, "", None)
    assert CaseEvent.objects.count() == events_before
    assert not ContactAttempt.objects.exists()


def test_contact_check_counts_todays_connected_calls(case, collector):
    for h in (9, 10, 11):
        log(case, collector, occurred_at=local(1, h))
    decision = services.contact_check(case=case, channel="call", at=local(1, 15))
    assert (decision.allowed, decision.code) == (False, "daily_call_cap")
    assert decision.next_allowed_at == local(0, 8)


def test_contact_check_under_an_open_ended_hold_has_no_next_time(case, supervisor):
    services.hold_place(borrower_id=case.borrower_id, code="cease_contact", actor=supervisor, reason="x")
    decision = services.contact_check(case=case, channel="call")
    assert (decision.allowed, decision.code, decision.next_allowed_at) == (False, "case_on_hold", None)


def test_contact_check_under_a_dated_hold_answers_its_end_in_the_borrowers_zone(case, supervisor):
    # Noon, three days on, in the borrower's zone: inside the contact window, so the end is the answer.
    ends = datetime.combine(lender_today() + timedelta(days=3), time(12), tzinfo=ZoneInfo("Asia/Shanghai"))
    services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="x", ends_at=ends)
    decision = services.contact_check(case=case, channel="call")
    assert decision.code == "case_on_hold"
    assert decision.next_allowed_at == ends
    assert decision.next_allowed_at.utcoffset() == timedelta(hours=8)


def test_contact_check_opted_out_has_no_next_time(collector, supervisor):
    case = case_for(BorrowerFactory(consent_sms=False), collector, supervisor)
    decision = services.contact_check(case=case, channel="sms", at=local(1, 10))
    assert (decision.allowed, decision.code, decision.next_allowed_at) == (False, "channel_opted_out", None)


def test_contact_check_refuses_an_unknown_channel(case):
    with refused("validation_error", field="channel"):
        services.contact_check(case=case, channel="pigeon")


# --- pii_reveal -----------------------------------------------------------------------------------------


def test_pii_reveal_returns_real_values_and_writes_an_audit_row_and_an_event(case, collector):
    values = services.pii_reveal(
        case_id=case.pk, actor=collector, reason="calling the borrower", fields=["name", "phones"]
    )

    assert values == {"name": case.borrower.name, "phones": ["13812348000"]}
    audit = AuditLog.objects.get()
    assert (audit.actor, audit.actor_user, audit.action) == ("user:collector", collector, "reveal")
    assert (audit.borrower_id, audit.case_id) == (case.borrower_id, case.pk)
    assert (audit.fields, audit.reason) == (["name", "phones"], "calling the borrower")
    event = CaseEvent.objects.get(case=case, kind="pii_revealed")
    assert (event.actor, event.reason, event.payload) == (
        "user:collector",
        "calling the borrower",
        {"fields": ["name", "phones"]},
    )


def test_pii_reveal_needs_a_reason(case, collector):
    for reason in ("", "   ", None):
        with refused("validation_error", field="reason"):
            services.pii_reveal(case_id=case.pk, actor=collector, reason=reason)
    assert not AuditLog.objects.exists()
    assert not CaseEvent.objects.filter(kind="pii_revealed").exists()


def test_pii_reveal_refuses_unknown_fields(case, collector):
    with refused("validation_error", field="fields"):
        services.pii_reveal(case_id=case.pk, actor=collector, reason="x", fields=["name", "salary"])
    assert not AuditLog.objects.exists()


def test_pii_reveal_by_borrower_is_for_see_all_roles_only(case, collector, supervisor):
    values = services.pii_reveal(
        borrower_id=case.borrower_id, actor=supervisor, reason="review", fields=["national_id"]
    )
    assert values == {"national_id": case.borrower.national_id}
    assert AuditLog.objects.get().case is None
    with refused("not_found"):
        services.pii_reveal(borrower_id=case.borrower_id, actor=collector, reason="curious")
    assert AuditLog.objects.count() == 1


def test_audit_entries_are_append_only(case, collector):
    services.pii_reveal(case_id=case.pk, actor=collector, reason="x")
    audit = AuditLog.objects.get()
    audit.reason = "y"
    with pytest.raises(ValueError):
        audit.save()


def test_a_call_logged_late_is_judged_by_the_calls_before_it(case, collector):
    for h in (10, 11, 12):
        log(case, collector, occurred_at=local(1, h))

    earlier = log(case, collector, occurred_at=local(1, 9))

    assert earlier.breach == ""


def test_pending_legal_referral_is_withdrawn_when_the_case_leaves_the_visit_stage(collector, supervisor):
    from collections_app.models import LegalReferral

    from .factories import overdue_case as _overdue

    case = _overdue(days_overdue=40)
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)
    referral = services.legal_referral_request(case_id=case.pk, actor=collector, reason="unreachable for weeks")

    services.case_transition(case_id=case.pk, transition="de_escalate", actor=supervisor, reason="borrower called back")

    referral.refresh_from_db()
    assert referral.status == LegalReferral.Status.REJECTED
    assert referral.decided_by == "system"
    assert "visit" in referral.decision_reason
    assert case.events.filter(kind="legal_referral_rejected", actor="system").count() == 1
