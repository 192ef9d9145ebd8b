"""Routes of the loan book endpoints (borrowers, loans, bulk loans), issue 6, included under /api/v1/
in the `api` namespace by api/urls.py. `loans/bulk/` comes first: a loan whose external id is
`bulk` cannot be addressed by PUT/GET (it can still be sent through the bulk endpoint)."""

from django.urls import path

from . import views as v

urlpatterns = [
    path("borrowers/<str:external_id>/", v.BorrowerView.as_view(), name="borrower-detail"),
    path("loans/bulk/", v.LoanBulkView.as_view(), name="loan-bulk"),
    path("loans/<str:external_id>/", v.LoanView.as_view(), name="loan-detail"),
]
