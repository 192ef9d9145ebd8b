from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Queue(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    # What people read for the queue in each language (the name when empty): labels.queue_label.
    label_en = models.CharField(_("label (English)"), max_length=200, blank=True)
    label_zh_hans = models.CharField(_("label (Simplified Chinese)"), max_length=200, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="collection_queues")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def label(self):
        from ..labels import queue_label

        return queue_label(self)


class Bucket(models.Model):
    """A days-past-due range. Data, not constants: lenders redraw them."""

    name = models.CharField(_("name"), max_length=20, unique=True)
    min_dpd = models.PositiveIntegerField(_("from day"))
    max_dpd = models.PositiveIntegerField(_("to day"), null=True, blank=True)

    class Meta:
        verbose_name = _("bucket")
        verbose_name_plural = _("buckets")
        ordering = ["min_dpd"]

    def __str__(self):
        return self.name

    def contains(self, dpd):
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)
