from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL, ACTOR_USER


class CaseEvent(models.Model):
    """The append-only timeline and audit trail of a case: one row per change, with its actor."""

    case = models.ForeignKey("collections_app.Case", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=40)
    # `user:NAME`, `client:NAME` or `system` (CONTRACT.md); the user link is kept for people.
    actor = models.CharField(_("actor"), **ACTOR_LABEL)
    actor_user = models.ForeignKey(**ACTOR_USER)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    payload = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)
    # Set by a database trigger on insert (see Case.change_position).
    change_position = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        indexes = [
            models.Index(fields=["case", "-at", "-id"], name="event_case_timeline_idx"),
            models.Index(fields=["change_position", "id"], name="event_change_position_idx"),
        ]

    def __str__(self):
        return f"{self.case_id} {self.kind} by {self.actor}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("case events are append-only")
        super().save(*args, **kwargs)


class AuditLog(models.Model):
    """Who looked at or took away which personal data, why and when (borrower-level)."""

    class Action(models.TextChoices):
        REVEAL = "reveal", _("Revealed personal data")
        EXPORT = "export", _("Exported personal data")

    actor = models.CharField(**ACTOR_LABEL)
    actor_user = models.ForeignKey(**ACTOR_USER)
    action = models.CharField(max_length=20, choices=Action.choices)
    borrower = models.ForeignKey(
        "collections_app.Borrower", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_logs"
    )
    case = models.ForeignKey(
        "collections_app.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_logs"
    )
    fields = models.JSONField(default=list)
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("personal data audit entry")
        verbose_name_plural = _("personal data audit log")
        indexes = [
            models.Index(fields=["borrower", "at"], name="auditlog_borrower_at_idx"),
            models.Index(fields=["at"], name="auditlog_at_idx"),
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)
