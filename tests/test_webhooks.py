"""Webhooks out (services/webhooks/): the outbox written with the change, the signed POST a
receiver on 127.0.0.1 checks as CONTRACT.md says, retries with backoff, redeliver, the API and admin.

Runs on SQLite (the ORM path of the sweep) and PostgreSQL (the sweep's set-based statements, whose
outbox rows must match the ORM's to the byte of the body)."""

import hashlib
import hmac
import json
import re
import threading
import time
from datetime import timedelta, timezone as dt_timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.utils import timezone

from collections_app import roles as r
from collections_app import services
from collections_app.actors import actor_for_client
from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import CaseEvent, WebhookDelivery, WebhookSubscription
from collections_app.services import webhooks
from collections_app.services.webhooks import outbox
from collections_app.services.api_clients import api_client_create
from collections_app.services.sweep import sweep_run

from .factories import UserFactory, loan_with_schedule, overdue_case

pytestmark = pytest.mark.django_db

ALL_TYPES = ["case.state_changed", "case.assigned", "payment.recorded", "promise.broken"]
SIGNATURE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")


# --- a receiver, as a subscriber would write one ------------------------------------------------


class Rejected(Exception):
    pass


def verify_webhook(secret, signature_header, raw_body, *, now=None, tolerance=300):
    """What a receiver does before trusting a POST: the timestamp is at most 5 minutes old and v1 is
    the HMAC-SHA256 of "<t>.<raw body>" with the shared secret. Returns the parsed body."""
    fields = {}
    for part in (signature_header or "").split(","):
        name, _sep, value = part.partition("=")
        fields.setdefault(name.strip(), []).append(value.strip())
    try:
        stamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise Rejected("no timestamp") from None
    now = time.time() if now is None else now
    if now - stamp > tolerance:
        raise Rejected("timestamp too old")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + raw_body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise Rejected("bad signature")
    return json.loads(raw_body)


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST (raw body and headers) and answers
    what it is told: `answers` are used first, in order, then `status`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.answers = []
        self.status = 200
        self.delay = 0.0
        self._server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/collections"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": self.headers,
                            "raw": raw,
                            "header_names": list(self.headers.keys()),
                        }
                    )
                    status = receiver.answers.pop(0) if receiver.answers else receiver.status
                    delay = receiver.delay
                if delay:
                    time.sleep(delay)
                body = b'{"ok": true}' if status < 300 else b'{"error": "receiver says no"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the sender gave up waiting

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def bodies(self):
        with self.lock:
            return [json.loads(r["raw"]) for r in self.requests]


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    """The test receiver listens on 127.0.0.1, which production refuses (tests/test_webhooks.py
    test_local_receivers_are_refused_unless_allowed)."""
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def no_nudge(settings):
    """Deliveries wait for the dispatcher the test calls (no send right after commit)."""
    settings.COLLECTIONS_WEBHOOK_NUDGE = False


def subscribe(url="http://127.0.0.1:9/hooks", types=("case.state_changed",), active=True):
    subscription, secret = webhooks.webhook_subscription_create(url=url, event_types=list(types), is_active=active)
    return subscription, secret


def owned(subscription, name="loan-system"):
    """Make `subscription` the API client `name`'s (a client sees and changes only its own)."""
    from collections_app.models import ApiClient

    WebhookSubscription.objects.filter(pk=subscription.pk).update(owner=ApiClient.objects.get(name=name))
    return subscription


def utc(moment):
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def loan_due(as_of, dpd, **kwargs):
    return loan_with_schedule(days_overdue=dpd - (as_of - lender_today()).days, instalments=1, **kwargs)


def state_changed_body(event, case):
    return {
        "id": f"evt_{event.pk}",
        "type": "case.state_changed",
        "created_at": utc(event.at),
        "data": {
            "event": event.pk,
            "case": case.pk,
            "loan": case.loan.external_id,
            "actor": event.actor,
            "at": utc(event.at),
            "from_state": event.from_state or None,
            "to_state": event.to_state,
            "transition": event.payload.get("transition", "open" if event.kind == "opened" else None),
            "reason": event.reason,
        },
    }


