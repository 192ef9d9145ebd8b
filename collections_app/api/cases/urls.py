"""Routes of the case endpoints (list, lookup, detail, events, transitions, the change feed),
included under /api/v1/ in the `api` namespace by api/urls.py."""

from django.urls import path

from . import views as v

urlpatterns = [
    path("cases/", v.CaseListView.as_view(), name="case-list"),
    path("cases/lookup/", v.CaseLookupView.as_view(), name="case-lookup"),
    path("cases/<int:case_id>/", v.CaseDetailView.as_view(), name="case-detail"),
    path("cases/<int:case_id>/events/", v.CaseEventsView.as_view(), name="case-events"),
    path("cases/<int:case_id>/transitions/", v.CaseTransitionView.as_view(), name="case-transitions"),
    path("events/", v.EventFeedView.as_view(), name="event-feed"),
]
