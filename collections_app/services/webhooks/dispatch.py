"""Sending: each subscription is a lane of its own. Claim due rows, POST them signed, in order,
lanes side by side; record each answer (delivered, retried with backoff, failed, 410 switches the
subscription off); hand a lane back when its receiver stops answering; hold and release lanes;
requeue claims of a worker that died. The package's docstring (__init__.py) has the whole story."""

import http.client
import logging
import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ...models import WebhookDelivery, WebhookSubscription
from .._common import claim_queued
from .knobs import STALE_CLAIM_MINUTES, backoff, knob, max_attempts, webhook_timeout
from .signing import body_bytes, signature_header
from .subscriptions import _local_resolved, body_for, owner_scopes

log = logging.getLogger(__name__)

USER_AGENT = "collections-webhooks/1"


@dataclass
class DispatchResult:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    disabled: int = 0
    stopped: int = 0


@dataclass(frozen=True)
class _Answer:
    status: int | None  # HTTP status, None when no answer came
    error: str = ""
    retry_after: int | None = None


def _retry_after(value):
    value = str(value or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _post(url, secret, event_type, delivery_id, payload, timeout):
    """One signed POST. http.client rather than urllib: the header names go out exactly as
    CONTRACT.md spells them, and a redirect is an answer (3xx), not a place to send a signed body."""
    raw = body_bytes(payload)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Collections-Event": event_type,
        "X-Collections-Delivery": str(delivery_id),
        "X-Collections-Signature": signature_header(secret, time.time(), raw),
    }
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    local = _local_resolved(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    if local:
        return _Answer(None, f"refused: the receiver's name resolves to the local address {local}")
    conn = watchdog = None
    expired = []
    try:
        # `timeout` bounds the whole exchange, not each socket operation: a receiver dripping its
        # answer a byte at a time is cut off too (the watchdog shuts the socket at the deadline).
        conn = connection_class(parts.hostname, parts.port, timeout=timeout)
        watchdog = threading.Timer(timeout, _cut_off, (conn, expired))
        watchdog.daemon = True
        watchdog.start()
        conn.request("POST", target, body=raw, headers=headers)
        response = conn.getresponse()
        text = response.read(2000).decode("utf-8", "replace")
        if expired:
            raise TimeoutError("timed out")
        if 200 <= response.status < 300:
            return _Answer(response.status)
        # The receiver's text goes to the log, not to the delivery log the API shows: whoever
        # subscribes must not read what an address answers through us.
        log.info(
            "webhook delivery %s: %s answered HTTP %s: %s", delivery_id, parts.hostname, response.status, text[:500]
        )
        return _Answer(
            response.status,
            f"HTTP {response.status} {response.reason}".strip()[:200],
            _retry_after(response.getheader("Retry-After")),
        )
    except (OSError, http.client.HTTPException, ValueError) as error:  # refused, DNS, timeout, TLS, garbage
        if expired:
            return _Answer(None, f"TimeoutError: timed out after {timeout:g} s (the whole answer)")
        return _Answer(None, f"{type(error).__name__}: {error}"[:500])
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if conn is not None:
            conn.close()


def _cut_off(conn, expired):
    """The watchdog: the deadline passed; shut the socket so the blocked read returns now."""
    expired.append(True)
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _sendable(deliveries):
    """Deliveries of active subscriptions whose owner (if any) is an active, unrevoked client: a
    revoked client's receiver is told nothing (its rows wait, as for a subscription switched off)."""
    return deliveries.filter(subscription__is_active=True).filter(
        Q(subscription__owner__isnull=True)
        | Q(subscription__owner__is_active=True, subscription__owner__revoked_at__isnull=True)
    )


def _claim(limit, subscription_id=None):
    now = timezone.now()
    due = _sendable(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED, next_attempt_at__lte=now))
    if subscription_id is not None:
        due = due.filter(subscription_id=subscription_id)
    claimed = claim_queued(
        due, limit, now=now, order_by=("next_attempt_at", "id"), lock_of=("self",), last_attempt_at=now
    )
    return list(claimed.select_related("subscription", "subscription__owner").order_by("id"))


def _lane_stops(answer):
    """A receiver that does not answer (timeout, refused) or says it is overloaded: the rest of its
    lane waits for the next round instead of costing a timeout each."""
    return answer.status is None or answer.status == 429 or answer.status >= 500


def _lanes(deliveries):
    """The claimed deliveries per subscription, in order: each subscription is a lane of its own."""
    lanes = {}
    for d in deliveries:
        lanes.setdefault(d.subscription_id, []).append(d)
    return list(lanes.values())


def _send_lanes(deliveries, on_answer, on_stop):
    """POST each lane's deliveries one after the other, the lanes side by side (threads, at most
    COLLECTIONS_WEBHOOK_CONCURRENCY), and hand each answer to `on_answer` in this thread as soon as
    it comes, so a hanging receiver delays nobody else's record. A lane whose receiver stops
    answering hands the rest of its deliveries to `on_stop`."""
    timeout = webhook_timeout()
    lanes = _lanes(deliveries)
    workers = max(1, min(int(knob("COLLECTIONS_WEBHOOK_CONCURRENCY", 8)), len(lanes)))

    def run(lane, emit):
        for i, d in enumerate(lane):
            answer = _post(
                d.subscription.url,
                d.subscription.secret,
                d.event_type,
                d.pk,
                body_for(d.payload, owner_scopes(d.subscription)),
                timeout,
            )
            emit(("answer", d, answer))
            if _lane_stops(answer) and lane[i + 1 :]:
                emit(("stop", lane[i + 1 :], answer))
                break

    def handle(item):
        kind, what, answer = item
        if kind == "answer":
            on_answer(what, answer)
        else:
            on_stop(what, answer)

    if workers == 1:
        for lane in lanes:
            run(lane, handle)
        return
    answers = queue.Queue()

    def run_lane(lane):
        try:
            run(lane, answers.put)
        finally:
            answers.put(("done", None, None))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook") as pool:
        for lane in lanes:
            pool.submit(run_lane, lane)
        running = len(lanes)
        while running:
            item = answers.get()
            if item[0] == "done":
                running -= 1
            else:
                handle(item)


