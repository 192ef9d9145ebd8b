"""Webhooks out: subscriptions, the outbox written with the change, and the signed delivery.

Writing. Every case event goes through services/events.py, which calls `outbox_for_events` in the
same transaction: one WebhookDelivery per active subscription wanting the event's type, with the
whole body rendered now. The sweep's set-based statements on PostgreSQL insert the same rows in the
same statement as their events (`pg_outbox_cte`). Which event kinds become which types, and the
`data` each type carries (in Python and in SQL), is the event-kind registry's (collections_app/events.py):

    transition, opened   -> case.state_changed
    assigned             -> case.assigned
    payment_recorded     -> payment.recorded
    promise_broken       -> promise.broken

Body: {"id": "evt_<CaseEvent id>", "type", "created_at", "data"}; times are UTC, ISO 8601 with
microseconds and a `Z`. `data` always has `event` (the CaseEvent id, as in /api/v1/events/),
`case`, `loan` (external id), `actor` and `at`, plus per type:
    case.state_changed  from_state (null when the case was opened), to_state, transition
                        ("open" when opened), reason
    case.assigned       from_user, to_user, from_queue, to_queue, reason
    payment.recorded    payment (external id), amount, channel, paid_at, unapplied
    promise.broken      promise (id), amount

Sending. Each subscription is a lane of its own: `webhooks_dispatch_task` starts one lane task per
subscription with rows due, which holds the subscription's lane (`lane_until`) and runs
`webhooks_dispatch(subscription_id=...)`: it claims due rows (select_for_update(skip_locked) plus a
conditional update), POSTs them in order with COLLECTIONS_WEBHOOK_TIMEOUT for the whole exchange,
records each answer as it comes, and hands the rest of the lane back when the receiver stops
answering. Bodies carry what the subscription owner's scopes show (`body_for`). Signed per CONTRACT.md:
    X-Collections-Event: <type>
    X-Collections-Signature: t=<unix seconds at send time>,v1=<hex HMAC-SHA256("<t>.<raw body>", secret)>
The raw body is the stored body as compact JSON with sorted keys, the same bytes on every attempt.
Outcome: any 2xx is delivered. 410 Gone fails the delivery and switches the subscription off
(`disabled_reason` says why; queued rows wait until someone switches it on again). Anything else
(other statuses, 3xx included since redirects are not followed, timeouts, refused connections) is
retried with exponential backoff: 1, 2, 4 ... minutes after each attempt (a larger `Retry-After`
is honoured, capped), until COLLECTIONS_WEBHOOK_MAX_ATTEMPTS (8) attempts, then failed. A failed
or delivered row can be sent again by hand (`webhook_redeliver`). Rows of an inactive subscription
are not sent. A row claimed by a worker that died goes back to the queue after
STALE_CLAIM_MINUTES (the receiver may then see it twice: receivers dedupe by the body's `id`).
"""
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import queue
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import permissions
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..events import SQL_UTC, utc_text, webhook_kinds, webhook_types
from ..models import Case, Loan, WebhookDelivery, WebhookSubscription
from ..models.webhooks import WEBHOOK_EVENT_TYPES

log = logging.getLogger(__name__)

STALE_CLAIM_MINUTES = 5
USER_AGENT = "collections-webhooks/1"
SECRET_PREFIX = "whsec_"


def _knob(name, default):
    return getattr(settings, name, default)


def max_attempts():
    return int(_knob("COLLECTIONS_WEBHOOK_MAX_ATTEMPTS", 8))


def backoff(attempts):
    """How long to wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, capped."""
    base = float(_knob("COLLECTIONS_WEBHOOK_BACKOFF_SECONDS", 60))
    cap = float(_knob("COLLECTIONS_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600))
    return timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), cap))


# --- rendering ------------------------------------------------------------------------------


def event_id(case_event_id):
    return f"evt_{case_event_id}"


def event_data(event, webhook, loan_external_id):
    """The `data` of a timeline event (`event` is a saved CaseEvent) for its kind's `webhook`
    (events.py, whose `sql` mirrors it in `pg_outbox_cte`)."""
    return {"event": event.pk, "case": event.case_id, "loan": loan_external_id, "actor": event.actor,
            "at": utc_text(event.at), **webhook.data(event)}


