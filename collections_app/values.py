"""The only parsers of values from outside (API bodies, the loan book, file cells, page forms):
money, calendar days, moments, phones, codes and text.

Each parser returns the value the domain uses or raises `BadValue(message)`: one people-worded,
translated message without a field name. Each door adapts it: the services to a DomainError
`validation_error` naming the field (`field_error`), the loan-book services to their collected field
problems, the file imports to a refused row's reason, the page forms to a ValidationError. So a value
is taken or refused alike, with the same words, at every door (tests/test_values_every_door.py).

The rules (docs/api.md, docs/imports.md):
- money: ASCII digits, an optional point and at most two decimals, no sign, no exponent, no
  thousands separator, below 10^12; a JSON integer is taken, a JSON (floating-point) number with a
  fraction or exponent is refused, since binary floating point cannot carry an exact amount;
- days: YYYY-MM-DD, years 1900-2199, a day of the calendar;
- moments: ISO 8601 with an offset within ±15:59, years 1900-2199. Only the file import (a
  spreadsheet's cell has no offset) and the page forms (a browser's date-time box has none) read a
  time without an offset, in the zone they pass as `naive_zone`."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import available_timezones

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from .errors import invalid

# Business dates outside these years are typing mistakes, and a year-1 date cannot be shown with an
# RFC 3339 offset; no zone on earth is more than 14 hours from UTC, and ISO 8601 offsets stop at
# ±15:59 (beyond it PostgreSQL and the conversions to the borrower's zone fail).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
MAX_OFFSET = timedelta(hours=15, minutes=59)
MAX_AMOUNT = Decimal("1e12")  # DecimalField(max_digits=14, decimal_places=2)

# The shapes of an amount, shared with the PostgreSQL path of the instalments import
# (services/imports/instalments_pg.py), which tests the same expressions in the same order.
AMOUNT_RE = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
NEGATIVE_RE = re.compile(r"^-[0-9]*\.?[0-9]+$")
DECIMALS_RE = re.compile(r"^[0-9]*\.[0-9]{3,}$")
TOO_LARGE_RE = re.compile(r"^[0-9]{13,}(\.[0-9]*)?$")
DAY_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MOMENT_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")
MAX_RAW = 64  # longer "numbers" and "dates" are refused without being read


class BadValue(ValueError):
    """A value from outside that cannot be taken; `message` is for people, without a field name."""

    def __init__(self, message):
        self.message = str(message)
        super().__init__(self.message)


def field_error(field, error):
    """A BadValue as the services' DomainError `validation_error` naming `field`."""
    return invalid(field, error.message)


def parse(field, parser, value, **kwargs):
    """Run `parser` and refuse with a DomainError naming `field` (the services' door)."""
    try:
        return parser(value, **kwargs)
    except BadValue as error:
        raise field_error(field, error) from None


# --- the messages ----------------------------------------------------------------------------


def msg_amount():
    return _("Enter an amount such as 500.00.")


def msg_date():
    return _("Enter a date as YYYY-MM-DD.")


def msg_moment():
    return _("Enter a date and time such as 2026-11-02T10:30:00+08:00.")


def ascii_problem(text):
    """Digits other than ASCII (Arabic-Indic ١٢٣, full-width １２３) would be read as numbers by
    Decimal and the date parsers: refused, so what is stored is what was meant."""
    if not str(text).isascii():
        return _("Use the digits 0-9 only.")
    return None


def require_ascii(text):
    """`text` itself, or BadValue with the `ascii_problem`."""
    problem = ascii_problem(text)
    if problem:
        raise BadValue(problem)
    return text


def day_problem(day):
    """Why `day` (a date) cannot be a business date, or None."""
    if not FIRST_DAY <= day <= LAST_DAY:
        return _("Enter a date from %(first)s to %(last)s.") % {
            "first": FIRST_DAY.isoformat(),
            "last": LAST_DAY.isoformat(),
        }
    return None


def moment_problem(moment):
    """Why `moment` (an aware datetime) cannot be taken, or None."""
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        return _("The UTC offset must be between -15:59 and +15:59.")
    return day_problem(moment.date())


def check_characters(text):
    if "\x00" in text:
        raise BadValue(_("Contains characters that are not allowed."))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadValue(_("Contains characters that are not allowed.")) from None


# --- money -----------------------------------------------------------------------------------


