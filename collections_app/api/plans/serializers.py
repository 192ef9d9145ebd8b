"""Input and output shapes of the plan endpoints. Inputs check shape and types only; amounts, days
and the instalments pass through raw: services/plans/ parses them and names the field it cannot
read (`instalments[0].due_date`), so the API and the case page refuse alike."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...models import HardshipReason, PlanKind, PlanStatus
from ..actions.serializers import AMOUNT_PATTERN, AmountField, RawDateField
from ..cases.serializers import StrictSerializer

MAX_INSTALMENTS = 60  # services/plans/propose.MAX_INSTALMENTS: the schema states the service's bound

_AMOUNT = {"type": "string", "pattern": AMOUNT_PATTERN, "example": "500.00"}


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_INSTALMENTS,
        "items": {
            "type": "object",
            "properties": {"due_date": {"type": "string", "format": "date"}, "amount": _AMOUNT},
            "required": ["due_date", "amount"],
        },
        "description": "The schedule, in date order, none in the past. Leave out to build it from `months`.",
    }
)
class RawInstalmentsField(serializers.Field):
    """Passed to the service as sent: it checks each item and names `instalments[i].due_date` or
    `instalments[i].amount` when one is wrong (DRF's nested errors could not name them so)."""

    def to_internal_value(self, data):
        return data


class PlanProposeSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=PlanKind.choices)
    reason = serializers.ChoiceField(choices=HardshipReason.choices, help_text="The hardship behind the plan.")
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    instalments = RawInstalmentsField(required=False, allow_null=True, default=None)
    months = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_INSTALMENTS
    )
    first_due_date = RawDateField(required=False, allow_null=True, default=None)
    down_payment = AmountField(
        required=False, allow_null=True, default=None, help_text="The first payment (default: equal parts)."
    )
    discount = AmountField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Settlement only: the amount forgiven if kept (with `months`: the total is the balance less it).",
    )
    monthly_income = AmountField(required=False, allow_null=True, default=None)
    essential_spending = AmountField(required=False, allow_null=True, default=None)


class PlanDecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=[("approve", "approve"), ("decline", "decline")])
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, default="", help_text="Required to decline."
    )


class PlanCancelSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


# --- outputs (documentation; the views build the dicts) ---------------------------------------


class PlanInstalmentSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.CharField(help_text="Decimal string, two places.")
    met = serializers.BooleanField()


class PlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PlanKind.choices)
    status = serializers.ChoiceField(choices=PlanStatus.choices)
    reason = serializers.ChoiceField(
        choices=HardshipReason.choices, allow_null=True, help_text="Personal data: null without pii:read."
    )
    notes = serializers.CharField(allow_null=True, allow_blank=True, help_text="Personal data: null without pii:read.")
    total = serializers.CharField(help_text="Decimal string, two places.")
    discount = serializers.CharField(help_text="Settlement: forgiven if kept; plan: 0.00.")
    instalments = PlanInstalmentSerializer(many=True)
    proposed_by = serializers.CharField()
    decided_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class PlanListSerializer(serializers.Serializer):
    results = PlanSerializer(many=True)
