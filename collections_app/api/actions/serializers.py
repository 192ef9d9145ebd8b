"""Input and output shapes of the action endpoints (contacts, contact check, promises, messages,
visits, payments). Inputs check shape and types only and pass loose values (amounts, times) through
raw: the services parse them and name the field when they cannot, so every door refuses alike."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...models import ContactAttempt, PromiseToPay, ReminderStep, Visit
from ..cases.serializers import StrictSerializer
from ..common.errors import ErrorSerializer

AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"


@extend_schema_field(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "example": "500.00",
        "description": "A decimal string with at most two places (a JSON integer is accepted; "
        "a JSON floating-point number is refused).",
    }
)
class AmountField(serializers.Field):
    """Passes the amount through untouched: the service parses it with values.money (the rule of
    every door), which refuses a JSON floating-point number, since binary floating point cannot
    carry an exact amount, and takes a JSON integer."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return f"{value:.2f}"


@extend_schema_field(OpenApiTypes.DATETIME)
class RawDateTimeField(serializers.CharField):
    """ISO 8601 with an offset, handed to the service as given (it refuses a naive time, naming the field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)


@extend_schema_field(OpenApiTypes.DATE)
class RawDateField(serializers.CharField):
    """YYYY-MM-DD, handed to the service as given (it refuses other digits than ASCII, days that do
    not exist and years outside 1900-2199, naming the field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 32)
        super().__init__(**kwargs)


# --- inputs ----------------------------------------------------------------------------------


def _phone_field(help_text):
    """A phone number on a contact, optional: blank means the borrower's first phone."""
    return serializers.CharField(required=False, allow_blank=True, max_length=32, default="", help_text=help_text)


class ContactInSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=ContactAttempt.Channel.choices)
    direction = serializers.ChoiceField(
        choices=ContactAttempt.Direction.choices, required=False, default=ContactAttempt.Direction.OUTBOUND
    )
    outcome = serializers.ChoiceField(choices=ContactAttempt.Outcome.choices)
    phone = _phone_field("The number used; default the borrower's first phone.")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    occurred_at = RawDateTimeField(
        required=False, allow_null=True, default=None, help_text="When it happened (ISO 8601 with offset); default now."
    )


class ContactCheckQuerySerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=ContactAttempt.Channel.choices)
    phone = _phone_field("The number about to be dialled; default the borrower's first phone.")


class PromiseInSerializer(StrictSerializer):
    amount = AmountField()
    due_date = RawDateField()


class MessageInSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=ReminderStep.Channel.choices)
    template = serializers.CharField(max_length=50)
    schedule = serializers.ChoiceField(
        choices=[("now", "now"), ("next_allowed", "next_allowed")], required=False, default="now"
    )


class VisitInSerializer(StrictSerializer):
    scheduled_for = RawDateTimeField()
    agents = serializers.ListField(
        child=serializers.CharField(max_length=150),
        max_length=20,
        help_text="Usernames of the field agents (two at least under the China preset).",
    )


class PaymentInSerializer(StrictSerializer):
    external_id = serializers.CharField(max_length=64)
    loan = serializers.CharField(max_length=64, help_text="The loan's external id.")
    amount = AmountField()
    paid_at = RawDateTimeField()
    channel = serializers.CharField(max_length=32, required=False, default="bank_transfer")


class ReversalInSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


# --- outputs (documentation; the views build the dicts) ---------------------------------------


class ContactOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=ContactAttempt.Channel.choices)
    direction = serializers.ChoiceField(choices=ContactAttempt.Direction.choices)
    outcome = serializers.ChoiceField(choices=ContactAttempt.Outcome.choices)
    phone = serializers.CharField(allow_blank=True, help_text="Masked (138****8000) without the pii:read scope.")
    notes = serializers.CharField(allow_blank=True)
    breach = serializers.CharField(allow_null=True, help_text="The reason code of the rule it broke, or null.")
    occurred_at = serializers.DateTimeField()


class ContactCheckSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    code = serializers.CharField(allow_null=True)
    next_allowed_at = serializers.DateTimeField(allow_null=True, help_text="In the borrower's offset.")


class PromiseOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField()
    amount = serializers.CharField(help_text="Decimal string, two places.")
    due_date = serializers.DateField()
    status = serializers.ChoiceField(choices=PromiseToPay.Status.choices)


class MessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    not_before = serializers.DateTimeField(help_text="Not sent before this time (the borrower's offset).")


class VisitOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField()
    scheduled_for = serializers.DateTimeField()
    agents = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=Visit.Status.choices)


class CaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class PaymentOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    loan = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal string, two places.")
    paid_at = serializers.DateTimeField()
    channel = serializers.CharField()
    unapplied_amount = serializers.CharField(help_text="What was left over after the instalments (kept, never lost).")
    reversed_at = serializers.DateTimeField(allow_null=True)
    case = CaseRefSerializer(allow_null=True, help_text="The loan's case after the payment (or reversal), or null.")


class RefusalSerializer(ErrorSerializer):
    """A compliance refusal: the error shape plus when the action would be allowed."""

    next_allowed_at = serializers.DateTimeField(allow_null=True)
