"""Turning the text of a cell into the value the domain uses, or the reason it cannot.

Each parser returns the value or raises ValueError(reason for people). The messages are the ones
docs/imports.md lists; the PostgreSQL path of instalments (instalments_pg.py) uses the same texts."""
import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import available_timezones

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

# What is trimmed around a cell's text, by both paths (the PostgreSQL one passes it to btrim):
# spaces, tabs, line ends, and the no-break and ideographic spaces spreadsheets leave behind.
TRIM = " \t\r\n\x0b\x0c\u00a0\u3000"
DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f"}


def messages():
    """The reasons a cell is refused, by key (translated for the current language)."""
    return {
        "required": _("A value is required."),
        "number": _("Enter a whole number of 1 or more."),
        "date": _("Enter a date as YYYY-MM-DD."),
        "moment": _("Enter a date and time such as 2026-11-02T10:30:00+08:00."),
        "amount": _("Enter an amount such as 1234.50."),
        "decimals": _("Use at most two decimal places."),
        "negative": _("Must not be negative."),
        "positive": _("Must be greater than zero."),
        "too_large": _("Amount is too large."),
        "time_zone": _("Unknown time zone: use an IANA name such as Asia/Shanghai."),
        "boolean": _("Enter true or false."),
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
    value = text(value, required=True)
    parsed = None
    if DAY_RE.fullmatch(value):  # parse_date alone would take ISO week dates (2026-W01-1) too
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError(messages()["date"])
    return parsed


def moment(value):
    """A date and time; without an offset it is read in the lender's time zone."""
    value = text(value, required=True)
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(messages()["moment"])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.LENDER_TIME_ZONE)
    return parsed


AMOUNT_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
NEGATIVE_RE = re.compile(r"^-[0-9]*\.?[0-9]+$")
DECIMALS_RE = re.compile(r"^[0-9]*\.[0-9]{3,}$")
TOO_LARGE_RE = re.compile(r"^[0-9]{13,}(\.[0-9]*)?$")


def money(value, *, positive=False):
    """An amount: digits, optionally a point and one or two decimals (the SQL path uses the same
    expressions, so both paths refuse the same cells with the same reason)."""
    m = messages()
    value = text(value, required=True)
    if not AMOUNT_RE.match(value):
        if NEGATIVE_RE.match(value):
            raise ValueError(m["negative"])
        if DECIMALS_RE.match(value):
            raise ValueError(m["decimals"])
        if TOO_LARGE_RE.match(value):
            raise ValueError(m["too_large"])
        raise ValueError(m["amount"])
    amount = Decimal(value).quantize(Decimal("0.01"))
    if positive and amount == 0:
        raise ValueError(m["positive"])
    return amount


def boolean(value):
    value = text(value).lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(messages()["boolean"])


@lru_cache(maxsize=1)
def _zones():
    return frozenset(available_timezones())


def time_zone(value):
    value = text(value, required=True)
    if value not in _zones():
        raise ValueError(messages()["time_zone"])
    return value


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
