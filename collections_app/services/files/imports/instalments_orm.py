"""Instalments through the ORM, in batches (SQLite, the embedded default; and any database that
is not PostgreSQL). Same checks, same messages and same result as instalments_pg.py, slower.

Upsert by (loan, number): due date and amount due are set; the amount paid is kept; an amount due
below what is already paid is refused. A repeated (loan, number) in one file: the first row wins,
the later ones are refused. That check keeps one key per row of the file in a set (this path is
not held to the flat-memory figure of the PostgreSQL path)."""

from django.db import transaction

from ....models import Instalment, Loan
from . import values as v
from .errors import RowRefused
from .rows import Checker

BATCH = 1000


def _parse(row):
    check = Checker(row)
    parsed = {
        "loan": check("loan", v.text, required=True, max_length=64),
        "number": check("number", v.whole_number),
        "due_date": check("due_date", v.day),
        "amount_due": check("amount_due", v.money),
    }
    return parsed, check


def import_instalments_orm(records, layout, result, report, *, on_progress=None):
    """records: iterator of (line, row dict or None when the field count is wrong, field count).
    Returns the set of loan ids whose instalments were created or changed."""
    seen = {}  # (loan external id, number) -> first line
    touched = set()
    batch = []
    processed = 0
    for line, row, found in records:
        batch.append((line, row, found))
        if len(batch) >= BATCH:
            _apply_batch(batch, layout, result, report, seen, touched)
            processed += len(batch)
            batch = []
            if on_progress:
                on_progress(processed)
    if batch:
        _apply_batch(batch, layout, result, report, seen, touched)
        processed += len(batch)
        if on_progress:
            on_progress(processed)
    return touched


def _apply_batch(batch, layout, result, report, seen, touched):
    m = v.messages()
    checked = []
    for line, row, found in batch:
        result.rows += 1
        if row is None:
            report.error(line, "", "", m["fields"].format(expected=layout.width, found=found))
            result.refused += 1
            continue
        parsed, check = _parse(row)
        checked.append((line, row, parsed, check))
    loans = dict(
        Loan.objects.filter(external_id__in={p["loan"] for _l, _r, p, _c in checked if p["loan"]}).values_list(
            "external_id", "id"
        )
    )
    keys = {(loans[p["loan"]], p["number"]) for _l, _r, p, _c in checked if p["loan"] in loans and p["number"]}
    existing = {}
    if keys:
        loan_ids = {k[0] for k in keys}
        for inst in Instalment.objects.filter(loan_id__in=loan_ids, number__in={k[1] for k in keys}):
            existing[(inst.loan_id, inst.number)] = inst
    creates, updates = [], []
    for line, _row, p, check in checked:
        if p["loan"] and p["loan"] not in loans:
            check.problems.insert(0, ("loan", p["loan"], m["no_loan"]))
        if p["loan"] and p["number"]:
            first = seen.get((p["loan"], p["number"]))
            if first is not None:
                check.refuse("number", m["duplicate"].format(line=first))
            else:
                seen[(p["loan"], p["number"])] = line
        current = existing.get((loans.get(p["loan"]), p["number"]))
        if current is not None and p["amount_due"] is not None and p["amount_due"] < current.amount_paid:
            check.refuse("amount_due", m["below_paid"].format(paid=current.amount_paid))
        try:
            check.done()
        except RowRefused as refused:
            report.row_refused(line, refused.problems)
            result.refused += 1
            continue
        loan_id = loans[p["loan"]]
        if current is None:
            creates.append(
                Instalment(loan_id=loan_id, number=p["number"], due_date=p["due_date"], amount_due=p["amount_due"])
            )
            result.created += 1
            touched.add(loan_id)
        elif (current.due_date, current.amount_due) != (p["due_date"], p["amount_due"]):
            current.due_date, current.amount_due = p["due_date"], p["amount_due"]
            updates.append(current)
            result.updated += 1
            touched.add(loan_id)
        else:
            result.unchanged += 1
    with transaction.atomic():
        if creates:
            Instalment.objects.bulk_create(creates)
        if updates:
            Instalment.objects.bulk_update(updates, ["due_date", "amount_due"])