# --- the outbox ---------------------------------------------------------------------------------


def test_a_transition_queues_one_delivery_per_matching_subscription_in_the_same_transaction(supervisor):
    case = overdue_case(days_overdue=10)
    wants_states, _s = subscribe(types=["case.state_changed"])
    wants_both, _s = subscribe(types=["case.assigned", "case.state_changed"])
    subscribe(types=["case.assigned"])
    subscribe(types=["case.state_changed"], active=False)

    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)

    event = CaseEvent.objects.get(case=case, kind="transition")
    deliveries = list(WebhookDelivery.objects.order_by("subscription_id"))
    assert [d.subscription_id for d in deliveries] == [wants_states.pk, wants_both.pk]
    for delivery in deliveries:
        assert (delivery.event_type, delivery.event_key, delivery.status) == (
            "case.state_changed",
            f"evt_{event.pk}",
            "queued",
        )
        assert delivery.payload == {
            "id": f"evt_{event.pk}",
            "type": "case.state_changed",
            "created_at": utc(event.at),
            "data": {
                "event": event.pk,
                "case": case.pk,
                "loan": case.loan.external_id,
                "actor": "user:supervisor",
                "at": utc(event.at),
                "from_state": "call",
                "to_state": "closed",
                "transition": "close",
                "reason": "settled",
            },
        }


def test_rolling_the_change_back_leaves_no_delivery(supervisor):
    case = overdue_case(days_overdue=10)
    subscribe(types=ALL_TYPES)

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
            assert WebhookDelivery.objects.count() == 1  # written with the change...
            raise RuntimeError("the business transaction fails later")

    assert WebhookDelivery.objects.count() == 0  # ...and gone with it
    assert not CaseEvent.objects.filter(case=case, kind="transition").exists()


def test_an_inactive_subscription_gets_nothing(supervisor, no_nudge):
    case = overdue_case(days_overdue=10)
    subscribe(types=ALL_TYPES, active=False)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    assert WebhookDelivery.objects.count() == 0


def test_assignment_payment_and_opening_have_their_shapes(supervisor, collector, queue):
    subscription, _s = subscribe(types=ALL_TYPES)
    case = overdue_case(days_overdue=10)
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector, queue=queue, reason="monday")
    paid_at = timezone.now() - timedelta(hours=1)
    services.payment_record(
        external_id="P-1", loan=case.loan, amount="400.00", paid_at=paid_at, channel="bank_transfer", actor=supervisor
    )

    by_type = {}
    for delivery in WebhookDelivery.objects.order_by("id"):
        by_type.setdefault(delivery.event_type, []).append(delivery.payload)
    (opened,) = by_type["case.state_changed"]
    assert opened["data"] | {"event": None, "at": None} == {
        "event": None,
        "case": case.pk,
        "loan": case.loan.external_id,
        "actor": "system",
        "at": None,
        "from_state": None,
        "to_state": "call",
        "transition": "open",
        "reason": "overdue",
    }
    (assigned,) = by_type["case.assigned"]
    event = CaseEvent.objects.get(case=case, kind="assigned")
    assert assigned == {
        "id": f"evt_{event.pk}",
        "type": "case.assigned",
        "created_at": utc(event.at),
        "data": {
            "event": event.pk,
            "case": case.pk,
            "loan": case.loan.external_id,
            "actor": "user:supervisor",
            "at": utc(event.at),
            "from_user": None,
            "to_user": "collector",
            "from_queue": None,
            "to_queue": queue.name,
            "reason": "monday",
        },
    }
    (payment,) = by_type["payment.recorded"]
    event = CaseEvent.objects.get(case=case, kind="payment_recorded")
    assert payment["data"] == {
        "event": event.pk,
        "case": case.pk,
        "loan": case.loan.external_id,
        "actor": "user:supervisor",
        "at": utc(event.at),
        "payment": "P-1",
        "amount": "400.00",
        "channel": "bank_transfer",
        "paid_at": utc(paid_at),
        "unapplied": "0.00",
    }
    assert set(by_type) == {"case.state_changed", "case.assigned", "payment.recorded"}
    assert {d.subscription_id for d in WebhookDelivery.objects.all()} == {subscription.pk}


