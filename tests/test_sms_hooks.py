"""Delivery receipts from the SMS gateway: POST /hooks/sms/<backend>/ (collections_app/hooks.py)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import OutboundMessage
from collections_app.services.reminders import reminders_dispatch, reminders_plan

from .factories import BorrowerFactory, loan_with_schedule

pytestmark = pytest.mark.django_db

SECRET = "receipt-test-secret"
URL = "/hooks/sms/http/"


@pytest.fixture(autouse=True)
def receipt_secret(settings):
    settings.COLLECTIONS_SMS_RECEIPT_SECRETS = {"http": SECRET}


def sent_message(provider_id, **fields):
    borrower = BorrowerFactory()
    return OutboundMessage.objects.create(
        idempotency_key=f"test:{provider_id}",
        borrower=borrower,
        channel="sms",
        template_code="overdue",
        to_address=borrower.phones[0],
        status="sent",
        not_before=timezone.now(),
        sent_at=timezone.now(),
        provider_message_id=provider_id,
        **fields,
    )


def post(client, body, secret=SECRET, content_type="application/json"):
    headers = {"HTTP_X_RECEIPT_SECRET": secret} if secret is not None else {}
    data = json.dumps(body) if not isinstance(body, (str, bytes)) else body
    return client.post(URL, data=data, content_type=content_type, **headers)


def test_the_url_is_named():
    assert reverse("collections:sms-receipts", args=["http"]) == URL


def test_a_receipt_with_the_right_secret_updates_the_message_with_that_provider_id(client):
    delivered, failed, other = sent_message("gw-1"), sent_message("gw-2"), sent_message("gw-3")

    response = post(
        client,
        {
            "receipts": [
                {"provider_id": "gw-1", "status": "delivered"},
                {"provider_id": "gw-2", "status": "failed", "error": "handset unreachable"},
                {"provider_id": "gw-unknown", "status": "delivered"},
                {"provider_id": "gw-3", "status": "sideways"},  # not a status: ignored
                {"status": "delivered"},  # no provider id: ignored
            ]
        },
    )

    assert response.status_code == 200
    assert response.json() == {"updated": 2}
    delivered.refresh_from_db(), failed.refresh_from_db(), other.refresh_from_db()
    assert delivered.delivery_status == "delivered" and delivered.status == "sent"
    assert (failed.delivery_status, failed.error) == ("failed", "handset unreachable")
    assert other.delivery_status == ""


def test_a_receipt_for_a_message_sent_through_the_fake_gateway(client, http_sms):
    as_of = lender_today() + timedelta(days=10)
    borrower = BorrowerFactory(consent_after_hours=True)
    loan_with_schedule(days_overdue=3 - 10, instalments=1, borrower=borrower)
    reminders_plan(as_of=as_of)
    OutboundMessage.objects.update(not_before=timezone.now() - timedelta(minutes=1))
    reminders_dispatch()
    message = OutboundMessage.objects.get()
    assert message.status == "sent" and message.provider_message_id

    response = post(client, {"receipts": [{"provider_id": message.provider_message_id, "status": "delivered"}]})

    assert response.json() == {"updated": 1}
    message.refresh_from_db()
    assert message.delivery_status == "delivered"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
def test_a_wrong_or_missing_secret_is_401_not_authenticated(client, secret):
    message = sent_message("gw-1")

    response = post(client, {"receipts": [{"provider_id": "gw-1", "status": "delivered"}]}, secret=secret)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    message.refresh_from_db()
    assert message.delivery_status == ""


def test_a_backend_without_a_configured_secret_accepts_nothing(client, settings):
    settings.COLLECTIONS_SMS_RECEIPT_SECRETS = {"http": ""}

    response = post(client, {"receipts": []}, secret="")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_an_unknown_backend_is_401(client):
    response = client.post(
        "/hooks/sms/other/",
        data=json.dumps({"receipts": []}),
        content_type="application/json",
        HTTP_X_RECEIPT_SECRET=SECRET,
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        {"receipts": "gw-1"},
        {"receipt": []},
        [],
        "",
    ],
)
def test_a_bad_body_is_400_validation_error_naming_receipts(client, body):
    response = post(client, body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "validation_error"
    assert "receipts" in answer["fields"]


def test_get_is_405(client):
    response = client.get(URL, HTTP_X_RECEIPT_SECRET=SECRET)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_get_is_405_with_the_contract_error_body(client):
    response = client.get(URL, HTTP_X_RECEIPT_SECRET=SECRET)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
