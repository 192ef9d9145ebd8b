"""The COLLECTIONS_WEBHOOK_* settings, read at call time (a test or an operator may change them):
attempts, backoff, the timeout. STALE_CLAIM_MINUTES: when a claimed row counts as abandoned."""

from datetime import timedelta

from django.conf import settings

STALE_CLAIM_MINUTES = 5


def knob(name, default):
    return getattr(settings, name, default)


def max_attempts():
    return int(knob("COLLECTIONS_WEBHOOK_MAX_ATTEMPTS", 8))


def backoff(attempts):
    """How long to wait after the `attempts`-th failed attempt: 1, 2, 4 ... minutes, capped."""
    base = float(knob("COLLECTIONS_WEBHOOK_BACKOFF_SECONDS", 60))
    cap = float(knob("COLLECTIONS_WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600))
    return timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), cap))


def webhook_timeout():
    return float(knob("COLLECTIONS_WEBHOOK_TIMEOUT", 5))
