"""Action endpoints: what happened on a contact, the check before one, promises, messages, visits,
payments in and their reversal. Each is a thin door onto a service: the services decide who may
do what (scope or role, row scope) and refuse with a reason code; these views shape input and output.

Every POST honours `Idempotency-Key` (common.idempotent). Bad input found here is raised as the same
DomainError the services raise, so a refusal for bad input is kept and replayed like any other.
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
from ..cases.serializers import ErrorSerializer
from ..common.idempotency import idempotent
from ..common.views import _ScopedView, api_actor, iso, json_object, money, sees_pii, validated
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

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


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


class CaseContactsView(_ScopedView):
    write_ability = perms.CONTACT_RECORD

    @extend_schema(
        request=ContactInSerializer,
        responses={201: ContactOutSerializer, **ERRORS},
        description="Record a contact that took place (a call made, an SMS sent, a visit). Always 201: a "
        "contact that broke a rule is recorded with the rule's reason code in `breach` for "
        "supervisors to follow up, never refused. `dispute_raised` places a dispute hold.",
    )
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(ContactInSerializer, json_object(request))
        contact = services.contact_log(
            case_id=case_id,
            actor=actor,
            channel=data["channel"],
            direction=data["direction"],
            outcome=data["outcome"],
            phone=data["phone"],
            notes=data["notes"],
            occurred_at=data["occurred_at"],
        )
        if sees_pii(actor) and contact.phone:
            pii_log_unmasked(
                actor=actor, reads=[(contact.borrower_id, contact.case_id, ["phones"])], reason="api contact logged"
            )
        return Response(contact_dict(contact, actor), status=status.HTTP_201_CREATED)


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


class CasePromisesView(_ScopedView):
    write_ability = perms.PROMISE_RECORD

    @extend_schema(request=PromiseInSerializer, responses={201: PromiseOutSerializer, 409: ErrorSerializer, **ERRORS})
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(PromiseInSerializer, json_object(request))
        promise = services.promise_record(
            case_id=case_id, actor=actor, amount=data["amount"], due_date=data["due_date"]
        )
        return Response(
            {
                "id": promise.pk,
                "case": promise.case_id,
                "amount": money(promise.amount),
                "due_date": promise.due_date.isoformat(),
                "status": promise.status,
            },
            status=status.HTTP_201_CREATED,
        )


class CaseMessagesView(_ScopedView):
    write_ability = perms.MESSAGE_SEND

    @extend_schema(
        request=MessageInSerializer,
        responses={
            202: MessageOutSerializer,
            409: ErrorSerializer,
            422: OpenApiResponse(
                RefusalSerializer,
                description="Not allowed now: the reason code and "
                "`next_allowed_at` (borrower's offset; null when no time is known).",
            ),
            **ERRORS,
        },
        description="Ask for a templated SMS or e-mail. `now`: queued now or refused (422) with the reason and "
        "`next_allowed_at`; `next_allowed`: queued for the next allowed time.",
    )
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(MessageInSerializer, json_object(request))
        message = message_request(
            case_id=case_id, actor=actor, channel=data["channel"], template=data["template"], schedule=data["schedule"]
        )
        not_before = message.not_before.astimezone(ZoneInfo(message.borrower.time_zone))
        return Response(
            {"id": message.pk, "status": message.status, "not_before": not_before.isoformat()},
            status=status.HTTP_202_ACCEPTED,
        )


class CaseVisitsView(_ScopedView):
    write_ability = perms.VISIT_PLAN

    @extend_schema(
        request=VisitInSerializer,
        responses={
            201: VisitOutSerializer,
            409: ErrorSerializer,
            422: OpenApiResponse(ErrorSerializer, description="`visit_needs_two_agents`."),
            **ERRORS,
        },
        description="Plan a home visit on a case in the visit stage, with two field agents at least.",
    )
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(VisitInSerializer, json_object(request))
        visit = services.visit_schedule(
            case_id=case_id, actor=actor, scheduled_for=data["scheduled_for"], agents=data["agents"]
        )
        agents = list(visit.agents.order_by("username").values_list("username", flat=True))
        return Response(
            {
                "id": visit.pk,
                "case": visit.case_id,
                "scheduled_for": iso(visit.scheduled_for),
                "agents": agents,
                "status": visit.status,
            },
            status=status.HTTP_201_CREATED,
        )


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


class PaymentsView(_ScopedView):
    write_ability = perms.PAYMENT_RECORD

    @extend_schema(
        request=PaymentInSerializer,
        responses={
            201: PaymentOutSerializer,
            200: OpenApiResponse(PaymentOutSerializer, description="A replay with the same data: the original."),
            409: OpenApiResponse(
                ErrorSerializer, description="`idempotency_conflict`: the external id was used with other data."
            ),
            **ERRORS,
        },
        description="Record a payment, idempotent by `external_id`. It applies to the oldest instalments first "
        "and resolves the case when nothing is left overdue, in one transaction.",
    )
    @idempotent
    def post(self, request):
        actor = api_actor(request)
        data = validated(PaymentInSerializer, json_object(request))
        result = services.payment_record(
            external_id=data["external_id"],
            loan=data["loan"],
            amount=data["amount"],
            paid_at=data["paid_at"],
            channel=data["channel"],
            actor=actor,
        )
        return Response(
            payment_dict(result.payment, actor),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class PaymentReversalView(_ScopedView):
    write_ability = perms.PAYMENT_RECORD

    @extend_schema(
        request=ReversalInSerializer,
        responses={200: PaymentOutSerializer, **ERRORS},
        description="Undo a payment (a bounced transfer): the case is reopened or re-aged. Reversing a "
        "reversed payment answers it again.",
    )
    @idempotent
    def post(self, request, external_id):
        actor = api_actor(request)
        data = validated(ReversalInSerializer, json_object(request))
        if len(external_id) > 64 or "\x00" in external_id:  # no such payment can exist (and PostgreSQL refuses NUL)
            raise DomainError("not_found")
        result = services.payment_reverse(external_id=external_id, actor=actor, reason=data["reason"])
        return Response(payment_dict(result.payment, actor))
