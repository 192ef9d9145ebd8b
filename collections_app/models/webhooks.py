"""Webhooks out: who is told (subscriptions) and what they are told (deliveries, the outbox and log).

A delivery row is written in the same transaction as the change it reports (services/events.py,
and the sweep's set-based statements on PostgreSQL), with the whole body already rendered, so what
is signed and sent is exactly what was decided then. `(subscription, event_key)` is unique: an
event is queued once per subscription, whatever reruns. services/webhooks/ sends them.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL

# The event types of issue 5 (and CONTRACT.md's webhook section).
EVENT_STATE_CHANGED = "case.state_changed"
EVENT_ASSIGNED = "case.assigned"
EVENT_PAYMENT_RECORDED = "payment.recorded"
EVENT_PROMISE_BROKEN = "promise.broken"
# Repayment plans (CONTRACT.md, "Repayment plans and settlements").
PLAN_EVENT_TYPES = (
    "plan.proposed",
    "plan.activated",
    "plan.declined",
    "plan.expired",
    "plan.broken",
    "plan.kept",
    "plan.cancelled",
)
WEBHOOK_EVENT_TYPES = (
    EVENT_STATE_CHANGED,
    EVENT_ASSIGNED,
    EVENT_PAYMENT_RECORDED,
    EVENT_PROMISE_BROKEN,
    *PLAN_EVENT_TYPES,
)


class WebhookSubscription(models.Model):
    """A receiver: its URL, the shared secret the bodies are signed with, and the types it wants.
    The secret is kept as it is (an HMAC needs it) and shown once, when created or rotated."""

    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("secret"), max_length=200)
    event_types = models.JSONField(_("event types"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_by = models.CharField(_("created by"), default="system", **ACTOR_LABEL)
    # The API client that made it: it alone sees and changes it over the API, and its scopes decide
    # what the delivery bodies carry. Null: made by an operator in /admin/ (bodies carry everything).
    owner = models.ForeignKey(
        "collections_app.ApiClient",
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    # Why it stopped, when the system (not a person) switched it off: the receiver answered 410 Gone.
    disabled_reason = models.CharField(_("disabled because"), max_length=200, blank=True)
    # Held by the one lane task sending to this receiver now (services/webhooks/dispatch.py webhook_lane_claim).
    lane_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["id"]

    def __str__(self):
        return f"{self.url} ({', '.join(self.event_types)})"

    @property
    def secret_hint(self):
        """Enough of the secret to tell two apart, never enough to sign with."""
        return f"{self.secret[:6]}…{self.secret[-4:]}" if len(self.secret) > 12 else "…"


class WebhookDelivery(models.Model):
    """One event for one subscription: queued, then sending, then delivered or failed, with the
    attempts and the receiver's last answer (the delivery log)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(_("event type"), max_length=40)
    # The body's "id": "evt_<CaseEvent id>" for timeline events, "evt_<uuid hex>" otherwise.
    event_key = models.CharField(_("event id"), max_length=64)
    # The whole body {"id", "type", "created_at", "data"}, as decided when the event happened.
    payload = models.JSONField(_("body"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    redeliveries = models.PositiveSmallIntegerField(_("manual redeliveries"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_key"], name="webhook_delivery_once"),
        ]
        indexes = [
            # The dispatcher's claim: queued rows due now, oldest first.
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status="queued"), name="webhook_due_idx"),
            # Requeueing the claims of workers that died.
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="webhook_sending_idx"),
            # A subscription's log, newest first.
            models.Index(fields=["subscription", "-id"], name="webhook_log_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_key} → {self.subscription_id} ({self.status})"