def webhooks_dispatch(*, limit=None, subscription_id=None):
    """Claim and send one batch of due deliveries (of one subscription, or of all, each subscription
    in its own lane); record each answer as it comes. Returns the counts (`stopped`: deliveries
    handed back because their receiver stopped answering)."""
    limit = limit or int(knob("COLLECTIONS_WEBHOOK_BATCH", 50))
    result = DispatchResult()
    claimed = _claim(limit, subscription_id)
    result.claimed = len(claimed)
    if claimed:
        _send_lanes(
            claimed, lambda d, answer: _record([(d, answer)], result), lambda rest, answer: _hand_back(rest, result)
        )
    return result


def _hand_back(deliveries, result):
    """Unsent claims of a lane whose receiver stopped answering go back to the queue, the attempt
    not counted, due again after the first backoff (the lane pauses rather than spinning)."""
    now = timezone.now()
    for d in deliveries:
        result.stopped += WebhookDelivery.objects.filter(
            pk=d.pk, status=WebhookDelivery.Status.SENDING, claimed_at=d.claimed_at
        ).update(
            status=WebhookDelivery.Status.QUEUED,
            claimed_at=None,
            attempts=F("attempts") - 1,
            next_attempt_at=now + backoff(1),
        )


def webhooks_lanes_due(*, now=None):
    """Ids of the active subscriptions with deliveries due now: one lane task each."""
    now = now or timezone.now()
    return list(
        _sendable(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED, next_attempt_at__lte=now))
        .order_by("subscription_id")
        .values_list("subscription_id", flat=True)
        .distinct()
    )


def webhook_lane_claim(*, subscription_id, seconds):
    """Hold a subscription's lane (one conditional UPDATE), so that one task at a time sends to a
    receiver: a slow one occupies one worker, never all. True if this caller holds it now."""
    now = timezone.now()
    return bool(
        WebhookSubscription.objects.filter(pk=subscription_id)
        .filter(Q(lane_until__isnull=True) | Q(lane_until__lt=now))
        .update(lane_until=now + timedelta(seconds=seconds))
    )


def webhook_lane_release(*, subscription_id):
    WebhookSubscription.objects.filter(pk=subscription_id).update(lane_until=None)


def _record(answers, result):
    now = timezone.now()
    cap = timedelta(seconds=float(knob("COLLECTIONS_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)))
    gone = set()
    with transaction.atomic():
        # Only rows still ours: one requeued as stale meanwhile belongs to another dispatcher now.
        claims = dict(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=[d.pk for d, _a in answers], status=WebhookDelivery.Status.SENDING)
            .values_list("pk", "claimed_at")
        )
        still_claimed = {d.pk for d, _a in answers if d.pk in claims and claims[d.pk] == d.claimed_at}
        changed = []
        for delivery, answer in answers:
            if delivery.pk not in still_claimed:
                continue
            delivery.last_status_code, delivery.claimed_at = answer.status, None
            if answer.status is not None and 200 <= answer.status < 300:
                delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, ""
                result.delivered += 1
            elif answer.status == 410:
                delivery.status, delivery.last_error = "failed", answer.error or "HTTP 410: Gone"
                gone.add(delivery.subscription_id)
                result.failed += 1
            elif delivery.attempts < max_attempts():
                wait = backoff(delivery.attempts)
                if answer.retry_after:
                    wait = min(max(wait, timedelta(seconds=answer.retry_after)), cap)
                delivery.status, delivery.next_attempt_at = "queued", now + wait
                delivery.last_error = answer.error or f"HTTP {answer.status}"
                result.retried += 1
            else:
                delivery.status = "failed"
                delivery.last_error = (
                    answer.error or f"HTTP {answer.status}"
                ) + f" (after {delivery.attempts} attempts)"
                result.failed += 1
            changed.append(delivery)
        WebhookDelivery.objects.bulk_update(
            changed, ["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error", "claimed_at"]
        )
        if gone:
            result.disabled = WebhookSubscription.objects.filter(pk__in=gone, is_active=True).update(
                is_active=False,
                disabled_reason=_("The receiver answered 410 Gone on %s.") % now.date().isoformat(),
                updated_at=now,
            )
    for subscription_id in gone:
        log.warning("webhook subscription %s switched off: its receiver answered 410 Gone", subscription_id)


def webhooks_requeue_stale(*, older_than_minutes=STALE_CLAIM_MINUTES):
    """Deliveries claimed by a worker that died go back to the queue (the attempt counts)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SENDING, claimed_at__lt=cutoff).update(
        status=WebhookDelivery.Status.QUEUED, next_attempt_at=timezone.now(), claimed_at=None
    )