def envelope(key, event_type, at, data):
    return {"id": key, "type": event_type, "created_at": utc_text(at), "data": data}


def body_bytes(payload):
    """The raw body sent and signed: compact, sorted keys, UTF-8. The same bytes every attempt."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret, timestamp, raw_body):
    """CONTRACT.md: hex HMAC-SHA256 of "<t>.<raw body>" with the subscription secret."""
    message = str(int(timestamp)).encode() + b"." + raw_body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret, timestamp, raw_body):
    return f"t={int(timestamp)},v1={sign(secret, timestamp, raw_body)}"


# --- the outbox -----------------------------------------------------------------------------


def _subscribers():
    """{event type: [subscription id, ...]} of the active subscriptions (a small table)."""
    wanted = {}
    for pk, types in WebhookSubscription.objects.filter(is_active=True).values_list("pk", "event_types"):
        for event_type in types or ():
            wanted.setdefault(event_type, []).append(pk)
    return wanted


def outbox_for_events(events):
    """Queue a delivery per subscription for each saved case event that maps to a webhook type.
    Called by services/events.py inside the transaction that wrote the events. Returns how many."""
    by_kind = webhook_kinds()
    typed = [(e, by_kind[e.kind]) for e in events if e.kind in by_kind and e.pk is not None]
    if not typed:
        return 0
    wanted = _subscribers()
    typed = [(e, w) for e, w in typed if wanted.get(w.type)]
    if not typed:
        return 0
    loans = dict(Case.objects.filter(pk__in={e.case_id for e, _t in typed}).values_list("pk", "loan__external_id"))
    now = timezone.now()
    rows = []
    for event, webhook in typed:
        key = event_id(event.pk)
        payload = envelope(key, webhook.type, event.at, event_data(event, webhook, loans.get(event.case_id)))
        rows.extend(
            WebhookDelivery(subscription_id=sid, event_type=webhook.type, event_key=key, payload=payload,
                            next_attempt_at=now, created_at=now)
            for sid in wanted[webhook.type]
        )
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    nudge_on_commit()
    return len(rows)


def _kick_dispatcher():
    """After commit: ask a worker to send now rather than at beat's next minute. Never fails the
    caller: with the broker down the rows wait in the outbox for beat."""
    from .enqueue import send_now

    try:
        send_now("collections_app.tasks.webhooks_dispatch_task")  # logs and returns False if the broker is down
    except Exception:  # noqa: BLE001 - a nudge is best effort by design
        log.warning("webhook dispatcher not nudged; beat will pick the deliveries up", exc_info=True)


def nudge_on_commit():
    if not _knob("COLLECTIONS_WEBHOOK_NUDGE", True):
        return
    pending = getattr(connection, "run_on_commit", None) or []
    if any(len(entry) > 1 and entry[1] is _kick_dispatcher for entry in pending):
        return  # once per transaction
    transaction.on_commit(_kick_dispatcher)


def _sql_kind_types():
    """The registry's kinds -> webhook types, as SQL rows."""
    return ", ".join(f"('{kind}', '{webhook.type}')" for kind, webhook in webhook_kinds().items())


def _sql_type_data():
    """`CASE wt.event_type WHEN <type> THEN <its data> ... END`, from the registry's Webhook.sql."""
    whens = "\n".join(f"    WHEN '{event_type}' THEN {webhook.sql}" for event_type, webhook in webhook_types().items())
    return f"CASE wt.event_type\n{whens}\n    ELSE jsonb_build_object() END"


