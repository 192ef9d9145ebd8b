"""The operators' model permissions in /admin/ (settings.AUTHENTICATION_BACKENDS names this). Kept out
of admin_site.py, which INSTALLED_APPS imports before the models are ready."""

from django.contrib.auth.backends import BaseBackend


class OperatorsPermissionBackend(BaseBackend):
    """An operator may view, add and change the models of the apps they operate, whenever those
    models were added: the `admin` group's stored permissions date from the migration that made the
    groups, so without this an operator is refused pages (strategies, plan policies, ...) added since.
    Deleting stays with superusers, as migration 0002 decided."""

    OPERATED_APPS = frozenset({"collections_app", "django_celery_beat"})
    VERBS = ("view_", "add_", "change_")

    def _operates(self, user_obj):
        from .actors import actor_for_user
        from .permissions import OPERATE, may

        return bool(user_obj.is_active and user_obj.is_authenticated and may(actor_for_user(user_obj), OPERATE))

    def has_perm(self, user_obj, perm, obj=None):
        app_label, _dot, codename = perm.partition(".")
        return app_label in self.OPERATED_APPS and codename.startswith(self.VERBS) and self._operates(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return app_label in self.OPERATED_APPS and self._operates(user_obj)
