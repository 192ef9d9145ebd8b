"""The API when things go wrong (issue 9, points 7-11): Redis gone, errors in one JSON shape, input
beyond what a parser may take, an answer that fails to be stored, reads beside a long transaction."""

import json
import logging

import pytest
from django.test import override_settings
from django.utils import timezone

from collections_app import shared_cache
from collections_app.models import ContactAttempt, Payment

from .factories import loan_with_schedule, overdue_case

pytestmark = pytest.mark.django_db(transaction=True)

# A Redis nobody listens on: every cache call fails to connect at once.
REDIS_DOWN = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets, the default strategy and templates survive earlier flushes (tests/conftest.py)."""


@pytest.fixture
def redis_down():
    shared_cache.forget_outage()
    with override_settings(CACHES=REDIS_DOWN):
        yield
    shared_cache.forget_outage()


# --- 7. Redis down ------------------------------------------------------------------------------


def test_the_api_answers_with_redis_down(api, redis_down, caplog):
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write", "cases:manage", "payments:write", name="everything")
    with caplog.at_level(logging.WARNING, logger="collections_app.shared_cache"):
        assert caller.get(f"/api/v1/cases/{case.pk}/").status_code == 200
        contact = caller.post(f"/api/v1/cases/{case.pk}/contacts/", {"channel": "call", "outcome": "no_answer"})
        assert contact.status_code == 201, contact.content
        payment = caller.post(
            "/api/v1/payments/",
            {
                "external_id": "P-DOWN",
                "loan": case.loan.external_id,
                "amount": "100.00",
                "paid_at": timezone.now().isoformat(),
            },
        )
        assert payment.status_code == 201, payment.content
        moved = caller.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "de_escalate", "reason": "talked"})
        assert moved.status_code == 200, moved.content
        assert moved.json()["state"] == "reminder"
    assert ContactAttempt.objects.filter(case=case).count() == 1
    assert Payment.objects.filter(external_id="P-DOWN").count() == 1
    warnings = [r for r in caplog.records if r.name == "collections_app.shared_cache"]
    assert len(warnings) == 1  # one per outage, not one per request
    assert "unavailable" in warnings[0].getMessage()


def test_a_revoked_token_stops_at_once_with_redis_down(client, redis_down):
    from collections_app.services.api_clients import api_client_create, api_client_revoke

    api_client, token = api_client_create(name="old", scopes=["cases:read"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert client.get("/api/v1/cases/", **auth).status_code == 200
    api_client_revoke(client_id=api_client.pk)  # the generation cannot be bumped: Redis is gone
    assert client.get("/api/v1/cases/", **auth).status_code == 401


def test_the_dashboard_answers_with_redis_down(client, supervisor, redis_down, settings):
    settings.COLLECTIONS_DASHBOARD_CACHE_SECONDS = 600
    overdue_case(days_overdue=10)
    client.force_login(supervisor)
    response = client.get("/dashboard/")
    assert response.status_code == 200


def test_shared_cache_falls_back_and_comes_back(redis_down, caplog):
    with caplog.at_level(logging.INFO, logger="collections_app.shared_cache"):
        assert shared_cache.get("k", "miss") == "miss"
        shared_cache.set("k", 1, 10)
        shared_cache.delete("k")
        assert shared_cache.incr("k") is None
    assert not shared_cache.available()
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        shared_cache.forget_outage(retry_now=True)
        shared_cache.set("k", 1, 10)
        assert shared_cache.get("k") == 1
        assert shared_cache.available()


# --- 8. Every error in the contract's shape -------------------------------------------------------


def _error_shape(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["fields"], dict)
    return body


@pytest.mark.parametrize(
    "path", ["/api/v1/cases/abc/", "/api/v1/cases/abc/events/", "/api/v1/nothing-here/", "/api/v2/cases/", "/api/"]
)
def test_an_unknown_api_address_is_a_json_404(api, path):
    _error_shape(api("cases:read").get(path), 404, "not_found")


def test_a_missing_slash_is_named_in_the_404(api):
    body = _error_shape(api("cases:read").get("/api/v1/cases"), 404, "not_found")
    assert "/api/v1/cases/" in body["detail"]


def test_a_wrong_method_is_a_json_405(api):
    body = _error_shape(api("cases:read").patch("/api/v1/cases/", {}), 405, "method_not_allowed")
    assert "PATCH" in body["detail"]


def test_a_crash_is_a_json_500_with_a_request_id_and_no_trace(api, monkeypatch):
    from collections_app.selectors import cases as case_reads

    case = overdue_case(days_overdue=10)

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(case_reads, "case_api_detail", boom)
    caller = api("cases:read")
    response = caller.get(f"/api/v1/cases/{case.pk}/")
    body = _error_shape(response, 500, "server_error")
    assert body["request_id"] and response["X-Request-ID"] == body["request_id"]
    assert "secret internals" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_a_crash_outside_rest_framework_on_an_api_path_is_json_too(rf):
    from django.utils.module_loading import import_string

    from config.urls import handler500

    view = import_string(handler500)
    request = rf.get("/api/v1/cases/")
    request.request_id = "abc123"
    response = view(request)
    assert response.status_code == 500
    body = json.loads(response.content)
    assert body["code"] == "server_error" and body["request_id"] == "abc123"
    assert response["X-Request-ID"] == "abc123"
    page = view(rf.get("/cases/1/"))
    assert page.status_code == 500 and not page["Content-Type"].startswith("application/json")


def test_every_answer_carries_a_request_id(api):
    response = api("cases:read").get("/api/v1/cases/", HTTP_X_REQUEST_ID="from-the-proxy-42")
    assert response["X-Request-ID"] == "from-the-proxy-42"
    other = api("cases:read", name="b").get("/api/v1/cases/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert other["X-Request-ID"] and other["X-Request-ID"] != "bad id\nwith newline"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_json_nested_too_deep_is_400(api, depth):
    case = overdue_case(days_overdue=10)
    body = '{"channel": "call", "outcome": "no_answer", "notes": ' + "[" * depth + "]" * depth + "}"
    response = api("cases:read", "cases:write").post(f"/api/v1/cases/{case.pk}/contacts/", body)
    _error_shape(response, 400, "validation_error")
    assert ContactAttempt.objects.count() == 0


def test_json_nested_32_levels_is_parsed(api):
    case = overdue_case(days_overdue=10)
    nested = "[" * 30 + "]" * 30  # the object itself is level 1, `notes` 2 ... 31
    body = '{"channel": "call", "outcome": "no_answer", "notes": {"a": ' + nested + "}}"
    response = api("cases:read", "cases:write").post(f"/api/v1/cases/{case.pk}/contacts/", body)
    assert response.status_code == 400  # notes must be text: a field error, not a nesting refusal
    assert "notes" in response.json().get("fields", {})


# --- 9. Parse bounds ------------------------------------------------------------------------------


def _refused(response, field):
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["fields"], response.json()


@pytest.mark.parametrize("offset", ["-20:00", "+16:00", "-16:00"])
def test_a_payment_with_an_offset_beyond_1559_is_400_naming_paid_at(api, offset):
    loan = loan_with_schedule(days_overdue=10)
    response = api("payments:write").post(
        "/api/v1/payments/",
        {
            "external_id": "P-OFF",
            "loan": loan.external_id,
            "amount": "10.00",
            "paid_at": f"2026-01-05T10:00:00{offset}",
        },
    )
    _refused(response, "paid_at")
    assert not Payment.objects.exists()


def test_offsets_up_to_1559_are_taken(api):
    loan = loan_with_schedule(days_overdue=10)
    response = api("payments:write").post(
        "/api/v1/payments/",
        {"external_id": "P-OK", "loan": loan.external_id, "amount": "10.00", "paid_at": "2026-01-05T10:00:00-15:59"},
    )
    assert response.status_code == 201, response.content


def test_a_contact_at_plus_16_is_400_naming_occurred_at(api):
    case = overdue_case(days_overdue=10)
    response = api("cases:read", "cases:write").post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {"channel": "call", "outcome": "no_answer", "occurred_at": "2026-01-05T10:00:00+16:00"},
    )
    _refused(response, "occurred_at")
    assert not ContactAttempt.objects.exists()


def test_a_visit_at_plus_18_is_400_naming_scheduled_for(api, field_agent, field_agent2):
    case = overdue_case(days_overdue=40)
    assert case.state == "visit"
    response = api("cases:read", "cases:manage").post(
        f"/api/v1/cases/{case.pk}/visits/",
        {"scheduled_for": "2030-01-05T10:00:00+18:00", "agents": ["field_agent", "field_agent2"]},
    )
    _refused(response, "scheduled_for")


@pytest.mark.parametrize(
    "paid_at", ["0001-01-01T00:00:00+08:00", "1899-12-31T10:00:00+08:00", "٢٠٢٦-01-05T10:00:00+08:00"]
)
def test_a_payment_dated_outside_1900_to_2199_or_in_other_digits_is_400(api, paid_at):
    loan = loan_with_schedule(days_overdue=10)
    response = api("payments:write").post(
        "/api/v1/payments/", {"external_id": "P-OLD", "loan": loan.external_id, "amount": "10.00", "paid_at": paid_at}
    )
    _refused(response, "paid_at")


@pytest.mark.parametrize("due", ["0001-01-01", "2200-01-01", "２０３０-01-01"])
def test_a_promise_dated_outside_1900_to_2199_is_400(api, due):
    case = overdue_case(days_overdue=10)
    response = api("cases:read", "cases:write").post(
        f"/api/v1/cases/{case.pk}/promises/", {"amount": "10.00", "due_date": due}
    )
    _refused(response, "due_date")


@pytest.mark.parametrize("amount", ["١٢٣", "１２３", "12٣.00"])
def test_amounts_in_other_digits_than_ascii_are_400(api, amount):
    loan = loan_with_schedule(days_overdue=10)
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write", "payments:write")
    _refused(
        caller.post(
            "/api/v1/payments/",
            {"external_id": "P-AR", "loan": loan.external_id, "amount": amount, "paid_at": timezone.now().isoformat()},
        ),
        "amount",
    )
    due = (timezone.localdate() + timezone.timedelta(days=3)).isoformat()
    _refused(caller.post(f"/api/v1/cases/{case.pk}/promises/", {"amount": amount, "due_date": due}), "amount")
    assert not Payment.objects.exists()


def test_a_loan_with_an_amount_in_other_digits_is_refused(api):
    from .factories import BorrowerFactory, book_loan_data

    borrower = BorrowerFactory()
    response = api("loans:write").put(
        "/api/v1/loans/L-AR/", book_loan_data(borrower=borrower.external_id, principal="１０００")
    )
    assert response.status_code == 400, response.content
    assert "principal" in response.json()["fields"], response.json()


@pytest.mark.parametrize(
    "field,value", [("occurred_at", "2026-01-05T10:00+16:00"), ("occurred_at", "0001-01-01T10:00")]
)
def test_the_web_contact_form_refuses_offsets_and_years_out_of_bounds(client, supervisor, field, value):
    case = overdue_case(days_overdue=10)
    client.force_login(supervisor)
    response = client.post(
        f"/cases/{case.pk}/contacts/",
        {"channel": "call", "direction": "outbound", "outcome": "no_answer", field: value},
    )
    assert response.status_code in (200, 302, 400), response.status_code
    assert not ContactAttempt.objects.exists()


def test_the_web_promise_form_refuses_other_digits(client, supervisor):
    case = overdue_case(days_overdue=10)
    client.force_login(supervisor)
    due = (timezone.localdate() + timezone.timedelta(days=3)).isoformat()
    client.post(f"/cases/{case.pk}/promises/", {"amount": "١٢٣", "due_date": due})
    from collections_app.models import PromiseToPay

    assert not PromiseToPay.objects.exists()


# --- 10. The idempotent answer is stored with the action --------------------------------------------


@pytest.fixture
def store_fails_once(monkeypatch):
    """Storing an answer (the update of the key's placeholder with its status) fails once."""
    from django.db.models.query import QuerySet

    from collections_app.models import IdempotencyRecord

    real_update = QuerySet.update
    state = {"failed": 0}

    def update(self, **kwargs):
        if self.model is IdempotencyRecord and kwargs.get("status_code") and not state["failed"]:
            state["failed"] += 1
            raise RuntimeError("the answer could not be stored")
        return real_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", update)
    return state


def test_a_contact_whose_answer_failed_to_be_stored_is_not_recorded_twice(api, store_fails_once):
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write")
    url = f"/api/v1/cases/{case.pk}/contacts/"
    body = {"channel": "call", "outcome": "no_answer", "notes": "first try"}
    first = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 500 and store_fails_once["failed"] == 1
    retry = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert retry.status_code == 201, retry.content  # its real result, not "used with a different request"
    assert ContactAttempt.objects.filter(case=case).count() == 1
    replay = caller.post(url, body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == retry.json()
    assert ContactAttempt.objects.filter(case=case).count() == 1


def test_a_payment_that_answered_500_after_the_service_answers_its_real_result_on_retry(api, monkeypatch):
    from collections_app.api.actions import views as views_actions
    from collections_app.models import CaseEvent, PaymentAllocation

    case = overdue_case(days_overdue=10)
    real = views_actions.payment_dict
    calls = {"n": 0}

    def payment_dict(payment, actor):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the answer could not be built")
        return real(payment, actor)

    monkeypatch.setattr(views_actions, "payment_dict", payment_dict)
    bank = api("payments:write", "cases:read")
    body = {
        "external_id": "P-500",
        "loan": case.loan.external_id,
        "amount": "100.00",
        "paid_at": timezone.now().isoformat(),
    }
    first = bank.post("/api/v1/payments/", body, HTTP_IDEMPOTENCY_KEY="pay-1")
    assert first.status_code == 500
    events = CaseEvent.objects.filter(case=case).count()
    retry = bank.post("/api/v1/payments/", body, HTTP_IDEMPOTENCY_KEY="pay-1")
    assert retry.status_code == 201, retry.content  # created now: the first attempt left nothing behind
    assert Payment.objects.filter(external_id="P-500").count() == 1
    assert PaymentAllocation.objects.filter(payment__external_id="P-500").count() >= 1
    assert CaseEvent.objects.filter(case=case).count() >= events
    assert retry.json()["amount"] == "100.00"


def test_a_refusal_is_stored_after_the_rollback_and_replayed(api):
    case = overdue_case(days_overdue=10)
    writer = api("cases:read", "cases:write")
    url = f"/api/v1/cases/{case.pk}/transitions/"
    first = writer.post(url, {"transition": "refer_to_legal"}, HTTP_IDEMPOTENCY_KEY="t-1")
    assert first.status_code in (403, 409)
    replay = writer.post(url, {"transition": "refer_to_legal"}, HTTP_IDEMPOTENCY_KEY="t-1")
    assert replay.status_code == first.status_code and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"


# --- 11. Plain reads are not held back by the change feed's horizon ----------------------------------


def test_feed_pages_say_whether_they_are_held_back(api):
    overdue_case(days_overdue=10)
    caller = api("cases:read")
    since = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    assert caller.get("/api/v1/cases/", data={"updated_after": since}).json()["held_back"] is False
    assert caller.get("/api/v1/events/").json()["held_back"] is False


@pytest.fixture
def open_transaction_elsewhere():
    """A transaction held open on another connection (a backup, a report, a sweep chunk): it has
    taken a transaction id, so the snapshot xmin stays at or below it until it ends."""
    import psycopg2
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL snapshots")
    params = connection.get_connection_params()
    other = psycopg2.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "database", "user", "password", "host", "port")}
    )
    cursor = other.cursor()  # psycopg2 opens a transaction (BEGIN) at the first statement
    cursor.execute("SELECT txid_current()")
    cursor.fetchone()
    holder = {"connection": other}
    yield holder
    if not other.closed:
        other.rollback()
        other.close()


