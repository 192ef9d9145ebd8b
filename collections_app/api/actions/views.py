"""Action endpoints: what happened on a contact, the check before one, promises, messages, visits,
payments in and their reversal. Each is a thin door onto a service: the services decide who may
do what (scope or role, row scope) and refuse with a reason code; these views shape input and output.

Every POST is an ActionView (common.action_view), so it honours `Idempotency-Key`. Bad input found
here is raised as the same DomainError the services raise, so a refusal for bad input is kept and
replayed like any other.
"""

from zoneinfo import ZoneInfo

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import permissions as perms
from ... import services
from ...selectors.book import loan_case_ref
from ...selectors.cases import case_detail
from ...errors import DomainError
from ...masking import mask_phone
from ...services.reminders import message_request
from ...services.pii import pii_log_unmasked
from ..common.action_view import ActionView
from ..common.errors import ErrorSerializer
from ..common.responses import ERRORS, error_response
from ..common.views import _ScopedView, api_actor, iso, money, sees_pii, validated
from .serializers import (
    ContactCheckQuerySerializer,
    ContactCheckSerializer,
    ContactInSerializer,
    ContactOutSerializer,
    MessageInSerializer,
    MessageOutSerializer,
    PaymentInSerializer,
    PaymentOutSerializer,
    PromiseInSerializer,
    PromiseOutSerializer,
    RefusalSerializer,
    ReversalInSerializer,
    VisitInSerializer,
    VisitOutSerializer,
)


# --- contacts -------------------------------------------------------------------------------


def contact_dict(contact, actor):
    return {
        "id": contact.pk,
        "case": contact.case_id,
        "channel": contact.channel,
        "direction": contact.direction,
        "outcome": contact.outcome,
        "phone": contact.phone if sees_pii(actor) else mask_phone(contact.phone),
        "notes": contact.notes,
        "breach": contact.breach or None,
        "occurred_at": iso(contact.occurred_at),
    }


class CaseContactsView(ActionView):
    write_ability = perms.CONTACT_RECORD
    service = staticmethod(services.contact_log)
    body_serializer = ContactInSerializer
    answer_serializer = ContactOutSerializer
    success_status = status.HTTP_201_CREATED
    post_description = (
        "Record a contact that took place (a call made, an SMS sent, a visit). Always 201: a "
        "contact that broke a rule is recorded with the rule's reason code in `breach` for "
        "supervisors to follow up, never refused. `dispute_raised` places a dispute hold."
    )

    def answer(self, contact, actor):
        if sees_pii(actor) and contact.phone:
            pii_log_unmasked(
                actor=actor, reads=[(contact.borrower_id, contact.case_id, ["phones"])], reason="api contact logged"
            )
        return contact_dict(contact, actor)


class CaseContactCheckView(_ScopedView):
    read_ability = perms.SEE_CASE

    @extend_schema(
        parameters=[ContactCheckQuerySerializer],
        responses={200: ContactCheckSerializer, **ERRORS},
        description="May an outbound contact on this channel (and number) happen now? Ask before dialling. "
        "`next_allowed_at` is in the borrower's offset, null when no time is known.",
    )
    def get(self, request, case_id):
        actor = api_actor(request)
        params = validated(ContactCheckQuerySerializer, request.query_params.dict())
        case = case_detail(actor, case_id)
        decision = services.contact_check(case=case, channel=params["channel"], phone=params["phone"])
        return Response(decision.as_dict())


# --- promises, messages, visits -------------------------------------------------------------


class CasePromisesView(ActionView):
    write_ability = perms.PROMISE_RECORD
    service = staticmethod(services.promise_record)
    body_serializer = PromiseInSerializer
    answer_serializer = PromiseOutSerializer
    success_status = status.HTTP_201_CREATED
    other_responses = {409: ErrorSerializer}

    def answer(self, promise, actor):
        return {
            "id": promise.pk,
            "case": promise.case_id,
            "amount": money(promise.amount),
            "due_date": promise.due_date.isoformat(),
            "status": promise.status,
        }


