"""Reminders through an outbox: planned in the same transaction as the decision, sent once.

`reminders_plan` writes one OutboundMessage per (loan, instalment, plan step), keyed so a rerun
plans nothing twice; compliance is decided then (a hold or opt-out: suppressed, with the reason; quiet
hours: moved to the next allowed minute). `reminders_dispatch` claims due rows with a conditional
update, checks compliance again at send time, renders, sends in batches through the channel's
backend and records the answer: sent, failed (with reason, after retries with backoff) or
suppressed. A row claimed by a worker that died is put back by `reminders_requeue_stale`.

Modules: `planner` (reminders_plan, message_request), `preview` (rendering, message_preview,
template_problems), `dispatch` (reminders_dispatch, reminders_requeue_stale), `receipts`.
"""

from .dispatch import STALE_CLAIM_MINUTES, DispatchResult, reminders_dispatch, reminders_requeue_stale
from .planner import PlanResult, message_request, reminders_plan
from .preview import HOW_TO_PAY, OPT_OUT_LINES, TEMPLATE_VARIABLES, message_preview, template_problems
from .receipts import receipts_apply

__all__ = [
    "HOW_TO_PAY",
    "OPT_OUT_LINES",
    "STALE_CLAIM_MINUTES",
    "TEMPLATE_VARIABLES",
    "DispatchResult",
    "PlanResult",
    "message_preview",
    "message_request",
    "receipts_apply",
    "reminders_dispatch",
    "reminders_plan",
    "reminders_requeue_stale",
    "template_problems",
]
