"""Routes of the webhook subscription endpoints. Being built."""
urlpatterns = []