def pg_outbox_cte(events="ev", cases=None):
    """A writable CTE (PostgreSQL) that queues deliveries for the events another CTE inserted.

    `events` names a CTE whose `INSERT INTO caseevent ... RETURNING id, case_id, kind, actor,
    from_state, to_state, reason, payload, at`; `cases` a relation with `id` and `loan_id` for
    their cases (default the case table; a statement that inserts the cases passes its own CTE,
    which the table cannot show yet). The body is the one `event_data` and `envelope` build (the
    kinds, types and each type's `data` come from the registry, collections_app/events.py).
    Contains no braces and no bare percent signs, so it can sit in a str.format template; it uses
    the `%(now)s` parameter."""
    cases = cases or Case._meta.db_table
    at = SQL_UTC.format(col="ev.at")
    return f"""webhooks AS (
    INSERT INTO {WebhookDelivery._meta.db_table} (subscription_id, event_type, event_key, payload, status, attempts,
        next_attempt_at, last_error, redeliveries, created_at)
    SELECT s.id, wt.event_type, 'evt_' || ev.id,
           jsonb_build_object('id', 'evt_' || ev.id, 'type', wt.event_type, 'created_at', {at},
               'data', jsonb_build_object('event', ev.id, 'case', ev.case_id, 'loan', wl.external_id,
                                          'actor', ev.actor, 'at', {at})
                       || {_sql_type_data()}),
           'queued', 0, %(now)s, '', 0, %(now)s
    FROM {events} ev
    JOIN (VALUES {_sql_kind_types()}) AS wt(kind, event_type) ON wt.kind = ev.kind
    JOIN {WebhookSubscription._meta.db_table} s ON s.is_active AND s.event_types @> jsonb_build_array(wt.event_type)
    JOIN {cases} wc ON wc.id = ev.case_id
    JOIN {Loan._meta.db_table} wl ON wl.id = wc.loan_id
    ORDER BY ev.id, s.id
    ON CONFLICT (subscription_id, event_key) DO NOTHING
)"""


# --- subscriptions --------------------------------------------------------------------------


def may_manage_webhooks(actor):
    """permissions.py answers (the "webhooks; API clients; /admin/" row)."""
    return permissions.may_manage_webhooks(actor)


def _require_manager(actor):
    if not may_manage_webhooks(actor):
        raise DomainError("permission_denied")


def _clean_url(url):
    url = (url or "").strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise invalid("url", _("An http or https URL.")) from None
    if len(url) > 500:
        raise invalid("url", _("At most 500 characters."))
    if urlsplit(url).username or urlsplit(url).password:
        raise invalid("url", _("No user name or password in the URL: the signature authenticates us."))
    reason = _local_literal(urlsplit(url).hostname or "")
    if reason:
        raise invalid("url", reason)
    return url


def _is_local(ip):
    """This machine, link-local (cloud metadata lives at 169.254.169.254) and the like. Private
    ranges are allowed: a lender's receivers live on its own network."""
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def _local_literal(host):
    """Why a receiver named by a literal address (or `localhost`) is refused, or ''."""
    if _knob("COLLECTIONS_WEBHOOK_ALLOW_LOCAL", False):
        return ""
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return _("A receiver on this machine is refused (set COLLECTIONS_WEBHOOK_ALLOW_LOCAL to allow it).")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if _is_local(ip):
        return _("A receiver at a local or link-local address is refused (set COLLECTIONS_WEBHOOK_ALLOW_LOCAL to "
                 "allow it).")
    return ""


def _local_resolved(host, port):
    """The local address a receiver's name resolves to now (checked before each send, since a
    name can be pointed anywhere after it was accepted), or ''."""
    if _knob("COLLECTIONS_WEBHOOK_ALLOW_LOCAL", False):
        return ""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return ""  # the connection attempt reports it
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _is_local(ip):
            return str(ip)
    return ""


def _clean_types(event_types):
    if isinstance(event_types, str) or not isinstance(event_types, (list, tuple, set)):
        raise invalid("event_types", _("A list of event types."))
    types = sorted({str(t).strip() for t in event_types if str(t).strip()})
    unknown = [t for t in types if t not in WEBHOOK_EVENT_TYPES]
    if unknown:
        raise invalid("event_types", _("Unknown event types: %(bad)s. Known: %(ok)s.")
                      % {"bad": ", ".join(unknown), "ok": ", ".join(WEBHOOK_EVENT_TYPES)})
    if not types:
        raise invalid("event_types", _("Choose at least one event type."))
    return types


def _clean_secret(secret):
    secret = (secret or "").strip()
    if not 16 <= len(secret) <= 200:
        raise invalid("secret", _("Between 16 and 200 characters."))
    return secret


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- ownership: a client's subscriptions are its own; what their bodies carry follows its scopes ----

