"""The planner: the day's reminders of every strategy step written to the outbox, keyed so a rerun
plans nothing twice, compliance decided then (a case on an active plan gets the plan's reminders
instead, and a borrower who needs care the templates' `care` variant: plan_reminders.py; a step limited
to some payment bands, such as the early warning `pre_due_early`, only for loans scored in them); and a
person's (or client's) request for a message."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import compliance
from ... import permissions as perms
from ...actors import as_actor
from ...errors import DomainError
from ...models import Hold, Instalment, MessageTemplate, OutboundMessage, ReminderStep, Strategy
from ...workflow import OPEN_STATES
from .._common import lock_visible_case, require_choice
from ..contacts import contact_policy_for
from .plan_reminders import CareTemplates, on_active_plan, plan_reminders_plan, vulnerable_borrowers


# risk_score's due-soon window: loans with an instalment due from D to D + 7 (services/risk/features.py).
DUE_SOON_DAYS = 7


@dataclass
class PlanResult:
    queued: int = 0
    suppressed: int = 0
    skipped: int = 0


def _policy_for(strategy):
    return compliance.policy_named(strategy.contact_policy if strategy else settings.COLLECTIONS_CONTACT_POLICY)


def planned_status(b, holds, channel, at, policy):
    """(status, reason, not_before) of a message planned for `at`: queued, deferred to the next
    allowed moment when only the hour is wrong, or suppressed with the rule that stops it."""
    codes, hold_end = holds.get(b["borrower_id"], (set(), None))
    decision = compliance.check_contact(facts=_facts(b, codes, hold_end), channel=channel, at=at, policy=policy)
    if decision.allowed:
        return OutboundMessage.Status.QUEUED, "", at
    if decision.code == "outside_contact_hours":
        return OutboundMessage.Status.QUEUED, "", decision.next_allowed_at
    return OutboundMessage.Status.SUPPRESSED, decision.code, at


def planned_message(b, *, holds, policy, as_of, send_at, now, **fields):
    """The outbox row of a reminder to the borrower `b` (a planner row with `borrower__` keys), due at
    `send_at` (a time of day) on `as_of` in the borrower's zone, or now if that is past; its status
    decided then (planned_status). `fields`: its key, channel, template and what it is about."""
    at = max(datetime.combine(as_of, send_at, tzinfo=ZoneInfo(b["borrower__time_zone"])), now)
    status, reason, not_before = planned_status(b, holds, fields["channel"], at, policy)
    return OutboundMessage(
        borrower_id=b["borrower_id"],
        status=status,
        reason=reason,
        not_before=not_before,
        created_at=now,
        updated_at=now,
        **fields,
    )


def planned_messages_write(messages, now, result):
    """Write the planned rows (those whose key a rerun already wrote are skipped) and count the new
    ones into `result`."""
    with transaction.atomic():
        created = OutboundMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=1000)
    # ignore_conflicts leaves no way to tell which rows were new on every backend: count by key.
    keys = [m.idempotency_key for m in created]
    new = OutboundMessage.objects.filter(idempotency_key__in=keys, created_at=now)
    result.queued += new.filter(status=OutboundMessage.Status.QUEUED).count()
    result.suppressed += new.filter(status=OutboundMessage.Status.SUPPRESSED).count()


def _facts(borrower, hold_codes, hold_end):
    return compliance.BorrowerFacts(
        time_zone=borrower["borrower__time_zone"],
        consent_after_hours=borrower["borrower__consent_after_hours"],
        consent_sms=borrower["borrower__consent_sms"],
        consent_email=borrower["borrower__consent_email"],
        active_hold_codes=frozenset(hold_codes),
        holds_end_at=hold_end,
    )


def _active_holds_by_borrower(borrower_ids, at):
    held = {}
    for borrower_id, code, ends_at in (
        Hold.objects.active(at).filter(borrower_id__in=borrower_ids).values_list("borrower_id", "code", "ends_at")
    ):
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
        loans = _loans_following(strategy, products_with_own)
        for step in strategy.steps.all():
            due_day = as_of - timedelta(days=step.offset_days)
            rows = Instalment.objects.filter(loans, due_date=due_day, amount_paid__lt=F("amount_due"))
            if step.pay_bands:
                rows = rows.filter(_scored_in(step.pay_bands, due_day))
            rows = (
                rows.exclude(on_active_plan())  # the plan's own dates instead (plan_reminders.py)
                .values(
                    "id",
                    "loan_id",
                    "loan__borrower_id",
                    "loan__borrower__phones",
                    "loan__borrower__email",
                    "loan__borrower__time_zone",
                    "loan__borrower__consent_after_hours",
                    "loan__borrower__consent_sms",
                    "loan__borrower__consent_email",
                )
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
    plan_reminders_plan(as_of=as_of, now=now, result=result)
    return result


def _scored_in(bands, due_day):
    """A step limited to some p_pay bands (the early warning, docs/risk.md): the loan's band is one of
    them, written by a scoring whose due-soon window held `due_day` (a run on or after due_day − 7 in
    the lender's calendar; tonight's runs before the plan). An unscored loan has no band, and a band
    left by older runs (scoring failing or off for weeks) is not read as this instalment's."""
    scored_since = datetime.combine(due_day - timedelta(days=DUE_SOON_DAYS), time.min, tzinfo=settings.LENDER_TIME_ZONE)
    return Q(loan__pay_band__in=bands, loan__pay_scored_at__gte=scored_since)


