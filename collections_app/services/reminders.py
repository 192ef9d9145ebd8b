"""Reminders through an outbox: planned in the same transaction as the decision, sent once.

`reminders_plan` writes one OutboundMessage per (loan, instalment, plan step), keyed so a rerun
plans nothing twice; compliance is decided then (a hold or opt-out: suppressed, with the reason; quiet
hours: moved to the next allowed minute). `reminders_dispatch` claims due rows with a conditional
update, checks compliance again at send time, renders, sends in batches through the channel's
backend and records the answer: sent, failed (with reason, after retries with backoff) or
suppressed. A row claimed by a worker that died is put back by `reminders_requeue_stale`.
"""
import logging
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import compliance
from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError
from ..gateways import Outgoing, backend_for
from ..masking import mask_name
from ..models import Hold, Instalment, MessageTemplate, OutboundMessage, ReminderStep, Strategy
from ..workflow import OPEN_STATES
from ._common import lock_visible_case, require_choice
from .contacts import contact_policy_for

log = logging.getLogger(__name__)

OPT_OUT_LINES = {
    ("sms", "zh-hans"): "回复TD退订",
    ("sms", "en"): "Reply STOP to opt out.",
    ("email", "zh-hans"): "如不希望再收到此类邮件，请直接回复“退订”。",
    ("email", "en"): "To stop these e-mails, reply UNSUBSCRIBE.",
}
HOW_TO_PAY = {
    "zh-hans": "可在App内或通过银行转账还款。",
    "en": "Pay in the app or by bank transfer.",
}
TEMPLATE_VARIABLES = {"name", "amount_overdue", "amount_due", "due_date", "loan", "how_to_pay", "lender"}
STALE_CLAIM_MINUTES = 10


@dataclass
class PlanResult:
    queued: int = 0
    suppressed: int = 0
    skipped: int = 0


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    suppressed: int = 0
    deferred: int = 0


def template_problems(body):
    """Unknown or malformed {variables} in a template body (for the admin and the planner)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name}
    except ValueError as error:
        return [str(error)]
    return sorted(names - TEMPLATE_VARIABLES)


def _policy_for(strategy):
    return compliance.policy_named(strategy.contact_policy if strategy else settings.COLLECTIONS_CONTACT_POLICY)


def _facts(borrower, hold_codes, hold_end):
    return compliance.BorrowerFacts(
        time_zone=borrower["borrower__time_zone"], consent_after_hours=borrower["borrower__consent_after_hours"],
        consent_sms=borrower["borrower__consent_sms"], consent_email=borrower["borrower__consent_email"],
        active_hold_codes=frozenset(hold_codes), holds_end_at=hold_end,
    )


def _active_holds_by_borrower(borrower_ids, at):
    held = {}
    for borrower_id, code, ends_at in Hold.objects.active(at).filter(borrower_id__in=borrower_ids).values_list(
            "borrower_id", "code", "ends_at"):
        codes, ends = held.get(borrower_id, (set(), []))
        codes.add(code)
        ends.append(ends_at)
        held[borrower_id] = (codes, ends)
    return {b: (codes, None if None in ends else max(ends)) for b, (codes, ends) in held.items()}


def reminders_plan(*, as_of, batch_size=2000):
    """Plan the day's reminders for every strategy step. Idempotent: keys are unique."""
    result = PlanResult()
    strategies = list(Strategy.objects.prefetch_related("steps"))
    products_with_own = [s.product for s in strategies if s.product]
    now = timezone.now()
    for strategy in strategies:
        loans = Q(loan__product=strategy.product) if strategy.product else ~Q(loan__product__in=products_with_own)
        for step in strategy.steps.all():
            due_day = as_of - timedelta(days=step.offset_days)
            rows = (
                Instalment.objects.filter(loans, due_date=due_day, amount_paid__lt=F("amount_due"))
                .values("id", "loan_id", "loan__borrower_id", "loan__borrower__phones", "loan__borrower__email",
                        "loan__borrower__time_zone", "loan__borrower__consent_after_hours",
                        "loan__borrower__consent_sms", "loan__borrower__consent_email")
                .order_by("id")
            )
            batch = []
            for row in rows.iterator(chunk_size=batch_size):
                batch.append(row)
                if len(batch) >= batch_size:
                    _plan_batch(batch, step, strategy, as_of, now, result)
                    batch = []
            if batch:
                _plan_batch(batch, step, strategy, as_of, now, result)
    return result


