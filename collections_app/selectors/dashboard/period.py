"""The dashboard's period, its money and rates, and who may see the figures.

The period is a calendar month in the lender's calendar (settings.LENDER_TIME_ZONE): from the
first day's midnight to the next month's first midnight, excluded. "End of M" is the month's last
day, the day the sweep writes the month-end snapshot (`MonthEndSnapshot`: one row per case open
at the sweep of that day, with its state, DPD, bucket and amount overdue); the cases open at the
start of M are those of the snapshot of the end of M−1.

Money is Decimal with two places; a rate is an exact Decimal fraction (None when its denominator
is 0), rounded only for display (one decimal of a percent, half up, on the page and in the CSV).
"""

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _

from ...calendar import lender_today
from ...errors import DomainError
from ...permissions import sees_all_cases
from ...workflow import OPEN_STATES


ZERO = Decimal("0.00")
CENT = Decimal("0.01")
NO_BUCKET = ""  # open, but in no bucket (DPD 0 or a gap between buckets)
CURED = "cured/closed"  # roll-rate target: absent from the month-end snapshot
STAGES = tuple(str(s) for s in OPEN_STATES)
EARLIEST_MONTH = date(2000, 1, 1)


def money(value):
    return (value or ZERO).quantize(CENT)


def ratio(part, whole):
    """part / whole as an exact Decimal fraction, None when whole is 0 (no rate, not 0%)."""
    if not whole:
        return None
    return Decimal(part) / Decimal(whole)


def kept_and_broken(rows, parts, amount, **money_sums):
    """Promises and plans alike, in one query over `rows`: for each named filter of `parts` (among
    them `kept` and `broken`) how many rows match (`name`) and their `amount` summed (`name_amount`);
    the kept rate, kept / (kept + broken); then each of `money_sums` (an aggregate) as money."""
    aggregates = {}
    for name, q in parts.items():
        aggregates[name] = Count("pk", filter=q)
        aggregates[f"{name}_amount"] = Sum(amount, filter=q)
    row = rows.aggregate(**aggregates, **money_sums)
    out = {}
    for name in parts:
        out[name] = row[name] or 0
        out[f"{name}_amount"] = money(row[f"{name}_amount"])
    out["kept_rate"] = ratio(out["kept"], out["kept"] + out["broken"])
    for name in money_sums:
        out[name] = money(row[name])
    return out


def require_portfolio_view(actor):
    """The dashboard's figures cover the whole portfolio: only for actors who see every case."""
    if not sees_all_cases(actor):
        raise DomainError("not_found")


# --- The period -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar month in the lender's calendar."""

    first_day: date

    @classmethod
    def of(cls, day):
        return cls(day.replace(day=1))

    @property
    def last_day(self):
        return self.first_day.replace(day=month_calendar.monthrange(self.first_day.year, self.first_day.month)[1])

    @property
    def start(self):
        return datetime.combine(self.first_day, time(0), tzinfo=settings.LENDER_TIME_ZONE)

    @property
    def end(self):
        """The first moment after the period (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE)

    @property
    def month_end(self):
        return self.last_day

    @property
    def previous_month_end(self):
        return self.first_day - timedelta(days=1)

    @property
    def previous(self):
        return Period.of(self.previous_month_end)

    @property
    def next(self):
        return Period.of(self.last_day + timedelta(days=1))

    @property
    def key(self):
        return self.first_day.strftime("%Y-%m")

    def is_current(self, today=None):
        return self.first_day == (today or lender_today()).replace(day=1)

    def contains(self, day):
        return self.first_day <= day <= self.last_day


def period_for(month=None, *, today=None):
    """The period a `?month=YYYY-MM` asks for (the current month when empty). A malformed month, a
    month before 2000 or after the current one is refused as `validation_error` naming `month`."""
    today = today or lender_today()
    if month is None or str(month).strip() == "":
        return Period.of(today)
    text = str(month).strip()
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        first = date(int(text[:4]), int(text[5:]), 1)
    except ValueError:
        raise DomainError(
            "validation_error",
            fields={
                "month": [
                    _("Enter a month as YYYY-MM, for example %(example)s.") % {"example": today.strftime("%Y-%m")}
                ]
            },
        ) from None
    if first < EARLIEST_MONTH:
        raise DomainError("validation_error", fields={"month": [_("Choose a month from 2000-01 on.")]})
    if first > today.replace(day=1):
        raise DomainError(
            "validation_error",
            fields={
                "month": [
                    _("%(month)s has not started yet: choose %(current)s or an earlier month.")
                    % {"month": text, "current": today.strftime("%Y-%m")}
                ]
            },
        )
    return Period(first)


def in_period(field, period):
    return Q(**{f"{field}__gte": period.start, f"{field}__lt": period.end})