def _until(predicate, seconds=15):
    """Other test runs on this server may hold the horizon back for a moment too."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


@pytest.mark.postgres
def test_plain_reads_serve_what_is_committed_now_while_the_feed_waits(api, open_transaction_elsewhere):
    caller = api("cases:read", name="bi")
    since = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    case = overdue_case(days_overdue=10)  # committed after the other transaction began
    loan = case.loan.external_id

    by_loan = caller.get("/api/v1/cases/", data={"loan": loan}).json()
    assert [r["id"] for r in by_loan["results"]] == [case.pk]
    assert by_loan["held_back"] is False
    assert [r["id"] for r in caller.get("/api/v1/cases/", data={"state": "call"}).json()["results"]] == [case.pk]
    assert caller.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    looked_up = caller.post("/api/v1/cases/lookup/", {"loans": [loan]}).json()["results"]
    assert looked_up[0]["case"]["id"] == case.pk
    assert caller.get(f"/api/v1/cases/{case.pk}/events/").json()["results"]
    plain_next = caller.get("/api/v1/cases/").json()["next"]

    feed = caller.get("/api/v1/cases/", data={"updated_after": since}).json()
    assert feed["results"] == [] and feed["held_back"] is True
    events = caller.get("/api/v1/events/").json()
    assert events["results"] == [] and events["held_back"] is True

    open_transaction_elsewhere["connection"].rollback()
    open_transaction_elsewhere["connection"].close()

    settled = _until(lambda: caller.get("/api/v1/cases/", data={"updated_after": since}).json()["results"])
    assert [r["id"] for r in settled] == [case.pk]
    assert _until(lambda: caller.get("/api/v1/events/").json()["held_back"] is False)
    # The plain page's `next` never skips what was above the horizon when it was served.
    assert case.pk in [r["id"] for r in caller.get(plain_next).json()["results"]]


# --- 18 (API part). The schema: the token scheme, unique operation ids and enum names ------------------


@pytest.mark.django_db
def test_the_schema_generates_without_a_warning_and_documents_the_token_scheme(client):
    from drf_spectacular.checks import schema_check
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    assert [str(w.msg) for w in schema_check(None)] == []  # what `manage.py check --deploy` reports
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schema["components"]["securitySchemes"]["tokenAuth"]["description"],
    }
    assert {"tokenAuth": []} in schema["paths"]["/api/v1/cases/"]["get"]["security"]
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op]
    assert len(ids) == len(set(ids)) and "cases_list" in ids
    enums = schema["components"]["schemas"]
    assert {"CaseStateEnum", "ContactChannelEnum", "MessageChannelEnum"} <= set(enums)
    assert not [name for name in enums if name.startswith("Channel") and name.endswith("Enum")]  # Channel3beEnum
