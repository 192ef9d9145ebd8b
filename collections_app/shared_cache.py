"""The shared cache (Redis when REDIS_URL is set) as what it is: an optimisation.

Every use of the cache goes through here. When the cache cannot be reached, a read is a miss and a
write does nothing, so the caller falls back to the database (the token check, the dashboard) or
goes without (rate-limit counts): the API and the pages keep answering with Redis gone. One warning
is logged when an outage is first met and one line when the cache answers again, not one per
request; during an outage the cache is not asked again for COLLECTIONS_CACHE_RETRY_SECONDS, so
requests do not each wait for a connection that fails.
"""

import logging
from time import monotonic

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


def _unreachable_errors():
    errors = [OSError]  # ConnectionError, TimeoutError, socket errors
    try:
        from redis.exceptions import RedisError

        errors.append(RedisError)
    except ImportError:  # pragma: no cover - redis is installed with celery[redis]
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)


UNREACHABLE = _unreachable_errors()

_state = {"down": False, "retry_at": 0.0}
_NOT_GIVEN = object()


class _Down:
    def __repr__(self):
        return "shared_cache.DOWN"


DOWN = _Down()  # what `get(..., if_down=DOWN)` answers while the cache is unreachable


def _retry_seconds():
    return getattr(settings, "COLLECTIONS_CACHE_RETRY_SECONDS", 5)


def available():
    """False while an outage is known (the last call failed and the retry time has not come)."""
    return not _state["down"]


def forget_outage(retry_now=False):
    """Tests, and a cache whose settings changed: ask the cache again on the next call."""
    _state["retry_at"] = 0.0
    if not retry_now:
        _state["down"] = False


def _skip():
    return _state["down"] and monotonic() < _state["retry_at"]


def _failed(operation, key, error):
    if not _state["down"]:
        log.warning(
            "shared cache unavailable (%s %s: %s); answering from the database until it is back", operation, key, error
        )
    _state["down"] = True
    _state["retry_at"] = monotonic() + _retry_seconds()


def _worked():
    if _state["down"]:
        log.warning("shared cache available again")
        _state["down"] = False


def _call(operation, key, fallback, *args, **kwargs):
    if _skip():
        return fallback
    try:
        result = getattr(cache, operation)(key, *args, **kwargs)
    except UNREACHABLE as error:
        _failed(operation, key, error)
        return fallback
    _worked()
    return result


def get(key, default=None, *, if_down=_NOT_GIVEN):
    """The cached value, `default` on a miss, `if_down` (default: `default`) when unreachable."""
    return _call("get", key, default if if_down is _NOT_GIVEN else if_down, default)


def set(key, value, timeout=None):  # noqa: A001 - the cache's own verb
    if timeout is None:
        return _call("set", key, None, value)
    return _call("set", key, None, value, timeout)


def set_forever(key, value):
    return _call("set", key, None, value, None)


def delete(key):
    return _call("delete", key, None)


def incr(key):
    """The incremented value; None when unreachable. A missing key raises ValueError (as the cache)."""
    return _call("incr", key, None)


class FallbackCache:
    """The cache's get/set for code that takes a cache object (DRF's throttles)."""

    def get(self, key, default=None):
        return get(key, default)

    def set(self, key, value, timeout=None):
        return set(key, value, timeout)

    def delete(self, key):
        return delete(key)


fallback_cache = FallbackCache()
