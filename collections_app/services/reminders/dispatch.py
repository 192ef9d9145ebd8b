"""The dispatcher: claim due outbox rows (one conditional update), check compliance again at send
time, render, send in batches through the channel's backend and record each answer as it comes, with
the final ones on the case's timeline; put back the claims of dead workers."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ... import compliance
from ...gateways import Outgoing, backend_for
from ...models import OutboundMessage, PlanStatus, RepaymentPlan
from ...workflow import OPEN_STATES
from .._common import claim_queued
from .plan_reminders import CareTemplates, plan_instalments_of, vulnerable_borrowers
from .planner import _active_holds_by_borrower, _policy_for
from .preview import _Renderer

STALE_CLAIM_MINUTES = 10


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    deferred: int = 0


def _claim(limit):
    """Take up to `limit` due rows (services/_common.claim_queued: exclusive everywhere)."""
    now = timezone.now()
    due = OutboundMessage.objects.filter(status=OutboundMessage.Status.QUEUED, not_before__lte=now)
    claimed = claim_queued(due, limit, now=now, order_by=("not_before", "id"), updated_at=now)
    return list(claimed.select_related("borrower", "loan", "case", "instalment", "step__strategy"))


def _send_time_decision(message, now, holds):
    borrower = message.borrower
    codes, end = holds.get(borrower.pk, (set(), None))
    facts = compliance.BorrowerFacts(
        time_zone=borrower.time_zone,
        consent_after_hours=borrower.consent_after_hours,
        consent_sms=borrower.consent_sms,
        consent_email=borrower.consent_email,
        active_hold_codes=frozenset(codes),
        holds_end_at=end,
    )
    strategy = message.step.strategy if message.step else None
    return compliance.check_contact(facts=facts, channel=message.channel, at=now, policy=_policy_for(strategy))


def _no_longer_owed(message, plan_instalment=None, on_plan=frozenset()):
    """A reminder about money already paid, or a case already ended, must not go out; nor a plan's
    reminder once the plan ended, nor a strategy step's once the case went on a plan."""
    instalment = message.instalment
    if instalment is not None and instalment.amount_paid >= instalment.amount_due:
        return "instalment_paid"
    if message.case is not None and message.case.state not in OPEN_STATES:
        return "case_not_open"
    if plan_instalment is not None:
        if plan_instalment.plan.status != PlanStatus.ACTIVE:
            return "plan_ended"
        if plan_instalment.met:
            return "instalment_paid"
    elif message.step_id is not None and message.case_id in on_plan:
        return "on_plan"
    return ""


class _PlanFacts:
    """What a batch of claimed messages needs to know about plans and care, in a few queries."""

    def __init__(self, claimed):
        self.plan_instalments = plan_instalments_of(claimed)
        step_cases = {m.case_id for m in claimed if m.step_id is not None and m.case_id is not None}
        self.on_plan = set(
            RepaymentPlan.objects.filter(case_id__in=step_cases, status=PlanStatus.ACTIVE).values_list(
                "case_id", flat=True
            )
        )
        self.vulnerable = vulnerable_borrowers({m.borrower_id for m in claimed})
        self.care = CareTemplates() if self.vulnerable else None

    def care_code(self, message):
        """A borrower who needs care by the time it is sent gets the template's care variant."""
        if message.borrower_id not in self.vulnerable:
            return message.template_code
        return self.care.code_for(message.template_code, message.channel, True)


def reminders_dispatch(*, limit=None):
    """Claim and send one batch of due messages. Returns what happened to them."""
    limit = limit or settings.COLLECTIONS_DISPATCH_BATCH
    result = DispatchResult()
    claimed = _claim(limit)
    result.claimed = len(claimed)
    if not claimed:
        return result
    now = timezone.now()
    holds = _active_holds_by_borrower({m.borrower_id for m in claimed}, now)
    renderer = _Renderer()
    plans = _PlanFacts(claimed)
    outgoing = {"sms": [], "email": []}
    finished = []  # (message, fields) decided before sending
    for message in claimed:
        plan_instalment = plans.plan_instalments.get(message.pk)
        no_longer_owed = _no_longer_owed(message, plan_instalment, plans.on_plan)
        if no_longer_owed:
            finished.append((message, {"status": "suppressed", "reason": no_longer_owed}))
            result.suppressed += 1
            continue
        decision = _send_time_decision(message, now, holds)
        if not decision.allowed:
            if decision.code == "outside_contact_hours" and decision.next_allowed_at:
                finished.append(
                    (
                        message,
                        {"status": "queued", "not_before": decision.next_allowed_at, "attempts": message.attempts - 1},
                    )
                )
                result.deferred += 1
            else:
                finished.append((message, {"status": "suppressed", "reason": decision.code}))
                result.suppressed += 1
            continue
        message.template_code = plans.care_code(message)
        text, subject = renderer.render(message, plan_instalment=plan_instalment)
        if text is None:
            finished.append(
                (
                    message,
                    {
                        "status": "failed",
                        "reason": "template_missing",
                        "error": f"no template {message.template_code}/{message.channel}",
                    },
                )
            )
            result.failed += 1
            continue
        message.rendered = text
        outgoing[message.channel].append(
            (message, Outgoing(message.idempotency_key, message.to_address, text, subject))
        )
    _record(finished)  # decided before sending: recorded before anything leaves
    for channel, pairs in outgoing.items():
        if pairs:
            _send_and_record(channel, pairs, now, result)
    return result


