"""Loans created or updated by external id: `loan_upsert` (PUT /api/v1/loans/{external_id}/, the file
import of loans) and `loan_upsert_many` (the bulk loans endpoint, each item in its own transaction)."""

import logging
import re
from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ...actors import as_actor
from ...calendar import lender_today
from ...errors import DomainError
from ...models import Borrower, Case, Instalment, Loan
from ...workflow import OPEN_STATES
from ..cases import case_sync_with_loan
from ..events import event_build, events_write
from .instalments import clean_schedule, dates_against_stored, schedule_apply
from .shared import (
    BAD,
    BulkItemResult,
    UpsertResult,
    book_may_write,
    check_addressed_record,
    check_day,
    check_money,
    check_text,
    clean_external_id,
    create_or_lock,
    printable,
)


log = logging.getLogger(__name__)

_CURRENCY = re.compile(r"^[A-Z]{3}$")
LOAN_KEYS = ("external_id", "borrower", "product", "principal", "currency", "disbursed_on", "instalments")


def _clean_loan(external_id, data):
    external_id, problems = check_addressed_record(external_id, data, LOAN_KEYS)
    fields, schedule = {}, None
    if "borrower" in data:
        fields["borrower"] = clean_external_id(data["borrower"], "borrower", problems)
    if "product" in data:
        fields["product"] = check_text(data["product"], "product", problems, max_length=64, required=True)
    if "principal" in data:
        fields["principal"] = check_money(data["principal"], "principal", problems, positive=True)
    if "currency" in data:
        currency = data["currency"]
        if not isinstance(currency, str) or not _CURRENCY.match(currency.strip().upper()):
            problems.add("currency", _("Enter a three-letter ISO 4217 code such as CNY."))
        else:
            fields["currency"] = currency.strip().upper()
    if "disbursed_on" in data:
        fields["disbursed_on"] = check_day(data["disbursed_on"], "disbursed_on", problems)
    if "instalments" in data:
        schedule = clean_schedule(data["instalments"], problems)
        disbursed = fields.get("disbursed_on")
        if isinstance(disbursed, date) and isinstance(schedule, list):
            for line in schedule:
                if line.due_date < disbursed:
                    problems.add(
                        f"instalments[{line.index}].due_date",
                        _("Falls before the loan was disbursed (%(day)s).") % {"day": disbursed.isoformat()},
                    )
    if external_id is BAD:
        problems.refuse_if_any()
    return external_id, fields, schedule, problems


def loan_upsert(*, external_id, data, actor=None, as_of=None):
    """Create or update the loan `external_id` from `data` (borrower external id, product, principal,
    currency, disbursed_on and optionally `instalments`, the full schedule). Without `instalments`
    the schedule is left as it is. The loan's case follows in the same transaction. Raises
    DomainError("validation_error", fields={...}); nothing is written then. Returns UpsertResult.

    A loan never moves to another borrower (its cases, contacts and holds are that borrower's):
    a different `borrower` on update is refused. The case is synced as of `as_of` (default: the
    lender's today): opened when something is overdue, resolved when nothing is."""
    actor = as_actor(actor)
    if not book_may_write(actor):
        raise DomainError("permission_denied")
    external_id, fields, schedule, problems = _clean_loan(external_id, data)
    as_of = as_of or lender_today()
    with transaction.atomic():
        loan = Loan.objects.select_for_update().filter(external_id=external_id).first()
        if loan is None:
            for key in ("borrower", "principal", "disbursed_on"):
                if key not in fields:
                    problems.add(key, _("This field is required."))
        borrower_id = _borrower_id(fields, loan, problems)
        if loan is not None:
            dates_against_stored(loan, fields, schedule, problems)
        problems.refuse_if_any()
        values = {k: v for k, v in fields.items() if k != "borrower"}
        created = False
        if loan is None:
            loan, created = create_or_lock(Loan, external_id, {**values, "borrower_id": borrower_id})
            if not created and borrower_id != loan.borrower_id:
                raise DomainError(
                    "validation_error", fields={"borrower": [_("A loan cannot move to another borrower.")]}
                )
        return _loan_apply(loan, created, values, schedule, actor, as_of)


