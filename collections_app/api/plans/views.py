"""Plan endpoints: propose on a case, list a case's plans, decide a waiting plan, cancel an open one.
Thin doors onto services/plans/ (who may, authority, policy and every refusal are decided there) and
selectors.cases (the reads). Every POST is an ActionView (common.action_view), so it honours
`Idempotency-Key`.

`reason` and `notes` are personal data (the borrower's circumstances): null unless the caller holds
`pii:read` (permissions.api_unmasks_pii); an unmasked answer is written to the audit log."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from ... import permissions as perms
from ...models import PlanInstalment, RepaymentPlan
from ...selectors import cases as case_reads
from ...services.pii import pii_log_unmasked
from ...services.plans import plan_cancel, plan_decide, plan_propose
from ..common.action_view import ActionView
from ..common.responses import ERRORS, error_response
from ..common.views import api_actor, iso, money, sees_pii
from .serializers import (
    PlanCancelSerializer,
    PlanDecisionSerializer,
    PlanListSerializer,
    PlanProposeSerializer,
    PlanSerializer,
)

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


# A POST that proposes, decides or cancels a plan and answers the plan as it then stands.
class _PlanActionView(ActionView):
    answer_serializer = PlanSerializer
    audit_reason = None  # the audit log's reason when the answer is unmasked

    def answer(self, plan, actor):
        return _answer(plan.pk, actor, self.audit_reason)


class CasePlansView(_PlanActionView):
    read_ability = perms.SEE_CASE
    write_ability = perms.PLAN_PROPOSE
    service = staticmethod(plan_propose)
    body_serializer = PlanProposeSerializer
    success_status = status.HTTP_201_CREATED
    other_responses = {
        409: error_response("`plan_exists`: the case has an open plan."),
        422: error_response("`plan_outside_policy`: outside every authority; `detail` names the limits."),
    }
    post_description = (
        "Propose a plan or a settlement: either `instalments`, or `months` + `first_due_date` "
        "(+ `down_payment`; a settlement also `discount`). A client proposes with a collector's authority: "
        "within it the plan is `active` at once; beyond it (but within the policy) it is `proposed` and "
        "waits for a decision."
    )
    audit_reason = "api plan proposed"

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


class PlanDecisionView(_PlanActionView):
    write_ability = perms.PLAN_DECIDE
    service = staticmethod(plan_decide)
    body_serializer = PlanDecisionSerializer
    other_responses = {409: error_response("`plan_not_pending`: the plan was already decided.")}
    post_description = (
        "Approve or decline (with a reason) a plan waiting for a decision. Needs `plans:decide`, "
        "which decides within a supervisor's authority; beyond it (a large settlement) is 403: a person decides."
    )
    audit_reason = "api plan decided"


class PlanCancelView(_PlanActionView):
    write_ability = perms.PLAN_CANCEL
    service = staticmethod(plan_cancel)
    body_serializer = PlanCancelSerializer
    other_responses = {409: error_response("`plan_not_pending`: the plan has already ended.")}
    post_description = "Cancel an open plan (proposed or active), with a reason."
    audit_reason = "api plan cancelled"
