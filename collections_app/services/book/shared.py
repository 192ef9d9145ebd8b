"""What borrowers, loans and instalments share: the results, who may write, and the checks of input
(each records its message in `Problems` and answers `BAD` when a value fails)."""

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import permissions, values
from ...errors import DomainError


BAD = object()  # a value that failed its check (its message is already recorded)


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


class Problems:
    """Every bad field of one request, collected before refusing once."""

    def __init__(self):
        self.fields = {}

    def add(self, field, message):
        self.fields.setdefault(field, []).append(str(message))
        return BAD

    def refuse_if_any(self):
        if self.fields:
            raise DomainError("validation_error", fields=self.fields)


def check_value(parser, value, field, problems, **kwargs):
    """Run one of values.py's parsers, recording its message against `field` when it refuses."""
    try:
        return parser(value, **kwargs)
    except values.BadValue as error:
        return problems.add(field, error.message)


def clean_characters(value, field, problems):
    """`value` (a string) unless it holds a NUL or a lone surrogate."""
    try:
        values.check_characters(value)
    except values.BadValue as error:
        return problems.add(field, error.message)
    return value


def check_text(value, field, problems, *, max_length, required=False):
    """A string (None is blank), stripped, at most `max_length` characters."""
    return check_value(values.text, value, field, problems, max_length=max_length, required=required)


def clean_external_id(value, field="external_id", problems=None):
    """An external id: 1-64 characters, no surrounding spaces. Raises (or records) a field error."""
    own = problems is None
    problems = problems or Problems()
    if not isinstance(value, str):
        result = problems.add(field, _("Enter text."))
    elif clean_characters(value, field, problems) is BAD:
        result = BAD
    elif not value or value != value.strip() or len(value) > 64:
        result = problems.add(field, _("Enter 1 to 64 characters without surrounding spaces."))
    else:
        result = value
    if own:
        problems.refuse_if_any()
    return result


def check_phone(value, field, problems, *, required=True):
    return check_value(values.phone, value, field, problems, required=required)


def check_boolean(value, field, problems):
    return check_value(values.boolean, value, field, problems)


def check_money(value, field, problems, *, positive=False):
    """A Decimal with at most two places, not negative (and above zero when `positive`)."""
    return check_value(values.money, value, field, problems, positive=positive)


def check_day(value, field, problems):
    return check_value(values.day, value, field, problems)


def check_number(value, field, problems):
    if isinstance(value, bool):
        return problems.add(field, _("Enter a whole number from 1 to 100000."))
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 6:
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 100000:
        return problems.add(field, _("Enter a whole number from 1 to 100000."))
    return value


def check_mapping(data, problems, field=None):
    if not isinstance(data, dict):
        return problems.add(field or "non_field_errors", _("Send an object."))
    return data


def printable(name, limit=100):
    """A name sent by a client, safe to echo back in an answer and to store as JSON (PostgreSQL's
    jsonb refuses NUL; a lone surrogate cannot be encoded)."""
    text = name if isinstance(name, str) else repr(name)
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def check_unknown_keys(data, allowed, problems, prefix=""):
    for key in data:
        if key not in allowed:
            problems.add(prefix + printable(key), _("Unknown field."))


def check_addressed_record(external_id, data, allowed_keys):
    """The first checks of a record sent to its external id's address: (the external id or BAD, the
    problems so far). A body that is not an object is refused at once; unknown keys, and an
    `external_id` in the body other than the one addressed, are recorded."""
    problems = Problems()
    external_id = clean_external_id(external_id, problems=problems)
    if check_mapping(data, problems) is BAD:
        problems.refuse_if_any()
    check_unknown_keys(data, allowed_keys, problems)
    if external_id is not BAD and "external_id" in data and data["external_id"] != external_id:
        problems.add("external_id", _("Differs from the external id addressed."))
    return external_id, problems


def create_or_lock(model, external_id, fields):
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
