"""The webhook endpoints' shapes: subscription input (create, update), output, the delivery log."""

from rest_framework import serializers as drf

from ...models import WebhookDelivery
from ...models.webhooks import WEBHOOK_EVENT_TYPES
from ..cases.serializers import StrictSerializer


# --- shapes ---------------------------------------------------------------------------------


class SubscriptionCreateSerializer(StrictSerializer):
    url = drf.CharField(max_length=500, help_text="http or https; the receiver of the POSTs.")
    event_types = drf.ListField(child=drf.ChoiceField(choices=WEBHOOK_EVENT_TYPES), min_length=1, max_length=10)
    description = drf.CharField(required=False, allow_blank=True, max_length=200, default="")
    is_active = drf.BooleanField(required=False, default=True)
    secret = drf.CharField(
        required=False,
        min_length=16,
        max_length=200,
        help_text="Optional: by default a secret is made and returned once.",
    )


class SubscriptionUpdateSerializer(StrictSerializer):
    url = drf.CharField(required=False, max_length=500)
    event_types = drf.ListField(
        child=drf.ChoiceField(choices=WEBHOOK_EVENT_TYPES), min_length=1, max_length=10, required=False
    )
    description = drf.CharField(required=False, allow_blank=True, max_length=200)
    is_active = drf.BooleanField(required=False)
    rotate_secret = drf.BooleanField(
        required=False, default=False, help_text="Make a new secret (returned once); the old one stops at once."
    )


class SubscriptionSerializer(drf.Serializer):
    """Documentation of the subscription shape (built by `subscription_dict`)."""

    id = drf.IntegerField()
    url = drf.CharField()
    event_types = drf.ListField(child=drf.ChoiceField(choices=WEBHOOK_EVENT_TYPES))
    is_active = drf.BooleanField()
    description = drf.CharField(allow_blank=True)
    secret_hint = drf.CharField(help_text="The secret's first and last characters, to tell secrets apart.")
    disabled_reason = drf.CharField(allow_blank=True, help_text="Set when the system switched it off (410 Gone).")
    created_by = drf.CharField()
    created_at = drf.DateTimeField()
    updated_at = drf.DateTimeField()


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = drf.CharField(help_text="Shown once: keep it to verify X-Collections-Signature.")


class SubscriptionChangedSerializer(SubscriptionSerializer):
    secret = drf.CharField(required=False, help_text="Only when `rotate_secret` was true: the new secret, shown once.")


class DeliverySerializer(drf.Serializer):
    id = drf.IntegerField()
    subscription = drf.IntegerField()
    event_type = drf.CharField(help_text="One of the subscription's event types.")
    event_id = drf.CharField(help_text="The body's `id`.")
    status = drf.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = drf.IntegerField()
    next_attempt_at = drf.DateTimeField(allow_null=True, help_text="When queued: the next try.")
    last_attempt_at = drf.DateTimeField(allow_null=True)
    last_status_code = drf.IntegerField(allow_null=True)
    last_error = drf.CharField(allow_blank=True)
    delivered_at = drf.DateTimeField(allow_null=True)
    redeliveries = drf.IntegerField()
    created_at = drf.DateTimeField()
    body = drf.JSONField(
        help_text='What is POSTed: {"id", "type", "created_at", "data"}; `data` carries only '
        "what the subscription owner's scopes show."
    )


class DeliveryFilterSerializer(StrictSerializer):
    status = drf.ChoiceField(choices=WebhookDelivery.Status.choices, required=False)
    before = drf.IntegerField(required=False, min_value=1)
    limit = drf.IntegerField(required=False, min_value=1, max_value=500)
