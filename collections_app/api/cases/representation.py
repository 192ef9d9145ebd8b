"""How a case reads over the API (CONTRACT.md "Shapes"). Plain functions over rows the selectors
already loaded: no query per case. Personal data is masked without `pii:read`; an unmasked read is
written to the audit log."""

import hashlib
import json
from decimal import Decimal

from django.utils import timezone

from ...masking import mask_name
from ...models import Case
from ...models.cases import days_past_due
from ...services.pii import pii_log_unmasked
from ...selectors.cases import API_RELATED_FIELDS, bucket_for
from ..common.views import iso, money, sees_pii


# What a case answer reads, as values() names: a list page reads these and no model instances
# (plus `active_hold_exists`, which the list sets from the page's hold codes).
CASE_VALUES = (
    "id",
    "state",
    "oldest_unpaid_due_date",
    "amount_overdue",
    "priority",
    "next_action_at",
    "opened_at",
    "closed_at",
    "updated_at",
    "change_position",
    "risk_band",
    "p_cure",
    "risk_reasons",
    "risk_model",
    "risk_scored_at",
    "strategy_group",
    "borrower_id",
    "vulnerable_exists",  # annotated by selectors.cases.case_api_queryset (the workflow asks it)
    *API_RELATED_FIELDS,
)


class AllowedTransitions:
    """`Case.allowed_transitions` for rows read as values. The workflow's conditions read only the
    state, whether the borrower is on hold and an approved legal referral (which no row read here
    carries), so rows alike in the first two share one answer: asked once per pair, not per row.
    Keep this in step with the conditions in workflow.py (tests compare it with the model's)."""

    def __init__(self, actor):
        self.actor, self._known = actor, {}

    def __call__(self, state, on_hold, vulnerable=False):
        key = (state, bool(on_hold), bool(vulnerable))
        if key not in self._known:
            probe = Case(state=state)
            probe.__dict__["active_hold_exists"] = bool(on_hold)
            probe.__dict__["vulnerable_exists"] = bool(vulnerable)
            self._known[key] = probe.allowed_transitions(self.actor)
        return list(self._known[key])


def plan_summary(plan_id, kind, status, next_due_date, next_amount):
    """The case shape's `plan` (the open plan: proposed or active; next = its first unmet
    instalment), from selectors.open_plans' values or the detail's JSON (strings there)."""
    if next_due_date is not None and not isinstance(next_due_date, str):
        next_due_date = next_due_date.isoformat()
    if next_amount is not None:
        next_amount = money(Decimal(str(next_amount)))
    return {"id": plan_id, "kind": kind, "status": status, "next_due_date": next_due_date, "next_amount": next_amount}


def plan_summaries(open_plans):
    """{case id: plan summary} from selectors.cases.open_plans."""
    return {case_id: plan_summary(*values) for case_id, values in open_plans.items()}


def risk_summary(row, zone):
    """The case shape's `risk` (CONTRACT.md "Risk and strategy"): null until first scored; `p_cure`
    as a string with two decimals. Read from the case row itself: no query more."""
    if not row.get("risk_band"):
        return None
    return {
        "band": row["risk_band"],
        "p_cure": f"{row['p_cure']:.2f}",
        "reasons": list(row["risk_reasons"] or []),
        "model": row["risk_model"],
        "scored_at": iso(row["risk_scored_at"], zone),
    }


def strategy_summary(row):
    """The case shape's `strategy` (CONTRACT.md "Risk and strategy"): the strategy in force and the
    case's test group; null until the first choice (services/strategy_choice.py). No query more."""
    if not row.get("strategy__name"):
        return None
    return {"name": row["strategy__name"], "group": row["strategy_group"]}