# --- the sweep (ORM on SQLite, writable CTEs on PostgreSQL) --------------------------------------


def test_the_sweeps_escalations_openings_and_broken_promises_queue_deliveries(supervisor):
    today = lender_today()
    escalating = services.case_open_for_loan(loan_id=loan_due(today, 7).pk, as_of=today)
    promised = services.case_open_for_loan(loan_id=loan_due(today, 3).pk, as_of=today)
    promise = services.promise_record(case_id=promised.pk, actor=supervisor, amount="300.00", due_date=today)
    not_yet_open = loan_due(today + timedelta(days=1), 40)
    states, _s = subscribe(types=["case.state_changed"])
    broken, _s = subscribe(types=["promise.broken"])
    subscribe(types=["case.state_changed"], active=False)

    report = sweep_run(as_of=today + timedelta(days=1))

    assert report.counts["escalated_call"] == 1 and report.counts["opened"] == 1
    assert report.counts["promises_broken"] == 1
    transition = CaseEvent.objects.get(case=escalating, kind="transition")
    opened_case = not_yet_open.cases.get()
    opened = CaseEvent.objects.get(case=opened_case, kind="opened")
    assert {d.event_key: d.payload for d in WebhookDelivery.objects.filter(subscription=states)} == {
        f"evt_{transition.pk}": state_changed_body(transition, escalating),
        f"evt_{opened.pk}": state_changed_body(opened, opened_case),
    }
    assert state_changed_body(transition, escalating)["data"] | {"event": 0, "at": 0} == {
        "event": 0,
        "at": 0,
        "case": escalating.pk,
        "loan": escalating.loan.external_id,
        "actor": "system",
        "from_state": "reminder",
        "to_state": "call",
        "transition": "start_calls",
        "reason": "sweep",
    }
    breaking = CaseEvent.objects.get(case=promised, kind="promise_broken")
    [delivery] = WebhookDelivery.objects.filter(subscription=broken)
    assert delivery.payload == {
        "id": f"evt_{breaking.pk}",
        "type": "promise.broken",
        "created_at": utc(breaking.at),
        "data": {
            "event": breaking.pk,
            "case": promised.pk,
            "loan": promised.loan.external_id,
            "actor": "system",
            "at": utc(breaking.at),
            "promise": promise.pk,
            "amount": "300.00",
        },
    }
    assert WebhookDelivery.objects.count() == 3

    sweep_run(as_of=today + timedelta(days=1))  # a rerun changes nothing, queues nothing
    assert WebhookDelivery.objects.count() == 3


def test_a_sweep_with_no_subscriptions_still_counts_what_it_did():
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 7).pk, as_of=today)
    report = sweep_run(as_of=today + timedelta(days=1))
    assert report.counts["escalated_call"] == 1 and case.events.filter(kind="transition").count() == 1
    assert WebhookDelivery.objects.count() == 0


# --- sending and signing --------------------------------------------------------------------------


def closed_case_delivery(supervisor, receiver, types=("case.state_changed",)):
    case = overdue_case(days_overdue=10)
    subscription, secret = subscribe(url=receiver.url, types=types)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    return subscription, secret, WebhookDelivery.objects.get()


