"""The webhooks endpoints: serializers, views and urls together."""
