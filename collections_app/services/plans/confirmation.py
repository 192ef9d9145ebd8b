"""The borrower's confirmation SMS when a plan becomes active (`plan_confirmation`), queued after
the activation commits through the same message service the case page's "Send an SMS" uses, so
consent, opt-out, quiet hours and frequency rules apply: when a message is not allowed now it is
scheduled at the next allowed time; when it is not allowed at all it is skipped. It never fails the
plan: the plan is committed before this runs."""

import logging
from functools import partial

from django.db import transaction

from ...actors import SYSTEM
from ...errors import DomainError

log = logging.getLogger(__name__)

TEMPLATE = "plan_confirmation"


def plan_confirmation_on_commit(plan_id):
    """Queue the confirmation once the current transaction commits (nothing if it rolls back)."""
    transaction.on_commit(partial(plan_confirmation_queue, plan_id), robust=True)


def plan_confirmation_queue(plan_id):
    """Queue the SMS for an active plan (idempotent per plan). Returns the message, or None when
    it was not queued (the plan is no longer active, or the rules refuse any time)."""
    from ...models import PlanStatus, RepaymentPlan
    from ..reminders import message_request

    case_id = (
        RepaymentPlan.objects.filter(pk=plan_id, status=PlanStatus.ACTIVE).values_list("case_id", flat=True).first()
    )
    if case_id is None:
        return None
    try:
        return message_request(
            case_id=case_id,
            channel="sms",
            template=TEMPLATE,
            schedule="next_allowed",
            actor=SYSTEM,
            idempotency_key=f"{TEMPLATE}:{plan_id}",
        )
    except DomainError as refusal:
        log.info("plan %s: confirmation SMS not queued (%s)", plan_id, refusal.code)
        return None
