"""Each webhook subscription is delivered independently (issue 9, point 14): a receiver that hangs
costs its own lane one short timeout and delays nobody else's deliveries."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from collections_app.models import WebhookDelivery, WebhookSubscription
from collections_app.services import webhooks
from collections_app.tasks.webhooks import webhook_lane_task, webhooks_dispatch_task

pytestmark = pytest.mark.django_db


class FakeReceiver:
    """Answers 204 after `hang` seconds (a slow receiver hangs longer than the timeout); with
    `drip`, it sends its answer one byte every `drip` seconds."""

    def __init__(self, hang=0.0, drip=0.0):
        self.hang, self.drip = hang, drip
        self.hits = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hits.append(time.monotonic())
                time.sleep(receiver.hang)
                try:
                    if receiver.drip:
                        for byte in b"HTTP/1.1 204 No Content\r\n\r\n":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(receiver.drip)
                        return
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers(settings):
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True
    settings.COLLECTIONS_WEBHOOK_NUDGE = False
    settings.COLLECTIONS_WEBHOOK_TIMEOUT = 0.5
    made = []

    def make(**kwargs):
        made.append(FakeReceiver(**kwargs))
        return made[-1]

    yield make
    for receiver in made:
        receiver.stop()


def subscribe(url):
    subscription, _secret = webhooks.webhook_subscription_create(url=url, event_types=["case.assigned"])
    return subscription


def emit(n):
    """Queue `n` case.assigned deliveries for every subscription (the outbox rows the services write)."""
    now = timezone.now()
    for i in range(n):
        key = f"evt_lane_{i}"
        payload = webhooks.envelope(key, "case.assigned", now, {"case": i})
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                subscription=s,
                event_type="case.assigned",
                event_key=key,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for s in WebhookSubscription.objects.all()
        )


def test_a_hanging_receiver_does_not_delay_a_healthy_one(receivers, settings):
    settings.COLLECTIONS_WEBHOOK_TIMEOUT = 1.5  # margins for a busy machine
    slow, healthy = receivers(hang=5.0), receivers()
    slow_sub, healthy_sub = subscribe(slow.url), subscribe(healthy.url)
    emit(3)
    started = timezone.now()

    result = webhooks.webhooks_dispatch()

    took = (timezone.now() - started).total_seconds()
    good = WebhookDelivery.objects.filter(subscription=healthy_sub)
    assert set(good.values_list("status", flat=True)) == {"delivered"}
    # Recorded as each answer came, long before the slow receiver's timeout ran out.
    assert max((d - started).total_seconds() for d in good.values_list("delivered_at", flat=True)) < 1.2
    # The slow lane cost one timeout: its first delivery waits for a retry, the rest were handed back.
    assert took < 3.5
    assert len(slow.hits) == 1
    bad = list(WebhookDelivery.objects.filter(subscription=slow_sub).order_by("id"))
    assert [(d.status, d.attempts) for d in bad] == [("queued", 1), ("queued", 0), ("queued", 0)]
    assert "timed out" in bad[0].last_error.lower()
    assert all(d.next_attempt_at > timezone.now() for d in bad)
    assert (result.delivered, result.retried, result.stopped) == (3, 1, 2)


def test_the_timeout_bounds_the_whole_answer_not_each_byte(receivers):
    dripping = receivers(drip=0.3)  # ~8 s for the whole answer, each byte within the timeout
    subscribe(dripping.url)
    emit(1)
    started = time.monotonic()

    webhooks.webhooks_dispatch()

    assert time.monotonic() - started < 2.5
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("queued", None)
    assert "timed out" in delivery.last_error.lower()


def test_the_dispatcher_starts_one_lane_task_per_subscription_and_a_held_lane_is_not_doubled(receivers):
    first, second = receivers(), receivers()
    sub_a, sub_b = subscribe(first.url), subscribe(second.url)
    emit(2)

    assert webhooks.webhook_lane_claim(subscription_id=sub_a.pk, seconds=60)  # a lane task is sending to A
    assert webhook_lane_task(sub_a.pk) == {"busy": True}
    answer = webhooks_dispatch_task()

    assert answer["lanes"] == [sub_a.pk, sub_b.pk]
    assert WebhookDelivery.objects.filter(subscription=sub_a, status="queued").count() == 2  # A's lane was held
    assert WebhookDelivery.objects.filter(subscription=sub_b, status="delivered").count() == 2
    assert first.hits == [] and len(second.hits) == 2

    webhooks.webhook_lane_release(subscription_id=sub_a.pk)
    assert webhook_lane_task(sub_a.pk)["delivered"] == 2
    assert WebhookSubscription.objects.get(pk=sub_a.pk).lane_until is None  # released after the run
