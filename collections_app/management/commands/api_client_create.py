"""Create an API client and print its token (alone, on the last line: shown once)."""

from django.core.management.base import BaseCommand, CommandError

from collections_app.errors import DomainError
from collections_app.services.api_clients import api_client_create


class Command(BaseCommand):
    help = "Create an API client with scopes; prints the token once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", required=True, help="comma-separated, e.g. cases:read,payments:write")
        parser.add_argument("--rate", type=int, default=600, help="requests per minute")

    def handle(self, *args, name, scopes, rate, **options):
        try:
            client, token = api_client_create(name=name, scopes=scopes.split(","), rate_per_minute=rate)
        except DomainError as refusal:
            raise CommandError("; ".join(f"{f}: {' '.join(map(str, m))}" for f, m in refusal.fields.items())) from None
        self.stdout.write(f"API client {client.name} with scopes {', '.join(client.scopes)}. Token (shown once):")
        self.stdout.write(token)
