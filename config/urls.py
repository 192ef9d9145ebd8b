from django.contrib import admin
from django.urls import include, path, re_path

from collections_app.api.common.errors import not_found as api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("collections_app.api.urls")),
    re_path(r"^api/", api_not_found),  # every other address under /api/: the JSON 404
    path("", include("collections_app.web.urls")),
]

handler500 = "collections_app.api.common.errors.server_error"
