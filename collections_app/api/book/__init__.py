"""The book endpoints: serializers, views and urls together."""
