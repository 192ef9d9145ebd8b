"""Small pieces every service shares: finding and locking a case through the actor's scope,
and turning loose input into the types the domain uses, naming the field when it cannot."""
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from ..errors import DomainError, invalid
from ..models import Case
from ..actors import as_actor
from ..permissions import visible_cases


def lock_visible_case(case_id, actor):
    """Re-fetch the case under a row lock, or 404 if this actor may not see it."""
    try:
        # Lock the case row only: loan and borrower rows stay free for other cases' work.
        locked = Case.objects.select_for_update(of=("self",)).select_related("loan", "borrower")
        case = visible_cases(actor, locked).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise DomainError("not_found") from None
    case._visible_to = as_actor(actor).label  # permissions.may() need not ask the row scope again
    return case


# Bounds of what the parsers take (every door: API, pages, imports, the loan book). Business dates
# outside these years are typing mistakes, and a year-1 date cannot be shown with an RFC 3339
# offset; no zone on earth is more than 14 hours from UTC, and ISO 8601 offsets stop at ±15:59
# (beyond it PostgreSQL and the conversions to the borrower's zone fail).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
MAX_OFFSET = timedelta(hours=15, minutes=59)


def day_problem(day):
    """Why `day` (a date) cannot be a business date, or None."""
    if not FIRST_DAY <= day <= LAST_DAY:
        return _("Enter a date from %(first)s to %(last)s.") % {"first": FIRST_DAY.isoformat(),
                                                                "last": LAST_DAY.isoformat()}
    return None


def moment_problem(moment):
    """Why `moment` (an aware datetime) cannot be taken, or None."""
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        return _("The UTC offset must be between -15:59 and +15:59.")
    return day_problem(moment.date())


def ascii_problem(text):
    """Digits other than ASCII (Arabic-Indic ١٢٣, full-width １２３) would be read as numbers by
    Decimal and the date parsers: refused, so what is stored is what was meant."""
    if not str(text).isascii():
        return _("Use the digits 0-9 only.")
    return None


def parse_money(value, field, *, allow_zero=False):
    if isinstance(value, float):
        raise invalid(field, _("Send amounts as strings or decimals, not floating point."))
    if isinstance(value, str) and ascii_problem(value):
        raise invalid(field, ascii_problem(value))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise invalid(field, _("Enter a number.")) from None
    if not amount.is_finite():
        raise invalid(field, _("Enter a number."))
    if amount.as_tuple().exponent < -2:
        raise invalid(field, _("Use at most two decimal places."))
    if amount < 0 or (amount == 0 and not allow_zero):
        raise invalid(field, _("Must be greater than zero."))
    if amount >= Decimal("1e12"):
        raise invalid(field, _("Amount is too large."))
    return amount.quantize(Decimal("0.01"))


def parse_day(value, field):
    if isinstance(value, datetime):
        parsed = value.date()
    elif isinstance(value, date):
        parsed = value
    else:
        text = str(value or "").strip()
        if ascii_problem(text):
            raise invalid(field, ascii_problem(text))
        try:
            parsed = parse_date(text)
        except ValueError:  # the shape of a date, not a day of the calendar (2026-02-30)
            parsed = None
        if parsed is None:
            raise invalid(field, _("Enter a date as YYYY-MM-DD."))
    if day_problem(parsed):
        raise invalid(field, day_problem(parsed))
    return parsed


def parse_moment(value, field, *, default_now=False, not_future=False):
    if value in (None, "") and default_now:
        return timezone.now()
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value or "").strip()
        if ascii_problem(text):
            raise invalid(field, ascii_problem(text))
        try:
            moment = parse_datetime(text)
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            raise invalid(field, _("Enter a date and time in ISO 8601 with an offset."))
    if timezone.is_naive(moment):
        raise invalid(field, _("Give the time with its offset (for example +08:00)."))
    if moment_problem(moment):
        raise invalid(field, moment_problem(moment))
    if not_future and moment > timezone.now() + timezone.timedelta(minutes=5):
        raise invalid(field, _("Cannot be in the future."))
    return moment


def require_choice(value, choices, field):
    allowed = [c for c, _label in choices]
    if value not in allowed:
        raise invalid(field, _("Must be one of: %(choices)s.") % {"choices": ", ".join(allowed)})
    return value


def require_text(value, field, *, max_length=2000):
    text = (value or "").strip()
    if not text:
        raise invalid(field, _("This field is required."))
    if len(text) > max_length:
        raise invalid(field, _("At most %(n)d characters.") % {"n": max_length})
    return text