def _loans_following(strategy, products_with_own):
    """Which instalments follow `strategy`'s steps: those of loans whose open case has it in force
    (chosen by rules: services/strategy_choice.py), and, for a product's default (or the default),
    those of the product's (the other products') loans with no open case on a chosen strategy. A
    strategy chosen by rules only (`product` NULL) is nobody's default."""
    from ...models import Case

    chosen = Case.objects.filter(loan_id=OuterRef("loan_id"), state__in=OPEN_STATES, strategy__isnull=False)
    follows = Exists(chosen.filter(strategy_id=strategy.pk))
    if strategy.product is None:
        return follows
    by_product = Q(loan__product=strategy.product) if strategy.product else ~Q(loan__product__in=products_with_own)
    return follows | (by_product & ~Exists(chosen))


def _plan_batch(rows, step, strategy, as_of, now, result):
    from ...models import Case

    policy = _policy_for(strategy)
    holds = _active_holds_by_borrower({r["loan__borrower_id"] for r in rows}, now)
    vulnerable = vulnerable_borrowers({r["loan__borrower_id"] for r in rows})
    care = CareTemplates() if vulnerable else None
    cases = dict(
        Case.objects.filter(loan_id__in={r["loan_id"] for r in rows}, state__in=OPEN_STATES).values_list(
            "loan_id", "id"
        )
    )
    messages = []
    for row in rows:
        b = {k.replace("loan__", ""): v for k, v in row.items()}
        address = (b["borrower__phones"] or [""])[0] if step.channel == "sms" else b["borrower__email"]
        if not address:
            result.skipped += 1
            continue
        messages.append(
            planned_message(
                b,
                holds=holds,
                policy=policy,
                as_of=as_of,
                send_at=strategy.send_at,
                now=now,
                idempotency_key=f"plan:{row['loan_id']}:{row['id']}:{step.pk}",
                loan_id=row["loan_id"],
                instalment_id=row["id"],
                case_id=cases.get(row["loan_id"]),
                step=step,
                channel=step.channel,
                template_code=(
                    care.code_for(step.template_code, step.channel, True)
                    if b["borrower_id"] in vulnerable
                    else step.template_code
                ),
                to_address=address,
            )
        )
    planned_messages_write(messages, now, result)


def message_request(*, case_id, channel, template, schedule="now", actor=None, idempotency_key=None):
    """A person or client asks for a templated message on a case: queued now, or at the next allowed
    time (`schedule="next_allowed"`). With "now", a refusal raises the reason and next_allowed_at."""
    actor = as_actor(actor)
    require_choice(channel, ReminderStep.Channel.choices, "channel")
    require_choice(schedule, [("now", "now"), ("next_allowed", "next_allowed")], "schedule")
    if not MessageTemplate.objects.filter(code=template, channel=channel).exists():
        raise DomainError(
            "validation_error",
            fields={"template": [_("No %(channel)s template “%(code)s”.") % {"channel": channel, "code": template}]},
        )
    now = timezone.now()
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        if not perms.may(actor, perms.MESSAGE_SEND, case):
            raise DomainError("permission_denied")
        borrower = case.borrower
        address = borrower.primary_phone if channel == "sms" else borrower.email
        if not address:
            raise DomainError(
                "validation_error", fields={"channel": [_("The borrower has no address on this channel.")]}
            )
        from ...selectors.contacts import borrower_contact_facts

        decision = compliance.check_contact(
            facts=borrower_contact_facts(borrower, now), channel=channel, at=now, policy=contact_policy_for(case.loan)
        )
        not_before = now
        if not decision.allowed:
            if schedule == "now" or decision.next_allowed_at is None:
                raise DomainError(
                    decision.code,
                    next_allowed_at=decision.next_allowed_at.isoformat() if decision.next_allowed_at else None,
                )
            not_before = decision.next_allowed_at
        key = f"request:{actor.label}:{idempotency_key}" if idempotency_key else f"request:{case.pk}:{now.timestamp()}"
        message, _created = OutboundMessage.objects.get_or_create(
            idempotency_key=key,
            defaults=dict(
                borrower=borrower,
                loan=case.loan,
                case=case,
                channel=channel,
                template_code=template,
                to_address=address,
                not_before=not_before,
                requested_by=actor.label,
            ),
        )
        from ..events import event_write

        if _created:
            event_write(
                case,
                "message_requested",
                actor,
                payload={
                    "message_id": message.pk,
                    "channel": channel,
                    "template": template,
                    "not_before": not_before.isoformat(),
                },
            )
    return message