def test_the_dispatcher_posts_the_signed_body_with_the_contracts_headers(supervisor, receiver, no_nudge):
    subscription, secret, delivery = closed_case_delivery(supervisor, receiver)

    done = webhooks.webhooks_dispatch()

    assert (done.claimed, done.delivered) == (1, 1)
    [request] = receiver.requests
    headers, raw = request["headers"], request["raw"]
    assert request["path"] == "/hooks/collections"
    assert {"X-Collections-Event", "X-Collections-Signature"} <= set(request["header_names"])  # spelt as CONTRACT.md
    assert headers["X-Collections-Event"] == "case.state_changed"
    assert headers["Content-Type"].startswith("application/json")
    stamp, _v1 = SIGNATURE.match(headers["X-Collections-Signature"]).groups()
    assert abs(int(stamp) - time.time()) < 30
    body = verify_webhook(secret, headers["X-Collections-Signature"], raw)
    assert body == delivery.payload and set(body) == {"id", "type", "created_at", "data"}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered",
        1,
        200,
        "",
    )
    assert delivery.delivered_at is not None
    assert webhooks.webhooks_dispatch().claimed == 0  # delivered once


def test_a_receiver_rejects_a_tampered_body_a_wrong_secret_and_an_old_timestamp(supervisor, receiver, no_nudge):
    subscription, secret, delivery = closed_case_delivery(supervisor, receiver)
    webhooks.webhooks_dispatch()
    [request] = receiver.requests
    header, raw = request["headers"]["X-Collections-Signature"], request["raw"]
    stamp = int(SIGNATURE.match(header).group(1))

    verify_webhook(secret, header, raw)
    with pytest.raises(Rejected, match="bad signature"):
        verify_webhook(secret, header, raw.replace(b'"settled"', b'"written_off"'))
    with pytest.raises(Rejected, match="bad signature"):
        verify_webhook("whsec_not-the-secret-at-all", header, raw)
    with pytest.raises(Rejected, match="too old"):
        verify_webhook(secret, header, raw, now=stamp + 301)  # replayed six minutes later
    verify_webhook(secret, header, raw, now=stamp + 299)
    # A timestamp moved forward without re-signing is caught too.
    with pytest.raises(Rejected, match="bad signature"):
        verify_webhook(secret, header.replace(f"t={stamp}", f"t={stamp + 600}"), raw, now=stamp + 600)


def test_a_500_is_retried_later_with_growing_backoff_then_delivered(supervisor, receiver, no_nudge):
    _sub, secret, delivery = closed_case_delivery(supervisor, receiver)
    receiver.answers = [500, 503]

    first = webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (first.retried, delivery.status, delivery.attempts, delivery.last_status_code) == (1, "queued", 1, 500)
    assert "HTTP 500" in delivery.last_error
    assert timedelta(seconds=59) <= delivery.next_attempt_at - delivery.last_attempt_at <= timedelta(seconds=61)
    assert webhooks.webhooks_dispatch().claimed == 0  # not due yet

    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("queued", 2, 503)
    assert timedelta(seconds=119) <= delivery.next_attempt_at - delivery.last_attempt_at <= timedelta(seconds=121)

    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered",
        3,
        200,
        "",
    )
    raws = [r["raw"] for r in receiver.requests]
    assert len(raws) == 3 and len(set(raws)) == 1  # the same bytes every time, signed afresh
    for request in receiver.requests:
        verify_webhook(secret, request["headers"]["X-Collections-Signature"], request["raw"])


def test_the_backoff_doubles_up_to_its_cap():
    assert [webhooks.backoff(n).total_seconds() for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3840, 7680]
    assert webhooks.backoff(30).total_seconds() == 6 * 3600


def test_after_the_last_attempt_a_delivery_fails(supervisor, receiver, settings, no_nudge):
    settings.COLLECTIONS_WEBHOOK_MAX_ATTEMPTS = 2
    _sub, _secret, delivery = closed_case_delivery(supervisor, receiver)
    receiver.status = 500
    webhooks.webhooks_dispatch()
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    done = webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (done.failed, delivery.status, delivery.attempts) == (1, "failed", 2)
    assert "after 2 attempts" in delivery.last_error
    assert webhooks.webhooks_dispatch().claimed == 0


def test_timeouts_and_refused_connections_are_retried(supervisor, receiver, settings, no_nudge):
    settings.COLLECTIONS_WEBHOOK_TIMEOUT = 0.3
    _sub, _secret, delivery = closed_case_delivery(supervisor, receiver)
    receiver.delay = 1.5
    webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("queued", 1, None)
    assert "timed out" in delivery.last_error.lower()

    receiver.delay = 0
    receiver.stop()  # nothing listens on the port now
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("queued", 2, None)
    assert "ConnectionRefusedError" in delivery.last_error
    receiver.start()  # the fixture stops it again


