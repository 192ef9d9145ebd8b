"""Repayment plans through the API, as a loan system, a risk desk and a bank feed use them: propose,
decide, cancel, replay, refusals, the case's `plan`, a settlement paid in full, the plan webhooks
received with their signatures checked, and the case detail's `vulnerability` (pii:read only)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import AuditLog, RepaymentPlan, VulnerabilityMarker
from collections_app.models.webhooks import PLAN_EVENT_TYPES
from collections_app.services import webhooks

from .factories import overdue_case
from .test_webhooks import Receiver, verify_webhook

# Transactional like the other API tests: every service call commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

# Queries of the case's plans list, pinned: the token and its last-used stamp, the case through the
# row scope, the plans, their instalments, and (pii:read) the audit row.
PLAN_LIST_MAX_QUERIES = 6


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets, the default strategy and plan policies survive earlier flushes."""


@pytest.fixture
def receiver(settings):
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True
    settings.COLLECTIONS_WEBHOOK_NUDGE = False  # deliveries wait for the dispatch the test runs
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def crm(api):
    """The loan system's CRM: proposes and cancels (a collector's authority)."""
    return api("cases:read", "cases:write", name="crm")


@pytest.fixture
def risk_desk(api):
    """Decides waiting plans within a supervisor's authority."""
    return api("cases:read", "plans:decide", name="risk-desk")


@pytest.fixture
def bank(api):
    return api("payments:write", "cases:read", name="bank-feed")


def by_months(kind, months, **extra):
    return {
        "kind": kind,
        "reason": "income_loss",
        "notes": "lost a second job in March",
        "months": months,
        "first_due_date": (lender_today() + timedelta(days=7)).isoformat(),
        **extra,
    }


