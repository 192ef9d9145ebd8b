"""The loan book: borrowers and loans created or updated by external id (issue 6), the one write
path behind PUT /api/v1/borrowers|loans/{external_id}/, the bulk loans endpoint and the file import
of borrowers and loans.

Rules every caller gets alike:

- Everything is validated before anything is written, and every bad field is named at once in one
  `DomainError("validation_error", fields={...})`. Nested fields are named with a path:
  `consents.sms`, `phones[1]`, `contacts[0].name`, `instalments[2].amount_due` (indexes count from 0,
  in the order sent). A refusal writes nothing.
- Keys absent from `data` are left as stored (on create: the model's defaults; `name` for a borrower,
  `borrower`, `principal` and `disbursed_on` for a loan are then required). Unknown keys are refused
  by name ("Unknown field."), so a typo never passes silently. `external_id` may be repeated in
  `data` when it equals the one addressed.
- "unchanged" writes nothing at all (not even `updated_at`, no event, no case sync).
- Rows are locked (`select_for_update`) for the whole upsert; a concurrent create of the same
  external id that loses the race to the unique constraint continues as an update of the winner.

The loan schedule (`instalments`) is the full schedule, matched by instalment `number`. Paid amounts
come only from payments and are kept: an instalment whose new `amount_due` is below what was already
paid on it, or that has money paid on it and is missing from the new schedule, refuses the whole
upsert with a field error (silently dropping or shrinking paid money would lose a payment's
allocation; the lender must reverse the payment first or keep the instalment). Without the key
`instalments` the stored schedule is left untouched (the file import of loans does that).
"""

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import permissions, values
from ..actors import as_actor
from ..calendar import lender_today
from ..errors import DomainError
from ..models import Borrower, BorrowerContact, Case, Hold, Instalment, Loan
from ..workflow import OPEN_STATES
from .cases import case_sync_with_loan
from .events import event_build, events_write
from .holds import holds_set_from_loan_system

log = logging.getLogger(__name__)

MAX_PHONES = 10
MAX_CONTACTS = 20
MAX_INSTALMENTS = 1200
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BAD = object()  # a value that failed its check (its message is already recorded)

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
LOAN_KEYS = ("external_id", "borrower", "product", "principal", "currency", "disbursed_on", "instalments")
INSTALMENT_KEYS = ("number", "due_date", "amount_due")


@dataclass(frozen=True)
class UpsertResult:
    status: str  # "created" | "updated" | "unchanged"
    obj: Any  # the Borrower or Loan as stored


@dataclass(frozen=True)
class BulkItemResult:
    external_id: Any  # as sent (None when the item had none)
    status: str  # "created" | "updated" | "unchanged" | "error"
    errors: dict  # field -> [messages]; {} unless status is "error"
    obj: Any = None


def book_may_write(actor):
    """Who may write the loan book: permissions.py answers (the "import files" row)."""
    return permissions.may_write_book(actor)


# --- checking input ---------------------------------------------------------------------------


class _Problems:
    """Every bad field of one request, collected before refusing once."""

    def __init__(self):
        self.fields = {}

    def add(self, field, message):
        self.fields.setdefault(field, []).append(str(message))
        return _BAD

    def refuse_if_any(self):
        if self.fields:
            raise DomainError("validation_error", fields=self.fields)


def _value(parser, value, field, problems, **kwargs):
    """Run one of values.py's parsers, recording its message against `field` when it refuses."""
    try:
        return parser(value, **kwargs)
    except values.BadValue as error:
        return problems.add(field, error.message)


def _clean_characters(value, field, problems):
    """`value` (a string) unless it holds a NUL or a lone surrogate."""
    try:
        values.check_characters(value)
    except values.BadValue as error:
        return problems.add(field, error.message)
    return value


def _text(value, field, problems, *, max_length, required=False):
    """A string (None is blank), stripped, at most `max_length` characters."""
    return _value(values.text, value, field, problems, max_length=max_length, required=required)