# Which scopes see a body's fields (CONTRACT.md's scope table, read from permissions.ABILITIES; the
# same reads the API gives them).
# None in a set: no scope needed. Cases are seen with cases:read; a payment with cases:read (the
# events feed) or payments:write (the payment answers); a loan's external id also with loans:write.
_SEES_CASES = permissions.scopes_granting(permissions.SEE_CASE)
_SEES_PAYMENTS = permissions.scopes_granting(permissions.SEE_CASE, permissions.PAYMENT_RECORD)
_SEES_LOANS = permissions.scopes_granting(permissions.SEE_CASE, permissions.BOOK_IMPORT, permissions.PAYMENT_RECORD)
_FIELD_SCOPES = {
    "event": _SEES_CASES, "case": _SEES_CASES, "actor": _SEES_CASES, "at": {None},
    "loan": _SEES_LOANS,
    # case.state_changed, case.assigned, promise.broken
    "from_state": _SEES_CASES, "to_state": _SEES_CASES, "transition": _SEES_CASES, "reason": _SEES_CASES,
    "from_user": _SEES_CASES, "to_user": _SEES_CASES, "from_queue": _SEES_CASES, "to_queue": _SEES_CASES,
    "promise": _SEES_CASES,
    # payment.recorded ("amount" is also a broken promise's: seen by either)
    "payment": _SEES_PAYMENTS, "amount": _SEES_PAYMENTS,
    "channel": _SEES_PAYMENTS, "paid_at": _SEES_PAYMENTS,
    "unapplied": _SEES_PAYMENTS,
}
# The scopes that may subscribe to a type at all.
TYPE_SCOPES = {
    "case.state_changed": _SEES_CASES, "case.assigned": _SEES_CASES, "promise.broken": _SEES_CASES,
    "payment.recorded": _SEES_PAYMENTS,
}


def _client_name(actor):
    return actor.label.split(":", 1)[1] if actor.is_client else None


def _client_of(actor):
    from ..models import ApiClient

    return ApiClient.objects.filter(name=_client_name(actor)).first() if actor.is_client else None


def webhook_subscriptions_for(actor):
    """The subscriptions this actor sees and changes: a client its own, an operator all."""
    actor = as_actor(actor)
    subscriptions = WebhookSubscription.objects.all()
    if actor.is_client:
        subscriptions = subscriptions.filter(owner__name=_client_name(actor))
    return subscriptions


def _require_owner(actor, subscription):
    """Another client's subscription does not exist for this one (404, not 403: no probing)."""
    actor = as_actor(actor)
    if actor.is_client and (subscription.owner_id is None or subscription.owner.name != _client_name(actor)):
        raise DomainError("not_found")


def _check_types_for(actor, types):
    actor = as_actor(actor)
    if not actor.is_client:
        return
    refused = [t for t in types if not (TYPE_SCOPES.get(t, set()) & set(actor.scopes))]
    if refused:
        raise invalid("event_types", _("Your scopes do not show %(types)s: ask for cases:read (or payments:write "
                                       "for payment.recorded).") % {"types": ", ".join(refused)})


def owner_scopes(subscription):
    """The scopes whose view the bodies of this subscription follow: its owner's now (none once the
    owner is revoked or switched off); None for an operator's subscription (everything)."""
    owner = subscription.owner if subscription.owner_id else None
    if owner is None:
        return None
    if not owner.is_active or owner.revoked_at is not None:
        return frozenset()
    return frozenset(owner.scopes or ())


def body_for(payload, scopes):
    """A delivery body as its subscription's owner may see it: `data` keeps only the fields the
    owner's scopes show (scopes None: everything). The envelope (id, type, created_at) stays."""
    if scopes is None:
        return payload
    data = {key: value for key, value in (payload.get("data") or {}).items()
            if _FIELD_SCOPES.get(key, _SEES_CASES) & (set(scopes) | {None})}
    return {**payload, "data": data}


