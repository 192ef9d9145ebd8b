"""Small pieces every service shares: finding and locking a case through the actor's scope,
and turning loose input into the types the domain uses, naming the field when it cannot."""
from datetime import date, datetime
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


def parse_money(value, field, *, allow_zero=False):
    if isinstance(value, float):
        raise invalid(field, _("Send amounts as strings or decimals, not floating point."))
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
        return value.date()
    if isinstance(value, date):
        return value
    parsed = parse_date(str(value or ""))
    if parsed is None:
        raise invalid(field, _("Enter a date as YYYY-MM-DD."))
    return parsed


def parse_moment(value, field, *, default_now=False, not_future=False):
    if value in (None, "") and default_now:
        return timezone.now()
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = parse_datetime(str(value or ""))
        except ValueError:
            moment = None
        if moment is None:
            raise invalid(field, _("Enter a date and time in ISO 8601 with an offset."))
    if timezone.is_naive(moment):
        raise invalid(field, _("Give the time with its offset (for example +08:00)."))
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
