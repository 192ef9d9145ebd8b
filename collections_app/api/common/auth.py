"""`Authorization: Token <key>` for API clients; staff may use their session instead.

A token's client is kept in the process for COLLECTIONS_API_TOKEN_CACHE_SECONDS (30), so most
requests ask no query to authenticate. Any change of a client (rotate, revoke, scopes, rate) bumps a
generation number in the shared cache (Redis), which every request reads: a revoked or rotated token
stops at once. Without Redis (the embedded default: a per-process cache) another process's change
is seen within the cache's seconds at most. With the shared cache unreachable (Redis down) the
generation is unknown: every request then reads its client from the database and nothing is kept,
so a revoked token still stops at once (collections_app/shared_cache.py).
"""

import hashlib
from time import monotonic

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from ... import shared_cache
from ...actors import actor_for_client
from ...models import ApiClient
from ...services.api_clients import api_clients_generation

_clients = {}  # sha256(token) -> (expires at (monotonic), generation, ApiClient)
_MAX_CACHED = 10_000


def _cached_client(digest, generation):
    hit = _clients.get(digest)
    if hit is None or hit[0] < monotonic() or hit[1] != generation:
        return None
    return hit[2]


def _remember(digest, generation, client):
    if len(_clients) >= _MAX_CACHED:
        _clients.clear()
    ttl = getattr(settings, "COLLECTIONS_API_TOKEN_CACHE_SECONDS", 30)
    if ttl > 0:
        _clients[digest] = (monotonic() + ttl, generation, client)


class ClientPrincipal:
    """What `request.user` is for an API client: authenticated, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_superuser = False
    is_staff = False

    def __init__(self, client):
        self.client = client
        self.actor = actor_for_client(client.name, client.scopes)
        self.pk = None

    def __str__(self):
        return self.actor.label

    def get_username(self):
        return self.actor.label


class ApiTokenAuthentication(authentication.BaseAuthentication):
    # Documented for the OpenAPI schema by api/common/schema.py (ApiTokenScheme).
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1", "replace").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2 or "." not in header[1]:
            raise exceptions.AuthenticationFailed("Malformed token header: use `Authorization: Token <key>`.")
        token = header[1]
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        generation = api_clients_generation()
        if generation is shared_cache.DOWN:
            _clients.clear()  # kept before the outage: a change made during it bumped nothing
            client = None
        else:
            client = _cached_client(digest, generation)
        if client is None:
            client = ApiClient.objects.filter(key_prefix=token.split(".", 1)[0]).first()
            if client is None or not client.is_active or client.revoked_at or not client.key_matches(token):
                raise exceptions.AuthenticationFailed("Invalid or revoked token.")
            if generation is not shared_cache.DOWN:
                _remember(digest, generation, client)
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)  # at most once a minute
            client.last_used_at = now
        return ClientPrincipal(client), client

    def authenticate_header(self, request):
        return self.keyword


from . import schema as _schema  # noqa: E402,F401 - registers the token scheme with drf-spectacular
