"""The columns of each kind of import file (docs/imports.md is the reference for people)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    # How an XLSX cell of this column is turned into text: "date" (a date cell gives YYYY-MM-DD),
    # "moment" (a date-time cell gives ISO 8601) or "text".
    cell: str = "text"


KINDS = {
    "borrowers": (
        Column("external_id", True),
        Column("name", True),
        Column("national_id"),
        Column("phones"),
        Column("email"),
        Column("address"),
        Column("city"),
        Column("time_zone"),
        Column("language"),
        Column("consent_after_hours"),
        Column("consent_sms"),
        Column("consent_email"),
        Column("holds"),
    ),
    "loans": (
        Column("external_id", True),
        Column("borrower", True),
        Column("product"),
        Column("principal", True),
        Column("currency"),
        Column("disbursed_on", True, "date"),
    ),
    "instalments": (
        Column("loan", True),
        Column("number", True),
        Column("due_date", True, "date"),
        Column("amount_due", True),
    ),
    "payments": (
        Column("external_id", True),
        Column("loan", True),
        Column("amount", True),
        Column("paid_at", True, "moment"),
        Column("channel"),
    ),
}


def columns_of(kind):
    return KINDS[kind]


def normalise_header(name):
    return str(name if name is not None else "").replace("\ufeff", "").strip().lower()
