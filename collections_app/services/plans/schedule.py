"""A plan's dates and amounts: building a monthly schedule that sums exactly to the total in cents,
how long a plan is in months, and what a plan must cover."""

import calendar
from datetime import date
from decimal import ROUND_DOWN, Decimal

from django.db.models import F, Sum

from ...models import Instalment

CENT = Decimal("0.01")


def add_months(day, months):
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 = 28 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(start, end):
    """The months a plan runs from `start` (the day it is agreed) to its last date, counted up: a
    last date 5 months and 7 days away is a 6-month plan."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) < end:
        months += 1
    return max(months, 1)


def split_evenly(total, parts):
    """`parts` amounts summing exactly to `total`: equal cents, the left-over cents on the first ones."""
    base = (total / parts).quantize(CENT, rounding=ROUND_DOWN)
    left_over = int((total - base * parts) / CENT)
    return [base + (CENT if i < left_over else 0) for i in range(parts)]


def monthly_schedule(total, months, first_due_date, down_payment=None):
    """`months` monthly instalments from `first_due_date`: the first is the down payment when one is
    given (the rest split evenly over the others), else all are equal. [(due_date, amount)]."""
    dates = [add_months(first_due_date, k) for k in range(months)]
    if down_payment:
        amounts = [down_payment] + (split_evenly(total - down_payment, months - 1) if months > 1 else [])
    else:
        amounts = split_evenly(total, months)
    return list(zip(dates, amounts, strict=True))


def outstanding(loan_id, *, due_on_or_before=None):
    """What the loan still owes: all of it, or only what falls due by a day."""
    rows = Instalment.objects.filter(loan_id=loan_id, amount_paid__lt=F("amount_due"))
    if due_on_or_before is not None:
        rows = rows.filter(due_date__lte=due_on_or_before)
    return rows.aggregate(total=Sum(F("amount_due") - F("amount_paid")))["total"] or Decimal("0.00")
