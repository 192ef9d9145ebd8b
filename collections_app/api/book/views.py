"""Loan book endpoints (issue 6): PUT/GET a borrower, PUT/GET a loan, POST up to 1,000 loans.

Thin doors onto services/book/, which validates every field and refuses with the field named.
Scopes: writing needs `loans:write` (a person: supervisor or admin); reading needs `loans:write` or
`cases:read` (a person: a role that sees every case: supervisor, auditor, admin). A borrower's
personal data is masked without `pii:read`, and every unmasked answer is written to the audit log.
Every PUT and POST honours `Idempotency-Key` (common.idempotent).
"""

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import permissions
from ...calendar import lender_today
from ...errors import DomainError
from ...selectors import book as book_reads
from ...services.book.borrowers import borrower_upsert
from ...services.book.loans import loan_upsert, loan_upsert_many
from ...services.book.shared import printable
from ...services.pii import pii_log_unmasked
from ..common.errors import ErrorSerializer
from ..common.idempotency import idempotent
from ..common.responses import error_response
from ..common.views import ScopePermission, _ScopedView, api_actor, json_object, sees_pii
from .serializers import (
    BORROWER_PII_FIELDS,
    BorrowerInSerializer,
    BorrowerOutSerializer,
    BulkLoansInSerializer,
    BulkLoansOutSerializer,
    LoanInSerializer,
    LoanOutSerializer,
    borrower_dict,
    bulk_result_dict,
    loan_dict,
)

BULK_LIMIT = 1000
READ_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
WRITE_ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: ErrorSerializer,
    409: error_response(
        "`idempotency_conflict`, or `stale_version` when the record changed while being saved (retry)."
    ),
}


class BookPermission(ScopePermission):
    """Clients: reads need `loans:write` or `cases:read`, writes `loans:write`. People: reads need a
    role that sees every case, writes a supervisor or admin (the service checks that again)."""

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        actor = api_actor(request)
        reading = request.method in ("GET", "HEAD", "OPTIONS")
        return permissions.may_read_book(actor) if reading else permissions.may_write_book(actor)


class _BookView(_ScopedView):
    permission_classes = [BookPermission]


def _audit_borrower(actor, borrower, reason):
    if sees_pii(actor):
        pii_log_unmasked(actor=actor, reads=[(borrower.pk, None, BORROWER_PII_FIELDS)], reason=reason)


def _borrower_answer(actor, borrower, reason):
    holds, contacts = book_reads.book_borrower_parts(borrower)
    _audit_borrower(actor, borrower, reason)
    return borrower_dict(borrower, actor, holds=holds, contacts=contacts)


def _loan_answer(loan, actor):
    instalments = book_reads.book_loan_instalments(loan)
    case = book_reads.loan_case_ref(actor, loan.pk)  # only a case this caller may see
    return loan_dict(loan, instalments=instalments, case=case, as_of=lender_today())


def _upsert_responses(out_serializer):
    """The schema of a PUT that creates (201) or updates (200)."""
    return {
        201: out_serializer,
        200: OpenApiResponse(out_serializer, description="Updated, or unchanged."),
        **WRITE_ERRORS,
    }


def _upsert_response(body, result):
    """201 when the upsert created the row, else 200; `X-Upsert-Status` says which it was."""
    return Response(
        body,
        status=status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK,
        headers={"X-Upsert-Status": result.status},
    )


class BorrowerView(_BookView):
    @extend_schema(
        responses={200: BorrowerOutSerializer, **READ_ERRORS},
        description="The borrower as stored, with every active hold. Personal data is masked "
        "without `pii:read`; an unmasked answer is written to the audit log.",
    )
    def get(self, request, external_id):
        actor = api_actor(request)
        borrower = book_reads.book_borrower(external_id)
        return Response(_borrower_answer(actor, borrower, "api borrower read"))

    @extend_schema(
        request=BorrowerInSerializer,
        responses=_upsert_responses(BorrowerOutSerializer),
        description="Create (201) or update (200) the borrower. Absent keys are left as stored; `name` is "
        "required on create. `holds` sets the loan system's active holds; `contacts` replaces "
        "the list. Every bad field is named in `fields` and nothing is written.",
    )
    @idempotent
    def put(self, request, external_id):
        actor = api_actor(request)
        with transaction.atomic():
            result = borrower_upsert(external_id=external_id, data=json_object(request), actor=actor)
            body = _borrower_answer(actor, result.obj, "api borrower upsert")
        return _upsert_response(body, result)


class LoanView(_BookView):
    @extend_schema(
        responses={200: LoanOutSerializer, **READ_ERRORS},
        description="The loan as stored: its schedule with paid amounts, and its most recent case.",
    )
    def get(self, request, external_id):
        loan = book_reads.book_loan(external_id)
        return Response(_loan_answer(loan, api_actor(request)))

    @extend_schema(
        request=LoanInSerializer,
        responses=_upsert_responses(LoanOutSerializer),
        description="Create (201) or update (200) the loan. `instalments` is the full schedule, matched by "
        "`number`: paid amounts are kept, and a schedule that would drop or shrink an instalment "
        "below what was paid on it is refused. Without `instalments` the schedule is left as it "
        "is. The loan's case follows in the same transaction (opened when something is overdue "
        "as of today, resolved when nothing is).",
    )
    @idempotent
    def put(self, request, external_id):
        actor = api_actor(request)
        result = loan_upsert(external_id=external_id, data=json_object(request), actor=actor)
        loan = book_reads.book_loan(pk=result.obj.pk)
        return _upsert_response(_loan_answer(loan, actor), result)


class LoanBulkView(_BookView):
    @extend_schema(
        request=BulkLoansInSerializer,
        responses={200: BulkLoansOutSerializer, **WRITE_ERRORS},
        description="Up to 1,000 loans, each applied or refused on its own (its own transaction), answered "
        "in the order given: `created`, `updated`, `unchanged` or `error` with `errors` naming the "
        "fields. 400 for more than 1,000 loans or a malformed envelope.",
    )
    @idempotent
    def post(self, request):
        actor = api_actor(request)
        body = json_object(request)
        unknown = sorted(printable(k) for k in body if k != "loans")
        if unknown:
            raise DomainError("validation_error", fields={k: [_("Unknown field.")] for k in unknown})
        loans = body.get("loans")
        if not isinstance(loans, list) or not loans:
            raise DomainError(
                "validation_error", fields={"loans": [_("Send a list of 1 to %(n)d loans.") % {"n": BULK_LIMIT}]}
            )
        if len(loans) > BULK_LIMIT:
            raise DomainError(
                "validation_error", fields={"loans": [_("At most %(n)d loans in one call.") % {"n": BULK_LIMIT}]}
            )
        results = loan_upsert_many(items=loans, actor=actor)
        return Response({"results": [bulk_result_dict(x) for x in results]})
