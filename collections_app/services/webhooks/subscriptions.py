"""Subscriptions: create, update, delete, redeliver, who may manage them and whose they are (a
client's are its own; what their bodies carry follows its scopes). Receivers' addresses are checked
here (`_clean_url` when given, `_local_resolved` before each send)."""

import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import permissions
from ...actors import as_actor
from ...errors import DomainError, invalid
from ...models import WebhookDelivery, WebhookSubscription
from ...models.webhooks import PLAN_EVENT_TYPES, WEBHOOK_EVENT_TYPES
from .knobs import knob
from .outbox import nudge_on_commit

SECRET_PREFIX = "whsec_"


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
    if knob("COLLECTIONS_WEBHOOK_ALLOW_LOCAL", False):
        return ""
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return _("A receiver on this machine is refused (set COLLECTIONS_WEBHOOK_ALLOW_LOCAL to allow it).")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if _is_local(ip):
        return _(
            "A receiver at a local or link-local address is refused (set COLLECTIONS_WEBHOOK_ALLOW_LOCAL to allow it)."
        )
    return ""


def _local_resolved(host, port):
    """The local address a receiver's name resolves to now (checked before each send, since a
    name can be pointed anywhere after it was accepted), or ''."""
    if knob("COLLECTIONS_WEBHOOK_ALLOW_LOCAL", False):
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
        raise invalid(
            "event_types",
            _("Unknown event types: %(bad)s. Known: %(ok)s.")
            % {"bad": ", ".join(unknown), "ok": ", ".join(WEBHOOK_EVENT_TYPES)},
        )
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
    "event": _SEES_CASES,
    "case": _SEES_CASES,
    "actor": _SEES_CASES,
    "at": {None},
    "loan": _SEES_LOANS,
    # case.state_changed, case.assigned, promise.broken
    "from_state": _SEES_CASES,
    "to_state": _SEES_CASES,
    "transition": _SEES_CASES,
    "reason": _SEES_CASES,
    "from_user": _SEES_CASES,
    "to_user": _SEES_CASES,
    "from_queue": _SEES_CASES,
    "to_queue": _SEES_CASES,
    "promise": _SEES_CASES,
    # payment.recorded ("amount" is also a broken promise's: seen by either)
    "payment": _SEES_PAYMENTS,
    "amount": _SEES_PAYMENTS,
    "channel": _SEES_PAYMENTS,
    "paid_at": _SEES_PAYMENTS,
    "unapplied": _SEES_PAYMENTS,
    # plan.* (no personal data: the hardship reason and notes are not in the body)
    "plan": _SEES_CASES,
    "kind": _SEES_CASES,
    "status": _SEES_CASES,
    "total": _SEES_CASES,
    "discount": _SEES_CASES,
    "instalments": _SEES_CASES,
    "first_due_date": _SEES_CASES,
    "last_due_date": _SEES_CASES,
}
# The scopes that may subscribe to a type at all.
TYPE_SCOPES = {
    "case.state_changed": _SEES_CASES,
    "case.assigned": _SEES_CASES,
    "promise.broken": _SEES_CASES,
    "payment.recorded": _SEES_PAYMENTS,
    **{plan_type: _SEES_CASES for plan_type in PLAN_EVENT_TYPES},
}


def _client_name(actor):
    return actor.label.split(":", 1)[1] if actor.is_client else None


def _client_of(actor):
    from ...models import ApiClient

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
        raise invalid(
            "event_types",
            _("Your scopes do not show %(types)s: ask for cases:read (or payments:write for payment.recorded).")
            % {"types": ", ".join(refused)},
        )


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
    data = {
        key: value
        for key, value in (payload.get("data") or {}).items()
        if _FIELD_SCOPES.get(key, _SEES_CASES) & (set(scopes) | {None})
    }
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
        url=url,
        event_types=types,
        secret=secret,
        description=(description or "").strip()[:200],
        is_active=bool(is_active),
        created_by=actor.label,
        owner=_client_of(actor),
    )
    return subscription, secret


def _locked_subscription(subscription_id, *, actor=None, deleting=False):
    # NO KEY UPDATE for a change: it does not wait for transactions that are queueing deliveries
    # (their foreign keys hold KEY SHARE on the row); a delete has to.
    subscription = (
        WebhookSubscription.objects.select_for_update(no_key=not deleting, of=("self",))
        .select_related("owner")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None:
        raise DomainError("not_found")
    _require_owner(actor, subscription)
    return subscription


def webhook_subscription_update(
    *,
    subscription_id,
    actor=None,
    url=None,
    event_types=None,
    is_active=None,
    description=None,
    secret=None,
    rotate_secret=False,
):
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
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("subscription__owner")
            .filter(pk=delivery_id)
            .first()
        )
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