def test_410_gone_fails_the_delivery_and_switches_the_subscription_off(supervisor, receiver, no_nudge):
    subscription, _secret, delivery = closed_case_delivery(supervisor, receiver, types=ALL_TYPES)
    receiver.status = 410
    done = webhooks.webhooks_dispatch()
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert (done.failed, done.disabled, delivery.status, delivery.last_status_code) == (1, 1, "failed", 410)
    assert not subscription.is_active and "410" in subscription.disabled_reason

    case = overdue_case(days_overdue=10)  # nothing more is queued for it
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    assert WebhookDelivery.objects.count() == 1


def test_queued_deliveries_wait_while_a_subscription_is_off_and_go_when_it_is_on(supervisor, receiver, no_nudge):
    subscription, _secret, delivery = closed_case_delivery(supervisor, receiver)
    webhooks.webhook_subscription_update(subscription_id=subscription.pk, is_active=False)
    assert webhooks.webhooks_dispatch().claimed == 0 and receiver.requests == []
    webhooks.webhook_subscription_update(subscription_id=subscription.pk, is_active=True)
    assert webhooks.webhooks_dispatch().delivered == 1


def test_a_commit_nudges_the_dispatcher_once_and_a_broker_outage_fails_nothing(
    supervisor, receiver, django_capture_on_commit_callbacks, monkeypatch
):
    case = overdue_case(days_overdue=10)
    subscription, secret = subscribe(url=receiver.url, types=ALL_TYPES)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.payment_record(
            external_id="P-9", loan=case.loan, amount=case.amount_overdue, paid_at=timezone.now(), actor=supervisor
        )  # payment + resolve: two events
    assert sum(cb is outbox._kick_dispatcher for cb in callbacks) == 1
    assert sorted(b["type"] for b in receiver.bodies()) == ["case.state_changed", "payment.recorded"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}

    from kombu.exceptions import OperationalError

    from collections_app.tasks import webhooks as tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.webhooks_dispatch_task, "delay", broker_down)
    other = overdue_case(days_overdue=10)
    with django_capture_on_commit_callbacks(execute=True):
        services.case_transition(case_id=other.pk, transition="close", reason="settled", actor=supervisor)
    assert other.events.filter(kind="transition").exists()
    assert WebhookDelivery.objects.filter(status="queued").count() == 2  # opened + closed: beat sends them
    assert webhooks.webhooks_dispatch().delivered == 2


def test_a_claim_left_by_a_dead_worker_is_requeued(supervisor, receiver, no_nudge):
    sub, _secret, delivery = closed_case_delivery(supervisor, receiver)
    WebhookDelivery.objects.update(status="sending", claimed_at=timezone.now() - timedelta(minutes=10), attempts=1)
    assert webhooks.webhooks_requeue_stale() == 1
    from collections_app.tasks.webhooks import webhooks_dispatch_task

    assert webhooks_dispatch_task()["lanes"] == [sub.pk]  # its lane task ran (eager) and delivered it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_beat_runs_the_dispatcher_every_minute():
    import importlib

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    from collections_app.tasks.webhooks import webhooks_dispatch_task

    importlib.import_module("collections_app.migrations.0008_webhook_dispatch_schedule").forwards(django_apps, None)
    task = PeriodicTask.objects.get(task=webhooks_dispatch_task.name)
    assert task.enabled and (task.interval.every, task.interval.period) == (60, "seconds")


# --- the API --------------------------------------------------------------------------------------


