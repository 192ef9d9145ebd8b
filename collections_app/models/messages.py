from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL


class OutboundMessage(models.Model):
    """The reminder outbox. Written in the same transaction as the decision to send, with a unique
    idempotency key (loan, instalment, plan step), so nothing is planned twice; a dispatcher claims
    rows with a conditional update, so nothing is sent twice. Every row ends sent, failed or
    suppressed, with a reason."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    idempotency_key = models.CharField(max_length=120, unique=True)
    borrower = models.ForeignKey("collections_app.Borrower", on_delete=models.CASCADE, related_name="messages")
    loan = models.ForeignKey(
        "collections_app.Loan", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    instalment = models.ForeignKey(
        "collections_app.Instalment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case = models.ForeignKey(
        "collections_app.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    step = models.ForeignKey(
        "collections_app.ReminderStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10)
    template_code = models.CharField(_("template"), max_length=50)
    to_address = models.CharField(_("to"), max_length=254)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    not_before = models.DateTimeField(_("not before"))
    attempts = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(_("reason"), max_length=60, blank=True)
    error = models.TextField(blank=True)
    rendered = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=120, blank=True)
    delivery_status = models.CharField(max_length=30, blank=True)
    requested_by = models.CharField(default="system", **ACTOR_LABEL)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            # The dispatcher's claim: queued rows due now, oldest first.
            models.Index(fields=["not_before"], condition=Q(status="queued"), name="outbox_due_idx"),
            models.Index(fields=["status", "claimed_at"], name="outbox_status_claimed_idx"),
            models.Index(fields=["case", "created_at"], name="outbox_case_idx"),
            models.Index(fields=["provider_message_id"], name="outbox_provider_id_idx"),
        ]

    def __str__(self):
        return f"{self.channel} {self.idempotency_key} ({self.status})"
