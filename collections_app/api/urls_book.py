"""Routes of the loan book endpoints (borrowers, loans, bulk loans), issue 6. Being built."""
urlpatterns = []