def test_without_webhooks_manage_every_endpoint_is_403(api, admin_user, collector, client, no_nudge):
    subscription, _s = subscribe()
    caller = api("cases:read", "cases:manage")
    for response in (
        caller.get("/api/v1/webhooks/"),
        caller.post("/api/v1/webhooks/", {"url": "http://127.0.0.1/x", "event_types": ALL_TYPES}),
        caller.get(f"/api/v1/webhooks/{subscription.pk}/"),
        caller.patch(f"/api/v1/webhooks/{subscription.pk}/", {"is_active": False}),
        caller.delete(f"/api/v1/webhooks/{subscription.pk}/"),
        caller.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/"),
        caller.post("/api/v1/webhooks/deliveries/1/redeliver/"),
    ):
        assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert client.get("/api/v1/webhooks/").status_code == 401
    client.force_login(collector)  # a person needs the admin role
    assert client.get("/api/v1/webhooks/").status_code == 403
    client.force_login(admin_user)
    assert client.get("/api/v1/webhooks/").json()["results"][0]["id"] == subscription.pk
    assert WebhookSubscription.objects.get().is_active


def test_create_returns_the_secret_once_and_reads_mask_it(api, receiver, no_nudge):
    caller = api("webhooks:manage", "cases:read")
    response = caller.post(
        "/api/v1/webhooks/",
        {"url": receiver.url, "event_types": ["case.state_changed", "promise.broken"], "description": "loan system"},
    )
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert body["event_types"] == ["case.state_changed", "promise.broken"] and body["is_active"]
    assert body["created_by"] == "client:loan-system"
    assert response["Location"].endswith(f"/api/v1/webhooks/{body['id']}/")
    assert WebhookSubscription.objects.get().secret == secret

    detail = caller.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in detail and secret not in json.dumps(detail)
    assert detail["secret_hint"] == f"{secret[:6]}…{secret[-4:]}"
    [listed] = caller.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in listed and listed["url"] == receiver.url


def test_create_and_update_refuse_bad_input_naming_the_field(api):
    caller = api("webhooks:manage", "cases:read")
    for payload, field in [
        ({"url": "ftp://example.com/x", "event_types": ["case.assigned"]}, "url"),
        ({"url": "not a url", "event_types": ["case.assigned"]}, "url"),
        ({"url": "https://example.com/x", "event_types": ["case.deleted"]}, "event_types"),
        ({"url": "https://example.com/x", "event_types": []}, "event_types"),
        ({"url": "https://example.com/x", "event_types": ["case.assigned"], "colour": "red"}, "colour"),
        ({"url": "https://example.com/x", "event_types": ["case.assigned"], "secret": "short"}, "secret"),
    ]:
        response = caller.post("/api/v1/webhooks/", payload)
        assert response.status_code == 400 and field in response.json()["fields"], payload
    subscription = owned(subscribe()[0])
    response = caller.patch(f"/api/v1/webhooks/{subscription.pk}/", {"url": "gopher://x"})
    assert response.status_code == 400 and "url" in response.json()["fields"]
    assert caller.get("/api/v1/webhooks/999999/").status_code == 404


def test_patch_changes_what_is_given_and_rotates_the_secret(api, no_nudge):
    caller = api("webhooks:manage", "cases:read")
    subscription, old_secret = subscribe(types=["case.assigned"])
    owned(subscription)
    response = caller.patch(
        f"/api/v1/webhooks/{subscription.pk}/", {"event_types": ["payment.recorded"], "is_active": False}
    )
    body = response.json()
    assert response.status_code == 200 and "secret" not in body
    assert (body["event_types"], body["is_active"], body["url"]) == (["payment.recorded"], False, subscription.url)

    rotated = caller.patch(f"/api/v1/webhooks/{subscription.pk}/", {"rotate_secret": True}).json()
    assert rotated["secret"] != old_secret
    assert WebhookSubscription.objects.get().secret == rotated["secret"]


def test_delete_removes_the_subscription_and_its_log(api, supervisor, no_nudge):
    caller = api("webhooks:manage")
    subscription = owned(subscribe()[0])
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    assert WebhookDelivery.objects.count() == 2
    assert caller.delete(f"/api/v1/webhooks/{subscription.pk}/").status_code == 204
    assert not WebhookSubscription.objects.exists() and not WebhookDelivery.objects.exists()
    assert caller.delete(f"/api/v1/webhooks/{subscription.pk}/").status_code == 404