def case_body(row, actor, *, as_of, buckets, hold_codes, allowed_transitions, zone=None, plan=None):
    """The case shape of CONTRACT.md from a row of CASE_VALUES; `plan` is its plan_summary or None."""
    zone = zone or timezone.get_current_timezone()
    dpd = days_past_due(row["oldest_unpaid_due_date"], as_of)
    name = row["borrower__name"] if sees_pii(actor) else mask_name(row["borrower__name"])
    return {
        "id": row["id"],
        "loan": row["loan__external_id"],
        "borrower": {"external_id": row["borrower__external_id"], "name": name},
        "state": row["state"],
        "dpd": dpd,
        "bucket": bucket_for(dpd, buckets),
        "amount_overdue": money(row["amount_overdue"]),
        "currency": row["loan__currency"],
        "assigned_to": row["assigned_to__username"],
        "queue": row["queue__name"],
        "priority": row["priority"],
        "next_action_at": iso(row["next_action_at"], zone),
        "hold": hold_codes,
        "opened_at": iso(row["opened_at"], zone),
        "closed_at": iso(row["closed_at"], zone),
        "updated_at": iso(row["updated_at"], zone),
        "allowed_transitions": allowed_transitions,
        "plan": plan,
        "risk": risk_summary(row, zone),
        "strategy": strategy_summary(row),
    }


def case_bodies(rows, actor, *, as_of, buckets, hold_codes, plans):
    """Bodies of many rows of CASE_VALUES; `hold_codes` maps borrower id to its active hold codes,
    `plans` case id to its plan summary (plan_summaries)."""
    zone, transitions = timezone.get_current_timezone(), AllowedTransitions(actor)
    return [
        case_body(
            row,
            actor,
            as_of=as_of,
            buckets=buckets,
            zone=zone,
            hold_codes=hold_codes.get(row["borrower_id"], []),
            allowed_transitions=transitions(
                row["state"], row["active_hold_exists"], sees_pii(actor) and row.get("vulnerable_exists")
            ),
            plan=plans.get(row["id"]),
        )
        for row in rows
    ]


def _transitions_without_tell(case, actor):
    """The case's allowed transitions; without pii:read they do not read the borrower's vulnerability
    marker (personal data: a missing `schedule_visit` would tell it). The service still refuses."""
    if not sees_pii(actor):
        case.__dict__["vulnerable_exists"] = False
    return case.allowed_transitions(actor)


def case_dict(case, actor, *, as_of, buckets, plan=None):
    """The same shape from a loaded Case (its own conditions, referral included, decide the transitions)."""
    row = {
        "id": case.pk,
        "state": case.state,
        "oldest_unpaid_due_date": case.oldest_unpaid_due_date,
        "amount_overdue": case.amount_overdue,
        "priority": case.priority,
        "next_action_at": case.next_action_at,
        "opened_at": case.opened_at,
        "closed_at": case.closed_at,
        "updated_at": case.updated_at,
        "loan__external_id": case.loan.external_id,
        "loan__currency": case.loan.currency,
        "borrower__external_id": case.borrower.external_id,
        "borrower__name": case.borrower.name,
        "assigned_to__username": case.assigned_to.get_username() if case.assigned_to_id else None,
        "queue__name": case.queue.name if case.queue_id else None,
        "risk_band": case.risk_band,
        "p_cure": case.p_cure,
        "risk_reasons": case.risk_reasons,
        "risk_model": case.risk_model,
        "risk_scored_at": case.risk_scored_at,
        "strategy__name": case.strategy.name if case.strategy_id else None,
        "strategy_group": case.strategy_group,
    }
    return case_body(
        row,
        actor,
        as_of=as_of,
        buckets=buckets,
        hold_codes=case.active_hold_codes,
        allowed_transitions=_transitions_without_tell(case, actor),
        plan=plan,
    )


def audit_unmasked(actor, cases, reason, fields=("name",)):
    """One audit row per borrower whose personal data (`fields`) went out unmasked (one query for a
    whole page). `cases`: Case instances or rows with `id` and `borrower_id`."""
    if not sees_pii(actor) or not cases:
        return
    pii_log_unmasked(
        actor=actor,
        reason=reason,
        reads=[
            (c["borrower_id"], c["id"], list(fields)) if isinstance(c, dict) else (c.borrower_id, c.pk, list(fields))
            for c in cases
        ],
    )


def etag_for(body):
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32] + '"'