def _plan_batch(rows, step, strategy, as_of, now, result):
    from ..models import Case

    policy = _policy_for(strategy)
    holds = _active_holds_by_borrower({r["loan__borrower_id"] for r in rows}, now)
    cases = dict(Case.objects.filter(loan_id__in={r["loan_id"] for r in rows}, state__in=OPEN_STATES)
                 .values_list("loan_id", "id"))
    messages = []
    for row in rows:
        b = {k.replace("loan__", ""): v for k, v in row.items()}
        address = (b["borrower__phones"] or [""])[0] if step.channel == "sms" else b["borrower__email"]
        if not address:
            result.skipped += 1
            continue
        zone = ZoneInfo(b["borrower__time_zone"])
        send_at = datetime.combine(as_of, strategy.send_at, tzinfo=zone)
        codes, hold_end = holds.get(b["borrower_id"], (set(), None))
        decision = compliance.check_contact(facts=_facts(b, codes, hold_end), channel=step.channel,
                                            at=max(send_at, now), policy=policy)
        status, reason, not_before = OutboundMessage.Status.QUEUED, "", max(send_at, now)
        if not decision.allowed:
            if decision.code == "outside_contact_hours":
                not_before = decision.next_allowed_at
            else:
                status, reason = OutboundMessage.Status.SUPPRESSED, decision.code
        messages.append(OutboundMessage(
            idempotency_key=f"plan:{row['loan_id']}:{row['id']}:{step.pk}",
            borrower_id=b["borrower_id"], loan_id=row["loan_id"], instalment_id=row["id"],
            case_id=cases.get(row["loan_id"]), step=step, channel=step.channel, template_code=step.template_code,
            to_address=address, status=status, reason=reason, not_before=not_before, created_at=now, updated_at=now,
        ))
    with transaction.atomic():
        created = OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=1000)
    # ignore_conflicts leaves no way to tell which rows were new on every backend: count by key.
    keys = [m.idempotency_key for m in created]
    new = OutboundMessage.objects.filter(idempotency_key__in=keys, created_at=now)
    result.queued += new.filter(status=OutboundMessage.Status.QUEUED).count()
    result.suppressed += new.filter(status=OutboundMessage.Status.SUPPRESSED).count()


def message_request(*, case_id, channel, template, schedule="now", actor=None, idempotency_key=None):
    """A person or client asks for a templated message on a case: queued now, or at the next allowed
    time (`schedule="next_allowed"`). With "now", a refusal raises the reason and next_allowed_at."""
    actor = as_actor(actor)
    require_choice(channel, ReminderStep.Channel.choices, "channel")
    require_choice(schedule, [("now", "now"), ("next_allowed", "next_allowed")], "schedule")
    if not MessageTemplate.objects.filter(code=template, channel=channel).exists():
        raise DomainError("validation_error", fields={"template": [_("No %(channel)s template “%(code)s”.")
                                                                   % {"channel": channel, "code": template}]})
    now = timezone.now()
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.MESSAGE_SEND, case):
            raise DomainError("permission_denied")
        borrower = case.borrower
        address = borrower.primary_phone if channel == "sms" else borrower.email
        if not address:
            raise DomainError("validation_error", fields={"channel": [_("The borrower has no address on this channel.")]})
        from ..selectors.contacts import borrower_contact_facts

        decision = compliance.check_contact(facts=borrower_contact_facts(borrower, now), channel=channel, at=now,
                                            policy=contact_policy_for(case.loan))
        not_before = now
        if not decision.allowed:
            if schedule == "now" or decision.next_allowed_at is None:
                raise DomainError(decision.code, next_allowed_at=decision.next_allowed_at.isoformat()
                                  if decision.next_allowed_at else None)
            not_before = decision.next_allowed_at
        key = f"request:{actor.label}:{idempotency_key}" if idempotency_key else f"request:{case.pk}:{now.timestamp()}"
        message, _created = OutboundMessage.objects.get_or_create(idempotency_key=key, defaults=dict(
            borrower=borrower, loan=case.loan, case=case, channel=channel, template_code=template, to_address=address,
            not_before=not_before, requested_by=actor.label,
        ))
        from .events import event_write

        if _created:
            event_write(case, "message_requested", actor, payload={
                "message_id": message.pk, "channel": channel, "template": template,
                "not_before": not_before.isoformat(),
            })
    return message


