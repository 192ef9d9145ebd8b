"""Repayment plans and settlements: the only writers of RepaymentPlan (CONTRACT.md, "Repayment plans
and settlements"). The sweep's set-based part lives with the sweep (services/sweep/)."""

from .decide import plan_cancel, plan_decide
from .policy import policy_for_loan
from .progress import plan_refresh, plans_end_with_case
from .propose import Draft, plan_preview, plan_propose

__all__ = [
    "Draft",
    "plan_cancel",
    "plan_decide",
    "plan_preview",
    "plan_propose",
    "plan_refresh",
    "plans_end_with_case",
    "policy_for_loan",
]