def test_the_delivery_log_pages_newest_first_and_filters_by_status(api, supervisor, receiver, no_nudge):
    caller = api("webhooks:manage", "cases:read")
    subscription = owned(subscribe(url=receiver.url)[0])
    for _ in range(2):
        case = overdue_case(days_overdue=10)
        services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    webhooks.webhooks_dispatch(limit=1)
    ids = list(WebhookDelivery.objects.order_by("-id").values_list("id", flat=True))
    assert len(ids) == 4

    first = caller.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/", data={"limit": 3}).json()
    assert [d["id"] for d in first["results"]] == ids[:3]
    second = caller.get(first["next"]).json()
    assert [d["id"] for d in second["results"]] == ids[3:] and second["next"] is None
    delivered = caller.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/", data={"status": "delivered"}).json()
    [row] = delivered["results"]
    assert (row["status"], row["attempts"], row["last_status_code"], row["next_attempt_at"]) == (
        "delivered",
        1,
        200,
        None,
    )
    assert row["body"]["id"] == row["event_id"] and row["body"]["type"] == row["event_type"] == "case.state_changed"


def test_redeliver_sends_a_delivered_event_again(api, supervisor, receiver, no_nudge):
    caller = api("webhooks:manage", "cases:read")
    _sub, secret, delivery = closed_case_delivery(supervisor, receiver)
    owned(_sub)
    webhooks.webhooks_dispatch()

    response = caller.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert webhooks.webhooks_dispatch().delivered == 1

    first, second = receiver.requests
    assert first["raw"] == second["raw"]  # the same event, the same body
    verify_webhook(secret, second["headers"]["X-Collections-Signature"], second["raw"])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.redeliveries) == ("delivered", 1, 1)
    assert caller.post("/api/v1/webhooks/deliveries/999999/redeliver/").status_code == 404
    WebhookDelivery.objects.update(status="sending")
    refused = caller.post(f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver/")
    assert refused.status_code == 400 and "delivery" in refused.json()["fields"]


@pytest.mark.django_db(transaction=True)
def test_a_client_subscribes_moves_a_case_and_receives_the_signed_webhook(api, reference_data, receiver):
    """End to end, committed as in production: the commit nudges the (eager) task, which sends."""
    manager = api("webhooks:manage", "cases:read", name="loan-system")
    secret = manager.post("/api/v1/webhooks/", {"url": receiver.url, "event_types": ["case.state_changed"]}).json()[
        "secret"
    ]
    case = overdue_case(days_overdue=3)  # opened: the first webhook
    dialler = api("cases:read", "cases:write", name="dialler")

    response = dialler.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "start_calls"})

    assert response.status_code == 200
    bodies = [verify_webhook(secret, r["headers"]["X-Collections-Signature"], r["raw"]) for r in receiver.requests]
    assert [(b["data"]["from_state"], b["data"]["to_state"], b["data"]["actor"]) for b in bodies] == [
        (None, "reminder", "system"),
        ("reminder", "call", "client:dialler"),
    ]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


# --- the admin ------------------------------------------------------------------------------------


