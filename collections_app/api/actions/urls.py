"""Routes of the action endpoints (contacts, contact check, promises, messages, visits, payments),
included under /api/v1/ in the `api` namespace by api/urls.py."""

from django.urls import path

from . import views as v

urlpatterns = [
    path("cases/<int:case_id>/contacts/", v.CaseContactsView.as_view(), name="case-contacts"),
    path("cases/<int:case_id>/contact-check/", v.CaseContactCheckView.as_view(), name="case-contact-check"),
    path("cases/<int:case_id>/promises/", v.CasePromisesView.as_view(), name="case-promises"),
    path("cases/<int:case_id>/messages/", v.CaseMessagesView.as_view(), name="case-messages"),
    path("cases/<int:case_id>/visits/", v.CaseVisitsView.as_view(), name="case-visits"),
    path("payments/", v.PaymentsView.as_view(), name="payments"),
    path("payments/<str:external_id>/reversal/", v.PaymentReversalView.as_view(), name="payment-reversal"),
]
