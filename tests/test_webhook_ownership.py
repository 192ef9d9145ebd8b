"""Webhook subscriptions belong to the API client that made them (issue 9, point 4): a client sees
and changes only its own (another's is 404), and a delivery body carries only what the owner's
scopes show. Operators (the admin role, /admin/) still see every subscription."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import ApiClient, WebhookDelivery, WebhookSubscription
from collections_app.services import webhooks

from .factories import overdue_case
from .test_webhooks import Receiver, verify_webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True
    settings.COLLECTIONS_WEBHOOK_NUDGE = False


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def create(caller, url, types):
    response = caller.post("/api/v1/webhooks/", {"url": url, "event_types": types})
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_client_sees_and_changes_only_its_own_subscriptions(api, supervisor, receiver):
    alice = api("webhooks:manage", "cases:read", name="alice")
    bob = api("webhooks:manage", "cases:read", name="bob")
    mine = create(alice, receiver.url, ["case.state_changed"])
    theirs = create(bob, "https://bob.example.com/hooks", ["case.assigned"])
    assert WebhookSubscription.objects.get(pk=mine["id"]).owner == ApiClient.objects.get(name="alice")
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    delivery = WebhookDelivery.objects.filter(subscription_id=mine["id"]).first()

    assert [s["id"] for s in alice.get("/api/v1/webhooks/").json()["results"]] == [mine["id"]]
    assert [s["id"] for s in bob.get("/api/v1/webhooks/").json()["results"]] == [theirs["id"]]
    assert bob.get(f"/api/v1/webhooks/{mine['id']}/").status_code == 404
    assert bob.get(f"/api/v1/webhooks/{mine['id']}/deliveries/").status_code == 404
    assert (
        bob.patch(
            f"/api/v1/webhooks/{mine['id']}/", {"url": "https://evil.example.com/x", "rotate_secret": True}
        ).status_code
        == 404
    )
    assert bob.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert bob.delete(f"/api/v1/webhooks/{mine['id']}/").status_code == 404

    kept = WebhookSubscription.objects.get(pk=mine["id"])
    assert (kept.url, kept.secret) == (receiver.url, mine["secret"])
    assert delivery.pk in [d["id"] for d in alice.get(f"/api/v1/webhooks/{mine['id']}/deliveries/").json()["results"]]
    assert alice.patch(f"/api/v1/webhooks/{mine['id']}/", {"description": "mine"}).status_code == 200


def test_operators_see_every_subscription_over_the_api_and_in_the_admin(api, client, admin_user, superuser):
    alice = api("webhooks:manage", "cases:read", name="alice")
    bob = api("webhooks:manage", "payments:write", name="bob")
    a = create(alice, "https://alice.example.com/hooks", ["case.state_changed"])
    b = create(bob, "https://bob.example.com/hooks", ["payment.recorded"])

    client.force_login(admin_user)
    assert [s["id"] for s in client.get("/api/v1/webhooks/").json()["results"]] == [a["id"], b["id"]]
    assert client.get(f"/api/v1/webhooks/{b['id']}/").status_code == 200

    client.force_login(superuser)
    page = client.get(reverse("admin:collections_app_webhooksubscription_changelist")).content.decode()
    assert "alice.example.com" in page and "bob.example.com" in page


def test_a_client_subscribes_only_to_the_types_its_scopes_show(api):
    bank = api("webhooks:manage", "payments:write", name="bank-feed")
    refused = bank.post(
        "/api/v1/webhooks/",
        {"url": "https://bank.example.com/h", "event_types": ["payment.recorded", "case.state_changed"]},
    )
    assert refused.status_code == 400 and "event_types" in refused.json()["fields"]
    assert "case.state_changed" in json.dumps(refused.json()["fields"])
    made = create(bank, "https://bank.example.com/h", ["payment.recorded"])
    widened = bank.patch(f"/api/v1/webhooks/{made['id']}/", {"event_types": ["case.assigned"]})
    assert widened.status_code == 400 and "event_types" in widened.json()["fields"]
    bare = api("webhooks:manage", name="bare")
    assert (
        bare.post(
            "/api/v1/webhooks/", {"url": "https://x.example.com/h", "event_types": ["payment.recorded"]}
        ).status_code
        == 400
    )


def payment_bodies(receiver):
    return {r["headers"]["X-Collections-Delivery"]: json.loads(r["raw"]) for r in receiver.requests}


def test_delivery_bodies_carry_only_what_the_owners_scopes_show(api, supervisor, receiver):
    bank = api("webhooks:manage", "payments:write", name="bank-feed")
    full = api("webhooks:manage", "cases:read", name="bi")
    bank_sub = create(bank, receiver.url, ["payment.recorded"])
    full_sub = create(full, receiver.url, ["payment.recorded"])
    case = overdue_case(days_overdue=10)
    services.payment_record(
        external_id="P-77", loan=case.loan, amount=case.amount_overdue, paid_at=timezone.now(), actor=supervisor
    )

    assert webhooks.webhooks_dispatch().delivered == 2

    sent = {
        WebhookDelivery.objects.get(pk=int(k)).subscription_id: body for k, body in payment_bodies(receiver).items()
    }
    bank_data, full_data = sent[bank_sub["id"]]["data"], sent[full_sub["id"]]["data"]
    # A bank feed with payments:write sees the payment and its loan, not the case, its events or who acted.
    assert set(bank_data) == {"loan", "payment", "amount", "channel", "paid_at", "unapplied", "at"}
    assert bank_data["payment"] == "P-77" and bank_data["loan"] == case.loan.external_id
    assert {"case", "event", "actor"} <= set(full_data) and full_data["case"] == case.pk
    # Signed as sent, and the delivery log shows the body that was sent.
    raw = next(r for r in receiver.requests if json.loads(r["raw"])["data"] == bank_data)
    verify_webhook(bank_sub["secret"], raw["headers"]["X-Collections-Signature"], raw["raw"])
    logged = bank.get(f"/api/v1/webhooks/{bank_sub['id']}/deliveries/").json()["results"][0]["body"]
    assert logged["data"] == bank_data
    # No body carries the borrower's name, whatever the scopes.
    assert all(case.borrower.name not in r["raw"].decode() for r in receiver.requests)


def test_bodies_follow_the_owners_scopes_at_send_time(api, supervisor, receiver):
    bi = api("webhooks:manage", "cases:read", name="bi")
    sub = create(bi, receiver.url, ["case.state_changed"])
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    ApiClient.objects.filter(name="bi").update(scopes=["webhooks:manage"])  # cases:read taken away since

    webhooks.webhooks_dispatch()

    bodies = [json.loads(r["raw"]) for r in receiver.requests]
    assert bodies and all(set(b["data"]) <= {"at"} for b in bodies)
    assert all(b["type"] == "case.state_changed" and b["id"].startswith("evt_") for b in bodies)
    assert WebhookSubscription.objects.get(pk=sub["id"]).owner.name == "bi"


def test_a_revoked_owners_receiver_is_told_nothing(api, supervisor, receiver):
    bi = api("webhooks:manage", "cases:read", name="bi")
    create(bi, receiver.url, ["case.state_changed"])
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    ApiClient.objects.filter(name="bi").update(revoked_at=timezone.now(), is_active=False)

    assert webhooks.webhooks_dispatch().claimed == 0
    assert webhooks.webhooks_lanes_due() == []
    assert receiver.requests == []
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"queued"}