def _borrower_id(fields, loan, problems):
    """The borrower's row id (None when it cannot be known; `problems` then says why)."""
    wanted = fields.get("borrower")
    if wanted is None:
        return loan.borrower_id if loan is not None else None
    if wanted is BAD:
        return None
    borrower_id = Borrower.objects.filter(external_id=wanted).values_list("pk", flat=True).first()
    if borrower_id is None:
        problems.add("borrower", _("No borrower with this external id."))
    elif loan is not None and borrower_id != loan.borrower_id:
        problems.add("borrower", _("A loan cannot move to another borrower."))
    return borrower_id


def _loan_apply(loan, created, values, schedule, actor, as_of):
    changed = [] if created else [name for name, value in values.items() if getattr(loan, name) != value]
    for name in changed:
        setattr(loan, name, values[name])
    if schedule is not None:
        stored = [] if created else list(Instalment.objects.select_for_update().filter(loan=loan))
        diff = schedule_apply(loan, stored, schedule)
        if any(diff.values()):
            changed.append("instalments")
    else:
        diff = None
    if not created and not changed:
        return UpsertResult("unchanged", loan)
    if not created:
        loan.updated_at = timezone.now()
        loan.save(update_fields=[n for n in changed if n != "instalments"] + ["updated_at"])
        case = Case.objects.filter(loan=loan, state__in=OPEN_STATES).only("pk").first()
        if case is not None:
            payload = {"fields": sorted(changed)}
            if diff is not None:
                payload["instalments"] = diff
            events_write(
                [
                    event_build(
                        case,
                        "loan_updated",
                        actor,
                        payload=payload,
                        reason=_("Loan updated: %(fields)s") % {"fields": ", ".join(sorted(changed))},
                    )
                ]
            )
    if created and not any(line.due_date < as_of for line in schedule or ()):
        return UpsertResult("created", loan)  # a new loan with nothing due yet has no case to follow
    case_sync_with_loan(
        loan_id=loan.pk,
        actor=actor,
        as_of=as_of,
        cause=(_("loan %s created") if created else _("loan %s updated")) % loan.external_id,
    )
    return UpsertResult("created" if created else "updated", loan)


def loan_upsert_many(*, items, actor=None, as_of=None):
    """The bulk endpoint's loop: each item (a dict with its `external_id`) applied or refused on its
    own, in its own transaction. Returns one BulkItemResult per item, in the order given."""
    actor = as_actor(actor)
    if not book_may_write(actor):
        raise DomainError("permission_denied")
    as_of = as_of or lender_today()
    results = []
    for item in items:
        external_id = item.get("external_id") if isinstance(item, dict) else None
        shown = external_id if isinstance(external_id, str) and printable(external_id, 64) == external_id else None
        try:
            if not isinstance(item, dict):
                raise DomainError("validation_error", fields={"non_field_errors": [_("Send an object.")]})
            if "external_id" not in item:
                raise DomainError("validation_error", fields={"external_id": [_("This field is required.")]})
            result = loan_upsert(external_id=external_id, data=item, actor=actor, as_of=as_of)
        except DomainError as refusal:
            errors = {k: [str(m) for m in v] for k, v in refusal.fields.items()} or {
                "non_field_errors": [str(refusal.message)]
            }
            results.append(BulkItemResult(shown, "error", errors))
        except Exception:  # each item is its own transaction: the rest still get their answers
            log.exception("bulk loan upsert failed for %r", shown)
            results.append(
                BulkItemResult(
                    shown,
                    "error",
                    {
                        "non_field_errors": [
                            _(
                                "This loan could not be applied (an unexpected error, logged); nothing of it was written."
                            )
                        ]
                    },
                )
            )
        else:
            results.append(BulkItemResult(shown, result.status, {}, result.obj))
    return results
