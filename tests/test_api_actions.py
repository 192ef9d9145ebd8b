"""The action endpoints as a dialler, a loan system and a bank feed use them: contacts that happened,
the check before dialling, promises, messages, visits, payments in and reversals."""

from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import (
    AuditLog,
    CaseEvent,
    ContactAttempt,
    Hold,
    IdempotencyRecord,
    Instalment,
    OutboundMessage,
    Payment,
    PaymentAllocation,
    PromiseToPay,
    Visit,
)

from .factories import BorrowerFactory, assigned_case, fresh, loan_with_schedule, overdue_case

# Transactional like tests/test_api_cases.py: every service call commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal

# Queries of one POST, pinned (authentication, the idempotency claim, the service, the answer).
CONTACT_POST_MAX_QUERIES = 11
PAYMENT_POST_MAX_QUERIES = 26  # 24 before plans: + the case's active plan, + its end when the case resolves
PAYMENT_REPLAY_MAX_QUERIES = 7


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets, the default strategy and templates survive earlier flushes (tests/conftest.py)."""


@pytest.fixture
def dialler(api):
    return api("cases:read", "cases:write", name="dialler")


@pytest.fixture
def bank(api):
    """A bank feed that also reads cases (it is told which case a payment settled)."""
    return api("payments:write", "cases:read", name="bank-feed")


def zone_at_local_hour(hour):
    """An Etc/GMT zone whose local time is now `hour`:xx (Etc/GMT-5 is UTC+5)."""
    offset = (hour - datetime.now(dt_timezone.utc).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def night_zone():
    """A zone where it is 02:xx-03:xx now (outside 08:00-22:00), never the lender's +08:00, so an
    answer in the borrower's offset cannot be confused with one in the server's."""
    for hour in (3, 2):
        zone = ZoneInfo(zone_at_local_hour(hour))
        if timezone.now().astimezone(zone).utcoffset() != timedelta(hours=8):
            return zone
    raise AssertionError("unreachable: two different hours cannot both be +08:00")


def day_zone():
    return ZoneInfo(zone_at_local_hour(12))


def night_case(**kwargs):
    return overdue_case(days_overdue=10, borrower=BorrowerFactory(time_zone=night_zone().key), **kwargs)


def day_case(**kwargs):
    return overdue_case(days_overdue=10, borrower=BorrowerFactory(time_zone=day_zone().key), **kwargs)


def next_8am(zone):
    local = timezone.now().astimezone(zone)
    return datetime.combine(local.date(), time(8), tzinfo=zone)  # it is 02:xx-03:xx there: today's 08:00


# --- contacts: what happened ------------------------------------------------------------------


def test_a_call_at_night_is_recorded_with_its_breach(dialler, django_assert_max_num_queries):
    case = night_case()
    with django_assert_max_num_queries(CONTACT_POST_MAX_QUERIES):
        response = dialler.post(f"/api/v1/cases/{case.pk}/contacts/", {"channel": "call", "outcome": "no_answer"})
    assert response.status_code == 201
    body = response.json()
    [contact] = ContactAttempt.objects.filter(case=case)
    assert body == {
        "id": contact.pk,
        "case": case.pk,
        "channel": "call",
        "direction": "outbound",
        "outcome": "no_answer",
        "phone": "138****8000",
        "notes": "",
        "breach": "outside_contact_hours",
        "occurred_at": timezone.localtime(contact.occurred_at).isoformat(),
    }
    assert contact.phone == "13812348000" and contact.actor == "client:dialler"  # default: the first phone
    assert contact.breach == "outside_contact_hours"
    event = CaseEvent.objects.get(case=case, kind="contact_logged")
    assert event.payload["breach"] == "outside_contact_hours" and event.actor == "client:dialler"


def test_a_call_in_the_day_has_no_breach_and_pii_read_sees_the_number(api):
    case = day_case()
    caller = api("cases:read", "cases:write", "pii:read", name="crm")
    body = caller.post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {
            "channel": "call",
            "outcome": "right_party_contact",
            "phone": "13812348000",
            "notes": "will pay Friday",
        },
    ).json()
    assert (body["breach"], body["phone"], body["notes"]) == (None, "13812348000", "will pay Friday")
    assert AuditLog.objects.filter(actor="client:crm", case=case, fields=["phones"]).count() == 1


def test_a_contact_in_the_past_is_judged_at_its_own_time(dialler):
    case = day_case()
    zone = ZoneInfo(case.borrower.time_zone)
    yesterday_night = datetime.combine(
        timezone.now().astimezone(zone).date() - timedelta(days=1), time(23, 30), tzinfo=zone
    )
    response = dialler.post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {"channel": "call", "outcome": "busy", "occurred_at": yesterday_night.isoformat()},
    )
    assert response.status_code == 201 and response.json()["breach"] == "outside_contact_hours"
    assert ContactAttempt.objects.get(case=case).occurred_at == yesterday_night


def test_an_inbound_call_at_night_is_no_breach(dialler):
    case = night_case()
    body = dialler.post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {"channel": "call", "direction": "inbound", "outcome": "right_party_contact"},
    ).json()
    assert body["direction"] == "inbound" and body["breach"] is None


def test_dispute_raised_places_a_hold(dialler):
    case = day_case()
    response = dialler.post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {"channel": "call", "outcome": "dispute_raised", "notes": "says the loan was repaid"},
    )
    assert response.status_code == 201
    [hold] = Hold.objects.active().filter(borrower=case.borrower)
    assert (hold.code, hold.placed_by_label, hold.reason) == ("dispute", "client:dialler", "says the loan was repaid")
    assert dialler.get(f"/api/v1/cases/{case.pk}/").json()["hold"] == ["dispute"]
    check = dialler.get(f"/api/v1/cases/{case.pk}/contact-check/", data={"channel": "call"}).json()
    assert check == {"allowed": False, "code": "case_on_hold", "next_allowed_at": None}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": "fax", "outcome": "no_answer"}, "channel"),
        ({"channel": "call", "outcome": "hung_up"}, "outcome"),
        ({"channel": "call"}, "outcome"),
        ({"channel": "call", "outcome": "busy", "direction": "sideways"}, "direction"),
        ({"channel": "call", "outcome": "busy", "occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),  # no offset
        ({"channel": "call", "outcome": "busy", "occurred_at": "yesterday"}, "occurred_at"),
        ({"channel": "call", "outcome": "busy", "occurred_at": "2999-01-01T10:00:00+08:00"}, "occurred_at"),
        ({"channel": "call", "outcome": "busy", "colour": "red"}, "colour"),
        ({"channel": "call", "outcome": "busy", "phone": None}, "phone"),
    ],
)
def test_bad_contact_input_is_400_naming_the_field(dialler, body, field):
    case = day_case()
    response = dialler.post(f"/api/v1/cases/{case.pk}/contacts/", body)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    assert not ContactAttempt.objects.exists()


def test_a_json_list_body_is_400_not_500(dialler):
    case = day_case()
    response = dialler.post(f"/api/v1/cases/{case.pk}/contacts/", [{"channel": "call"}])
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_scopes_for_contacts(api):
    case = day_case()
    reader = api("cases:read", name="bi")
    response = reader.post(f"/api/v1/cases/{case.pk}/contacts/", {"channel": "call", "outcome": "busy"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert reader.get(f"/api/v1/cases/{case.pk}/contact-check/", data={"channel": "call"}).status_code == 200
    payer = api("payments:write", name="bank")
    assert payer.get(f"/api/v1/cases/{case.pk}/contact-check/", data={"channel": "call"}).status_code == 403
    assert not ContactAttempt.objects.exists()


def test_an_unknown_case_is_404(dialler):
    response = dialler.post("/api/v1/cases/999999/contacts/", {"channel": "call", "outcome": "busy"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert dialler.get("/api/v1/cases/999999/contact-check/", data={"channel": "call"}).status_code == 404


def test_staff_sessions_log_contacts_within_their_role_and_row_scope(
    client, collector, other_collector, supervisor, auditor
):
    mine = assigned_case(
        to=collector, by=supervisor, days_overdue=10, borrower=BorrowerFactory(time_zone=day_zone().key)
    )
    theirs = assigned_case(to=other_collector, by=supervisor, days_overdue=10)
    client.force_login(collector)
    ok = client.post(
        f"/api/v1/cases/{mine.pk}/contacts/", {"channel": "call", "outcome": "busy"}, content_type="application/json"
    )
    assert ok.status_code == 201 and ContactAttempt.objects.get(case=mine).actor == "user:collector"
    hidden = client.post(
        f"/api/v1/cases/{theirs.pk}/contacts/", {"channel": "call", "outcome": "busy"}, content_type="application/json"
    )
    assert hidden.status_code == 404
    client.force_login(auditor)
    read_only = client.post(
        f"/api/v1/cases/{mine.pk}/contacts/", {"channel": "call", "outcome": "busy"}, content_type="application/json"
    )
    assert read_only.status_code == 403 and read_only.json()["code"] == "permission_denied"
    assert ContactAttempt.objects.count() == 1


# --- before contact ---------------------------------------------------------------------------


def test_contact_check_answers_next_allowed_at_in_the_borrowers_offset(dialler):
    case = night_case()
    zone = ZoneInfo(case.borrower.time_zone)
    response = dialler.get(f"/api/v1/cases/{case.pk}/contact-check/", data={"channel": "call"})
    assert response.status_code == 200
    assert response.json() == {
        "allowed": False,
        "code": "outside_contact_hours",
        "next_allowed_at": next_8am(zone).isoformat(),
    }
    assert not response.json()["next_allowed_at"].endswith("+08:00")  # the borrower's offset, not the server's
    assert not ContactAttempt.objects.exists()  # asking writes nothing


def test_contact_check_allows_in_the_day_and_refuses_an_opted_out_channel(dialler):
    case = overdue_case(days_overdue=10, borrower=BorrowerFactory(time_zone=day_zone().key, consent_sms=False))
    url = f"/api/v1/cases/{case.pk}/contact-check/"
    assert dialler.get(url, data={"channel": "call"}).json() == {"allowed": True, "code": None, "next_allowed_at": None}
    assert dialler.get(url, data={"channel": "sms"}).json() == {
        "allowed": False,
        "code": "channel_opted_out",
        "next_allowed_at": None,
    }
    # A number that is not the borrower's is a contact person's: not while the borrower is reachable.
    assert (
        dialler.get(url, data={"channel": "call", "phone": "13900001111"}).json()["code"] == "third_party_not_allowed"
    )


@pytest.mark.parametrize(
    "params, field", [({"channel": "fax"}, "channel"), ({}, "channel"), ({"channel": "call", "when": "now"}, "when")]
)
def test_contact_check_bad_input_is_400(dialler, params, field):
    case = day_case()
    response = dialler.get(f"/api/v1/cases/{case.pk}/contact-check/", data=params)
    assert response.status_code == 400 and field in response.json()["fields"]


# --- promises ---------------------------------------------------------------------------------


def test_a_promise_is_recorded(dialler):
    case = day_case()
    due = lender_today() + timedelta(days=5)
    response = dialler.post(f"/api/v1/cases/{case.pk}/promises/", {"amount": "500.00", "due_date": due.isoformat()})
    assert response.status_code == 201
    promise = PromiseToPay.objects.get(case=case)
    assert response.json() == {
        "id": promise.pk,
        "case": case.pk,
        "amount": "500.00",
        "due_date": due.isoformat(),
        "status": "pending",
    }
    assert promise.amount == D("500.00") and promise.actor == "client:dialler"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": 500.5, "due_date": "+5"}, "amount"),  # a JSON float
        ({"amount": "500.001", "due_date": "+5"}, "amount"),  # over-precise
        ({"amount": "-5", "due_date": "+5"}, "amount"),
        ({"amount": "lots", "due_date": "+5"}, "amount"),
        ({"amount": True, "due_date": "+5"}, "amount"),
        ({"amount": "999999.00", "due_date": "+5"}, "amount"),  # more than is outstanding
        ({"amount": "500.00", "due_date": "-1"}, "due_date"),  # in the past
        ({"amount": "500.00", "due_date": "+90"}, "due_date"),  # too far
        ({"amount": "500.00", "due_date": "05/01/2026"}, "due_date"),
    ],
)
def test_bad_promises_are_400_naming_the_field(dialler, body, field):
    case = day_case()
    if body["due_date"][0] in "+-":
        body = {**body, "due_date": (lender_today() + timedelta(days=int(body["due_date"]))).isoformat()}
    response = dialler.post(f"/api/v1/cases/{case.pk}/promises/", body)
    assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not PromiseToPay.objects.exists()


def test_an_integer_amount_is_exact_and_accepted(dialler):
    case = day_case()
    response = dialler.post(
        f"/api/v1/cases/{case.pk}/promises/",
        {"amount": 300, "due_date": (lender_today() + timedelta(days=3)).isoformat()},
    )
    assert response.status_code == 201 and response.json()["amount"] == "300.00"


# --- messages ---------------------------------------------------------------------------------


def test_a_message_now_outside_hours_is_422_with_next_allowed_at(dialler):
    case = night_case()
    zone = ZoneInfo(case.borrower.time_zone)
    response = dialler.post(
        f"/api/v1/cases/{case.pk}/messages/", {"channel": "sms", "template": "overdue", "schedule": "now"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "outside_contact_hours" and body["next_allowed_at"] == next_8am(zone).isoformat()
    assert not OutboundMessage.objects.exists()


def test_a_message_for_the_next_allowed_time_is_202_queued(dialler):
    case = night_case()
    zone = ZoneInfo(case.borrower.time_zone)
    response = dialler.post(
        f"/api/v1/cases/{case.pk}/messages/", {"channel": "sms", "template": "overdue", "schedule": "next_allowed"}
    )
    assert response.status_code == 202
    message = OutboundMessage.objects.get(case=case)
    assert response.json() == {"id": message.pk, "status": "queued", "not_before": next_8am(zone).isoformat()}
    assert message.not_before == next_8am(zone) and message.requested_by == "client:dialler"


def test_a_message_in_the_day_is_queued_now_and_bad_input_is_400(dialler):
    case = day_case()
    url = f"/api/v1/cases/{case.pk}/messages/"
    started = timezone.now()
    response = dialler.post(url, {"channel": "sms", "template": "overdue"})  # schedule defaults to now
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert started <= datetime.fromisoformat(response.json()["not_before"]) <= timezone.now()
    unknown = dialler.post(url, {"channel": "sms", "template": "no_such_template"})
    assert unknown.status_code == 400 and "template" in unknown.json()["fields"]
    assert dialler.post(url, {"channel": "call", "template": "overdue"}).json()["fields"].keys() == {"channel"}
    assert OutboundMessage.objects.count() == 1


def test_an_idempotency_key_replays_a_refusal_as_it_was(dialler):
    case = night_case()
    url = f"/api/v1/cases/{case.pk}/messages/"
    first = dialler.post(url, {"channel": "sms", "template": "overdue"}, HTTP_IDEMPOTENCY_KEY="m-1")
    replay = dialler.post(url, {"channel": "sms", "template": "overdue"}, HTTP_IDEMPOTENCY_KEY="m-1")
    assert (first.status_code, replay.status_code) == (422, 422)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    other = dialler.post(
        url, {"channel": "sms", "template": "overdue", "schedule": "next_allowed"}, HTTP_IDEMPOTENCY_KEY="m-1"
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert not OutboundMessage.objects.exists()


def test_an_idempotency_key_replays_bad_input_refusals_too(bank):
    body = {"external_id": "P-x", "loan": "NO-SUCH-LOAN", "amount": "10.00", "paid_at": timezone.now().isoformat()}
    first = bank.post("/api/v1/payments/", body, HTTP_IDEMPOTENCY_KEY="p-x")
    replay = bank.post("/api/v1/payments/", body, HTTP_IDEMPOTENCY_KEY="p-x")
    assert (first.status_code, replay.status_code) == (400, 400) and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true" and "loan" in first.json()["fields"]
    assert IdempotencyRecord.objects.get(key="p-x").status_code == 400


def test_a_replayed_answer_with_personal_data_is_audited_and_needs_pii_read_still(api):
    from collections_app.models import ApiClient

    case = day_case()
    caller = api("cases:read", "cases:write", "pii:read", name="crm")
    url, body = f"/api/v1/cases/{case.pk}/contacts/", {"channel": "call", "outcome": "busy", "phone": "13812348000"}
    first = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="c-1")
    replay = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="c-1")
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert replay.json()["phone"] == "13812348000" and ContactAttempt.objects.count() == 1
    assert AuditLog.objects.filter(actor="client:crm", reason__startswith="api replay").count() == 1

    crm = ApiClient.objects.get(name="crm")
    crm.scopes = ["cases:read", "cases:write"]
    crm.save()
    refused = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="c-1")
    assert refused.status_code == 403 and "13812348000" not in refused.content.decode()


def test_a_key_left_by_a_request_that_died_is_free_again_after_a_while(dialler):
    case = day_case()
    url = f"/api/v1/cases/{case.pk}/contacts/"
    owner = "client:dialler"
    IdempotencyRecord.objects.create(owner=owner, key="k-dead", request_hash="x", status_code=0, body=None)
    assert dialler.post(url, {"channel": "call", "outcome": "busy"}, HTTP_IDEMPOTENCY_KEY="k-dead").status_code == 409
    IdempotencyRecord.objects.filter(key="k-dead").update(created_at=timezone.now() - timedelta(minutes=6))
    assert dialler.post(url, {"channel": "call", "outcome": "busy"}, HTTP_IDEMPOTENCY_KEY="k-dead").status_code == 201


# --- visits -----------------------------------------------------------------------------------


def test_a_visit_needs_two_field_agents(api, field_agent, field_agent2):
    case = overdue_case(days_overdue=40)
    assert case.state == "visit"
    manager = api("cases:read", "cases:manage", name="loan-system")
    url = f"/api/v1/cases/{case.pk}/visits/"
    when = (timezone.now() + timedelta(days=2)).isoformat()
    lonely = manager.post(url, {"scheduled_for": when, "agents": ["field_agent"]})
    assert lonely.status_code == 422 and lonely.json()["code"] == "visit_needs_two_agents"
    assert not Visit.objects.exists()

    response = manager.post(url, {"scheduled_for": when, "agents": ["field_agent2", "field_agent"]})
    assert response.status_code == 201
    visit = Visit.objects.get(case=case)
    assert response.json() == {
        "id": visit.pk,
        "case": case.pk,
        "scheduled_for": timezone.localtime(visit.scheduled_for).isoformat(),
        "agents": ["field_agent", "field_agent2"],
        "status": "planned",
    }


def test_visits_need_cases_manage_and_known_agents(api, dialler, field_agent, collector):
    case = overdue_case(days_overdue=40)
    url = f"/api/v1/cases/{case.pk}/visits/"
    when = (timezone.now() + timedelta(days=2)).isoformat()
    assert dialler.post(url, {"scheduled_for": when, "agents": ["field_agent", "x"]}).status_code == 403
    manager = api("cases:read", "cases:manage", name="loan-system")
    unknown = manager.post(url, {"scheduled_for": when, "agents": ["field_agent", "nobody"]})
    assert unknown.status_code == 400 and "agents" in unknown.json()["fields"]
    not_agent = manager.post(url, {"scheduled_for": when, "agents": ["field_agent", "collector"]})
    assert not_agent.status_code == 400 and "agents" in not_agent.json()["fields"]
    naive = manager.post(url, {"scheduled_for": "2030-01-01T10:00:00", "agents": ["field_agent"]})
    assert naive.status_code == 400 and "scheduled_for" in naive.json()["fields"]


# --- payments ---------------------------------------------------------------------------------


def test_a_payment_that_covers_the_arrears_resolves_the_case_and_its_replay_applies_nothing_twice(
    bank, django_assert_max_num_queries
):
    case = overdue_case(days_overdue=10)  # 1000.00 overdue of three instalments
    paid_at = timezone.now().replace(microsecond=0)
    body = {
        "external_id": "BANK-1",
        "loan": case.loan.external_id,
        "amount": "1000.00",
        "paid_at": paid_at.isoformat(),
        "channel": "bank_transfer",
    }
    with django_assert_max_num_queries(PAYMENT_POST_MAX_QUERIES):
        first = bank.post("/api/v1/payments/", body)
    assert first.status_code == 201
    assert first.json() == {
        "external_id": "BANK-1",
        "loan": case.loan.external_id,
        "amount": "1000.00",
        "paid_at": timezone.localtime(paid_at).isoformat(),
        "channel": "bank_transfer",
        "unapplied_amount": "0.00",
        "reversed_at": None,
        "case": {"id": case.pk, "state": "resolved"},
    }
    assert first.json()["paid_at"].endswith("+08:00")
    assert fresh(case).state == "resolved"

    with django_assert_max_num_queries(PAYMENT_REPLAY_MAX_QUERIES):
        replay = bank.post("/api/v1/payments/", body)
    assert replay.status_code == 200 and replay.json() == first.json()
    assert Payment.objects.count() == 1 and PaymentAllocation.objects.count() == 1
    assert [i.amount_paid for i in Instalment.objects.filter(loan=case.loan).order_by("due_date")] == [
        D("1000.00"),
        D("0.00"),
        D("0.00"),
    ]
    assert CaseEvent.objects.filter(case=case, kind="payment_recorded").count() == 1
    assert CaseEvent.objects.filter(case=case, kind="transition", to_state="resolved").count() == 1


def test_a_conflicting_replay_is_409(bank):
    case = overdue_case(days_overdue=10)
    body = {
        "external_id": "BANK-2",
        "loan": case.loan.external_id,
        "amount": "400.00",
        "paid_at": timezone.now().isoformat(),
    }
    assert bank.post("/api/v1/payments/", body).status_code == 201
    response = bank.post("/api/v1/payments/", {**body, "amount": "450.00"})
    assert response.status_code == 409 and response.json()["code"] == "idempotency_conflict"
    assert "external_id" in response.json()["fields"]
    assert Payment.objects.get().amount == D("400.00")
    assert fresh(case).amount_overdue == D("600.00") and fresh(case).state == "call"


def test_a_surplus_is_kept_and_a_loan_without_a_case_answers_case_null(bank):
    loan = loan_with_schedule(days_overdue=-5)  # nothing due yet: no case
    response = bank.post(
        "/api/v1/payments/",
        {"external_id": "BANK-3", "loan": loan.external_id, "amount": "3500", "paid_at": timezone.now().isoformat()},
    )
    assert response.status_code == 201
    assert (response.json()["case"], response.json()["amount"], response.json()["unapplied_amount"]) == (
        None,
        "3500.00",
        "500.00",
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": 1000.0}, "amount"),  # a JSON float
        ({"amount": "999.999"}, "amount"),  # over-precise
        ({"amount": "0"}, "amount"),
        ({"loan": "NO-SUCH-LOAN"}, "loan"),
        ({"paid_at": "2026-01-01 10:00"}, "paid_at"),  # no offset
        ({"paid_at": (timezone.now() + timedelta(days=3)).isoformat()}, "paid_at"),  # in the future
        ({"external_id": ""}, "external_id"),
        ({"reference": "x"}, "reference"),
    ],
)
def test_bad_payments_are_400_naming_the_field(bank, change, field):
    case = overdue_case(days_overdue=10)
    body = {
        "external_id": "BANK-4",
        "loan": case.loan.external_id,
        "amount": "1000.00",
        "paid_at": timezone.now().isoformat(),
        **change,
    }
    response = bank.post("/api/v1/payments/", body)
    assert response.status_code == 400 and field in response.json()["fields"], response.json()
    assert not Payment.objects.exists()
    assert fresh(case).state == "call"


def test_payments_need_payments_write(api, bank):
    case = overdue_case(days_overdue=10)
    writer = api("cases:read", "cases:write", "cases:manage", name="crm")
    body = {
        "external_id": "BANK-5",
        "loan": case.loan.external_id,
        "amount": "1000.00",
        "paid_at": timezone.now().isoformat(),
    }
    response = writer.post("/api/v1/payments/", body)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert writer.post("/api/v1/payments/BANK-5/reversal/", {"reason": "bounced"}).status_code == 403
    assert not Payment.objects.exists()
    assert bank.post("/api/v1/payments/", body).status_code == 201


def test_a_payment_answer_names_the_case_only_to_a_client_that_may_see_cases(api):
    case = overdue_case(days_overdue=10)
    feed_only = api("payments:write", name="feed-only")
    body = {
        "external_id": "P-scope",
        "loan": case.loan.external_id,
        "amount": "10.00",
        "paid_at": timezone.now().isoformat(),
    }
    answer = feed_only.post("/api/v1/payments/", body)
    assert answer.status_code == 201 and answer.json()["case"] is None
    assert api("payments:write", "cases:read", name="feed-reader").post("/api/v1/payments/", body).json()["case"] == {
        "id": case.pk,
        "state": case.state,
    }


def test_a_reversal_reopens_the_case(bank):
    case = overdue_case(days_overdue=10)
    bank.post(
        "/api/v1/payments/",
        {
            "external_id": "BANK-6",
            "loan": case.loan.external_id,
            "amount": "1000.00",
            "paid_at": timezone.now().isoformat(),
        },
    )
    assert fresh(case).state == "resolved"

    response = bank.post("/api/v1/payments/BANK-6/reversal/", {"reason": "transfer bounced"})

    assert response.status_code == 200
    body = response.json()
    payment = Payment.objects.get(external_id="BANK-6")
    assert body["reversed_at"] == timezone.localtime(payment.reversed_at).isoformat()
    assert body["case"] == {"id": case.pk, "state": "call"}
    assert fresh(case).state == "call" and fresh(case).amount_overdue == D("1000.00")
    assert Instalment.objects.filter(loan=case.loan, amount_paid__gt=0).count() == 0
    assert CaseEvent.objects.get(case=case, kind="payment_reversed").actor == "client:bank-feed"
    again = bank.post("/api/v1/payments/BANK-6/reversal/", {"reason": "transfer bounced"})
    assert again.status_code == 200 and again.json() == body


def test_reversal_of_an_unknown_payment_is_404_and_needs_a_reason(bank):
    response = bank.post("/api/v1/payments/NOPE/reversal/", {"reason": "bounced"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert bank.post("/api/v1/payments/NOPE/reversal/", {}).json()["fields"].keys() == {"reason"}


def test_the_schema_documents_the_action_endpoints(client):
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {
        "/api/v1/cases/{case_id}/contacts/",
        "/api/v1/cases/{case_id}/contact-check/",
        "/api/v1/cases/{case_id}/promises/",
        "/api/v1/cases/{case_id}/messages/",
        "/api/v1/cases/{case_id}/visits/",
        "/api/v1/payments/",
        "/api/v1/payments/{external_id}/reversal/",
    } <= set(paths)
    assert set(paths["/api/v1/payments/"]["post"]["responses"]) >= {"200", "201", "400", "409"}


def test_odd_ids_in_the_path_are_404_not_500(dialler, bank):
    huge = "9" * 30
    assert dialler.get(f"/api/v1/cases/{huge}/contact-check/", data={"channel": "call"}).status_code == 404
    assert dialler.post(f"/api/v1/cases/{huge}/contacts/", {"channel": "call", "outcome": "busy"}).status_code == 404
    assert bank.post("/api/v1/payments/%00/reversal/", {"reason": "bounced"}).status_code == 404
    assert bank.post(f"/api/v1/payments/{'P' * 65}/reversal/", {"reason": "bounced"}).status_code == 404