def webhook_subscription_create(*, url, event_types, actor=None, secret=None, description="", is_active=True):
    """Returns (subscription, secret): the secret is shown to whoever created it, once. A client's
    subscription is its own (`owner`), for the event types its scopes show."""
    actor = as_actor(actor)
    _require_manager(actor)
    url, types = _clean_url(url), _clean_types(event_types)
    _check_types_for(actor, types)
    secret = _clean_secret(secret) if secret else new_secret()
    subscription = WebhookSubscription.objects.create(
        url=url, event_types=types, secret=secret, description=(description or "").strip()[:200],
        is_active=bool(is_active), created_by=actor.label, owner=_client_of(actor))
    return subscription, secret


def _locked_subscription(subscription_id, *, actor=None, deleting=False):
    # NO KEY UPDATE for a change: it does not wait for transactions that are queueing deliveries
    # (their foreign keys hold KEY SHARE on the row); a delete has to.
    subscription = (WebhookSubscription.objects.select_for_update(no_key=not deleting, of=("self",))
                    .select_related("owner").filter(pk=subscription_id).first())
    if subscription is None:
        raise DomainError("not_found")
    _require_owner(actor, subscription)
    return subscription


def webhook_subscription_update(*, subscription_id, actor=None, url=None, event_types=None, is_active=None,
                                description=None, secret=None, rotate_secret=False):
    """Change what is given (None leaves a field as it is). A new secret (given, or made by
    `rotate_secret`) is returned once: (subscription, secret or None). Switching a subscription on
    clears the reason it was switched off."""
    _require_manager(actor)
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id, actor=actor)
        if url is not None:
            subscription.url = _clean_url(url)
        if event_types is not None:
            subscription.event_types = _clean_types(event_types)
            _check_types_for(actor, subscription.event_types)
        if description is not None:
            subscription.description = description.strip()[:200]
        if is_active is not None:
            subscription.is_active = bool(is_active)
            if subscription.is_active:
                subscription.disabled_reason = ""
        shown = None
        if secret:
            subscription.secret = shown = _clean_secret(secret)
        elif rotate_secret:
            subscription.secret = shown = new_secret()
        subscription.updated_at = timezone.now()
        subscription.save()
    if is_active:
        nudge_on_commit()  # a backlog waiting for it goes out now
    return subscription, shown


def webhook_subscription_delete(*, subscription_id, actor=None):
    """The subscription and its delivery log go; queued deliveries are not sent."""
    _require_manager(actor)
    with transaction.atomic():
        _locked_subscription(subscription_id, actor=actor, deleting=True).delete()


def webhook_redeliver(*, delivery_id, actor=None):
    """Send a delivery again, now, with the body it had (a fresh signature and time): for a receiver
    that lost it or failed past the retries. Attempts start again from zero."""
    _require_manager(actor)
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(of=("self",))
                    .select_related("subscription__owner").filter(pk=delivery_id).first())
        if delivery is None:
            raise DomainError("not_found")
        _require_owner(actor, delivery.subscription)
        if delivery.status == WebhookDelivery.Status.SENDING:
            raise invalid("delivery", _("This delivery is being sent right now; look again in a minute."))
        now = timezone.now()
        delivery.status, delivery.next_attempt_at, delivery.attempts = WebhookDelivery.Status.QUEUED, now, 0
        delivery.redeliveries = min(delivery.redeliveries + 1, 32767)
        delivery.save(update_fields=["status", "next_attempt_at", "attempts", "redeliveries"])
        nudge_on_commit()
    return delivery


# --- sending --------------------------------------------------------------------------------


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
        log.info("webhook delivery %s: %s answered HTTP %s: %s", delivery_id, parts.hostname, response.status,
                 text[:500])
        return _Answer(response.status, f"HTTP {response.status} {response.reason}".strip()[:200],
                       _retry_after(response.getheader("Retry-After")))
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
        | Q(subscription__owner__is_active=True, subscription__owner__revoked_at__isnull=True))


def _claim(limit, subscription_id=None):
    now = timezone.now()
    due = _sendable(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED, next_attempt_at__lte=now))
    if subscription_id is not None:
        due = due.filter(subscription_id=subscription_id)
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        WebhookDelivery.objects.filter(id__in=ids, status=WebhookDelivery.Status.QUEUED).update(
            status=WebhookDelivery.Status.SENDING, claimed_at=now, last_attempt_at=now, attempts=F("attempts") + 1)
    return list(WebhookDelivery.objects.filter(id__in=ids, status=WebhookDelivery.Status.SENDING, claimed_at=now)
                .select_related("subscription", "subscription__owner").order_by("id"))


