from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CodeLabel(models.Model):
    """What people read for a code that operators or the loan system define (a loan product, a payment
    channel, a message template), in both languages. Fixed codes (states, holds, outcomes, reasons)
    have translated labels in collections_app/labels.py; a row here overrides those of the editable
    kinds (labels.EDITABLE_KINDS)."""

    kind = models.CharField(_("kind"), max_length=30)
    code = models.CharField(_("code"), max_length=100)
    label_en = models.CharField(_("label (English)"), max_length=200, blank=True)
    label_zh_hans = models.CharField(_("label (Simplified Chinese)"), max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("code label")
        verbose_name_plural = _("code labels")
        ordering = ["kind", "code"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="code_label_unique")]

    def __str__(self):
        return f"{self.kind}:{self.code}"
