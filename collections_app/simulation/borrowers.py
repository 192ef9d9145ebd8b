"""The borrowers' day: who pays what today, decided in Python against the hidden propensity from a
few set-based reads; only those who pay reach a service (`payment_record`, as the loan system's feed
would, actor `system`)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef

from ..actors import SYSTEM
from ..errors import DomainError
from ..models import Case, ContactAttempt, Instalment, OutboundMessage, PlanInstalment, PromiseToPay, Visit
from ..services import payment_record
from ..workflow import OPEN_STATES
from . import constants as k
from .propensity import Situation, propensity
from .traits import stable_uniform, traits_for

CENT = Decimal("0.01")
PAY_CHANNELS = ("bank_transfer", "bank_transfer", "alipay", "wechat_pay")
PAY_HOUR = 20  # the lender's time: the day's payments arrive from 20:00 to 20:59


def _day_start(day):
    return datetime.combine(day, time(0), tzinfo=settings.LENDER_TIME_ZONE)


def _days_since(day, moments):
    """{key: whole days from the moment's lender date to `day`}."""
    tz = settings.LENDER_TIME_ZONE
    return {key: (day - m.astimezone(tz).date()).days for key, m in moments.items() if m is not None}


def _latest(qs, key, column, since):
    return dict(qs.filter(**{f"{column}__gte": since}).values(key).annotate(at=Max(column)).values_list(key, "at"))


def recent_treatment(day):
    """Days since the last reminder sent to each borrower, the last conversation with each borrower,
    and the last visit that met each case's borrower (only as far back as anyone remembers)."""
    start = _day_start(day)
    reminders = _latest(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.SENT),
        "borrower_id",
        "sent_at",
        start - timedelta(days=k.REMINDER_MEMORY_DAYS),
    )
    conversations = _latest(
        ContactAttempt.objects.filter(outcome__in=ContactAttempt.CONVERSATION, channel=ContactAttempt.Channel.CALL),
        "borrower_id",
        "occurred_at",
        start - timedelta(days=k.CALL_MEMORY_DAYS),
    )
    visits = _latest(
        Visit.objects.filter(
            status=Visit.Status.DONE, outcome__in=[Visit.Outcome.MET_BORROWER, Visit.Outcome.PROMISE_MADE]
        ),
        "case_id",
        "recorded_at",
        start - timedelta(days=k.VISIT_MEMORY_DAYS),
    )
    return _days_since(day, reminders), _days_since(day, conversations), _days_since(day, visits)


def situation_of(day, row, treatment, asked="overdue"):
    """The Situation of an open case's borrower (`row`: case_id, borrower_id, oldest unpaid due date)."""
    reminders, conversations, visits = treatment
    oldest = row["oldest_unpaid_due_date"]
    return Situation(
        day=day,
        asked=asked,
        dpd=(day - oldest).days if oldest and oldest < day else 0,
        days_since_reminder=reminders.get(row["borrower_id"]),
        days_since_conversation=conversations.get(row["borrower_id"]),
        days_since_visit=visits.get(row["case_id"]),
    )


def open_case_rows():
    return list(
        Case.objects.filter(state__in=OPEN_STATES, amount_overdue__gt=0)
        .values(
            "loan__external_id",
            "borrower_id",
            "borrower__external_id",
            "oldest_unpaid_due_date",
            "amount_overdue",
            case_id=F("id"),
        )
        .order_by("id")
    )


def _money(amount):
    return Decimal(amount).quantize(CENT, rounding=ROUND_DOWN)


def todays_payments(*, day, seed):
    """[(loan external id, amount, what was asked, hidden propensity)] the borrowers pay today."""
    treatment = recent_treatment(day)
    promises = dict(
        PromiseToPay.objects.filter(status=PromiseToPay.Status.PENDING, due_date=day).values_list("case_id", "amount")
    )
    plan_dues = {}
    for case_id, amount in PlanInstalment.objects.filter(plan__status="active", due_date=day, met=False).values_list(
        "plan__case_id", "amount"
    ):
        plan_dues[case_id] = plan_dues.get(case_id, 0) + amount
    on_plan = set(PlanInstalment.objects.filter(plan__status="active").values_list("plan__case_id", flat=True))
    payments = []
    for row in open_case_rows():
        case_id = row["case_id"]
        if case_id in plan_dues:
            asked, amount = "plan_instalment", plan_dues[case_id]
        elif case_id in on_plan:
            continue  # on a plan, the borrower pays by the plan's dates
        elif case_id in promises:
            asked, amount = "promise", promises[case_id]
        else:
            asked, amount = "overdue", row["amount_overdue"]
        traits = traits_for(seed, row["borrower__external_id"])
        p = propensity(traits, situation_of(day, row, treatment, asked))
        u = stable_uniform(seed, "pay", day.isoformat(), row["loan__external_id"])
        if u < p:
            payments.append((row["loan__external_id"], _money(amount), asked, p))
        elif asked == "overdue" and u < p * (1 + k.PARTIAL_PAY_CHANCE):
            payments.append((row["loan__external_id"], _money(amount * Decimal(str(k.PARTIAL_PAY_SHARE))), asked, p))
    payments.extend(_due_today(day, seed, treatment))
    return [p for p in payments if p[1] > 0]


def _due_today(day, seed, treatment):
    """Loans not in arrears whose instalment falls due today: paid on time, or not."""
    reminders = treatment[0]
    earlier_unpaid = Instalment.objects.filter(
        loan_id=OuterRef("loan_id"), due_date__lt=day, amount_paid__lt=F("amount_due")
    )
    rows = (
        Instalment.objects.filter(due_date=day, amount_paid__lt=F("amount_due"))
        .filter(~Exists(earlier_unpaid))
        .values_list(
            "loan__external_id", "loan__borrower_id", "loan__borrower__external_id", "amount_due", "amount_paid"
        )
        .order_by("id")
    )
    out = []
    for loan_ext, borrower_id, borrower_ext, due, paid in rows:
        situation = Situation(day=day, asked="due", days_since_reminder=reminders.get(borrower_id))
        p = propensity(traits_for(seed, borrower_ext), situation)
        if stable_uniform(seed, "pay", day.isoformat(), loan_ext) < p:
            out.append((loan_ext, _money(due - paid), "due", p))
    return out


def borrowers_pay(*, day, seed, clock, report):
    """Record today's payments through the service, each at its own minute of the evening."""
    for loan_ext, amount, asked, _p in todays_payments(day=day, seed=seed):
        minute = int(stable_uniform(seed, "pay-minute", day.isoformat(), loan_ext) * 3600)
        moment = clock.at(day, PAY_HOUR, minute // 60, minute % 60)
        channel = PAY_CHANNELS[int(stable_uniform(seed, "channel", loan_ext) * len(PAY_CHANNELS))]
        try:
            payment_record(
                external_id=f"SIM{seed}-{day:%Y%m%d}-{loan_ext}"[:64],
                loan=loan_ext,
                amount=amount,
                paid_at=moment,
                channel=channel,
                actor=SYSTEM,
            )
        except DomainError as refusal:
            report.refused[f"payment:{refusal.code}"] += 1
            continue
        report.counts[f"payments_{asked}"] += 1
        report.amount_paid += amount
