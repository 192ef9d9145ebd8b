"""Borrowers created or updated by external id: `borrower_upsert` (PUT /api/v1/borrowers/{external_id}/,
the file import of borrowers), with their phones, consents, contact persons and holds."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import values
from ...actors import as_actor
from ...errors import DomainError
from ...models import Borrower, BorrowerContact, Case, Hold
from ...workflow import OPEN_STATES
from ..events import event_build, events_write
from ..holds import holds_set_from_loan_system
from .shared import (
    BAD,
    UpsertResult,
    book_may_write,
    check_addressed_record,
    check_boolean,
    check_mapping,
    check_phone,
    check_text,
    check_unknown_keys,
    check_value,
    create_or_lock,
)


MAX_PHONES = 10
MAX_CONTACTS = 20
BORROWER_KEYS = (
    "external_id",
    "name",
    "national_id",
    "phones",
    "email",
    "address",
    "city",
    "time_zone",
    "language",
    "consents",
    "holds",
    "contacts",
)
CONSENT_KEYS = {"after_hours": "consent_after_hours", "sms": "consent_sms", "email": "consent_email"}
CONTACT_KEYS = ("name", "relation", "phone")


def _clean_borrower(external_id, data):
    """(external_id, fields to set on the model, contacts or None, hold codes or None, problems so
    far). The caller adds what needs the database and refuses once."""
    external_id, problems = check_addressed_record(external_id, data, BORROWER_KEYS)
    fields, contacts, holds = {}, None, None
    for key, max_length in (("national_id", 32), ("address", 400), ("city", 100)):
        if key in data:
            fields[key] = check_text(data[key], key, problems, max_length=max_length)
    if "name" in data:
        fields["name"] = check_text(data["name"], "name", problems, max_length=200, required=True)
    if "email" in data:
        email = fields["email"] = check_text(data["email"], "email", problems, max_length=254)
        if email and email is not BAD:
            try:
                validate_email(email)
            except DjangoValidationError:
                problems.add("email", _("Enter a valid e-mail address."))
    if "phones" in data:
        fields["phones"] = _clean_phones(data["phones"], problems)
    if "time_zone" in data:
        zone = data["time_zone"]
        if zone in (None, ""):
            fields["time_zone"] = "Asia/Shanghai"
        else:
            fields["time_zone"] = check_value(values.time_zone, zone, "time_zone", problems)
    if "language" in data:
        language = data["language"]
        if language in (None, ""):
            fields["language"] = Borrower.Language.ZH_HANS
        elif not isinstance(language, str) or language.strip().lower() not in Borrower.Language.values:
            problems.add(
                "language", _("Must be one of: %(choices)s.") % {"choices": ", ".join(Borrower.Language.values)}
            )
        else:
            fields["language"] = language.strip().lower()
    if "consents" in data:
        consents = data["consents"]
        if check_mapping(consents, problems, "consents") is not BAD:
            check_unknown_keys(consents, CONSENT_KEYS, problems, prefix="consents.")
            for key, model_field in CONSENT_KEYS.items():
                if key in consents:
                    fields[model_field] = check_boolean(consents[key], f"consents.{key}", problems)
    if "holds" in data:
        holds = _clean_holds(data["holds"], problems)
    if "contacts" in data:
        contacts = _clean_contacts(data["contacts"], problems)
    if external_id is BAD:
        problems.refuse_if_any()
    return external_id, fields, contacts, holds, problems


def _clean_phones(value, problems):
    if not isinstance(value, list):
        return problems.add("phones", _("Send a list of phone numbers."))
    if len(value) > MAX_PHONES:
        return problems.add("phones", _("At most %(n)d phone numbers.") % {"n": MAX_PHONES})
    phones = []
    for index, raw in enumerate(value):
        phone = check_phone(raw, f"phones[{index}]", problems)
        if phone is not BAD and phone not in phones:
            phones.append(phone)
    return phones


def _clean_holds(value, problems):
    if not isinstance(value, list):
        return problems.add("holds", _("Send a list of hold codes (an empty list lifts the loan system's holds)."))
    codes = set()
    for index, code in enumerate(value[:50]):
        if code not in Hold.Code.values:
            problems.add(
                f"holds[{index}]", _("Must be one of: %(choices)s.") % {"choices": ", ".join(Hold.Code.values)}
            )
        else:
            codes.add(code)
    if len(value) > 50:
        problems.add("holds", _("Too many hold codes."))
    return codes


def _clean_contacts(value, problems):
    if not isinstance(value, list):
        return problems.add("contacts", _("Send a list of contact persons."))
    if len(value) > MAX_CONTACTS:
        return problems.add("contacts", _("At most %(n)d contact persons.") % {"n": MAX_CONTACTS})
    contacts = []
    for index, raw in enumerate(value):
        prefix = f"contacts[{index}]"
        if check_mapping(raw, problems, prefix) is BAD:
            continue
        check_unknown_keys(raw, CONTACT_KEYS, problems, prefix=prefix + ".")
        name = check_text(raw.get("name"), f"{prefix}.name", problems, max_length=200, required=True)
        relation = check_text(raw.get("relation"), f"{prefix}.relation", problems, max_length=50)
        phone = raw.get("phone")
        phone = "" if phone is None else check_phone(phone, f"{prefix}.phone", problems, required=False)
        contacts.append((name, relation, phone))
    return contacts


def borrower_upsert(*, external_id, data, actor=None):
    """Create or update the borrower `external_id` from `data` (the CONTRACT.md borrower shape,
    keys optional on update). Raises DomainError("validation_error", fields={...}) naming each bad
    field; nothing is written then. Returns UpsertResult.

    `holds` is the list of the loan system's hold codes: the active `loan_system` holds become
    exactly these (staff holds are untouched). `contacts` replaces the list of contact persons.
    `time_zone` and `language` sent as null or "" mean the defaults (Asia/Shanghai, zh-hans)."""
    actor = as_actor(actor)
    if not book_may_write(actor):
        raise DomainError("permission_denied")
    external_id, fields, contacts, holds, problems = _clean_borrower(external_id, data)
    with transaction.atomic():
        borrower = Borrower.objects.select_for_update().filter(external_id=external_id).first()
        if borrower is None and "name" not in fields:
            problems.add("name", _("This field is required."))
        problems.refuse_if_any()
        created = False
        if borrower is None:
            borrower, created = create_or_lock(Borrower, external_id, fields)
        return _borrower_apply(borrower, created, fields, contacts, holds, actor)


def _borrower_apply(borrower, created, fields, contacts, holds, actor):
    changed = [] if created else [name for name, value in fields.items() if getattr(borrower, name) != value]
    for name in changed:
        setattr(borrower, name, fields[name])
    if contacts is not None:
        stored = [(c.name, c.relation, c.phone) for c in borrower.contacts.order_by("id")] if not created else []
        if stored != contacts:
            BorrowerContact.objects.filter(borrower=borrower).delete()
            BorrowerContact.objects.bulk_create(
                [BorrowerContact(borrower=borrower, name=n, relation=rel, phone=p) for n, rel, p in contacts]
            )
            changed.append("contacts")
    holds_changed = False
    if holds is not None:
        active = set(
            Hold.objects.active()
            .filter(borrower=borrower, source=Hold.Source.LOAN_SYSTEM)
            .values_list("code", flat=True)
        )
        if active != holds:
            holds_set_from_loan_system(borrower_id=borrower.pk, codes=sorted(holds), actor=actor)
            holds_changed = True
    if created:
        return UpsertResult("created", borrower)
    if not changed and not holds_changed:
        return UpsertResult("unchanged", borrower)
    borrower.updated_at = timezone.now()
    borrower.save(update_fields=[n for n in changed if n != "contacts"] + ["updated_at"])
    if changed:
        _borrower_event(borrower, changed, actor)
    return UpsertResult("updated", borrower)


_API_NAMES = {
    "consent_after_hours": "consents.after_hours",
    "consent_sms": "consents.sms",
    "consent_email": "consents.email",
}


def _borrower_event(borrower, changed, actor):
    """Put the change on the timeline of the borrower's open cases: field names only (the values
    are personal data)."""
    names = sorted(_API_NAMES.get(n, n) for n in changed)
    cases = list(Case.objects.filter(borrower=borrower, state__in=OPEN_STATES).only("pk"))
    if cases:
        events_write(
            [
                event_build(
                    c,
                    "borrower_updated",
                    actor,
                    reason=_("Borrower updated: %(fields)s") % {"fields": ", ".join(names)},
                    payload={"fields": names},
                )
                for c in cases
            ]
        )
