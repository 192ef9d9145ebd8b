"""What every endpoint shares: the actor, scope checks, the base view, input and output helpers.
Idempotent POSTs are in idempotency.py."""

import base64
import json

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import permissions
from rest_framework.views import APIView

from ... import permissions as perms
from ...actors import actor_for_user
from ...errors import DomainError
from ...permissions import api_unmasks_pii, may_use_api
from .auth import ClientPrincipal


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
        raise DomainError("validation_error", fields={field: [_("Not a cursor this API gave out.")]}) from None


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


class _ScopedView(APIView):
    permission_classes = [ScopePermission]
    # The ability (permissions.ABILITIES) a client's scope must grant to read or to post here.
    read_ability = perms.SEE_CASE
    write_ability = perms.SEE_CASE

    def required_ability(self, request):
        return self.read_ability if request.method in ("GET", "HEAD", "OPTIONS") else self.write_ability
