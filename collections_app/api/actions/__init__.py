"""The actions endpoints: serializers, views and urls together."""
