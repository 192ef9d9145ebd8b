"""The cases endpoints: serializers, views and urls together."""
