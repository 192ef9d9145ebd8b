"""Loan-book reads: a borrower or a loan as the loan-book API shows them, a loan's arrears, and the
case an answer about a loan may name (within the caller's row scope)."""

from decimal import Decimal

from django.db.models import Exists, F, Min, OuterRef, Sum

from ..errors import DomainError
from ..models import Borrower, Case, CaseEvent, Hold, Instalment, Loan
from ..permissions import visible_cases
from ..workflow import OPEN_STATES


def loan_case_ref(actor, loan_id, *, payment_external_id=None):
    """`{"id", "state"}` of the loan's case that an answer about the loan may name, or None: the
    case the payment `payment_external_id` (or its reversal) was booked on, else the loan's most
    recent case — among the cases this actor may see (a client without `cases:read` sees none)."""
    cases = visible_cases(actor, Case.objects.filter(loan_id=loan_id)).order_by("-opened_at", "-id")
    if payment_external_id is not None:
        about_payment = CaseEvent.objects.filter(
            case=OuterRef("pk"),
            kind__in=("payment_recorded", "payment_reversed"),
            payload__external_id=payment_external_id,
        )
        row = cases.filter(Exists(about_payment)).values("id", "state").first()
        if row is not None:
            return row
        cases = cases.filter(state__in=OPEN_STATES)
    return cases.values("id", "state").first()


def loan_arrears(loan_id, as_of):
    """(oldest unpaid due date, amount overdue) of a loan as of a date.

    Overdue means past its due date: an instalment due today is not yet late (DOMAIN.md note in
    docs/workflow.md).
    """
    row = Instalment.objects.filter(loan_id=loan_id, due_date__lt=as_of, amount_paid__lt=F("amount_due")).aggregate(
        oldest=Min("due_date"), amount=Sum(F("amount_due") - F("amount_paid"))
    )
    return row["oldest"], Decimal(row["amount"] or 0).quantize(Decimal("0.01"))


def _addressable(external_id):
    """An id no row can have (too long, NUL, which PostgreSQL refuses in text) is simply not found."""
    if len(external_id) > 64 or "\x00" in external_id:
        raise DomainError("not_found")
    return external_id


def book_borrower(external_id):
    """The borrower with this external id (one query), or `not_found`."""
    borrower = Borrower.objects.filter(external_id=_addressable(external_id)).first()
    if borrower is None:
        raise DomainError("not_found")
    return borrower


def book_borrower_parts(borrower):
    """(active holds, contact persons) of a borrower as the loan-book answer lists them (two queries)."""
    holds = list(Hold.objects.active().filter(borrower=borrower).order_by("starts_at", "id"))
    contacts = list(borrower.contacts.order_by("id"))
    return holds, contacts


def book_loan(external_id=None, *, pk=None):
    """The loan (with its borrower) by external id, or by id after a write (one query), or `not_found`."""
    qs = Loan.objects.select_related("borrower")
    loan = qs.filter(pk=pk).first() if pk is not None else qs.filter(external_id=_addressable(external_id)).first()
    if loan is None:
        raise DomainError("not_found")
    return loan


def book_loan_instalments(loan):
    """The loan's schedule in instalment order (one query)."""
    return list(loan.instalments.order_by("number"))
