"""Idempotent POSTs: the `Idempotency-Key` header, the stored answer and its replay (CONTRACT.md "Retries")."""

import hashlib
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from ...errors import DomainError
from ...models import IdempotencyRecord
from ...services.pii import pii_log_unmasked
from .views import api_actor, sees_pii

IDEMPOTENCY_TTL = timezone.timedelta(hours=24)

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
            raise DomainError("validation_error", fields={"Idempotency-Key": [_("At most 200 characters.")]})
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
        status_code=response.status_code, body={"pii": sees_pii(actor), "data": response.data}
    )


def _replay(record, actor, request):
    """The first answer again. One that showed personal data is shown again only to a client that
    may still read it, and the look is audited like the first."""
    stored = record.body or {}
    if stored.get("pii"):
        if not sees_pii(actor):
            raise DomainError(
                "permission_denied", _("The first answer holds personal data this client may no longer read.")
            )
        pii_log_unmasked(
            actor=actor,
            reads=[(None, None, ["replayed answer"])],
            reason=f"api replay of {request.method} {request.path}",
        )
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