def clean_external_id(value, field="external_id", problems=None):
    """An external id: 1-64 characters, no surrounding spaces. Raises (or records) a field error."""
    own = problems is None
    problems = problems or _Problems()
    if not isinstance(value, str):
        result = problems.add(field, _("Enter text."))
    elif _clean_characters(value, field, problems) is _BAD:
        result = _BAD
    elif not value or value != value.strip() or len(value) > 64:
        result = problems.add(field, _("Enter 1 to 64 characters without surrounding spaces."))
    else:
        result = value
    if own:
        problems.refuse_if_any()
    return result


def _phone(value, field, problems, *, required=True):
    return _value(values.phone, value, field, problems, required=required)


def _boolean(value, field, problems):
    return _value(values.boolean, value, field, problems)


def _money(value, field, problems, *, positive=False):
    """A Decimal with at most two places, not negative (and above zero when `positive`)."""
    return _value(values.money, value, field, problems, positive=positive)


def _day(value, field, problems):
    return _value(values.day, value, field, problems)


def _number(value, field, problems):
    if isinstance(value, bool):
        return problems.add(field, _("Enter a whole number from 1 to 100000."))
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 6:
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 100000:
        return problems.add(field, _("Enter a whole number from 1 to 100000."))
    return value


def _mapping(data, problems, field=None):
    if not isinstance(data, dict):
        return problems.add(field or "non_field_errors", _("Send an object."))
    return data


def printable(name, limit=100):
    """A name sent by a client, safe to echo back in an answer and to store as JSON (PostgreSQL's
    jsonb refuses NUL; a lone surrogate cannot be encoded)."""
    text = name if isinstance(name, str) else repr(name)
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _unknown_keys(data, allowed, problems, prefix=""):
    for key in data:
        if key not in allowed:
            problems.add(prefix + printable(key), _("Unknown field."))


def _same_external_id(data, external_id, problems):
    if external_id is not _BAD and "external_id" in data and data["external_id"] != external_id:
        problems.add("external_id", _("Differs from the external id addressed."))


# --- borrowers --------------------------------------------------------------------------------


def _clean_borrower(external_id, data):
    """(external_id, fields to set on the model, contacts or None, hold codes or None, problems so
    far). The caller adds what needs the database and refuses once."""
    problems = _Problems()
    external_id = clean_external_id(external_id, problems=problems)
    if _mapping(data, problems) is _BAD:
        problems.refuse_if_any()
    _unknown_keys(data, BORROWER_KEYS, problems)
    _same_external_id(data, external_id, problems)
    fields, contacts, holds = {}, None, None
    for key, max_length in (("national_id", 32), ("address", 400), ("city", 100)):
        if key in data:
            fields[key] = _text(data[key], key, problems, max_length=max_length)
    if "name" in data:
        fields["name"] = _text(data["name"], "name", problems, max_length=200, required=True)
    if "email" in data:
        email = fields["email"] = _text(data["email"], "email", problems, max_length=254)
        if email and email is not _BAD:
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
            fields["time_zone"] = _value(values.time_zone, zone, "time_zone", problems)
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
        if _mapping(consents, problems, "consents") is not _BAD:
            _unknown_keys(consents, CONSENT_KEYS, problems, prefix="consents.")
            for key, model_field in CONSENT_KEYS.items():
                if key in consents:
                    fields[model_field] = _boolean(consents[key], f"consents.{key}", problems)
    if "holds" in data:
        holds = _clean_holds(data["holds"], problems)
    if "contacts" in data:
        contacts = _clean_contacts(data["contacts"], problems)
    if external_id is _BAD:
        problems.refuse_if_any()
    return external_id, fields, contacts, holds, problems


