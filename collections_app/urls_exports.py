"""Routes of the exports (downloads of tables as CSV/XLSX), issue 6. Being built."""
urlpatterns = []
