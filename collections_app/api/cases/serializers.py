"""Input serializers (shape and types only; the services decide the rest) and output schemas."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ... import values
from ...workflow import REQUESTABLE_TRANSITIONS, State


class StrictSerializer(serializers.Serializer):
    """Unknown fields are an error naming them, not silently ignored."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class MomentField(serializers.Field):
    """ISO 8601 with an offset, parsed by values.moment (the rule of every door)."""

    def to_internal_value(self, data):
        try:
            return values.moment(data)
        except values.BadValue as error:
            raise serializers.ValidationError(error.message) from None

    def to_representation(self, value):
        return value.isoformat()


class CaseFilterSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=State.choices, required=False)
    loan = serializers.CharField(required=False, max_length=64)
    borrower = serializers.CharField(required=False, max_length=64)
    assigned_to = serializers.CharField(required=False, max_length=150)
    queue = serializers.CharField(required=False, max_length=100)
    dpd_min = serializers.IntegerField(required=False, min_value=0, max_value=100000)
    dpd_max = serializers.IntegerField(required=False, min_value=0, max_value=100000)
    updated_after = MomentField(required=False)
    after = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class FeedFilterSerializer(StrictSerializer):
    after = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class LookupSerializer(StrictSerializer):
    loans = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=1000)


class TransitionSerializer(StrictSerializer):
    transition = serializers.ChoiceField(choices=[(t, t) for t in REQUESTABLE_TRANSITIONS])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    expected_state = serializers.ChoiceField(choices=State.choices, required=False)


class BorrowerRefSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField(help_text="Masked (张*) without the pii:read scope.")


class CasePlanSerializer(serializers.Serializer):
    """The case's open plan (proposed or active); next = its first unmet instalment."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=[("plan", "plan"), ("settlement", "settlement")])
    status = serializers.ChoiceField(choices=[("proposed", "proposed"), ("active", "active")])
    next_due_date = serializers.DateField(allow_null=True)
    next_amount = serializers.CharField(allow_null=True, help_text="Decimal string, two places.")


class CaseRiskSerializer(serializers.Serializer):
    """The case's last risk score (docs/risk.md)."""

    band = serializers.ChoiceField(choices=[(b, b) for b in "ABCDE"])
    p_cure = serializers.CharField(
        help_text="Estimated probability that nothing is overdue 30 days after scoring: decimal string, two places."
    )
    reasons = serializers.ListField(
        child=serializers.CharField(),
        max_length=3,
        help_text="Up to 3 codes of the characteristics that cost the most.",
    )
    model = serializers.CharField(help_text="The scorer: <name>-<version>.")
    scored_at = serializers.DateTimeField()


class CaseStrategySerializer(serializers.Serializer):
    """The strategy in force on the case, chosen by rules (docs/strategies.md)."""

    name = serializers.CharField()
    group = serializers.ChoiceField(
        choices=[("champion", "champion"), ("challenger", "challenger")],
        help_text="The case's test group, fixed at its first choice while it stays open.",
    )


class CaseSerializer(serializers.Serializer):
    """Documentation of the case shape; the API builds it with api.representation.case_dict."""

    id = serializers.IntegerField()
    loan = serializers.CharField()
    borrower = BorrowerRefSerializer()
    state = serializers.ChoiceField(choices=State.choices)
    dpd = serializers.IntegerField()
    bucket = serializers.CharField(allow_null=True)
    amount_overdue = serializers.CharField(help_text="Decimal string, two places.")
    currency = serializers.CharField()
    assigned_to = serializers.CharField(allow_null=True)
    queue = serializers.CharField(allow_null=True)
    priority = serializers.IntegerField()
    next_action_at = serializers.DateTimeField(allow_null=True)
    hold = serializers.ListField(child=serializers.CharField())
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    allowed_transitions = serializers.ListField(child=serializers.CharField())
    plan = CasePlanSerializer(allow_null=True, help_text="The open plan (proposed or active), else null.")
    risk = CaseRiskSerializer(allow_null=True, help_text="The last risk score; null until first scored.")
    strategy = CaseStrategySerializer(
        allow_null=True,
        help_text="The strategy chosen by rules at the first scoring; null until then (the product's default acts).",
    )


class VulnerabilitySerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[(c, c) for c in ("illness", "bereavement", "disability", "elderly", "hardship")]
    )
    review_on = serializers.DateField()
    set_by = serializers.CharField()


class CaseDetailSerializer(CaseSerializer):
    """The detail adds the open promise, the last contact and (pii:read only) the vulnerability marker."""

    open_promise = serializers.JSONField(allow_null=True, help_text='{"amount", "due_date"} or null.')
    last_contact = serializers.JSONField(allow_null=True, help_text='{"channel", "outcome", "occurred_at"} or null.')
    vulnerability = VulnerabilitySerializer(
        allow_null=True,
        help_text="The borrower's active vulnerability marker; always null without the pii:read scope.",
    )


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.CharField()
    from_state = serializers.CharField(allow_blank=True)
    to_state = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    payload = serializers.JSONField()
    at = serializers.DateTimeField()