def _outcome(message, answer, now, result):
    if answer is not None and answer.ok:
        result.sent += 1
        return {
            "status": "sent",
            "template_code": message.template_code,  # the care variant, if chosen at send time
            "sent_at": timezone.now(),
            "rendered": message.rendered,
            "provider_message_id": answer.provider_id,
            "reason": "",
            "error": "",
        }
    if answer is not None and answer.retryable and message.attempts < settings.COLLECTIONS_MESSAGE_MAX_ATTEMPTS:
        result.retried += 1
        return {"status": "queued", "not_before": now + timedelta(minutes=2**message.attempts), "error": answer.error}
    result.failed += 1
    error = answer.error if answer else "no answer from backend"
    return {
        "status": "failed",
        "reason": "gateway_rejected" if answer and not answer.retryable else "retries_exhausted",
        "error": error,
    }


def _send_and_record(channel, pairs, now, result):
    """Hand the messages to the channel's backend and record each answer as soon as the backend
    gives it (a backend that yields answers one at a time gets each recorded at once; one that
    answers a list gets the list recorded together). A worker killed after k answers leaves only
    the rest `sending`, and the requeue sends only those; the backend gets each message's key, so a
    message answered but not yet recorded is not delivered twice either."""
    by_key = {out.key: message for message, out in pairs}
    answers = backend_for(channel).send([out for _, out in pairs])
    groups = [answers] if isinstance(answers, (list, tuple)) else ([answer] for answer in answers)
    for group in groups:
        done = []
        for answer in group:
            message = by_key.pop(answer.key, None)
            if message is not None:
                done.append((message, _outcome(message, answer, now, result)))
        _record(done)
    _record([(message, _outcome(message, None, now, result)) for message in by_key.values()])


_FINAL = {"sent": "message_sent", "failed": "message_failed", "suppressed": "message_suppressed"}


def _record(finished):
    """Write each message's outcome and put the final ones on their case's timeline, in one
    transaction and a few statements per batch. Only rows still under this dispatcher's claim
    (`sending`, claimed when it claimed them) are written: a row requeued meanwhile as stale belongs
    to whichever dispatcher claimed it next, even while that one still holds it."""
    from ..events import event_build, events_write

    if not finished:
        return
    now = timezone.now()
    with transaction.atomic():
        claims = dict(
            OutboundMessage.objects.select_for_update()
            .filter(pk__in=[m.pk for m, _ in finished], status=OutboundMessage.Status.SENDING)
            .values_list("pk", "claimed_at")
        )
        changed, events = [], []
        for message, fields in finished:
            if message.pk not in claims or claims[message.pk] != message.claimed_at:
                continue
            for name, value in fields.items():
                setattr(message, name, value)
            message.updated_at = now
            changed.append(message)
            kind = _FINAL.get(fields["status"])
            if kind and message.case_id:
                events.append(
                    event_build(
                        message.case_id,
                        kind,
                        None,
                        at=now,
                        payload={
                            "message_id": message.pk,
                            "channel": message.channel,
                            "template": message.template_code,
                            "reason": fields.get("reason") or None,
                        },
                    )
                )
        if changed:
            _write_outcomes(changed)
        events_write(events)


_OUTCOME_COLUMNS = (
    "status",
    "template_code",
    "not_before",
    "attempts",
    "reason",
    "error",
    "rendered",
    "provider_message_id",
    "sent_at",
    "updated_at",
)


def _write_outcomes(messages):
    """One statement per batch on PostgreSQL (UPDATE ... FROM (VALUES ...)): Django's bulk_update
    builds a CASE per column and row, which cost more than sending (bench reminders)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        OutboundMessage.objects.bulk_update(messages, list(_OUTCOME_COLUMNS), batch_size=500)
        return
    from psycopg2.extras import execute_values

    table = OutboundMessage._meta.db_table
    rows = [(m.pk, *(getattr(m, c) for c in _OUTCOME_COLUMNS)) for m in messages]
    assignments = ", ".join(f"{c} = v.{c}" for c in _OUTCOME_COLUMNS)
    sql = (
        f"UPDATE {table} o SET {assignments} FROM (VALUES %s) AS v(id, {', '.join(_OUTCOME_COLUMNS)}) WHERE o.id = v.id"
    )
    template = "(%s, %s, %s, %s::timestamptz, %s::smallint, %s, %s, %s, %s, %s::timestamptz, %s::timestamptz)"
    with connection.cursor() as cursor:
        execute_values(cursor.cursor, sql, rows, template=template, page_size=500)


def reminders_requeue_stale(*, older_than_minutes=STALE_CLAIM_MINUTES):
    """Rows claimed by a worker that died go back to the queue (the gateway dedups by key)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return OutboundMessage.objects.filter(status=OutboundMessage.Status.SENDING, claimed_at__lt=cutoff).update(
        status=OutboundMessage.Status.QUEUED, updated_at=timezone.now()
    )