# --- dispatch -------------------------------------------------------------------------------


def _claim(limit):
    """Take up to `limit` due rows: locked rows are skipped (PostgreSQL), and the conditional update
    makes the claim exclusive everywhere."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(status=OutboundMessage.Status.QUEUED, not_before__lte=now)
            .order_by("not_before", "id").values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboundMessage.objects.filter(id__in=ids, status=OutboundMessage.Status.QUEUED).update(
            status=OutboundMessage.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    return list(
        OutboundMessage.objects.filter(id__in=ids, status=OutboundMessage.Status.SENDING, claimed_at=now)
        .select_related("borrower", "loan", "case", "instalment", "step__strategy")
    )


def message_preview(*, case, template, channel="sms"):
    """A templated message on a case as the borrower would read it, in their language, but with
    their name masked as the case page shows it: a preview reveals nothing the page does not (and so
    writes no audit row). Nothing is stored; the dispatcher builds the real text when it sends."""
    message = OutboundMessage(borrower=case.borrower, loan=case.loan, case=case, channel=channel,
                              template_code=template or "")
    text, _subject = _Renderer().render(message, masked=True)
    return text


class _Renderer:
    def __init__(self):
        self.templates = {}

    def template(self, code, channel, language):
        key = (code, channel, language)
        if key not in self.templates:
            found = {t.language: t for t in MessageTemplate.objects.filter(code=code, channel=channel)}
            self.templates[key] = found.get(language) or found.get("zh-hans") or found.get("en")
        return self.templates[key]

    def render(self, message, *, masked=False):
        """The message's text and subject. `masked`: the borrower's name as the pages show it (a
        preview for staff); the dispatcher renders the real text at send time."""
        borrower = message.borrower
        language = borrower.language if borrower.language in HOW_TO_PAY else "zh-hans"
        template = self.template(message.template_code, message.channel, language)
        if template is None:
            return None, None
        instalment = message.instalment
        amount_overdue = message.case.amount_overdue if message.case else Decimal("0.00")
        values = {
            "name": mask_name(borrower.name) if masked else borrower.name, "loan": message.loan.external_id if message.loan else "",
            "amount_overdue": f"{amount_overdue:,.2f}",
            "amount_due": f"{(instalment.amount_due - instalment.amount_paid):,.2f}" if instalment else "",
            "due_date": instalment.due_date.isoformat() if instalment else "",
            "how_to_pay": HOW_TO_PAY[language], "lender": settings.COLLECTIONS_LENDER_NAME,
        }
        body = template.body.format_map(_Blank(values))
        opt_out = OPT_OUT_LINES.get((message.channel, language), "")
        text = f"{body} {opt_out}".strip() if message.channel == "sms" else f"{body}\n\n{opt_out}"
        return text, template.subject.format_map(_Blank(values))


class _Blank(dict):
    def __missing__(self, key):
        return ""


def _send_time_decision(message, now, holds):
    borrower = message.borrower
    codes, end = holds.get(borrower.pk, (set(), None))
    facts = compliance.BorrowerFacts(time_zone=borrower.time_zone, consent_after_hours=borrower.consent_after_hours,
                                     consent_sms=borrower.consent_sms, consent_email=borrower.consent_email,
                                     active_hold_codes=frozenset(codes), holds_end_at=end)
    strategy = message.step.strategy if message.step else None
    return compliance.check_contact(facts=facts, channel=message.channel, at=now, policy=_policy_for(strategy))


def _no_longer_owed(message):
    """A reminder about money already paid, or a case already ended, must not go out."""
    instalment = message.instalment
    if instalment is not None and instalment.amount_paid >= instalment.amount_due:
        return "instalment_paid"
    if message.case is not None and message.case.state not in OPEN_STATES:
        return "case_not_open"
    return ""


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
    outgoing = {"sms": [], "email": []}
    finished = []  # (message, fields) decided before sending
    for message in claimed:
        no_longer_owed = _no_longer_owed(message)
        if no_longer_owed:
            finished.append((message, {"status": "suppressed", "reason": no_longer_owed}))
            result.suppressed += 1
            continue
        decision = _send_time_decision(message, now, holds)
        if not decision.allowed:
            if decision.code == "outside_contact_hours" and decision.next_allowed_at:
                finished.append((message, {"status": "queued", "not_before": decision.next_allowed_at,
                                           "attempts": message.attempts - 1}))
                result.deferred += 1
            else:
                finished.append((message, {"status": "suppressed", "reason": decision.code}))
                result.suppressed += 1
            continue
        text, subject = renderer.render(message)
        if text is None:
            finished.append((message, {"status": "failed", "reason": "template_missing",
                                       "error": f"no template {message.template_code}/{message.channel}"}))
            result.failed += 1
            continue
        message.rendered = text
        outgoing[message.channel].append((message, Outgoing(message.idempotency_key, message.to_address, text, subject)))
    _record(finished)  # decided before sending: recorded before anything leaves
    for channel, pairs in outgoing.items():
        if pairs:
            _send_and_record(channel, pairs, now, result)
    return result


def _outcome(message, answer, now, result):
    if answer is not None and answer.ok:
        result.sent += 1
        return {"status": "sent", "sent_at": timezone.now(), "rendered": message.rendered,
                "provider_message_id": answer.provider_id, "reason": "", "error": ""}
    if answer is not None and answer.retryable and message.attempts < settings.COLLECTIONS_MESSAGE_MAX_ATTEMPTS:
        result.retried += 1
        return {"status": "queued", "not_before": now + timedelta(minutes=2 ** message.attempts), "error": answer.error}
    result.failed += 1
    error = answer.error if answer else "no answer from backend"
    return {"status": "failed", "reason": "gateway_rejected" if answer and not answer.retryable else "retries_exhausted",
            "error": error}


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
    transaction and a few statements per batch. Only rows still claimed (`sending`) are written:
    a row requeued meanwhile as stale belongs to another dispatcher now."""
    from .events import event_build, events_write

    if not finished:
        return
    now = timezone.now()
    with transaction.atomic():
        still_claimed = set(
            OutboundMessage.objects.select_for_update()
            .filter(pk__in=[m.pk for m, _ in finished], status=OutboundMessage.Status.SENDING)
            .values_list("pk", flat=True)
        )
        changed, events = [], []
        for message, fields in finished:
            if message.pk not in still_claimed:
                continue
            for name, value in fields.items():
                setattr(message, name, value)
            message.updated_at = now
            changed.append(message)
            kind = _FINAL.get(fields["status"])
            if kind and message.case_id:
                events.append(event_build(message.case_id, kind, None, at=now, payload={
                    "message_id": message.pk, "channel": message.channel, "template": message.template_code,
                    "reason": fields.get("reason") or None,
                }))
        if changed:
            _write_outcomes(changed)
        events_write(events)


