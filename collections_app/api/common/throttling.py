"""Per-client rate limits (DRF throttling): each API client's own `rate_per_minute`; people using
the API with their session share a fixed rate per user. Counts live in the Django cache (Redis
when REDIS_URL is set); with the cache unreachable nothing is counted and every request passes
(collections_app/shared_cache.py): a limit is not worth refusing every client for."""

from rest_framework.throttling import SimpleRateThrottle

from ...shared_cache import fallback_cache
from .auth import ClientPrincipal

STAFF_RATE_PER_MINUTE = 1200


class ClientRateThrottle(SimpleRateThrottle):
    scope = "client"
    cache = fallback_cache

    def get_rate(self):
        return f"{STAFF_RATE_PER_MINUTE}/min"

    def allow_request(self, request, view):
        user = request.user
        if isinstance(user, ClientPrincipal):
            self.num_requests, self.duration = user.client.rate_per_minute, 60
        else:
            self.num_requests, self.duration = STAFF_RATE_PER_MINUTE, 60
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        user = request.user
        if isinstance(user, ClientPrincipal):
            ident = f"client:{user.client.pk}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return f"throttle:{ident}"