def _clean_phones(value, problems):
    if not isinstance(value, list):
        return problems.add("phones", _("Send a list of phone numbers."))
    if len(value) > MAX_PHONES:
        return problems.add("phones", _("At most %(n)d phone numbers.") % {"n": MAX_PHONES})
    phones = []
    for index, raw in enumerate(value):
        phone = _phone(raw, f"phones[{index}]", problems)
        if phone is not _BAD and phone not in phones:
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
        if _mapping(raw, problems, prefix) is _BAD:
            continue
        _unknown_keys(raw, CONTACT_KEYS, problems, prefix=prefix + ".")
        name = _text(raw.get("name"), f"{prefix}.name", problems, max_length=200, required=True)
        relation = _text(raw.get("relation"), f"{prefix}.relation", problems, max_length=50)
        phone = raw.get("phone")
        phone = "" if phone is None else _phone(phone, f"{prefix}.phone", problems, required=False)
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
            borrower, created = _create_or_lock(Borrower, external_id, fields)
        return _borrower_apply(borrower, created, fields, contacts, holds, actor)


def _create_or_lock(model, external_id, fields):
    """Insert a new row; if a concurrent request inserted the same external id first, lock and
    return that one instead (the caller then applies its data as an update)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return model.objects.create(external_id=external_id, created_at=now, updated_at=now, **fields), True
    except IntegrityError:
        row = model.objects.select_for_update().filter(external_id=external_id).first()
        if row is None:  # the constraint that failed was not the external id's
            raise DomainError("stale_version", _("The record changed while being saved; try again.")) from None
        return row, False


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


# --- loans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    index: int
    number: int
    due_date: date
    amount_due: Decimal


def _clean_loan(external_id, data):
    problems = _Problems()
    external_id = clean_external_id(external_id, problems=problems)
    if _mapping(data, problems) is _BAD:
        problems.refuse_if_any()
    _unknown_keys(data, LOAN_KEYS, problems)
    _same_external_id(data, external_id, problems)
    fields, schedule = {}, None
    if "borrower" in data:
        fields["borrower"] = clean_external_id(data["borrower"], "borrower", problems)
    if "product" in data:
        fields["product"] = _text(data["product"], "product", problems, max_length=64, required=True)
    if "principal" in data:
        fields["principal"] = _money(data["principal"], "principal", problems, positive=True)
    if "currency" in data:
        currency = data["currency"]
        if not isinstance(currency, str) or not _CURRENCY.match(currency.strip().upper()):
            problems.add("currency", _("Enter a three-letter ISO 4217 code such as CNY."))
        else:
            fields["currency"] = currency.strip().upper()
    if "disbursed_on" in data:
        fields["disbursed_on"] = _day(data["disbursed_on"], "disbursed_on", problems)
    if "instalments" in data:
        schedule = _clean_schedule(data["instalments"], problems)
        disbursed = fields.get("disbursed_on")
        if isinstance(disbursed, date) and isinstance(schedule, list):
            for line in schedule:
                if line.due_date < disbursed:
                    problems.add(
                        f"instalments[{line.index}].due_date",
                        _("Falls before the loan was disbursed (%(day)s).") % {"day": disbursed.isoformat()},
                    )
    if external_id is _BAD:
        problems.refuse_if_any()
    return external_id, fields, schedule, problems


def _clean_schedule(value, problems):
    if not isinstance(value, list):
        return problems.add("instalments", _("Send the full schedule as a list of instalments."))
    if len(value) > MAX_INSTALMENTS:
        return problems.add("instalments", _("At most %(n)d instalments.") % {"n": MAX_INSTALMENTS})
    lines, seen = [], {}
    for index, raw in enumerate(value):
        prefix = f"instalments[{index}]"
        if _mapping(raw, problems, prefix) is _BAD:
            continue
        _unknown_keys(raw, INSTALMENT_KEYS, problems, prefix=prefix + ".")
        values = {}
        for key, parse in (("number", _number), ("due_date", _day), ("amount_due", _money)):
            if key not in raw:
                problems.add(f"{prefix}.{key}", _("This field is required."))
                values[key] = _BAD
            else:
                values[key] = parse(raw[key], f"{prefix}.{key}", problems)
        number = values["number"]
        if number is not _BAD:
            if number in seen:
                problems.add(
                    f"{prefix}.number", _("Instalment number %(number)d appears more than once.") % {"number": number}
                )
            seen[number] = index
        if _BAD not in values.values():
            lines.append(_Line(index, number, values["due_date"], values["amount_due"]))
    return lines


def loan_upsert(*, external_id, data, actor=None, as_of=None):
    """Create or update the loan `external_id` from `data` (borrower external id, product, principal,
    currency, disbursed_on and optionally `instalments`, the full schedule). Without `instalments`
    the schedule is left as it is. The loan's case follows in the same transaction. Raises
    DomainError("validation_error", fields={...}); nothing is written then. Returns UpsertResult.

    A loan never moves to another borrower (its cases, contacts and holds are that borrower's):
    a different `borrower` on update is refused. The case is synced as of `as_of` (default: the
    lender's today): opened when something is overdue, resolved when nothing is."""
    actor = as_actor(actor)
    if not book_may_write(actor):
        raise DomainError("permission_denied")
    external_id, fields, schedule, problems = _clean_loan(external_id, data)
    as_of = as_of or lender_today()
    with transaction.atomic():
        loan = Loan.objects.select_for_update().filter(external_id=external_id).first()
        if loan is None:
            for key in ("borrower", "principal", "disbursed_on"):
                if key not in fields:
                    problems.add(key, _("This field is required."))
        borrower_id = _borrower_id(fields, loan, problems)
        if loan is not None:
            _dates_against_stored(loan, fields, schedule, problems)
        problems.refuse_if_any()
        values = {k: v for k, v in fields.items() if k != "borrower"}
        created = False
        if loan is None:
            loan, created = _create_or_lock(Loan, external_id, {**values, "borrower_id": borrower_id})
            if not created and borrower_id != loan.borrower_id:
                raise DomainError(
                    "validation_error", fields={"borrower": [_("A loan cannot move to another borrower.")]}
                )
        return _loan_apply(loan, created, values, schedule, actor, as_of)


def _dates_against_stored(loan, fields, schedule, problems):
    """No instalment falls due before the loan was disbursed, whichever of the two this update
    brings (the request alone is checked in _clean_loan)."""
    if "disbursed_on" not in fields and isinstance(schedule, list):
        for line in schedule:
            if line.due_date < loan.disbursed_on:
                problems.add(
                    f"instalments[{line.index}].due_date",
                    _("Falls before the loan was disbursed (%(day)s).") % {"day": loan.disbursed_on.isoformat()},
                )
    disbursed = fields.get("disbursed_on")
    if isinstance(disbursed, date) and schedule is None:
        first = Instalment.objects.filter(loan=loan).order_by("due_date").values_list("due_date", flat=True).first()
        if first is not None and first < disbursed:
            problems.add(
                "disbursed_on", _("Falls after the first instalment's due date (%(day)s).") % {"day": first.isoformat()}
            )


def _borrower_id(fields, loan, problems):
    """The borrower's row id (None when it cannot be known; `problems` then says why)."""
    wanted = fields.get("borrower")
    if wanted is None:
        return loan.borrower_id if loan is not None else None
    if wanted is _BAD:
        return None
    borrower_id = Borrower.objects.filter(external_id=wanted).values_list("pk", flat=True).first()
    if borrower_id is None:
        problems.add("borrower", _("No borrower with this external id."))
    elif loan is not None and borrower_id != loan.borrower_id:
        problems.add("borrower", _("A loan cannot move to another borrower."))
    return borrower_id


def _loan_apply(loan, created, values, schedule, actor, as_of):
    changed = [] if created else [name for name, value in values.items() if getattr(loan, name) != value]
    for name in changed:
        setattr(loan, name, values[name])
    if schedule is not None:
        stored = [] if created else list(Instalment.objects.select_for_update().filter(loan=loan))
        diff = _schedule_apply(loan, stored, schedule)
        if any(diff.values()):
            changed.append("instalments")
    else:
        diff = None
    if not created and not changed:
        return UpsertResult("unchanged", loan)
    if not created:
        loan.updated_at = timezone.now()
        loan.save(update_fields=[n for n in changed if n != "instalments"] + ["updated_at"])
        case = Case.objects.filter(loan=loan, state__in=OPEN_STATES).only("pk").first()
        if case is not None:
            payload = {"fields": sorted(changed)}
            if diff is not None:
                payload["instalments"] = diff
            events_write(
                [
                    event_build(
                        case,
                        "loan_updated",
                        actor,
                        payload=payload,
                        reason=_("Loan updated: %(fields)s") % {"fields": ", ".join(sorted(changed))},
                    )
                ]
            )
    if created and not any(line.due_date < as_of for line in schedule or ()):
        return UpsertResult("created", loan)  # a new loan with nothing due yet has no case to follow
    case_sync_with_loan(
        loan_id=loan.pk,
        actor=actor,
        as_of=as_of,
        cause=(_("loan %s created") if created else _("loan %s updated")) % loan.external_id,
    )
    return UpsertResult("created" if created else "updated", loan)


def _schedule_apply(loan, stored, schedule):
    """Make the loan's instalments the schedule given, keeping paid amounts. Returns the numbers
    added, changed and removed. Refuses (nothing written) when paid money would be lost."""
    by_number = {i.number: i for i in stored}
    wanted = {line.number: line for line in schedule}
    problems = _Problems()
    for line in schedule:
        old = by_number.get(line.number)
        if old is not None and line.amount_due < old.amount_paid:
            problems.add(
                f"instalments[{line.index}].amount_due",
                _("Below the %(paid)s already paid on this instalment.") % {"paid": f"{old.amount_paid:.2f}"},
            )
    for number in sorted(by_number.keys() - wanted.keys()):
        if by_number[number].amount_paid > 0:
            problems.add(
                "instalments",
                _("Instalment %(number)d has %(paid)s paid on it and cannot be removed from the schedule.")
                % {"number": number, "paid": f"{by_number[number].amount_paid:.2f}"},
            )
    problems.refuse_if_any()
    removed = sorted(by_number.keys() - wanted.keys())
    added, updated = [], []
    for line in schedule:
        old = by_number.get(line.number)
        if old is None:
            added.append(Instalment(loan=loan, number=line.number, due_date=line.due_date, amount_due=line.amount_due))
        elif (old.due_date, old.amount_due) != (line.due_date, line.amount_due):
            old.due_date, old.amount_due = line.due_date, line.amount_due
            updated.append(old)
    if removed:
        Instalment.objects.filter(loan=loan, number__in=removed).delete()
    if updated:
        Instalment.objects.bulk_update(updated, ["due_date", "amount_due"])
    if added:
        Instalment.objects.bulk_create(added)
    return {"added": sorted(i.number for i in added), "changed": sorted(i.number for i in updated), "removed": removed}


def loan_upsert_many(*, items, actor=None, as_of=None):
    """The bulk endpoint's loop: each item (a dict with its `external_id`) applied or refused on its
    own, in its own transaction. Returns one BulkItemResult per item, in the order given."""
    actor = as_actor(actor)
    if not book_may_write(actor):
        raise DomainError("permission_denied")
    as_of = as_of or lender_today()
    results = []
    for item in items:
        external_id = item.get("external_id") if isinstance(item, dict) else None
        shown = external_id if isinstance(external_id, str) and printable(external_id, 64) == external_id else None
        try:
            if not isinstance(item, dict):
                raise DomainError("validation_error", fields={"non_field_errors": [_("Send an object.")]})
            if "external_id" not in item:
                raise DomainError("validation_error", fields={"external_id": [_("This field is required.")]})
            result = loan_upsert(external_id=external_id, data=item, actor=actor, as_of=as_of)
        except DomainError as refusal:
            errors = {k: [str(m) for m in v] for k, v in refusal.fields.items()} or {
                "non_field_errors": [str(refusal.message)]
            }
            results.append(BulkItemResult(shown, "error", errors))
        except Exception:  # each item is its own transaction: the rest still get their answers
            log.exception("bulk loan upsert failed for %r", shown)
            results.append(
                BulkItemResult(
                    shown,
                    "error",
                    {
                        "non_field_errors": [
                            _(
                                "This loan could not be applied (an unexpected error, logged); nothing of it was written."
                            )
                        ]
                    },
                )
            )
        else:
            results.append(BulkItemResult(shown, result.status, {}, result.obj))
    return results
