"""Plan endpoints: propose on a case, list a case's plans, decide a waiting plan, cancel an open one.
Thin doors onto services/plans/ (who may, authority, policy and every refusal are decided there) and
selectors.cases (the reads). Every POST honours `Idempotency-Key` (common.idempotent).

`reason` and `notes` are personal data (the borrower's circumstances): null unless the caller holds
`pii:read` (permissions.api_unmasks_pii); an unmasked answer is written to the audit log."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import permissions as perms
from ...models import PlanInstalment, RepaymentPlan
from ...selectors import cases as case_reads
from ...services.pii import pii_log_unmasked
from ...services.plans import plan_cancel, plan_decide, plan_propose
from ..cases.serializers import ErrorSerializer
from ..common.idempotency import idempotent
from ..common.views import _ScopedView, api_actor, iso, json_object, money, sees_pii, validated
from .serializers import (
    PlanCancelSerializer,
    PlanDecisionSerializer,
    PlanListSerializer,
    PlanProposeSerializer,
    PlanSerializer,
)

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
PII_FIELDS = ["plan reason", "plan notes"]


def plan_dict(plan, actor, *, zone=None):
    """The plan shape of CONTRACT.md from a plan with its instalments prefetched in order."""
    shows_pii = sees_pii(actor)
    return {
        "id": plan.pk,
        "case": plan.case_id,
        "kind": plan.kind,
        "status": plan.status,
        "reason": plan.reason if shows_pii else None,
        "notes": plan.notes if shows_pii else None,
        "total": money(plan.total),
        "discount": money(plan.discount),
        "instalments": [
            {"number": i.number, "due_date": i.due_date.isoformat(), "amount": money(i.amount), "met": i.met}
            for i in plan.instalments.all()
        ],
        "proposed_by": plan.proposed_by,
        "decided_by": plan.decided_by or None,
        "created_at": iso(plan.created_at, zone),
        "decided_at": iso(plan.decided_at, zone),
        "ended_at": iso(plan.ended_at, zone),
    }


def _answer(plan_id, actor, reason):
    """The plan as it stands after the service (two queries), audited when unmasked."""
    plan = (
        RepaymentPlan.objects.select_related("case")
        .only(*(f.name for f in RepaymentPlan._meta.concrete_fields), "case__borrower_id")
        .prefetch_related(Prefetch("instalments", queryset=PlanInstalment.objects.order_by("number")))
        .get(pk=plan_id)
    )
    if sees_pii(actor):
        pii_log_unmasked(actor=actor, reads=[(plan.case.borrower_id, plan.case_id, PII_FIELDS)], reason=reason)
    return plan_dict(plan, actor)


class CasePlansView(_ScopedView):
    read_ability = perms.SEE_CASE
    write_ability = perms.PLAN_PROPOSE

    @extend_schema(
        operation_id="cases_plans_list",
        responses={200: PlanListSerializer, **ERRORS},
        description="The case's plans and settlements, newest first, each with its instalments.",
    )
    def get(self, request, case_id):
        actor = api_actor(request)
        borrower_id, plans = case_reads.case_plans(actor, case_id)
        if plans and sees_pii(actor):
            pii_log_unmasked(actor=actor, reads=[(borrower_id, case_id, PII_FIELDS)], reason="api case plans")
        return Response({"results": [plan_dict(p, actor) for p in plans]})

    @extend_schema(
        operation_id="cases_plans_create",
        request=PlanProposeSerializer,
        responses={
            201: PlanSerializer,
            409: OpenApiResponse(ErrorSerializer, description="`plan_exists`: the case has an open plan."),
            422: OpenApiResponse(
                ErrorSerializer,
                description="`plan_outside_policy`: outside every authority; `detail` names the limits.",
            ),
            **ERRORS,
        },
        description="Propose a plan or a settlement: either `instalments`, or `months` + `first_due_date` "
        "(+ `down_payment`; a settlement also `discount`). A client proposes with a collector's authority: "
        "within it the plan is `active` at once; beyond it (but within the policy) it is `proposed` and "
        "waits for a decision.",
    )
    @idempotent
    def post(self, request, case_id):
        actor = api_actor(request)
        data = validated(PlanProposeSerializer, json_object(request))
        proposal = {name: value for name, value in data.items() if value is not None}
        plan = plan_propose(case_id=case_id, actor=actor, **proposal)
        return Response(_answer(plan.pk, actor, "api plan proposed"), status=status.HTTP_201_CREATED)


class PlanDecisionView(_ScopedView):
    write_ability = perms.PLAN_DECIDE

    @extend_schema(
        request=PlanDecisionSerializer,
        responses={
            200: PlanSerializer,
            409: OpenApiResponse(ErrorSerializer, description="`plan_not_pending`: the plan was already decided."),
            **ERRORS,
        },
        description="Approve or decline (with a reason) a plan waiting for a decision. Needs `plans:decide`, "
        "which decides within a supervisor's authority; beyond it (a large settlement) is 403: a person decides.",
    )
    @idempotent
    def post(self, request, plan_id):
        actor = api_actor(request)
        data = validated(PlanDecisionSerializer, json_object(request))
        plan = plan_decide(plan_id=plan_id, actor=actor, decision=data["decision"], reason=data["reason"])
        return Response(_answer(plan.pk, actor, "api plan decided"))


class PlanCancelView(_ScopedView):
    write_ability = perms.PLAN_CANCEL

    @extend_schema(
        request=PlanCancelSerializer,
        responses={
            200: PlanSerializer,
            409: OpenApiResponse(ErrorSerializer, description="`plan_not_pending`: the plan has already ended."),
            **ERRORS,
        },
        description="Cancel an open plan (proposed or active), with a reason.",
    )
    @idempotent
    def post(self, request, plan_id):
        actor = api_actor(request)
        data = validated(PlanCancelSerializer, json_object(request))
        plan = plan_cancel(plan_id=plan_id, actor=actor, reason=data["reason"])
        return Response(_answer(plan.pk, actor, "api plan cancelled"))
