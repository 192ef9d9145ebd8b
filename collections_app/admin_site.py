"""The Django admin is for operators (the `admin` group) only: CONTRACT.md, "Roles and row scope".

Nobody else reaches it, whatever their `is_staff` flag or model permissions say: the admin knows no
row scope, so a collector there would see other collectors' cases. `CollectionsAdminConfig`
(below, named in INSTALLED_APPS) makes this the default site, so `admin.site` and `@admin.register` use it.
`ReadOnlyAdmin` (last) is the base of the admin pages of rows only the services write (admin.py, admin_webhooks.py).
"""

from django.contrib import admin
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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows are written by the services; the admin shows them."""

    show_full_result_count = False  # counting a million rows costs a second a page

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
