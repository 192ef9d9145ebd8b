"""The API's root (/api/v1/, namespace "api"): one include per capability, then the schema."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

app_name = "api"

urlpatterns = [
    path("", include("collections_app.api.cases.urls")),
    path("", include("collections_app.api.actions.urls")),
    path("", include("collections_app.api.webhooks.urls")),
    path("", include("collections_app.api.book.urls")),
    path("", include("collections_app.api.plans.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
