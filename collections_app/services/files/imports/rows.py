"""Borrowers, loans and payments: each row checked here, then applied on its own through the one
write path every door uses (services.book.borrowers.borrower_upsert / book.loans.loan_upsert, services.payment_record),
so a file row and an API call give the same result. A refused row writes nothing."""

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ....errors import DomainError
from ....models import Borrower, Loan
from . import values as v
from .errors import RowRefused

log = logging.getLogger(__name__)


class Checker:
    """Collects every bad cell of a row, so the report names them all at once."""

    def __init__(self, row):
        self.row, self.problems = row, []

    def has(self, name):
        return name in self.row

    def __call__(self, name, parse, *args, **kwargs):
        raw = self.row.get(name, "")
        try:
            return parse(raw, *args, **kwargs)
        except ValueError as error:
            self.problems.append((name, raw, str(error)))
            return None

    def refuse(self, name, reason):
        self.problems.append((name, self.row.get(name, ""), reason))

    def done(self):
        if self.problems:
            raise RowRefused(self.problems)


def _optional(check, name, parse):
    """A column that may be absent or blank: blank leaves the service's default."""
    if not check.has(name) or not check.row[name].strip():
        return None
    return check(name, parse)


def borrower_data(row):
    check = Checker(row)
    external_id = check("external_id", v.text, required=True, max_length=64)
    data = {"name": check("name", v.text, required=True, max_length=200)}
    for name, limit in (("national_id", 32), ("email", 254), ("address", 400), ("city", 100)):
        if check.has(name):
            data[name] = check(name, v.text, max_length=limit)
    if check.has("phones"):
        data["phones"] = v.listing(row["phones"])
    zone = _optional(check, "time_zone", v.time_zone)
    if zone:
        data["time_zone"] = zone
    language = _optional(check, "language", v.language)
    if language:
        data["language"] = language
    consents = {}
    for name, key in (("consent_after_hours", "after_hours"), ("consent_sms", "sms"), ("consent_email", "email")):
        value = _optional(check, name, v.boolean)
        if value is not None:
            consents[key] = value
    if consents:
        data["consents"] = consents
    if check.has("holds"):
        data["holds"] = v.listing(row["holds"])
    check.done()
    return external_id, data


# The other rows a row names (a loan's borrower, a payment's loan): looked up once per chunk of rows
# (known_references), not once per row.
REFERENCES = {"loans": ("borrower", Borrower), "payments": ("loan", Loan)}


def known_references(kind, rows):
    """The external ids, among those the `rows` (picked dicts) name, that exist: one query."""
    if kind not in REFERENCES:
        return frozenset()
    column, model = REFERENCES[kind]
    wanted = {v.text(row.get(column, "")) for row in rows if row}
    wanted.discard("")
    if not wanted:
        return frozenset()
    return frozenset(model.objects.filter(external_id__in=wanted).values_list("external_id", flat=True))


def loan_data(row, known=frozenset()):
    check = Checker(row)
    external_id = check("external_id", v.text, required=True, max_length=64)
    borrower = check("borrower", v.text, required=True, max_length=64)
    if borrower and borrower not in known:
        check.refuse("borrower", v.messages()["no_borrower"])
    data = {"borrower": borrower}
    principal = check("principal", v.money, positive=True)
    data["principal"] = None if principal is None else str(principal)
    disbursed = check("disbursed_on", v.day)
    data["disbursed_on"] = None if disbursed is None else disbursed.isoformat()
    for name, limit in (("product", 64), ("currency", 3)):
        value = _optional(check, name, lambda raw, n=limit: v.text(raw, max_length=n))
        if value:
            data[name] = value.upper() if name == "currency" else value
    check.done()
    return external_id, data


def payment_data(row, known=frozenset()):
    check = Checker(row)
    data = {
        "external_id": check("external_id", v.text, required=True, max_length=64),
        "loan": check("loan", v.text, required=True, max_length=64),
        "amount": check("amount", v.money, positive=True),
        "paid_at": check("paid_at", v.moment),
    }
    channel = _optional(check, "channel", lambda raw: v.text(raw, max_length=32))
    if channel:
        data["channel"] = channel
    if data["loan"] and data["loan"] not in known:
        check.refuse("loan", v.messages()["no_loan"])
    check.done()
    return data


def _refusal(error):
    """A service's DomainError as report problems (column, value, reason)."""
    if error.fields:
        return [(name, "", str(msg)) for name, msgs in error.fields.items() for msg in msgs]
    return [("", "", f"{error.code}: {error.message}")]


def apply_row(kind, row, actor, known=frozenset()):
    """Apply one row; returns "created" | "updated" | "unchanged" or raises RowRefused. `known`:
    known_references() of the row's chunk."""
    from ...book.borrowers import borrower_upsert
    from ...book.loans import loan_upsert
    from ...payments import payment_record

    try:
        with transaction.atomic():
            if kind == "borrowers":
                external_id, data = borrower_data(row)
                return borrower_upsert(external_id=external_id, data=data, actor=actor).status
            if kind == "loans":
                external_id, data = loan_data(row, known)
                return loan_upsert(external_id=external_id, data=data, actor=actor).status
            if kind == "payments":
                result = payment_record(actor=actor, **payment_data(row, known))
                return "created" if result.created else "unchanged"
    except DomainError as error:
        raise RowRefused(_refusal(error)) from None
    except (IntegrityError, ValidationError) as error:
        log.warning("import %s row refused by the database: %s", kind, error)
        raise RowRefused(
            [
                (
                    "",
                    "",
                    _(
                        "Refused by the database (a value out of its range or a rule of the "
                        "book); the operators' log has the details."
                    ),
                )
            ]
        ) from None
    raise ValueError(f"not a per-row kind: {kind}")
