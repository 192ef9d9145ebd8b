from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views_cases

app_name = "api"

urlpatterns = [
    path("cases/", views_cases.CaseListView.as_view(), name="case-list"),
    path("cases/lookup/", views_cases.CaseLookupView.as_view(), name="case-lookup"),
    path("cases/<int:case_id>/", views_cases.CaseDetailView.as_view(), name="case-detail"),
    path("cases/<int:case_id>/events/", views_cases.CaseEventsView.as_view(), name="case-events"),
    path("cases/<int:case_id>/transitions/", views_cases.CaseTransitionView.as_view(), name="case-transitions"),
    path("events/", views_cases.EventFeedView.as_view(), name="event-feed"),
    path("", include("collections_app.api.urls_actions")),
    path("", include("collections_app.api.urls_webhooks")),
    path("", include("collections_app.api.urls_book")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
