"""The case endpoints as an integrating engineer uses them: tokens, scopes, shapes, sync."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from collections_app import services
from collections_app.models import AuditLog, Case
from collections_app.services.api_clients import api_client_create, api_client_revoke, api_client_rotate

from .factories import assigned_case, loan_with_schedule, overdue_case

# Transactional: on PostgreSQL the sync serves only changes of finished transactions, so each
# service call in these tests must commit, as it does in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets and the default strategy survive earlier flushes (tests/conftest.py)."""


def test_api_client_create_prints_the_token_alone_on_its_last_line(capsys):
    call_command("api_client_create", "bi", "--scopes", "cases:read,pii:read")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert "." in token and " " not in token


def test_no_token_is_401_with_the_error_shape(client):
    response = client.get("/api/v1/cases/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_revoked_token_stops_working(client):
    api_client, token = api_client_create(name="old", scopes=["cases:read"])
    api_client_revoke(client_id=api_client.pk)
    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 401


def test_a_rotated_token_and_changed_scopes_take_effect_at_once(client):
    api_client, token = api_client_create(name="dialler", scopes=["cases:read"])
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    assert client.get("/api/v1/cases/", **auth).status_code == 200  # now kept by the process

    api_client.scopes = ["payments:write"]
    api_client.save()  # as the admin does
    assert client.get("/api/v1/cases/", **auth).status_code == 403

    _same, new_token = api_client_rotate(client_id=api_client.pk)
    assert client.get("/api/v1/cases/", **auth).status_code == 401
    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {new_token}").status_code == 403


def test_a_client_without_the_scope_gets_403(api):
    overdue_case(days_overdue=10)
    response = api("payments:write").get("/api/v1/cases/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_case_list_shape_with_masked_name(api):
    case = overdue_case(days_overdue=10)
    body = api("cases:read").get("/api/v1/cases/").json()
    [row] = body["results"]
    assert row["id"] == case.pk and row["state"] == "call" and row["dpd"] == 10 and row["bucket"] == "8-30"
    assert row["amount_overdue"] == "1000.00" and row["currency"] == "CNY"
    assert row["borrower"]["name"] != case.borrower.name and row["borrower"]["name"].endswith("*")
    assert row["updated_at"].endswith("+08:00")
    assert set(row) >= {
        "loan",
        "assigned_to",
        "queue",
        "priority",
        "next_action_at",
        "hold",
        "opened_at",
        "closed_at",
        "allowed_transitions",
    }
    assert row["allowed_transitions"] == []  # cases:read alone may run nothing


def test_pii_read_unmasks_and_is_audited(api):
    case = overdue_case(days_overdue=10)
    row = api("cases:read", "pii:read").get("/api/v1/cases/").json()["results"][0]
    assert row["borrower"]["name"] == case.borrower.name
    assert AuditLog.objects.filter(actor="client:loan-system", borrower=case.borrower).count() == 1


def test_unknown_filter_and_bad_cursor_are_400_naming_the_field(api):
    caller = api("cases:read")
    response = caller.get("/api/v1/cases/", data={"colour": "red"})
    assert response.status_code == 400 and "colour" in response.json()["fields"]
    response = caller.get("/api/v1/cases/", data={"after": "not-a-cursor"})
    assert response.status_code == 400 and "after" in response.json()["fields"]


def test_sync_pages_every_change_once_and_a_changed_case_reappears(api, supervisor, django_assert_max_num_queries):
    cases = [overdue_case(days_overdue=10) for _ in range(5)]
    caller = api("cases:read")
    first = caller.get("/api/v1/cases/", data={"limit": 3}).json()
    assert [r["id"] for r in first["results"]] == [c.pk for c in cases[:3]] and first["has_more"]
    second = caller.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [c.pk for c in cases[3:]] and not second["has_more"]

    services.case_transition(case_id=cases[0].pk, transition="close", reason="settled", actor=supervisor)
    with django_assert_max_num_queries(8):
        later = caller.get(second["next"]).json()
    assert [r["id"] for r in later["results"]] == [cases[0].pk]
    assert later["results"][0]["state"] == "closed"
    assert caller.get(later["next"]).json()["results"] == []


def test_ageing_alone_does_not_move_a_case_in_the_sync(api):
    overdue_case(days_overdue=10)
    caller = api("cases:read")
    first = caller.get("/api/v1/cases/").json()
    Case.objects.update(oldest_unpaid_due_date=timezone.localdate() - timezone.timedelta(days=11))  # no updated_at
    assert caller.get(first["next"]).json()["results"] == []


def test_detail_has_etag_and_if_none_match_answers_304(api):
    case = overdue_case(days_overdue=10)
    caller = api("cases:read")
    response = caller.get(f"/api/v1/cases/{case.pk}/")
    assert response.status_code == 200 and response.json()["open_promise"] is None
    tag = response["ETag"]
    assert caller.get(f"/api/v1/cases/{case.pk}/", HTTP_IF_NONE_MATCH=tag).status_code == 304


def test_the_etag_differs_between_masked_and_unmasked_callers(api):
    case = overdue_case(days_overdue=10)
    masked = api("cases:read", name="bi").get(f"/api/v1/cases/{case.pk}/")["ETag"]
    unmasked = api("cases:read", "pii:read", name="ops").get(f"/api/v1/cases/{case.pk}/")["ETag"]
    assert masked != unmasked


def test_lookup_answers_in_the_order_asked(api):
    case = overdue_case(days_overdue=10)
    loan = loan_with_schedule(days_overdue=-5)
    body = (
        api("cases:read")
        .post("/api/v1/cases/lookup/", {"loans": [loan.external_id, case.loan.external_id, "X"]})
        .json()
    )
    assert [(r["loan"], r["case"] and r["case"]["id"]) for r in body["results"]] == [
        (loan.external_id, None),
        (case.loan.external_id, case.pk),
        ("X", None),
    ]


def test_transition_by_scope_and_refusals(api):
    case = overdue_case(days_overdue=3)
    writer = api("cases:read", "cases:write", name="dialler")
    response = writer.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "start_calls", "reason": "dialler"})
    assert response.status_code == 200 and response.json()["state"] == "call"
    again = writer.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "start_calls"})
    assert again.status_code == 409 and again.json()["code"] == "transition_not_allowed"
    assert "schedule_visit" in again.json()["allowed_transitions"]
    stale = writer.post(
        f"/api/v1/cases/{case.pk}/transitions/", {"transition": "schedule_visit", "expected_state": "reminder"}
    )
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    closing = writer.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "close", "reason": "settled"})
    assert closing.status_code == 403
    assert case.events.filter(kind="transition", actor="client:dialler").count() == 1