def test_the_plan_story_through_the_api_with_webhooks_received(api, crm, risk_desk, bank, receiver):
    subscriber = api("webhooks:manage", "cases:read", name="hooks")
    made = subscriber.post("/api/v1/webhooks/", {"url": receiver.url, "event_types": list(PLAN_EVENT_TYPES)})
    assert made.status_code == 201, made.json()  # a client with cases:read may subscribe to every plan type
    secret = made.json()["secret"]

    # A 6-month plan is within a collector's authority: active at once, decided by the proposer.
    six = overdue_case(days_overdue=10, instalments=6)
    first = crm.post(f"/api/v1/cases/{six.pk}/plans/", by_months("plan", 6), HTTP_IDEMPOTENCY_KEY="six-1")
    assert first.status_code == 201, first.json()
    plan = first.json()
    assert (plan["kind"], plan["status"], plan["decided_by"]) == ("plan", "active", "client:crm")
    assert set(plan) == {
        "id", "case", "kind", "status", "reason", "notes", "total", "discount", "instalments",
        "proposed_by", "decided_by", "created_at", "decided_at", "ended_at",
    }  # fmt: skip
    assert plan["case"] == six.pk and plan["total"] == "6000.00" and plan["discount"] == "0.00"
    assert (plan["reason"], plan["notes"]) == (None, None)  # personal data: no pii:read
    assert [i["number"] for i in plan["instalments"]] == [1, 2, 3, 4, 5, 6]
    assert sum(Decimal(i["amount"]) for i in plan["instalments"]) == Decimal(plan["total"])
    assert all(not i["met"] for i in plan["instalments"])
    assert plan["created_at"].endswith(("+08:00", "+00:00")) and plan["ended_at"] is None

    # The same key and body answer the same, without a second plan; the key with another body is a conflict.
    replay = crm.post(f"/api/v1/cases/{six.pk}/plans/", by_months("plan", 6), HTTP_IDEMPOTENCY_KEY="six-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true" and replay.json() == plan
    assert RepaymentPlan.objects.filter(case=six).count() == 1
    other = crm.post(f"/api/v1/cases/{six.pk}/plans/", by_months("plan", 5), HTTP_IDEMPOTENCY_KEY="six-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"

    # A second open plan on the case.
    again = crm.post(f"/api/v1/cases/{six.pk}/plans/", by_months("plan", 3))
    assert again.status_code == 409 and again.json()["code"] == "plan_exists"

    # The case shows its open plan: next = the first unmet instalment (detail and list alike).
    shown = crm.get(f"/api/v1/cases/{six.pk}/").json()["plan"]
    assert shown == {
        "id": plan["id"],
        "kind": "plan",
        "status": "active",
        "next_due_date": plan["instalments"][0]["due_date"],
        "next_amount": plan["instalments"][0]["amount"],
    }
    [listed] = crm.get("/api/v1/cases/", data={"loan": six.loan.external_id}).json()["results"]
    assert listed["plan"] == shown

    # 12 months is beyond a collector: it waits; plans:decide approves it.
    twelve = overdue_case(days_overdue=10, instalments=12)
    waiting = crm.post(f"/api/v1/cases/{twelve.pk}/plans/", by_months("plan", 12)).json()
    assert waiting["status"] == "proposed" and waiting["decided_by"] is None
    assert crm.get(f"/api/v1/cases/{twelve.pk}/").json()["plan"]["status"] == "proposed"
    no_scope = crm.post(f"/api/v1/plans/{waiting['id']}/decision/", {"decision": "approve"})
    assert no_scope.status_code == 403  # cases:write alone does not decide
    approved = risk_desk.post(
        f"/api/v1/plans/{waiting['id']}/decision/",
        {"decision": "approve", "reason": "fits"},
        HTTP_IDEMPOTENCY_KEY="d-1",
    )
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert approved.json()["decided_by"] == "client:risk-desk" and approved.json()["decided_at"]
    replayed = risk_desk.post(
        f"/api/v1/plans/{waiting['id']}/decision/",
        {"decision": "approve", "reason": "fits"},
        HTTP_IDEMPOTENCY_KEY="d-1",
    )
    assert replayed.status_code == 200 and replayed.json() == approved.json()
    twice = risk_desk.post(f"/api/v1/plans/{waiting['id']}/decision/", {"decision": "approve"})
    assert twice.status_code == 409 and twice.json()["code"] == "plan_not_pending"

    # A 25 % settlement needs a legal officer: beyond plans:decide, whichever the decision. Declining
    # needs a reason (checked first). The proposer withdraws it.
    big = overdue_case(days_overdue=10, instalments=2)
    quarter = crm.post(f"/api/v1/cases/{big.pk}/plans/", by_months("settlement", 2, discount="500.00")).json()
    assert quarter["status"] == "proposed" and quarter["discount"] == "500.00" and quarter["total"] == "1500.00"
    beyond = risk_desk.post(f"/api/v1/plans/{quarter['id']}/decision/", {"decision": "approve"})
    assert beyond.status_code == 403 and beyond.json()["code"] == "permission_denied"
    bare = risk_desk.post(f"/api/v1/plans/{quarter['id']}/decision/", {"decision": "decline"})
    assert bare.status_code == 400 and "reason" in bare.json()["fields"]
    withdrawn = crm.post(f"/api/v1/plans/{quarter['id']}/cancel/", {"reason": "borrower will pay in full"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"

    # A waiting plan declined, with a reason; a declined plan is not open.
    slow = overdue_case(days_overdue=10, instalments=12)
    long_plan = crm.post(f"/api/v1/cases/{slow.pk}/plans/", by_months("plan", 12)).json()
    declined = risk_desk.post(
        f"/api/v1/plans/{long_plan['id']}/decision/", {"decision": "decline", "reason": "ask for more first"}
    )
    assert declined.status_code == 200 and declined.json()["status"] == "declined" and declined.json()["ended_at"]
    assert crm.get(f"/api/v1/cases/{slow.pk}/").json()["plan"] is None

    # A 15 % settlement, approved, then paid in full through the payments endpoint: the case closes
    # as settled, its `plan` is null and its plans list shows the settlement kept.
    settle = overdue_case(days_overdue=10, instalments=2)
    offer = crm.post(f"/api/v1/cases/{settle.pk}/plans/", by_months("settlement", 2, discount="300.00")).json()
    assert offer["status"] == "proposed" and offer["total"] == "1700.00"
    assert risk_desk.post(f"/api/v1/plans/{offer['id']}/decision/", {"decision": "approve"}).status_code == 200
    paid = bank.post(
        "/api/v1/payments/",
        {
            "external_id": "SET-1",
            "loan": settle.loan.external_id,
            "amount": "1700.00",
            "paid_at": timezone.now().isoformat(),
        },
    )
    assert paid.status_code == 201, paid.json()
    case_now = crm.get(f"/api/v1/cases/{settle.pk}/").json()
    assert case_now["state"] == "closed" and case_now["plan"] is None
    [kept] = crm.get(f"/api/v1/cases/{settle.pk}/plans/").json()["results"]
    assert kept["id"] == offer["id"] and kept["status"] == "kept" and kept["ended_at"]
    assert all(i["met"] for i in kept["instalments"])

    # Cancelling the 6-month plan; then cancelling it again is refused.
    cancelled = crm.post(f"/api/v1/plans/{plan['id']}/cancel/", {"reason": "moved to another lender"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert crm.post(f"/api/v1/plans/{plan['id']}/cancel/", {"reason": "again"}).json()["code"] == "plan_not_pending"

    # Every plan event reached the subscriber, signed with its secret.
    webhooks.webhooks_dispatch()
    received = []
    for request in receiver.requests:
        body = verify_webhook(secret, request["headers"]["X-Collections-Signature"], request["raw"])
        assert request["headers"]["X-Collections-Event"] == body["type"]
        received.append((body["type"], body["data"]["plan"], body["data"]["status"]))
        assert set(body["data"]) == {
            "event", "case", "loan", "actor", "at", "plan", "kind", "status", "total", "discount",
            "instalments", "first_due_date", "last_due_date", "reason",
        }  # fmt: skip
    assert {
        ("plan.proposed", plan["id"], "proposed"),
        ("plan.activated", plan["id"], "active"),
        ("plan.proposed", waiting["id"], "proposed"),
        ("plan.activated", waiting["id"], "active"),
        ("plan.proposed", quarter["id"], "proposed"),
        ("plan.cancelled", quarter["id"], "cancelled"),
        ("plan.declined", long_plan["id"], "declined"),
        ("plan.activated", offer["id"], "active"),
        ("plan.kept", offer["id"], "kept"),
        ("plan.cancelled", plan["id"], "cancelled"),
    } <= set(received)


def test_refusals_name_the_field_and_the_policy(crm):
    case = overdue_case(days_overdue=10, instalments=3)
    url = f"/api/v1/cases/{case.pk}/plans/"
    today = lender_today()
    past = {"kind": "plan", "reason": "illness", "instalments": [{"due_date": (today - timedelta(days=1)).isoformat(), "amount": "3000.00"}]}  # fmt: skip
    cases = [
        (past, "instalments[0].due_date"),
        (
            {**past, "instalments": [{"due_date": (today + timedelta(days=3)).isoformat(), "amount": "1.005"}]},
            "instalments[0].amount",
        ),  # fmt: skip
        ({"kind": "plan", "reason": "bored", "months": 3, "first_due_date": today.isoformat()}, "reason"),
        ({"kind": "plan", "reason": "illness", "months": "three"}, "months"),
        ({"kind": "plan", "reason": "illness", "months": 3, "first_due_date": "2020-02-30"}, "first_due_date"),
        (by_months("plan", 3, discount="10.00"), "discount"),
        ({**by_months("plan", 3), "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = crm.post(url, body)
        assert response.status_code == 400, (body, response.json())
        assert response.json()["code"] == "validation_error" and field in response.json()["fields"], response.json()
    outside = crm.post(url, by_months("settlement", 3, discount="1500.00"))  # 50 %: beyond every authority
    assert outside.status_code == 422 and outside.json()["code"] == "plan_outside_policy"
    assert "40" in outside.json()["detail"]
    assert crm.post("/api/v1/cases/999999/plans/", by_months("plan", 3)).status_code == 404
    assert crm.post("/api/v1/plans/999999/decision/", {"decision": "approve"}).status_code == 403  # no plans:decide
    assert crm.post("/api/v1/plans/999999/cancel/", {"reason": "x"}).status_code == 404
    assert not RepaymentPlan.objects.exists()


def test_a_read_only_client_cannot_propose(api):
    case = overdue_case(days_overdue=10, instalments=3)
    response = api("cases:read", name="bi").post(f"/api/v1/cases/{case.pk}/plans/", by_months("plan", 3))
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_reason_and_notes_go_only_to_pii_read_and_are_audited(api, crm, django_assert_max_num_queries):
    case = overdue_case(days_overdue=10, instalments=6)
    crm.post(f"/api/v1/cases/{case.pk}/plans/", by_months("plan", 6))
    reader = api("cases:read", "pii:read", name="crm-pii")
    with django_assert_max_num_queries(PLAN_LIST_MAX_QUERIES):
        [plan] = reader.get(f"/api/v1/cases/{case.pk}/plans/").json()["results"]
    assert (plan["reason"], plan["notes"]) == ("income_loss", "lost a second job in March")
    entry = AuditLog.objects.get(actor="client:crm-pii")
    assert entry.case_id == case.pk and entry.fields == ["plan reason", "plan notes"]
    [masked] = crm.get(f"/api/v1/cases/{case.pk}/plans/").json()["results"]
    assert (masked["reason"], masked["notes"]) == (None, None)


def test_the_case_list_keeps_its_query_count_with_plans(api, crm, django_assert_num_queries):
    cases = [overdue_case(days_overdue=10, instalments=6) for _ in range(3)]
    reader = api("cases:read", name="bi")
    reader.get("/api/v1/cases/")  # warm the token cache and the prepared statements
    with CaptureQueriesContext(connection) as bare:
        reader.get("/api/v1/cases/")
    bare_count = len(bare.captured_queries)  # read now: the next request resets the log
    for case in cases:
        crm.post(f"/api/v1/cases/{case.pk}/plans/", by_months("plan", 6))
    with django_assert_num_queries(bare_count):
        body = reader.get("/api/v1/cases/").json()
    assert [r["plan"]["status"] for r in body["results"]] == ["active"] * 3


def test_the_vulnerability_marker_shows_only_with_pii_read(api):
    case = overdue_case(days_overdue=10)
    VulnerabilityMarker.objects.create(
        borrower=case.borrower, code="illness", set_by="user:collector", review_on=lender_today() + timedelta(days=30)
    )
    plain = api("cases:read", name="bi").get(f"/api/v1/cases/{case.pk}/").json()
    assert plain["vulnerability"] is None
    shown = api("cases:read", "pii:read", name="crm-pii").get(f"/api/v1/cases/{case.pk}/").json()
    assert shown["vulnerability"] == {
        "code": "illness",
        "review_on": (lender_today() + timedelta(days=30)).isoformat(),
        "set_by": "user:collector",
    }
    entry = AuditLog.objects.filter(actor="client:crm-pii").latest("pk")
    assert entry.fields == ["name", "vulnerability"]


def test_plan_webhook_types_need_cases_read(api, receiver):
    blind = api("webhooks:manage", name="ops-only")
    refused = blind.post("/api/v1/webhooks/", {"url": receiver.url, "event_types": ["plan.kept"]})
    assert refused.status_code == 400 and "event_types" in refused.json()["fields"]