def webhook_timeout():
    return float(_knob("COLLECTIONS_WEBHOOK_TIMEOUT", 5))


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
    workers = max(1, min(int(_knob("COLLECTIONS_WEBHOOK_CONCURRENCY", 8)), len(lanes)))

    def run(lane, emit):
        for i, d in enumerate(lane):
            answer = _post(d.subscription.url, d.subscription.secret, d.event_type, d.pk,
                           body_for(d.payload, owner_scopes(d.subscription)), timeout)
            emit(("answer", d, answer))
            if _lane_stops(answer) and lane[i + 1:]:
                emit(("stop", lane[i + 1:], answer))
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
    limit = limit or int(_knob("COLLECTIONS_WEBHOOK_BATCH", 50))
    result = DispatchResult()
    claimed = _claim(limit, subscription_id)
    result.claimed = len(claimed)
    if claimed:
        _send_lanes(claimed, lambda d, answer: _record([(d, answer)], result),
                    lambda rest, answer: _hand_back(rest, result))
    return result


def _hand_back(deliveries, result):
    """Unsent claims of a lane whose receiver stopped answering go back to the queue, the attempt
    not counted, due again after the first backoff (the lane pauses rather than spinning)."""
    now = timezone.now()
    for d in deliveries:
        result.stopped += WebhookDelivery.objects.filter(
            pk=d.pk, status=WebhookDelivery.Status.SENDING, claimed_at=d.claimed_at).update(
            status=WebhookDelivery.Status.QUEUED, claimed_at=None, attempts=F("attempts") - 1,
            next_attempt_at=now + backoff(1))


def webhooks_lanes_due(*, now=None):
    """Ids of the active subscriptions with deliveries due now: one lane task each."""
    now = now or timezone.now()
    return list(_sendable(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED, next_attempt_at__lte=now))
                .order_by("subscription_id").values_list("subscription_id", flat=True).distinct())


def webhook_lane_claim(*, subscription_id, seconds):
    """Hold a subscription's lane (one conditional UPDATE), so that one task at a time sends to a
    receiver: a slow one occupies one worker, never all. True if this caller holds it now."""
    now = timezone.now()
    return bool(WebhookSubscription.objects.filter(pk=subscription_id).filter(
        Q(lane_until__isnull=True) | Q(lane_until__lt=now)).update(lane_until=now + timedelta(seconds=seconds)))


def webhook_lane_release(*, subscription_id):
    WebhookSubscription.objects.filter(pk=subscription_id).update(lane_until=None)


def _record(answers, result):
    now = timezone.now()
    cap = timedelta(seconds=float(_knob("COLLECTIONS_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600)))
    gone = set()
    with transaction.atomic():
        # Only rows still ours: one requeued as stale meanwhile belongs to another dispatcher now.
        claims = dict(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=[d.pk for d, _a in answers], status=WebhookDelivery.Status.SENDING)
            .values_list("pk", "claimed_at"))
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
                delivery.last_error = (answer.error or f"HTTP {answer.status}") + f" (after {delivery.attempts} attempts)"
                result.failed += 1
            changed.append(delivery)
        WebhookDelivery.objects.bulk_update(changed, ["status", "delivered_at", "next_attempt_at", "last_status_code",
                                                      "last_error", "claimed_at"])
        if gone:
            result.disabled = WebhookSubscription.objects.filter(pk__in=gone, is_active=True).update(
                is_active=False, disabled_reason=_("The receiver answered 410 Gone on %s.") % now.date().isoformat(),
                updated_at=now)
    for subscription_id in gone:
        log.warning("webhook subscription %s switched off: its receiver answered 410 Gone", subscription_id)


def webhooks_requeue_stale(*, older_than_minutes=STALE_CLAIM_MINUTES):
    """Deliveries claimed by a worker that died go back to the queue (the attempt counts)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return WebhookDelivery.objects.filter(status=WebhookDelivery.Status.SENDING, claimed_at__lt=cutoff).update(
        status=WebhookDelivery.Status.QUEUED, next_attempt_at=timezone.now(), claimed_at=None)