def test_the_admin_adds_a_subscription_shows_the_secret_once_and_redelivers(
    client, superuser, supervisor, receiver, no_nudge
):
    client.force_login(superuser)
    response = client.post(
        "/admin/collections_app/webhooksubscription/add/",
        {
            "url": receiver.url,
            "event_types": ["case.state_changed", "case.assigned"],
            "description": "BI",
            "is_active": "on",
            "new_secret": "",
        },
        follow=True,
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.created_by == "user:root" and subscription.event_types == [
        "case.assigned",
        "case.state_changed",
    ]
    assert subscription.secret in response.content.decode()  # the one time it is shown
    change = client.get(f"/admin/collections_app/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret not in change and subscription.secret_hint in change

    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", reason="settled", actor=supervisor)
    webhooks.webhooks_dispatch()
    assert len(receiver.requests) == 2
    closed = WebhookDelivery.objects.order_by("-id").first()
    client.post("/admin/collections_app/webhookdelivery/", {"action": "redeliver", "_selected_action": [closed.pk]})
    closed.refresh_from_db()
    assert (closed.status, closed.redeliveries) == ("queued", 1)
    assert client.get(f"/admin/collections_app/webhookdelivery/{closed.pk}/change/").status_code == 200
    assert client.get("/admin/collections_app/webhookdelivery/").status_code == 200


def test_the_admin_refuses_a_bad_url_and_staff_without_the_admin_role(client, superuser):
    client.force_login(superuser)
    response = client.post(
        "/admin/collections_app/webhooksubscription/add/",
        {"url": "ftp://example.com/", "event_types": ["case.assigned"], "is_active": "on", "new_secret": ""},
    )
    assert response.status_code == 200 and not WebhookSubscription.objects.exists()
    staff = UserFactory(username="ops", is_staff=True, roles=[r.SUPERVISOR])
    client.force_login(staff)
    # Not an operator: the admin site itself sends them to its log-in (issue 9, point 1).
    assert client.get("/admin/collections_app/webhooksubscription/add/").status_code == 302


# --- PostgreSQL: two dispatchers never send the same delivery ----------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_send_each_delivery_exactly_once(receiver, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
    settings.COLLECTIONS_WEBHOOK_NUDGE = False
    subscribe(url=receiver.url, types=["case.state_changed"])
    for _ in range(12):
        overdue_case(days_overdue=10)  # each opening is an event
    receiver.delay = 0.05
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait(timeout=10)
            while webhooks.webhooks_dispatch(limit=3).claimed:
                pass
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors
    ids = [b["id"] for b in receiver.bodies()]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_an_api_client_actor_may_manage_only_with_the_scope():
    assert webhooks.may_manage_webhooks(actor_for_client("x", [r.SCOPE_WEBHOOKS_MANAGE]))
    assert not webhooks.may_manage_webhooks(actor_for_client("x", [r.SCOPE_CASES_MANAGE]))
    assert webhooks.may_manage_webhooks(None)  # the system


# --- the schema: every webhook operation answers within it, never a 5xx ---------------------------


def _webhook_schema():
    import schemathesis

    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/schema/", application).include(tag="webhooks")


try:
    from hypothesis import HealthCheck
    from hypothesis import settings as hypothesis_settings

    webhook_schema = _webhook_schema()
except ImportError:  # schemathesis is a test extra
    webhook_schema = None


@pytest.fixture
def manage_token(db):
    """A webhooks:manage token. Requests go through the WSGI handler here, whose request signals
    would close the test's connection inside its transaction (PostgreSQL): Django's test client
    disconnects them, and so does this."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    subscribe(url="http://127.0.0.1:9/hooks", types=ALL_TYPES)
    _client, token = api_client_create(name="fuzz-webhooks", scopes=["webhooks:manage"])
    yield token
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


if webhook_schema is not None:

    @pytest.mark.django_db
    @webhook_schema.parametrize()
    @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    def test_every_webhook_operation_answers_within_its_schema_and_never_5xx(case, manage_token, no_nudge):
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import response_schema_conformance

        case.call_and_validate(
            headers={"Authorization": f"Token {manage_token}"}, checks=[not_a_server_error, response_schema_conformance]
        )


def test_local_receivers_are_refused_unless_allowed(settings, supervisor, receiver, no_nudge):
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = False
    for url in (
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:5432/",
    ):
        with pytest.raises(DomainError) as refused:
            webhooks.webhook_subscription_create(url=url, event_types=["case.state_changed"])
        assert "url" in refused.value.fields
    # A name that resolves to this machine is caught when sending, and nothing is sent.
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True
    subscribe(url=receiver.url.replace("127.0.0.1", "localhost"))
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = False
    overdue_case(days_overdue=12)
    webhooks.webhooks_dispatch()
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "queued" and "local address" in delivery.last_error