class CaseMessagesView(ActionView):
    write_ability = perms.MESSAGE_SEND
    service = staticmethod(message_request)
    body_serializer = MessageInSerializer
    answer_serializer = MessageOutSerializer
    success_status = status.HTTP_202_ACCEPTED
    other_responses = {
        409: ErrorSerializer,
        422: OpenApiResponse(
            RefusalSerializer,
            description="Not allowed now: the reason code and "
            "`next_allowed_at` (borrower's offset; null when no time is known).",
        ),
    }
    post_description = (
        "Ask for a templated SMS or e-mail. `now`: queued now or refused (422) with the reason and "
        "`next_allowed_at`; `next_allowed`: queued for the next allowed time."
    )

    def answer(self, message, actor):
        not_before = message.not_before.astimezone(ZoneInfo(message.borrower.time_zone))
        return {"id": message.pk, "status": message.status, "not_before": not_before.isoformat()}


class CaseVisitsView(ActionView):
    write_ability = perms.VISIT_PLAN
    service = staticmethod(services.visit_schedule)
    body_serializer = VisitInSerializer
    answer_serializer = VisitOutSerializer
    success_status = status.HTTP_201_CREATED
    other_responses = {409: ErrorSerializer, 422: error_response("`visit_needs_two_agents`.")}
    post_description = "Plan a home visit on a case in the visit stage, with two field agents at least."

    def answer(self, visit, actor):
        return {
            "id": visit.pk,
            "case": visit.case_id,
            "scheduled_for": iso(visit.scheduled_for),
            "agents": list(visit.agents.order_by("username").values_list("username", flat=True)),
            "status": visit.status,
        }


# --- payments -------------------------------------------------------------------------------


def payment_dict(payment, actor):
    return {
        "external_id": payment.external_id,
        "loan": payment.loan.external_id,
        "amount": money(payment.amount),
        "paid_at": iso(payment.paid_at),
        "channel": payment.channel,
        "unapplied_amount": money(payment.unapplied_amount),
        "reversed_at": iso(payment.reversed_at),
        # The case, only when this client may see cases (a bank feed with payments:write alone does not).
        "case": loan_case_ref(actor, payment.loan_id, payment_external_id=payment.external_id),
    }


class PaymentsView(ActionView):
    write_ability = perms.PAYMENT_RECORD
    service = staticmethod(services.payment_record)
    body_serializer = PaymentInSerializer
    answer_serializer = PaymentOutSerializer
    success_status = status.HTTP_201_CREATED
    other_responses = {
        200: OpenApiResponse(PaymentOutSerializer, description="A replay with the same data: the original."),
        409: error_response("`idempotency_conflict`: the external id was used with other data."),
    }
    post_description = (
        "Record a payment, idempotent by `external_id`. It applies to the oldest instalments first "
        "and resolves the case when nothing is left overdue, in one transaction."
    )

    def answer(self, result, actor):
        return payment_dict(result.payment, actor)

    def answer_status(self, result):
        return status.HTTP_201_CREATED if result.created else status.HTTP_200_OK


class PaymentReversalView(ActionView):
    write_ability = perms.PAYMENT_RECORD
    service = staticmethod(services.payment_reverse)
    body_serializer = ReversalInSerializer
    answer_serializer = PaymentOutSerializer
    post_description = (
        "Undo a payment (a bounced transfer): the case is reopened or re-aged. Reversing a "
        "reversed payment answers it again."
    )

    def act(self, actor, data, *, external_id):
        if len(external_id) > 64 or "\x00" in external_id:  # no such payment can exist (and PostgreSQL refuses NUL)
            raise DomainError("not_found")
        return super().act(actor, data, external_id=external_id)

    def answer(self, result, actor):
        return payment_dict(result.payment, actor)
