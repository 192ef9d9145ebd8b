"""`Authorization: Token <key>` for API clients; staff may use their session instead."""
from django.utils import timezone
from rest_framework import authentication, exceptions

from ..actors import actor_for_client
from ..models import ApiClient


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
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1", "replace").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2 or "." not in header[1]:
            raise exceptions.AuthenticationFailed("Malformed token header: use `Authorization: Token <key>`.")
        token = header[1]
        client = ApiClient.objects.filter(key_prefix=token.split(".", 1)[0]).first()
        if client is None or not client.is_active or client.revoked_at or not client.key_matches(token):
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)  # at most once a minute
        return ClientPrincipal(client), client

    def authenticate_header(self, request):
        return self.keyword
