"""Turning the text of a cell into the value the domain uses, or the reason it cannot.

Each parser returns the value or raises ValueError(reason for people); money, days and moments are
collections_app/values.py's (whose BadValue is a ValueError). The messages are the ones
docs/imports.md lists; the PostgreSQL path of instalments (instalments_pg.py) uses the same texts."""

import re
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

from .... import values

# What is trimmed around a cell's text, by both paths (the PostgreSQL one passes it to btrim):
# spaces, tabs, line ends, and the no-break and ideographic spaces spreadsheets leave behind.
TRIM = " \t\r\n\x0b\x0c\u00a0\u3000"


def messages():
    """The reasons a cell is refused, by key (translated for the current language)."""
    return {
        "required": _("A value is required."),
        "number": _("Enter a whole number of 1 or more."),
        "date": values.msg_date(),
        "years": values.day_problem(values.FIRST_DAY.replace(year=1)),  # the same bounds as values.day
        "ascii": values.ascii_problem("\u0661"),
        "moment": values.msg_moment(),
        "amount": values.msg_amount(),
        "decimals": _("Use at most two decimal places."),
        "negative": _("Must not be negative."),
        "positive": _("Must be greater than zero."),
        "too_large": _("Amount is too large."),
        "language": _("Must be one of: zh-hans, en."),
        "no_loan": _("No loan with this external id."),
        "no_borrower": _("No borrower with this external id."),
        "duplicate": _("The same loan and number as line {line}: only the first is applied."),
        "below_paid": _("Below the amount already paid on this instalment ({paid})."),
        "too_long": _("At most {n} characters."),
        "fields": _("Expected {expected} fields, found {found}."),
    }


def text(value, *, required=False, max_length=None):
    value = (value or "").strip(TRIM)
    if required and not value:
        raise ValueError(messages()["required"])
    if max_length and len(value) > max_length:
        raise ValueError(messages()["too_long"].format(n=max_length))
    return value


def whole_number(value):
    value = text(value, required=True)
    if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < 1:
        raise ValueError(messages()["number"])
    return int(value)


def day(value):
    """A calendar day: the rule of every door (collections_app/values.py)."""
    return values.day(text(value, required=True))


def moment(value):
    """A date and time; without an offset it is read in the lender's time zone (a spreadsheet's
    cell has none): the one difference from the API, which refuses it. Otherwise values.py's rule."""
    return values.moment(text(value, required=True), naive_zone=settings.LENDER_TIME_ZONE)


def money(value, *, positive=False):
    """An amount: values.py's rule (the SQL path of instalments uses the same expressions, so both
    paths refuse the same cells with the same reason)."""
    return values.money(text(value, required=True), positive=positive)


def boolean(value):
    return values.boolean(text(value))


def time_zone(value):
    return values.time_zone(text(value, required=True))


def language(value):
    value = text(value, required=True).lower()
    if value not in ("zh-hans", "en"):
        raise ValueError(messages()["language"])
    return value


def listing(value):
    """A list in one cell, items separated by `;` (phones, hold codes)."""
    return [item.strip() for item in (value or "").split(";") if item.strip()]


def cell_text(value, kind="text"):
    """An XLSX cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if kind == "date":
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        # A number Excel computed (12.3 * 3 = 36.900000000000006) is the two-decimal amount it
        # shows; a value that is not that close keeps all its digits, to be refused as it is.
        cents = round(value * 100)
        if abs(value * 100 - cents) < 1e-6:
            return f"{Decimal(cents) / 100:.2f}"
        return repr(value)
    return str(value)