def test_malformed_json_is_400_not_500(client):
    _c, token = api_client_create(name="x", scopes=["cases:read", "cases:write"])
    case = overdue_case(days_overdue=3)
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/",
        "{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_idempotency_key_replays_the_answer_and_refuses_another_body(api):
    case = overdue_case(days_overdue=3)
    writer = api("cases:read", "cases:write")
    url = f"/api/v1/cases/{case.pk}/transitions/"
    first = writer.post(url, {"transition": "start_calls"}, HTTP_IDEMPOTENCY_KEY="k1")
    replay = writer.post(url, {"transition": "start_calls"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, replay.status_code) == (200, 200) and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert case.events.filter(kind="transition").count() == 1
    other = writer.post(url, {"transition": "schedule_visit"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    elsewhere = overdue_case(days_overdue=3)  # the same key and body for another case is another request
    moved = writer.post(
        f"/api/v1/cases/{elsewhere.pk}/transitions/", {"transition": "start_calls"}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert moved.status_code == 409 and elsewhere.events.filter(kind="transition").count() == 0


def test_staff_session_uses_role_and_row_scope(client, collector, other_collector, supervisor):
    mine = assigned_case(to=collector, by=supervisor, days_overdue=10)
    theirs = assigned_case(to=other_collector, by=supervisor, days_overdue=10)
    client.force_login(collector)
    ids = [r["id"] for r in client.get("/api/v1/cases/").json()["results"]]
    assert mine.pk in ids and theirs.pk not in ids
    assert client.get(f"/api/v1/cases/{theirs.pk}/").status_code == 404


def test_events_feed_and_case_timeline(api, supervisor):
    case = overdue_case(days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=supervisor)
    caller = api("cases:read")
    feed = caller.get("/api/v1/events/").json()
    assert [e["kind"] for e in feed["results"]] == ["opened", "transition"]
    assert caller.get(feed["next"]).json()["results"] == []
    timeline = caller.get(f"/api/v1/cases/{case.pk}/events/").json()
    assert [e["kind"] for e in timeline["results"]] == ["transition", "opened"]


def test_the_schema_and_docs_are_served(client):
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_each_client_has_its_own_rate_limit(client):
    from django.core.cache import cache

    cache.clear()
    _slow, slow_token = api_client_create(name="slow", scopes=["cases:read"], rate_per_minute=2)
    _fast, fast_token = api_client_create(name="fast", scopes=["cases:read"], rate_per_minute=100)
    answers = [client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {slow_token}").status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    limited = client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {slow_token}")
    assert limited.json()["code"] == "throttled" and int(limited["Retry-After"]) > 0
    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {fast_token}").status_code == 200


def test_admin_creates_a_client_through_the_service_and_shows_the_token_once(client):
    from django.contrib.auth import get_user_model

    from collections_app.models import ApiClient

    admin_user = get_user_model().objects.create_superuser("root", password="pw-12345")
    client.force_login(admin_user)
    response = client.post(
        "/admin/collections_app/apiclient/add/",
        {
            "name": "dialler",
            "scopes": '["cases:read", "cases:write"]',
            "is_active": "on",
            "rate_per_minute": "600",
        },
        follow=True,
    )
    created = ApiClient.objects.get(name="dialler")
    assert created.key_hash and created.scopes == ["cases:read", "cases:write"]
    shown = [str(m) for m in response.context["messages"]]
    token = shown[0].rsplit(" ", 1)[-1]
    assert created.key_matches(token)


def test_a_portfolio_changed_while_paging_misses_nothing_and_repeats_nothing(api, supervisor):
    cases = [overdue_case(days_overdue=10) for _ in range(6)]
    caller = api("cases:read")
    first = caller.get("/api/v1/cases/", data={"limit": 3}).json()
    served = [r["id"] for r in first["results"]]
    # While the client pages: one case it already has changes, one it has not reached yet changes too.
    services.case_transition(case_id=cases[0].pk, transition="close", reason="settled", actor=supervisor)
    services.case_transition(case_id=cases[4].pk, transition="close", reason="settled", actor=supervisor)
    rest, url = [], first["next"]
    while True:
        page = caller.get(url).json()
        rest += [r["id"] for r in page["results"]]
        url = page["next"]
        if not page["has_more"]:
            break
    assert sorted(set(served + rest)) == sorted(c.pk for c in cases)  # nothing missed
    assert rest.count(cases[4].pk) == 1  # nothing repeated within the pass
    assert rest.count(cases[0].pk) == 1  # a case changed after it was served comes back once, changed


def test_detail_runs_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    case = overdue_case(days_overdue=10)
    caller = api("cases:read")
    # The token lookup and its last-used stamp, then the case with its promise and last contact.
    with django_assert_max_num_queries(4):
        assert caller.get(f"/api/v1/cases/{case.pk}/").status_code == 200


def test_detail_shows_the_open_promise_the_last_contact_and_the_holds(api, supervisor):
    case = overdue_case(days_overdue=10)
    due = timezone.localdate() + timezone.timedelta(days=3)
    services.promise_record(case_id=case.pk, actor=supervisor, amount="120.5", due_date=due.isoformat())
    earlier = timezone.now() - timezone.timedelta(hours=3)
    services.contact_log(case_id=case.pk, actor=supervisor, channel="call", outcome="no_answer", occurred_at=earlier)
    services.contact_log(
        case_id=case.pk,
        actor=supervisor,
        channel="call",
        outcome="promise_made",
        occurred_at=earlier + timezone.timedelta(hours=1),
    )
    services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complaint filed")

    body = api("cases:read").get(f"/api/v1/cases/{case.pk}/").json()

    assert body["open_promise"] == {"amount": "120.50", "due_date": due.isoformat()}
    assert body["last_contact"]["outcome"] == "promise_made"
    shown = timezone.datetime.fromisoformat(body["last_contact"]["occurred_at"])
    assert shown.utcoffset() is not None
    assert abs(shown - (earlier + timezone.timedelta(hours=1))) < timezone.timedelta(seconds=1)
    assert body["hold"] == ["complaint"]


@pytest.mark.postgres
def test_a_change_committed_behind_a_running_transaction_waits_until_it_settles(api, supervisor):
    """On PostgreSQL positions are transaction ids: a write that commits after a later transaction
    must not land behind a cursor already given out, so nothing at or above the oldest running
    transaction is served."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL change positions")
    slow, fast = overdue_case(days_overdue=10), overdue_case(days_overdue=10)
    caller = api("cases:read")
    start = caller.get("/api/v1/cases/").json()["next"]
    holding, release = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                Case.objects.filter(pk=slow.pk).update(updated_at=timezone.now(), priority=50)  # takes its xid now
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    holding.wait(10)
    Case.objects.filter(pk=fast.pk).update(updated_at=timezone.now(), priority=60)  # commits first, later xid
    while_running = caller.get(start).json()
    release.set()
    thread.join()
    after = caller.get(start).json()

    assert while_running["results"] == []  # the fast change waits behind the running transaction
    assert [r["id"] for r in after["results"]] == [slow.pk, fast.pk]  # then both, in change order


@pytest.mark.parametrize("scopes", [("cases:read",), ("cases:read", "cases:write", "cases:manage", "pii:read")])
def test_a_list_row_reads_exactly_as_the_case_detail(api, supervisor, collector, scopes):
    """The list builds its rows from plain values (no model per row) and shares allowed transitions
    between rows alike; every row must still equal the detail of its case."""
    from .factories import case_in_state

    cases = [
        case_in_state(state, supervisor=supervisor, to=collector if i % 2 else None)
        for i, state in enumerate(["reminder", "call", "visit", "legal", "call", "resolved", "closed", "call"])
    ]
    services.hold_place(borrower_id=cases[4].borrower_id, code="complaint", actor=supervisor, reason="complaint")
    services.hold_place(borrower_id=cases[1].borrower_id, code="deceased", actor=supervisor, reason="estate")
    caller = api(*scopes)

    listed = {row["id"]: row for row in caller.get("/api/v1/cases/?limit=50").json()["results"]}

    assert set(listed) == {c.pk for c in cases}
    for case in cases:
        detail = caller.get(f"/api/v1/cases/{case.pk}/").json()
        detail.pop("open_promise"), detail.pop("last_contact"), detail.pop("vulnerability")  # detail only
        assert listed[case.pk] == detail
    assert listed[cases[4].pk]["hold"] == ["complaint"]
    if "cases:write" in scopes:  # a call case moves on to visits, unless its borrower is on hold
        assert "schedule_visit" in listed[cases[7].pk]["allowed_transitions"]
        assert "schedule_visit" not in listed[cases[1].pk]["allowed_transitions"]