_OUTCOME_COLUMNS = ("status", "not_before", "attempts", "reason", "error", "rendered", "provider_message_id",
                    "sent_at", "updated_at")


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
    sql = (f"UPDATE {table} o SET {assignments} FROM (VALUES %s) AS v(id, {', '.join(_OUTCOME_COLUMNS)}) "
           f"WHERE o.id = v.id")
    template = "(%s, %s, %s::timestamptz, %s::smallint, %s, %s, %s, %s, %s::timestamptz, %s::timestamptz)"
    with connection.cursor() as cursor:
        execute_values(cursor.cursor, sql, rows, template=template, page_size=500)


def reminders_requeue_stale(*, older_than_minutes=STALE_CLAIM_MINUTES):
    """Rows claimed by a worker that died go back to the queue (the gateway dedups by key)."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    return OutboundMessage.objects.filter(status=OutboundMessage.Status.SENDING, claimed_at__lt=cutoff).update(
        status=OutboundMessage.Status.QUEUED, updated_at=timezone.now())


def receipts_apply(*, backend, receipts):
    """Delivery receipts from a gateway: [{"provider_id", "status": "delivered"|"failed", "error"}]."""
    updated = 0
    for receipt in receipts:
        provider_id = str(receipt.get("provider_id") or "")
        status = str(receipt.get("status") or "")
        if not provider_id or status not in ("delivered", "failed"):
            continue
        fields = {"delivery_status": status, "updated_at": timezone.now()}
        if status == "failed":
            fields["error"] = str(receipt.get("error") or "delivery failed")[:500]
        updated += OutboundMessage.objects.filter(provider_message_id=provider_id).update(**fields)
    return updated
