from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionsAppConfig(AppConfig):
    name = "collections_app"
    verbose_name = _("Collections")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from .models import Bucket
        from .selectors import bucket_list_forget

        post_save.connect(bucket_list_forget, sender=Bucket, dispatch_uid="bucket_list_forget_save")
        post_delete.connect(bucket_list_forget, sender=Bucket, dispatch_uid="bucket_list_forget_delete")
