"""Routes of the action endpoints (contacts, promises, messages, visits, payments). Being built."""
urlpatterns = []
