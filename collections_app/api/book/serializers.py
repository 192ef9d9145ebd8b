"""Shapes of the loan book endpoints (borrowers, loans, bulk loans) and the functions that build
their answers from rows already loaded (no query per row).

The input serializers document the request bodies in the OpenAPI schema; the views hand the body to
services/book/ as sent, which checks every field (so the API and the file import refuse alike,
with the same field names and messages)."""

from decimal import Decimal

from rest_framework import serializers

from ...masking import mask_address, mask_email, mask_name, mask_national_id, mask_phone
from ...models import Borrower, Hold
from ..actions.serializers import AmountField
from ..common.views import iso, money, sees_pii

# What a borrower answer carries that is personal data (masked without `pii:read`).
BORROWER_PII_FIELDS = ["name", "national_id", "phones", "email", "address", "contacts"]


# --- inputs (documentation; services/book/ validates) ---------------------------------------


class ConsentsSerializer(serializers.Serializer):
    after_hours = serializers.BooleanField(required=False, help_text="Agreed to contact outside normal hours.")
    sms = serializers.BooleanField(required=False, help_text="false: opted out of SMS.")
    email = serializers.BooleanField(required=False, help_text="false: opted out of e-mail.")


class ContactPersonSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    relation = serializers.CharField(max_length=50, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class BorrowerInSerializer(serializers.Serializer):
    """Every key is optional on update (absent keys are left as stored); `name` is required on create."""

    name = serializers.CharField(max_length=200, required=False)
    national_id = serializers.CharField(max_length=32, required=False, allow_blank=True)
    phones = serializers.ListField(child=serializers.CharField(max_length=32), required=False, max_length=10)
    email = serializers.EmailField(required=False, allow_blank=True)
    address = serializers.CharField(max_length=400, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False, help_text="IANA name; default Asia/Shanghai.")
    language = serializers.ChoiceField(choices=Borrower.Language.choices, required=False)
    consents = ConsentsSerializer(required=False)
    holds = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Codes (" + ", ".join(Hold.Code.values) + ") of the loan system's "
        "active holds: exactly these stay active (staff holds are "
        "untouched; [] lifts the loan system's).",
    )
    contacts = ContactPersonSerializer(many=True, required=False, help_text="Replaces the list.")


class InstalmentInSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=100000)
    due_date = serializers.DateField()
    amount_due = AmountField()


class LoanInSerializer(serializers.Serializer):
    """`borrower`, `principal` and `disbursed_on` are required on create; absent keys are left as
    stored on update. Without `instalments` the stored schedule is left as it is."""

    external_id = serializers.CharField(
        max_length=64, required=False, help_text="Optional here; must equal the one addressed."
    )
    borrower = serializers.CharField(max_length=64, required=False, help_text="The borrower's external id.")
    product = serializers.CharField(max_length=64, required=False)
    principal = AmountField(required=False)
    currency = serializers.CharField(max_length=3, required=False, help_text="ISO 4217; default the lender's.")
    disbursed_on = serializers.DateField(required=False)
    instalments = InstalmentInSerializer(
        many=True, required=False, help_text="The full schedule. Paid amounts are kept."
    )


class BulkLoanInSerializer(LoanInSerializer):
    external_id = serializers.CharField(max_length=64)


class BulkLoansInSerializer(serializers.Serializer):
    loans = BulkLoanInSerializer(many=True, help_text="1 to 1,000 loans.")


# --- outputs ----------------------------------------------------------------------------------


class HoldOutSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=Hold.Code.choices)
    source = serializers.ChoiceField(choices=Hold.Source.choices)
    reason = serializers.CharField(allow_blank=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    placed_by = serializers.CharField()


class ConsentsOutSerializer(serializers.Serializer):
    after_hours = serializers.BooleanField()
    sms = serializers.BooleanField()
    email = serializers.BooleanField()


class ContactPersonOutSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    relation = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)


class BorrowerOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField(allow_blank=True, help_text="Masked (张*) without the pii:read scope.")
    national_id = serializers.CharField(allow_blank=True, help_text="Masked without pii:read.")
    phones = serializers.ListField(child=serializers.CharField(), help_text="Masked without pii:read.")
    email = serializers.CharField(allow_blank=True, help_text="Masked without pii:read.")
    address = serializers.CharField(allow_blank=True, help_text="Masked without pii:read.")
    city = serializers.CharField(allow_blank=True)
    time_zone = serializers.CharField()
    language = serializers.ChoiceField(choices=Borrower.Language.choices)
    consents = ConsentsOutSerializer()
    holds = HoldOutSerializer(many=True, help_text="Every active hold, staff and loan system.")
    contacts = ContactPersonOutSerializer(many=True, help_text="Names and phones masked without pii:read.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class InstalmentOutSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    amount_due = serializers.CharField(help_text="Decimal string, two places.")
    amount_paid = serializers.CharField(help_text="Decimal string, two places (read-only: payments set it).")


class LoanCaseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class LoanOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    borrower = serializers.CharField(help_text="The borrower's external id.")
    product = serializers.CharField()
    principal = serializers.CharField(help_text="Decimal string, two places.")
    currency = serializers.CharField()
    disbursed_on = serializers.DateField()
    instalments = InstalmentOutSerializer(many=True)
    amount_overdue = serializers.CharField(help_text="Unpaid amount past its due date as of the lender's today.")
    case = LoanCaseRefSerializer(allow_null=True, help_text="The loan's most recent case, or null.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class BulkResultSerializer(serializers.Serializer):
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=[(s, s) for s in ("created", "updated", "unchanged", "error")])
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkLoansOutSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


# --- building the answers ---------------------------------------------------------------------


def borrower_dict(borrower, actor, *, holds, contacts):
    """The borrower as this caller sees it: personal data masked without `pii:read`."""
    pii = sees_pii(actor)

    def shown(value, mask):
        return value if pii else mask(value)

    return {
        "external_id": borrower.external_id,
        "name": shown(borrower.name, mask_name),
        "national_id": shown(borrower.national_id, mask_national_id),
        "phones": [shown(p, mask_phone) for p in borrower.phones or []],
        "email": shown(borrower.email, mask_email),
        "address": shown(borrower.address, mask_address),
        "city": borrower.city,
        "time_zone": borrower.time_zone,
        "language": borrower.language,
        "consents": {
            "after_hours": borrower.consent_after_hours,
            "sms": borrower.consent_sms,
            "email": borrower.consent_email,
        },
        "holds": [
            {
                "code": h.code,
                "source": h.source,
                "reason": h.reason,
                "starts_at": iso(h.starts_at),
                "ends_at": iso(h.ends_at),
                "placed_by": h.placed_by_label,
            }
            for h in holds
        ],
        "contacts": [
            {"name": shown(c.name, mask_name), "relation": c.relation, "phone": shown(c.phone, mask_phone)}
            for c in contacts
        ],
        "created_at": iso(borrower.created_at),
        "updated_at": iso(borrower.updated_at),
    }


def loan_dict(loan, *, instalments, case, as_of):
    """The loan as stored (no personal data in it). `case` is {"id", "state"} or None."""
    overdue = sum((i.amount_due - i.amount_paid for i in instalments if i.due_date < as_of), Decimal("0"))
    return {
        "external_id": loan.external_id,
        "borrower": loan.borrower.external_id,
        "product": loan.product,
        "principal": money(loan.principal),
        "currency": loan.currency,
        "disbursed_on": loan.disbursed_on.isoformat(),
        "instalments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "amount_due": money(i.amount_due),
                "amount_paid": money(i.amount_paid),
            }
            for i in instalments
        ],
        "amount_overdue": money(overdue),
        "case": case,
        "created_at": iso(loan.created_at),
        "updated_at": iso(loan.updated_at),
    }


def bulk_result_dict(result):
    return {"external_id": result.external_id, "status": result.status, "errors": result.errors}
