from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionsAppConfig(AppConfig):
    name = "collections_app"
    verbose_name = _("Collections")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .models import ApiClient, Bucket
        from .selectors.cases import bucket_list_forget
        from .services.api_clients import api_clients_changed

        post_save.connect(bucket_list_forget, sender=Bucket, dispatch_uid="bucket_list_forget_save")
        post_delete.connect(bucket_list_forget, sender=Bucket, dispatch_uid="bucket_list_forget_delete")
        # Scopes, rate or state changed in the admin: no process keeps the old client.
        post_save.connect(api_clients_changed, sender=ApiClient, dispatch_uid="api_clients_changed_save")
        post_delete.connect(api_clients_changed, sender=ApiClient, dispatch_uid="api_clients_changed_delete")
        # A label edited in the admin is read at once here (within labels.LABELS_TTL_SECONDS elsewhere).
        from .labels import labels_forget
        from .models import CodeLabel, Queue

        for model in (CodeLabel, Queue):
            post_save.connect(labels_forget, sender=model, dispatch_uid=f"labels_forget_save_{model.__name__}")
            post_delete.connect(labels_forget, sender=model, dispatch_uid=f"labels_forget_delete_{model.__name__}")
