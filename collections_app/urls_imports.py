"""Routes of the import pages (/imports/), issue 6. Being built."""
urlpatterns = []