def money(value, *, positive=True):
    """An amount as a Decimal with two places: zero only when not `positive`, never negative."""
    if isinstance(value, float):
        raise BadValue(_("Send amounts as strings or decimals, not floating point."))
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise BadValue(msg_amount())
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise BadValue(msg_amount())
        text = format(value, "f")
    else:
        text = value.strip()
        if len(text) > MAX_RAW:
            raise BadValue(msg_amount())
        check_characters(text)
        require_ascii(text)
    if not AMOUNT_RE.match(text):
        if NEGATIVE_RE.match(text):
            raise BadValue(_("Must not be negative."))
        if DECIMALS_RE.match(text):
            raise BadValue(_("Use at most two decimal places."))
        if TOO_LARGE_RE.match(text):
            raise BadValue(_("Amount is too large."))
        raise BadValue(msg_amount())
    amount = Decimal(text).quantize(Decimal("0.01"))
    if positive and amount == 0:
        raise BadValue(_("Must be greater than zero."))
    return amount


# --- days and moments ------------------------------------------------------------------------


def day(value):
    """A calendar day, YYYY-MM-DD, within FIRST_DAY..LAST_DAY. A `date` (not a datetime) is taken."""
    if isinstance(value, datetime):
        raise BadValue(msg_date())
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str):
        text = require_ascii(value.strip())
        if not DAY_RE.match(text):  # ISO week dates (2026-W01-1) and 20260102 are not taken
            raise BadValue(msg_date())
        try:
            parsed = date.fromisoformat(text)
        except ValueError:  # the shape of a date, not a day of the calendar (2026-02-30)
            raise BadValue(msg_date()) from None
    else:
        raise BadValue(msg_date())
    if day_problem(parsed):
        raise BadValue(day_problem(parsed))
    return parsed


def moment(value, *, naive_zone=None, not_future=False):
    """An aware datetime. Without an offset it is refused, unless the door passes `naive_zone`
    (the file import: the lender's zone; the page forms: the current zone)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = require_ascii(value.strip())
        parsed = None
        if len(text) <= MAX_RAW and MOMENT_RE.match(text):
            try:
                parsed = parse_datetime(text)
            except (ValueError, OverflowError):
                parsed = None
        if parsed is None:
            raise BadValue(msg_moment())
    else:
        raise BadValue(msg_moment())
    if timezone.is_naive(parsed):
        if day_problem(parsed.date()):
            raise BadValue(day_problem(parsed.date()))
        if naive_zone is None:
            raise BadValue(_("Give the time with its offset (for example +08:00)."))
        parsed = parsed.replace(tzinfo=naive_zone)
    if moment_problem(parsed):
        raise BadValue(moment_problem(parsed))
    if not_future and parsed > timezone.now() + timedelta(minutes=5):
        raise BadValue(_("Cannot be in the future."))
    return parsed


# --- codes and text --------------------------------------------------------------------------


def choice(value, choices):
    """One of the codes of `choices` (pairs of code and label)."""
    allowed = [c for c, _label in choices]
    if value not in allowed:
        raise BadValue(_("Must be one of: %(choices)s.") % {"choices": ", ".join(allowed)})
    return value


def text(value, *, max_length=2000, required=True):
    """A string, stripped, at most `max_length` characters (None is blank)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadValue(_("Enter text."))
    check_characters(value)
    value = value.strip()
    if required and not value:
        raise BadValue(_("This field is required."))
    if len(value) > max_length:
        raise BadValue(_("At most %(n)d characters.") % {"n": max_length})
    return value


TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f"}


def boolean(value):
    """true/false (also yes/no, y/n, 1/0, t/f, any case), or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise BadValue(_("Must be true or false."))


@lru_cache(maxsize=1)
def _time_zones():
    return frozenset(available_timezones())


def time_zone(value):
    """An IANA time zone name."""
    if not isinstance(value, str) or value.strip() not in _time_zones():
        raise BadValue(_("Unknown time zone: use an IANA name such as Asia/Shanghai."))
    return value.strip()


# --- phones ----------------------------------------------------------------------------------

PHONE_RE = re.compile(r"^\+?[0-9]{3,20}$")
PHONE_NOISE_RE = re.compile(r"[\s\-().]")


def phone(value, *, required=True):
    """A phone number: 3 to 20 digits, optionally a leading +; spaces, dashes, dots and brackets
    are dropped. Blank is "" when not `required`."""
    if not isinstance(value, str):
        raise BadValue(_("Enter a phone number as text."))
    check_characters(value)
    number = PHONE_NOISE_RE.sub("", value)
    if not number and not required:
        return ""
    if not PHONE_RE.match(number):
        raise BadValue(_("Enter a phone number: 3 to 20 digits, optionally a leading +."))
    return number
