"""The API when things go wrong (issue 9, points 7-11): Redis gone, errors in one JSON shape, input
beyond what a parser may take, an answer that fails to be stored, reads beside a long transaction."""
import logging
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from collections_app import shared_cache
from collections_app.models import ContactAttempt, Payment

from .factories import loan_with_schedule, overdue_case

pytestmark = pytest.mark.django_db(transaction=True)

# A Redis nobody listens on: every cache call fails to connect at once.
REDIS_DOWN = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": "redis://127.0.0.1:1/0"}}


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
        contact = caller.post(f"/api/v1/cases/{case.pk}/contacts/",
                              {"channel": "call", "outcome": "no_answer"})
        assert contact.status_code == 201, contact.content
        payment = caller.post("/api/v1/payments/", {"external_id": "P-DOWN", "loan": case.loan.external_id,
                                                    "amount": "100.00", "paid_at": timezone.now().isoformat()})
        assert payment.status_code == 201, payment.content
        moved = caller.post(f"/api/v1/cases/{case.pk}/transitions/",
                            {"transition": "de_escalate", "reason": "talked"})
        assert moved.status_code == 200, moved.content
        assert moved.json()["state"] == "reminder"
    assert ContactAttempt.objects.filter(case=case).count() == 1
    assert Payment.objects.filter(external_id="P-DOWN").count() == 1
    warnings = [r for r in caplog.records if r.name == "collections_app.shared_cache"]
    assert len(warnings) == 1  # one per outage, not one per request
    assert "unavailable" in warnings[0].getMessage()


def test_a_revoked_token_stops_at_once_with_redis_down(api, redis_down):
    from collections_app.services.api_clients import api_client_create, api_client_revoke

    api_client, token = api_client_create(name="old", scopes=["cases:read"])
    from django.test import Client

    client = Client()
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
