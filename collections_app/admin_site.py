"""The Django admin is for operators (the `admin` group) only: CONTRACT.md, "Roles and row scope".

Nobody else reaches it, whatever their `is_staff` flag or model permissions say: the admin knows no
row scope, so a collector there would see other collectors' cases. `CollectionsAdminConfig`
(below, named in INSTALLED_APPS) makes this the default site, so `admin.site` and `@admin.register` use it.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class OperatorsAdminSite(AdminSite):
    site_header = _("Collections: operators")
    site_title = _("Collections admin")

    def has_permission(self, request):
        from .actors import actor_for_user
        from .permissions import OPERATE, may

        user = request.user
        if not (user.is_authenticated and user.is_active):
            return False
        return may(actor_for_user(user), OPERATE)


class CollectionsAdminConfig(AdminConfig):
    """django.contrib.admin, with the operators-only site as `admin.site` (INSTALLED_APPS names this)."""

    default_site = "collections_app.admin_site.OperatorsAdminSite"
