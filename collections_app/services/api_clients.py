"""API clients: created, rotated and revoked here (the command, the admin and tests call these)."""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import shared_cache
from ..errors import invalid
from ..models import ApiClient
from ..models.api import hash_key
from ..roles import ALL_SCOPES


# Bumped on every change of a client; the token authentication keeps clients in the process only
# while this number is unchanged (api/common/auth.py).
GENERATION_KEY = "collections:api-clients-generation"


def api_clients_generation():
    """The generation number; `shared_cache.DOWN` while the shared cache is unreachable (then no
    process may rely on a client it kept: the token check reads the database every time)."""
    return shared_cache.get(GENERATION_KEY, 0, if_down=shared_cache.DOWN)


def _bump_generation():
    try:
        shared_cache.incr(GENERATION_KEY)
    except ValueError:  # not set yet (or evicted)
        current = api_clients_generation()
        if current is not shared_cache.DOWN:
            shared_cache.set_forever(GENERATION_KEY, current + 1)


def api_clients_changed(**_kwargs):
    """Every process forgets the clients it kept, once the change is committed."""
    transaction.on_commit(_bump_generation)


def _new_token():
    prefix = secrets.token_hex(4)
    return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"


def _clean_scopes(scopes):
    scopes = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise invalid(
            "scopes",
            _("Unknown scopes: %(bad)s. Known: %(ok)s.") % {"bad": ", ".join(unknown), "ok": ", ".join(ALL_SCOPES)},
        )
    if not scopes:
        raise invalid("scopes", _("Give at least one scope."))
    return scopes


def api_client_create(*, name, scopes, rate_per_minute=600):
    """Returns (client, token). The token is not stored: show it once."""
    scopes = _clean_scopes(scopes)
    if ApiClient.objects.filter(name=name).exists():
        raise invalid("name", _("An API client named “%s” exists.") % name)
    prefix, token = _new_token()
    client = ApiClient.objects.create(
        name=name, key_prefix=prefix, key_hash=hash_key(token), scopes=scopes, rate_per_minute=rate_per_minute
    )
    return client, token


def api_client_rotate(*, client_id):
    """A new token; the old one stops working at once."""
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().get(pk=client_id)
        prefix, token = _new_token()
        client.key_prefix, client.key_hash, client.rotated_at = prefix, hash_key(token), timezone.now()
        client.save(update_fields=["key_prefix", "key_hash", "rotated_at"])
        api_clients_changed()
    return client, token


def api_client_revoke(*, client_id):
    ApiClient.objects.filter(pk=client_id, revoked_at__isnull=True).update(is_active=False, revoked_at=timezone.now())
    api_clients_changed()
