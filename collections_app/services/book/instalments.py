"""A loan's schedule: the `instalments` list checked line by line, against the stored loan's dates,
and applied by instalment `number` keeping what was paid (see the package docstring)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from ...models import Instalment
from .shared import BAD, Problems, check_day, check_mapping, check_money, check_number, check_unknown_keys


MAX_INSTALMENTS = 1200
INSTALMENT_KEYS = ("number", "due_date", "amount_due")


@dataclass(frozen=True)
class Line:
    index: int
    number: int
    due_date: date
    amount_due: Decimal


def clean_schedule(value, problems):
    if not isinstance(value, list):
        return problems.add("instalments", _("Send the full schedule as a list of instalments."))
    if len(value) > MAX_INSTALMENTS:
        return problems.add("instalments", _("At most %(n)d instalments.") % {"n": MAX_INSTALMENTS})
    lines, seen = [], {}
    for index, raw in enumerate(value):
        prefix = f"instalments[{index}]"
        if check_mapping(raw, problems, prefix) is BAD:
            continue
        check_unknown_keys(raw, INSTALMENT_KEYS, problems, prefix=prefix + ".")
        values = {}
        for key, parse in (("number", check_number), ("due_date", check_day), ("amount_due", check_money)):
            if key not in raw:
                problems.add(f"{prefix}.{key}", _("This field is required."))
                values[key] = BAD
            else:
                values[key] = parse(raw[key], f"{prefix}.{key}", problems)
        number = values["number"]
        if number is not BAD:
            if number in seen:
                problems.add(
                    f"{prefix}.number", _("Instalment number %(number)d appears more than once.") % {"number": number}
                )
            seen[number] = index
        if BAD not in values.values():
            lines.append(Line(index, number, values["due_date"], values["amount_due"]))
    return lines


def dates_against_stored(loan, fields, schedule, problems):
    """No instalment falls due before the loan was disbursed, whichever of the two this update
    brings (the request alone is checked in _clean_loan)."""
    if "disbursed_on" not in fields and isinstance(schedule, list):
        for line in schedule:
            if line.due_date < loan.disbursed_on:
                problems.add(
                    f"instalments[{line.index}].due_date",
                    _("Falls before the loan was disbursed (%(day)s).") % {"day": loan.disbursed_on.isoformat()},
                )
    disbursed = fields.get("disbursed_on")
    if isinstance(disbursed, date) and schedule is None:
        first = Instalment.objects.filter(loan=loan).order_by("due_date").values_list("due_date", flat=True).first()
        if first is not None and first < disbursed:
            problems.add(
                "disbursed_on", _("Falls after the first instalment's due date (%(day)s).") % {"day": first.isoformat()}
            )


def schedule_apply(loan, stored, schedule):
    """Make the loan's instalments the schedule given, keeping paid amounts. Returns the numbers
    added, changed and removed. Refuses (nothing written) when paid money would be lost."""
    by_number = {i.number: i for i in stored}
    wanted = {line.number: line for line in schedule}
    problems = Problems()
    for line in schedule:
        old = by_number.get(line.number)
        if old is not None and line.amount_due < old.amount_paid:
            problems.add(
                f"instalments[{line.index}].amount_due",
                _("Below the %(paid)s already paid on this instalment.") % {"paid": f"{old.amount_paid:.2f}"},
            )
    for number in sorted(by_number.keys() - wanted.keys()):
        if by_number[number].amount_paid > 0:
            problems.add(
                "instalments",
                _("Instalment %(number)d has %(paid)s paid on it and cannot be removed from the schedule.")
                % {"number": number, "paid": f"{by_number[number].amount_paid:.2f}"},
            )
    problems.refuse_if_any()
    removed = sorted(by_number.keys() - wanted.keys())
    added, updated = [], []
    for line in schedule:
        old = by_number.get(line.number)
        if old is None:
            added.append(Instalment(loan=loan, number=line.number, due_date=line.due_date, amount_due=line.amount_due))
        elif (old.due_date, old.amount_due) != (line.due_date, line.amount_due):
            old.due_date, old.amount_due = line.due_date, line.amount_due
            updated.append(old)
    if removed:
        Instalment.objects.filter(loan=loan, number__in=removed).delete()
    if updated:
        Instalment.objects.bulk_update(updated, ["due_date", "amount_due"])
    if added:
        Instalment.objects.bulk_create(added)
    return {"added": sorted(i.number for i in added), "changed": sorted(i.number for i in updated), "removed": removed}
