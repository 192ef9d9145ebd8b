"""Reminders that follow a repayment plan, and the `care` variant for vulnerable borrowers
(services/reminders/plan_reminders.py, planner.py, dispatch.py); templates from migration 0019.
Runs on SQLite and on PostgreSQL alike."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import MessageTemplate, OutboundMessage, PlanInstalment, VulnerabilityMarker
from collections_app.services.plans import plan_cancel, plan_propose
from collections_app.services.reminders import reminders_dispatch, reminders_plan

from .factories import BorrowerFactory, assigned_case, loan_with_schedule

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def day(n):
    return lender_today() + timedelta(days=n)


def on_plan(collector, supervisor, *, borrower=None):
    """A case (one 1,000.00 instalment, 10 days overdue) on an active plan: 500.00 on day 5 and day 35."""
    case = assigned_case(
        to=collector, by=supervisor, days_overdue=10, instalments=1, borrower=borrower or BorrowerFactory()
    )
    plan = plan_propose(
        case_id=case.pk,
        actor=collector,
        kind="plan",
        reason="illness",
        instalments=[
            {"due_date": day(5).isoformat(), "amount": "500.00"},
            {"due_date": day(35).isoformat(), "amount": "500.00"},
        ],
    )
    first, second = PlanInstalment.objects.filter(plan=plan).order_by("number")
    return case, plan, first, second


def planned(case):
    return sorted(OutboundMessage.objects.filter(case_id=case.pk).values_list("idempotency_key", "template_code"))


def vulnerable(borrower_id):
    VulnerabilityMarker.objects.create(
        borrower_id=borrower_id, code="elderly", set_by="user:supervisor", review_on=day(60)
    )


def test_a_plan_sms_goes_three_days_before_each_plan_instalment(collector, supervisor):
    case, _plan, first, second = on_plan(collector, supervisor)

    result = reminders_plan(as_of=day(2))

    assert planned(case) == [(f"planinst:{first.pk}:plan_pre_due", "plan_pre_due")]
    message = OutboundMessage.objects.get(case_id=case.pk)
    assert (message.channel, message.status, message.loan_id) == ("sms", "queued", case.loan_id)
    assert message.not_before == datetime.combine(day(2), time(10), tzinfo=SHANGHAI)
    assert result.queued == 1

    reminders_plan(as_of=day(32))
    assert (f"planinst:{second.pk}:plan_pre_due", "plan_pre_due") in planned(case)


def test_a_missed_plan_instalment_gets_an_sms_the_day_after_and_a_met_one_none(collector, supervisor):
    case, _plan, first, _second = on_plan(collector, supervisor)
    reminders_plan(as_of=day(6))
    assert planned(case) == [(f"planinst:{first.pk}:plan_missed", "plan_missed")]

    met_case, _p, met_first, _s = on_plan(collector, supervisor)
    services.payment_record(external_id="PM-1", loan=met_case.loan, amount="500.00", paid_at=timezone.now())
    reminders_plan(as_of=day(6))
    assert planned(met_case) == []


def test_planning_plan_reminders_again_the_same_day_plans_nothing(collector, supervisor):
    on_plan(collector, supervisor)
    first = reminders_plan(as_of=day(2))
    rows = list(OutboundMessage.objects.values_list("id", "idempotency_key", "status"))

    again = reminders_plan(as_of=day(2))

    assert first.queued == 1 and (again.queued, again.suppressed) == (0, 0)
    assert list(OutboundMessage.objects.values_list("id", "idempotency_key", "status")) == rows


def test_a_case_on_a_plan_gets_no_strategy_step_reminders(collector, supervisor):
    case, _plan, _first, _second = on_plan(collector, supervisor)
    other = loan_with_schedule(days_overdue=10, instalments=1)  # due the same day, no plan

    reminders_plan(as_of=day(-7))  # the strategy's day-3 overdue SMS for both loans' instalment

    assert not OutboundMessage.objects.filter(loan=case.loan).exists()
    assert OutboundMessage.objects.filter(loan=other, template_code="overdue").exists()


def test_plan_reminders_follow_the_compliance_rules(collector, supervisor):
    case, _plan, _first, _second = on_plan(collector, supervisor)
    services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complained")

    result = reminders_plan(as_of=day(2))

    assert (result.queued, result.suppressed) == (0, 1)
    message = OutboundMessage.objects.get(case_id=case.pk)
    assert (message.status, message.reason) == ("suppressed", "case_on_hold")


def test_a_vulnerable_borrower_gets_the_care_variant_of_every_reminder(collector, supervisor):
    case, _plan, first, _second = on_plan(collector, supervisor)
    vulnerable(case.borrower_id)
    loan = loan_with_schedule(days_overdue=10, instalments=1)  # not on a plan
    vulnerable(loan.borrower_id)

    reminders_plan(as_of=day(2))
    reminders_plan(as_of=day(-9))  # the strategy's day-1 SMS and e-mail for the other loan

    assert planned(case) == [(f"planinst:{first.pk}:plan_pre_due", "plan_pre_due_care")]
    assert set(OutboundMessage.objects.filter(loan=loan).values_list("channel", "template_code")) == {
        ("sms", "overdue_care"),
        ("email", "overdue_care"),
    }


def test_without_a_care_template_the_plain_one_is_used(collector, supervisor):
    MessageTemplate.objects.filter(code="plan_pre_due_care").delete()
    case, _plan, first, _second = on_plan(collector, supervisor)
    vulnerable(case.borrower_id)

    reminders_plan(as_of=day(2))

    assert planned(case) == [(f"planinst:{first.pk}:plan_pre_due", "plan_pre_due")]


def test_every_reminder_template_has_a_care_variant_in_both_languages():
    codes = set(MessageTemplate.objects.exclude(code__endswith="_care").values_list("code", "channel"))
    for code in ("pre_due", "pre_due_early", "overdue", "overdue_firm", "plan_pre_due", "plan_missed"):
        for channel in {c for k, c in codes if k == code}:
            languages = set(
                MessageTemplate.objects.filter(code=f"{code}_care", channel=channel).values_list("language", flat=True)
            )
            assert languages == {"zh-hans", "en"}, (code, channel)
    for template in MessageTemplate.objects.filter(code__startswith="plan_", channel="sms"):
        assert len(template.body) <= 150, template  # one SMS with the variables filled


# --- dispatch -----------------------------------------------------------------------------------


def make_due():
    OutboundMessage.objects.filter(status="queued").update(not_before=timezone.now() - timedelta(minutes=1))


def test_a_plan_reminder_is_sent_with_the_plan_instalments_amount_and_date(collector, supervisor):
    borrower = BorrowerFactory(consent_after_hours=True, language="en")
    case, _plan, first, _second = on_plan(collector, supervisor, borrower=borrower)
    reminders_plan(as_of=day(2))
    make_due()

    result = reminders_dispatch()

    assert result.sent == 1
    message = OutboundMessage.objects.get(case_id=case.pk)
    assert message.status == "sent"
    assert "500.00" in message.rendered and first.due_date.isoformat() in message.rendered


def test_a_plan_reminder_is_not_sent_once_met_or_once_the_plan_ended(collector, supervisor):
    paid_case, _p, _f, _s = on_plan(collector, supervisor, borrower=BorrowerFactory(consent_after_hours=True))
    ended_case, ended_plan, _f2, _s2 = on_plan(
        collector, supervisor, borrower=BorrowerFactory(consent_after_hours=True)
    )
    reminders_plan(as_of=day(2))
    services.payment_record(external_id="PD-1", loan=paid_case.loan, amount="500.00", paid_at=timezone.now())
    plan_cancel(plan_id=ended_plan.pk, actor=supervisor, reason="borrower asked")
    make_due()

    result = reminders_dispatch()

    assert result.suppressed == 2
    assert OutboundMessage.objects.get(case_id=paid_case.pk).reason == "instalment_paid"
    assert OutboundMessage.objects.get(case_id=ended_case.pk).reason == "plan_ended"


def test_a_borrower_marked_vulnerable_before_sending_gets_the_care_text(collector, supervisor):
    borrower = BorrowerFactory(consent_after_hours=True, language="zh-hans")
    case, _plan, _first, _second = on_plan(collector, supervisor, borrower=borrower)
    reminders_plan(as_of=day(2))
    vulnerable(borrower.pk)
    make_due()

    reminders_dispatch()

    message = OutboundMessage.objects.get(case_id=case.pk)
    assert message.status == "sent" and message.template_code == "plan_pre_due_care"
    assert "温馨提示" in message.rendered
