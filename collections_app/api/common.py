"""What every endpoint shares: the actor, scope checks, representation helpers, idempotent POSTs."""
import base64
import hashlib
import json
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import permissions
from rest_framework.response import Response

from ..actors import actor_for_user
from ..errors import DomainError
from ..models import IdempotencyRecord
from ..permissions import api_unmasks_pii, may_use_api
from ..services.pii import pii_log_unmasked
from .auth import ClientPrincipal

IDEMPOTENCY_TTL = timezone.timedelta(hours=24)


def api_actor(request):
    user = request.user
    if isinstance(user, ClientPrincipal):
        return user.actor
    actor = getattr(request, "_collections_actor", None)
    if actor is None:
        actor = request._collections_actor = actor_for_user(user)
    return actor


class ScopePermission(permissions.BasePermission):
    """Clients need a scope granting the ability the view names for the action
    (`required_ability`); people need a role (what they may do is then their role's and row scope's,
    decided by the services). permissions.may_use_api answers."""

    message = "Your token lacks the scope this needs."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return may_use_api(api_actor(request), view.required_ability(request))


def iso(moment, zone=None):
    """ISO 8601 in `zone` (default the current time zone; pass it in when formatting many)."""
    if not moment:
        return None
    return moment.astimezone(zone or timezone.get_current_timezone()).isoformat()


def money(value):
    return f"{value:.2f}" if value is not None else None


def encode_cursor(position, pk):
    raw = json.dumps([position, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, field="after"):
    try:
        padded = text + "=" * (-len(text) % 4)
        position, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return int(position), int(pk)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise DomainError("validation_error", fields={field: ["Not a cursor this API gave out."]}) from None


def validated(serializer_class, data):
    """Validated input, or a `validation_error` DomainError naming the fields (so `idempotent`
    stores and replays it like any other refusal)."""
    from .errors import _flatten

    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise DomainError("validation_error", fields=_flatten(serializer.errors))
    return serializer.validated_data


def json_object(request):
    """The JSON body as a dict (a list or a scalar is bad input, not a 500)."""
    data = request.data
    if not isinstance(data, dict):
        raise DomainError("validation_error", fields={"non_field_errors": [_("Send a JSON object.")]})
    return data


def sees_pii(actor):
    """Unmasked personal data goes only to API clients holding `pii:read` (staff are always masked):
    permissions.py answers."""
    return api_unmasks_pii(actor)


# A placeholder older than this belongs to a request that died without answering (a worker killed
# by its timeout): the key may be used again.
IDEMPOTENCY_ABANDONED = timezone.timedelta(minutes=5)


def idempotent(view_method):
    """`Idempotency-Key` on a POST: the first answer (refusals included) is kept per client or user
    for 24 hours and replayed for the same key, address and body; the key with another body or
    address is 409 `idempotency_conflict`. A placeholder row taken first (in its own transaction)
    makes a concurrent duplicate wait its turn as a conflict instead of running twice.

    A success's answer is stored in the action's own transaction (CONTRACT.md "Retries"): the view
    runs inside one atomic block that ends with storing the answer, so the action and its answer
    commit together or not at all. If anything fails after the action (building the answer, storing
    it), the action is rolled back with it and the placeholder freed: a retry acts once, for real.
    A refusal's answer is stored after its rollback."""

    @wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 200:
            raise DomainError("validation_error", fields={"Idempotency-Key": ["At most 200 characters."]})
        actor = api_actor(request)
        owner = actor.label
        # The address is part of what is replayed: the same key and body sent elsewhere is another request.
        digest = hashlib.sha256(f"{request.method} {request.path}\n".encode() + (request.body or b"")).hexdigest()
        record = _claim(owner, key, digest)
        if record is not None:
            if record.request_hash != digest or record.status_code == 0:
                raise DomainError("idempotency_conflict")
            return _replay(record, actor, request)
        try:
            try:
                with transaction.atomic():
                    response = view_method(self, request, *args, **kwargs)
                    _store(owner, key, actor, response)
            except DomainError as refusal:  # rolled back: only the refusal's answer is kept
                response = Response(refusal.as_dict(), status=refusal.http_status)
                _store(owner, key, actor, response)
        except BaseException:  # a worker's timeout (SystemExit) too: nothing was done, the key is free again
            IdempotencyRecord.objects.filter(owner=owner, key=key, status_code=0).delete()
            raise
        return response

    return wrapper


def _store(owner, key, actor, response):
    IdempotencyRecord.objects.filter(owner=owner, key=key).update(
        status_code=response.status_code, body={"pii": sees_pii(actor), "data": response.data})


def _replay(record, actor, request):
    """The first answer again. One that showed personal data is shown again only to a client that
    may still read it, and the look is audited like the first."""
    stored = record.body or {}
    if stored.get("pii"):
        if not sees_pii(actor):
            raise DomainError("permission_denied", _("The first answer holds personal data this client may no "
                                                     "longer read."))
        pii_log_unmasked(actor=actor, reads=[(None, None, ["replayed answer"])],
                         reason=f"api replay of {request.method} {request.path}")
    response = Response(stored.get("data"), status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(owner, key, digest):
    """None when this request may run (a placeholder is now stored); else the existing record."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(owner=owner, key=key, request_hash=digest, status_code=0, body=None)
            return None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
            if existing is None:
                continue
            age = timezone.now() - existing.created_at
            if age > IDEMPOTENCY_TTL or (existing.status_code == 0 and age > IDEMPOTENCY_ABANDONED):
                existing.delete()
                continue
            return existing
    raise DomainError("idempotency_conflict")
