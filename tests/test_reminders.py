"""The reminder outbox (services/reminders/): the planner, the dispatcher with its channel backends
(console, Django e-mail, the HTTP gateway against tests/fake_gateway.py), stale claims, a Redis outage,
messages asked for by people, and the Celery tasks around them.

Times: planning for a future as-of date puts each reminder at the strategy's send time (10:00 in the
borrower's zone), which does not depend on when the tests run. Sending happens "now", so borrowers who
receive messages here have consented to after-hours contact, or live in an Etc/GMT zone chosen so the
current UTC time falls inside (or outside) their window.
"""

import threading
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.gateways import HttpSmsBackend, Outgoing
from collections_app.models import Case, CaseEvent, Instalment, OutboundMessage, ReminderStep, Strategy, SweepRun
from collections_app.services.reminders import dispatch as reminders
from collections_app.services.reminders import message_request, reminders_dispatch, reminders_plan
from collections_app.services.sweep import sweep_run
from collections_app.tasks.reminders import reminders_dispatch_task
from collections_app.tasks.sweep import sweep_task

from .factories import BorrowerFactory, loan_with_schedule, overdue_case
from .helpers import refused

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
OPT_OUT_ZH = "回复TD退订"
OPT_OUT_EN = "Reply STOP to opt out."


# --- building blocks ----------------------------------------------------------------------------


def loan_due(as_of, dpd, *, instalments=1, **kwargs):
    """A loan whose first instalment is `dpd` days past due on `as_of` (negative: due later)."""
    return loan_with_schedule(days_overdue=dpd - (as_of - lender_today()).days, instalments=instalments, **kwargs)


def zone_at_local_hour(hour):
    """An Etc/GMT zone whose local time is now `hour`:xx (Etc/GMT-5 is UTC+5)."""
    offset = (hour - datetime.now(dt_timezone.utc).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def make_due(messages=None):
    """Bring queued rows' time forward (the plan put them at 10:00 on a later day)."""
    messages = OutboundMessage.objects.all() if messages is None else messages
    messages.filter(status="queued").update(not_before=timezone.now() - timedelta(minutes=1))


def outbox():
    return {(m.loan_id, m.channel, m.template_code): m for m in OutboundMessage.objects.all()}


def rows():
    return sorted(
        OutboundMessage.objects.values_list(
            "id", "idempotency_key", "status", "reason", "not_before", "to_address", "case_id", "updated_at"
        )
    )


@pytest.fixture
def as_of():
    """A future as-of date: reminders are planned for 10:00 borrower time that day."""
    return lender_today() + timedelta(days=10)


@pytest.fixture
def anytime():
    """A borrower who agreed to contact at any hour: sending "now" is allowed whatever the clock says."""
    return BorrowerFactory(consent_after_hours=True)


# --- the planner --------------------------------------------------------------------------------


def test_the_default_plan_sms_before_the_due_date_and_on_days_1_3_7_email_on_days_1_and_7(as_of):
    pre_due = loan_due(as_of, -3)
    day1 = loan_due(as_of, 1)
    day3 = loan_due(as_of, 3)
    day5 = loan_due(as_of, 5)
    day7 = loan_due(as_of, 7)
    day1_no_email = loan_due(as_of, 1, borrower=BorrowerFactory(email=""))
    due_today = loan_due(as_of, 0)

    result = reminders_plan(as_of=as_of)

    assert sorted((m.loan_id, m.channel, m.template_code) for m in OutboundMessage.objects.all()) == sorted(
        [
            (pre_due.pk, "sms", "pre_due"),
            (day1.pk, "sms", "overdue"),
            (day1.pk, "email", "overdue"),
            (day3.pk, "sms", "overdue"),
            (day7.pk, "sms", "overdue_firm"),
            (day7.pk, "email", "overdue_firm"),
            (day1_no_email.pk, "sms", "overdue"),
        ]
    )
    assert not OutboundMessage.objects.filter(loan__in=[day5, due_today]).exists()
    assert (result.queued, result.suppressed, result.skipped) == (7, 0, 1)
    ten_am = datetime.combine(as_of, time(10), tzinfo=SHANGHAI)
    for message in OutboundMessage.objects.select_related("instalment", "step", "borrower"):
        assert message.status == "queued" and message.reason == ""
        assert message.not_before == ten_am
        assert message.case_id is None  # planned before any case exists
        assert message.idempotency_key == f"plan:{message.loan_id}:{message.instalment_id}:{message.step_id}"
        assert message.to_address == (
            message.borrower.phones[0] if message.channel == "sms" else message.borrower.email
        )
        assert (as_of - message.instalment.due_date).days == message.step.offset_days
    assert OutboundMessage.objects.values("idempotency_key").distinct().count() == 7


def test_reminders_planned_by_the_sweep_are_linked_to_the_cases_it_opened(as_of):
    pre_due, overdue = loan_due(as_of, -3), loan_due(as_of, 1)

    report = sweep_run(as_of=as_of)

    assert report.counts["reminders_planned"] == 3
    case = Case.objects.get(loan=overdue)
    assert set(OutboundMessage.objects.filter(loan=overdue).values_list("case_id", flat=True)) == {case.pk}
    assert OutboundMessage.objects.get(loan=pre_due).case_id is None  # pre-due reminders need no case
    assert not Case.objects.filter(loan=pre_due).exists()


def test_planning_again_the_same_day_plans_nothing_new(as_of):
    for dpd in (-3, 1, 3, 7):
        loan_due(as_of, dpd)
    first = reminders_plan(as_of=as_of)
    before = rows()

    again = reminders_plan(as_of=as_of)

    assert first.queued == 6
    assert (again.queued, again.suppressed) == (0, 0)
    assert rows() == before


def test_a_borrower_on_hold_gets_suppressed_rows_with_the_reason(as_of, supervisor):
    loan = loan_due(as_of, 1)
    services.hold_place(borrower_id=loan.borrower_id, code="complaint", actor=supervisor, reason="complained")

    result = reminders_plan(as_of=as_of)

    assert (result.queued, result.suppressed) == (0, 2)
    assert set(OutboundMessage.objects.values_list("channel", "status", "reason")) == {
        ("sms", "suppressed", "case_on_hold"),
        ("email", "suppressed", "case_on_hold"),
    }


def test_an_sms_opt_out_suppresses_sms_only(as_of):
    loan = loan_due(as_of, 1, borrower=BorrowerFactory(consent_sms=False))

    result = reminders_plan(as_of=as_of)

    planned = outbox()
    assert (planned[(loan.pk, "sms", "overdue")].status, planned[(loan.pk, "sms", "overdue")].reason) == (
        "suppressed",
        "channel_opted_out",
    )
    assert planned[(loan.pk, "email", "overdue")].status == "queued"
    assert (result.queued, result.suppressed) == (1, 1)


@pytest.mark.parametrize(
    "send_at, consent, expected_local",
    [
        (time(6, 0), False, (0, time(8, 0))),  # before the window: its opening that day
        (time(23, 0), False, (1, time(8, 0))),  # after it: the next morning's opening
        (time(6, 0), True, (0, time(6, 0))),  # the borrower agreed to after-hours contact
    ],
)
def test_a_reminder_planned_inside_quiet_hours_is_moved_to_the_next_window_not_dropped(
    as_of, send_at, consent, expected_local
):
    Strategy.objects.filter(product="").update(send_at=send_at)
    new_york = "America/New_York"
    loan = loan_due(as_of, 3, borrower=BorrowerFactory(time_zone=new_york, consent_after_hours=consent))

    result = reminders_plan(as_of=as_of)

    message = OutboundMessage.objects.get(loan=loan)
    days, local_time = expected_local
    assert message.status == "queued"
    assert message.not_before == datetime.combine(as_of + timedelta(days=days), local_time, tzinfo=ZoneInfo(new_york))
    assert result.queued == 1


# --- the dispatcher: console and e-mail ----------------------------------------------------------


def test_due_messages_are_rendered_in_the_borrowers_language_with_the_opt_out_line_and_sent(as_of, capsys):
    zh = loan_due(as_of, 1, borrower=BorrowerFactory(consent_after_hours=True, language="zh-hans"))
    en = loan_due(as_of, 1, borrower=BorrowerFactory(consent_after_hours=True, language="en"))
    sweep_run(as_of=as_of)  # opens the cases (amount overdue 1,000.00) and plans their reminders
    make_due()

    result = reminders_dispatch()

    assert (result.claimed, result.sent, result.failed) == (4, 4, 0)
    sent = outbox()
    zh_sms, en_sms = sent[(zh.pk, "sms", "overdue")], sent[(en.pk, "sms", "overdue")]
    for message in sent.values():
        assert message.status == "sent" and message.sent_at is not None and message.provider_message_id
    assert "尊敬的" in zh_sms.rendered and "1,000.00" in zh_sms.rendered and zh.external_id in zh_sms.rendered
    assert zh_sms.rendered.endswith(OPT_OUT_ZH)
    assert en_sms.rendered.startswith("[") and "Dear " in en_sms.rendered and "1,000.00" in en_sms.rendered
    assert en_sms.rendered.endswith(OPT_OUT_EN)
    printed = capsys.readouterr().out
    assert f"key={zh_sms.idempotency_key}" in printed and OPT_OUT_EN in printed
    # E-mail goes through Django's e-mail framework, with its own opt-out line.
    by_to = {m.to[0]: m for m in mail.outbox}
    en_mail = by_to[en.borrower.email]
    assert en_mail.subject == f"Loan {en.external_id} is overdue"
    assert "1,000.00" in en_mail.body and "UNSUBSCRIBE" in en_mail.body
    assert en_mail.extra_headers["X-Message-Key"] == sent[(en.pk, "email", "overdue")].idempotency_key
    assert "退订" in by_to[zh.borrower.email].body


def test_a_pre_due_reminder_names_the_instalment_amount_and_date(as_of, anytime):
    loan = loan_due(as_of, -3, borrower=anytime)
    reminders_plan(as_of=as_of)
    make_due()

    reminders_dispatch()

    message = OutboundMessage.objects.get(loan=loan)
    instalment = Instalment.objects.get(loan=loan)
    assert message.status == "sent"
    assert "1,000.00" in message.rendered and instalment.due_date.isoformat() in message.rendered


def test_rows_not_yet_due_stay_queued(as_of, anytime):
    loan_due(as_of, 1, borrower=anytime)
    reminders_plan(as_of=as_of)  # for 10:00 on a later day

    result = reminders_dispatch()

    assert result.claimed == 0
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {("queued", 0)}


def test_a_hold_placed_after_planning_suppresses_at_send_time(as_of, anytime, supervisor):
    loan_due(as_of, 1, borrower=anytime)
    reminders_plan(as_of=as_of)
    services.hold_place(borrower_id=anytime.pk, code="dispute", actor=supervisor, reason="says it is paid")
    make_due()

    result = reminders_dispatch()

    assert (result.suppressed, result.sent) == (2, 0)
    assert set(OutboundMessage.objects.values_list("status", "reason")) == {("suppressed", "case_on_hold")}
    assert not mail.outbox


def test_an_opt_out_after_planning_suppresses_at_send_time(as_of, anytime):
    loan_due(as_of, 1, borrower=anytime)
    reminders_plan(as_of=as_of)
    type(anytime).objects.filter(pk=anytime.pk).update(consent_email=False)
    make_due()

    reminders_dispatch()

    assert set(OutboundMessage.objects.values_list("channel", "status", "reason")) == {
        ("sms", "sent", ""),
        ("email", "suppressed", "channel_opted_out"),
    }


def test_outside_the_window_at_send_time_a_row_waits_for_the_next_window_without_using_an_attempt(as_of):
    night_owl = BorrowerFactory(time_zone=zone_at_local_hour(3))
    loan_due(as_of, 3, borrower=night_owl)
    reminders_plan(as_of=as_of)
    make_due()

    result = reminders_dispatch()

    message = OutboundMessage.objects.get()
    local_now = timezone.now().astimezone(ZoneInfo(night_owl.time_zone))
    assert result.deferred == 1
    assert (message.status, message.attempts) == ("queued", 0)
    assert message.not_before == datetime.combine(local_now.date(), time(8), tzinfo=ZoneInfo(night_owl.time_zone))


def test_a_reminder_for_an_instalment_paid_after_planning_is_not_sent(as_of, anytime):
    loan = loan_due(as_of, -3, borrower=anytime)
    reminders_plan(as_of=as_of)
    services.payment_record(external_id="P-early", loan=loan, amount="1000.00", paid_at=timezone.now())
    assert Instalment.objects.get(loan=loan).amount_outstanding == 0
    make_due()

    reminders_dispatch()

    assert OutboundMessage.objects.get(loan=loan).status == "suppressed"


# --- the dispatcher: the HTTP gateway -----------------------------------------------------------


def fresh_message(message):
    return OutboundMessage.objects.get(pk=message.pk)


def planned_sms(as_of, borrower, dpd=3):
    loan_due(as_of, dpd, borrower=borrower)
    reminders_plan(as_of=as_of)
    make_due()
    return OutboundMessage.objects.get(borrower=borrower, channel="sms")


def test_messages_reach_the_gateway_with_the_idempotency_key_as_id_and_the_bearer_key(as_of, anytime, http_sms):
    message = planned_sms(as_of, anytime)

    result = reminders_dispatch()

    assert result.sent == 1
    [request] = http_sms.requests
    assert request["path"] == "/messages"
    assert request["idempotency_key"] == message.idempotency_key
    assert request["authorization"] == f"Bearer {http_sms.key}"
    assert request["messages"] == [
        {"id": message.idempotency_key, "to": anytime.phones[0], "text": fresh_message(message).rendered}
    ]
    message = fresh_message(message)
    assert (message.status, message.provider_message_id, message.attempts) == ("sent", "gw-1", 1)


def test_a_gateway_error_requeues_with_backoff_until_the_attempts_run_out(as_of, anytime, http_sms, settings):
    message = planned_sms(as_of, anytime)
    http_sms.fail_with(500)

    first = reminders_dispatch()

    message = fresh_message(message)
    assert first.retried == 1
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.not_before > timezone.now() + timedelta(seconds=30)
    assert "500" in message.error
    assert reminders_dispatch().claimed == 0  # backing off

    settings.COLLECTIONS_MESSAGE_MAX_ATTEMPTS = 2
    make_due()
    second = reminders_dispatch()

    message = fresh_message(message)
    assert second.failed == 1
    assert (message.status, message.reason, message.attempts) == ("failed", "retries_exhausted", 2)
    assert http_sms.received_ids == [message.idempotency_key] * 2
    assert http_sms.delivered_ids == []


def test_a_rejected_message_fails_with_the_gateways_reason(as_of, http_sms):
    ok_borrower, blocked_borrower = BorrowerFactory(consent_after_hours=True), BorrowerFactory(consent_after_hours=True)
    ok = planned_sms(as_of, ok_borrower)
    blocked = planned_sms(as_of, blocked_borrower)
    http_sms.reject(blocked.idempotency_key)

    result = reminders_dispatch()

    assert (result.sent, result.failed) == (1, 1)
    blocked, ok = fresh_message(blocked), fresh_message(ok)
    assert (blocked.status, blocked.reason, blocked.error) == (
        "failed",
        "gateway_rejected",
        "number blocked by carrier",
    )
    assert ok.status == "sent"
    # One request per message, each under its message's key (recorded as soon as it is answered).
    assert sorted(r["idempotency_key"] for r in http_sms.requests) == sorted(
        [ok.idempotency_key, blocked.idempotency_key]
    )


def test_a_gateway_that_is_down_means_a_retry_later(as_of, anytime, http_sms):
    message = planned_sms(as_of, anytime)
    http_sms.down()

    result = reminders_dispatch()

    message = fresh_message(message)
    assert result.retried == 1
    assert (message.status, message.attempts) == ("queued", 1)
    assert "unreachable" in message.error

    http_sms.up()
    make_due()
    reminders_dispatch()

    message = fresh_message(message)
    assert (message.status, message.attempts) == ("sent", 2)
    assert http_sms.delivered_ids == [message.idempotency_key]


def test_each_message_is_sent_once_even_if_dispatch_runs_twice(as_of, http_sms):
    borrowers = [BorrowerFactory(consent_after_hours=True) for _ in range(3)]
    for borrower in borrowers:
        planned_sms(as_of, borrower)

    first, second = reminders_dispatch(), reminders_dispatch()

    assert (first.claimed, first.sent) == (3, 3)
    assert second.claimed == 0
    keys = sorted(OutboundMessage.objects.values_list("idempotency_key", flat=True))
    assert sorted(http_sms.received_ids) == keys  # each exactly once
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_two_dispatchers_never_claim_the_same_row(as_of):
    for _ in range(5):
        loan_due(as_of, 3, borrower=BorrowerFactory(consent_after_hours=True))
    reminders_plan(as_of=as_of)
    make_due()

    first = reminders._claim(3)
    second = reminders._claim(10)

    first_ids, second_ids = {m.pk for m in first}, {m.pk for m in second}
    assert len(first_ids) == 3 and len(second_ids) == 2
    assert not first_ids & second_ids
    assert first_ids | second_ids == set(OutboundMessage.objects.values_list("pk", flat=True))
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {("sending", 1)}
    assert reminders._claim(10) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_on_postgresql_claim_disjoint_rows():
    """Real concurrency: four dispatchers released together (row locks skipped, conditional update)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
    borrower = BorrowerFactory()
    due = timezone.now() - timedelta(minutes=1)
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                idempotency_key=f"race:{i}",
                borrower=borrower,
                channel="sms",
                template_code="overdue",
                to_address=borrower.phones[0],
                not_before=due,
            )
            for i in range(40)
        ]
    )
    barrier, claims = threading.Barrier(4), []

    def dispatcher():
        try:
            barrier.wait(timeout=10)
            claims.append([m.pk for m in reminders._claim(15)])
        finally:
            connection.close()

    workers = [threading.Thread(target=dispatcher) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert len(claims) == 4
    claimed = [pk for claim in claims for pk in claim]
    assert len(claimed) == len(set(claimed))  # nobody took a row another took
    sending = OutboundMessage.objects.filter(status="sending")
    assert set(sending.values_list("pk", flat=True)) == set(claimed)
    assert set(sending.values_list("attempts", flat=True)) <= {1}


def test_a_stale_claim_is_requeued_and_sent_once_through_the_gateways_dedup(as_of, anytime, http_sms):
    message = planned_sms(as_of, anytime)
    # A worker claimed the row, handed it to the gateway, and died before recording the answer.
    [claimed] = reminders._claim(10)
    list(HttpSmsBackend().send([Outgoing(claimed.idempotency_key, claimed.to_address, "text of the dead worker")]))
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_at=timezone.now() - timedelta(minutes=20))
    assert reminders_dispatch().claimed == 0  # still `sending`: nobody else takes it

    requeued = reminders.reminders_requeue_stale()
    result = reminders_dispatch()

    assert requeued == 1 and result.sent == 1
    message = fresh_message(message)
    assert (message.status, message.provider_message_id) == ("sent", "gw-1")
    assert http_sms.received_ids == [message.idempotency_key] * 2  # the same id both times...
    assert http_sms.delivered_ids == [message.idempotency_key]  # ...delivered once


def test_a_recent_claim_is_not_requeued(as_of, anytime):
    planned_sms(as_of, anytime)
    reminders._claim(10)
    OutboundMessage.objects.update(claimed_at=timezone.now() - timedelta(minutes=5))

    assert reminders.reminders_requeue_stale() == 0
    assert OutboundMessage.objects.get().status == "sending"


# --- a Redis outage -----------------------------------------------------------------------------


def test_a_redis_outage_delays_sending_but_loses_nothing(as_of, settings, monkeypatch):
    from config.celery import app

    for dpd in (-3, 1, 3):
        loan_due(as_of, dpd, borrower=BorrowerFactory(consent_after_hours=True))

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    # Redis is down: nothing runs eagerly, the broker is unreachable and enqueuing fails.
    saved = {"task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    app.conf.task_always_eager, app.conf.broker_url = False, "redis://127.0.0.1:1/0"
    try:
        with monkeypatch.context() as patch:
            patch.setattr(reminders_dispatch_task, "delay", broker_down)
            patch.setattr(reminders_dispatch_task, "apply_async", broker_down)

            call_command("sweep", "--date", as_of.isoformat(), stdout=StringIO())  # in process: no broker needed
            make_due()
            with pytest.raises(OperationalError):
                reminders_dispatch_task.delay()  # beat cannot enqueue the dispatcher

        planned = OutboundMessage.objects.count()
        assert planned == 4
        assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"queued"}  # waiting in the database
    finally:
        app.conf.task_always_eager, app.conf.broker_url = saved["task_always_eager"], saved["broker_url"]

    # Redis is back: beat's next tick runs the dispatcher, which finds everything still due.
    totals = reminders_dispatch_task()

    assert totals["sent"] == planned
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}


# --- messages asked for by a person -------------------------------------------------------------


def case_for(borrower):
    return overdue_case(days_overdue=10, borrower=borrower)


def test_a_message_allowed_now_is_queued_with_an_event(supervisor):
    case = case_for(BorrowerFactory(time_zone=zone_at_local_hour(12)))
    started = timezone.now()

    message = message_request(case_id=case.pk, channel="sms", template="overdue", schedule="now", actor=supervisor)

    message = fresh_message(message)
    assert (message.status, message.channel, message.template_code, message.case_id) == (
        "queued",
        "sms",
        "overdue",
        case.pk,
    )
    assert started <= message.not_before <= timezone.now()
    assert message.requested_by == "user:supervisor"
    event = CaseEvent.objects.get(case=case, kind="message_requested")
    assert event.actor == "user:supervisor"
    assert event.payload == {
        "message_id": message.pk,
        "channel": "sms",
        "template": "overdue",
        "not_before": message.not_before.isoformat(),
    }


def test_a_requested_message_is_sent_by_the_dispatcher(supervisor):
    borrower = BorrowerFactory(consent_after_hours=True, language="en")
    case = case_for(borrower)
    message = message_request(case_id=case.pk, channel="sms", template="overdue", actor=supervisor)

    reminders_dispatch()

    message = fresh_message(message)
    assert message.status == "sent"
    assert "1,000.00" in message.rendered and message.rendered.endswith(OPT_OUT_EN)
    sent = CaseEvent.objects.get(case=case, kind="message_sent")
    assert (sent.actor, sent.payload["message_id"], sent.payload["template"]) == ("system", message.pk, "overdue")


def test_outside_contact_hours_now_is_refused_with_the_next_allowed_time(supervisor):
    zone = ZoneInfo(zone_at_local_hour(3))
    case = case_for(BorrowerFactory(time_zone=zone.key))

    with refused("outside_contact_hours") as info:
        message_request(case_id=case.pk, channel="sms", template="overdue", schedule="now", actor=supervisor)

    next_allowed = datetime.fromisoformat(info.value.extra["next_allowed_at"])
    local_today = timezone.now().astimezone(zone).date()
    assert next_allowed == datetime.combine(local_today, time(8), tzinfo=zone)
    assert next_allowed.utcoffset() == timezone.now().astimezone(zone).utcoffset()  # in the borrower's offset
    assert not OutboundMessage.objects.exists()
    assert not CaseEvent.objects.filter(kind="message_requested").exists()


def test_next_allowed_queues_the_message_for_the_window(supervisor):
    zone = ZoneInfo(zone_at_local_hour(3))
    case = case_for(BorrowerFactory(time_zone=zone.key))

    message = message_request(
        case_id=case.pk, channel="sms", template="overdue", schedule="next_allowed", actor=supervisor
    )

    local_today = timezone.now().astimezone(zone).date()
    assert fresh_message(message).status == "queued"
    assert fresh_message(message).not_before == datetime.combine(local_today, time(8), tzinfo=zone)
    assert reminders_dispatch().claimed == 0


def test_an_unknown_template_is_a_validation_error_naming_the_field(supervisor):
    case = case_for(BorrowerFactory(consent_after_hours=True))

    with refused("validation_error", field="template"):
        message_request(case_id=case.pk, channel="sms", template="no_such_template", actor=supervisor)
    with refused("validation_error", field="template"):
        message_request(case_id=case.pk, channel="email", template="pre_due", actor=supervisor)  # SMS only


def test_an_opted_out_channel_is_refused(supervisor):
    case = case_for(BorrowerFactory(consent_after_hours=True, consent_sms=False))

    for schedule in ("now", "next_allowed"):
        with refused("channel_opted_out") as info:
            message_request(case_id=case.pk, channel="sms", template="overdue", schedule=schedule, actor=supervisor)
        assert info.value.extra["next_allowed_at"] is None
    assert not OutboundMessage.objects.exists()


# --- the tasks ----------------------------------------------------------------------------------


def test_the_sweep_task_runs_its_chain_and_records_the_run(as_of):
    for dpd in (1, 3, 10, 40):
        loan_due(as_of, dpd)

    answer = sweep_task.delay(as_of=as_of.isoformat(), chunk_size=2).get()

    run = SweepRun.objects.get()
    assert answer == {"as_of": as_of.isoformat(), "chunks": run.chunks_total}
    assert run.as_of == as_of
    assert run.chunks_done == run.chunks_total > 2
    assert run.finished_at is not None
    assert run.counts["opened"] == 4
    assert Case.objects.count() == 4
    assert OutboundMessage.objects.count() == 3  # day 1 (SMS and e-mail) and day 3: planned by the chain


def test_the_dispatch_task_returns_totals(as_of):
    for dpd in (1, 3):
        loan_due(as_of, dpd, borrower=BorrowerFactory(consent_after_hours=True))
    reminders_plan(as_of=as_of)
    make_due()

    totals = reminders_dispatch_task.delay().get()

    assert totals["claimed"] == totals["sent"] == 3
    assert totals["failed"] == totals["retried"] == totals["suppressed"] == 0
    assert reminders_dispatch_task.delay().get()["claimed"] == 0


def test_the_default_strategy_and_templates_are_data():
    strategy = Strategy.objects.get(product="")
    assert (strategy.call_at_dpd, strategy.visit_at_dpd, strategy.legal_at_dpd) == (8, 31, 61)
    assert sorted(ReminderStep.objects.filter(strategy=strategy).values_list("offset_days", "channel")) == [
        (-7, "sms"),  # the early warning, bands D and E only (0025; tests/test_early_warning.py)
        (-3, "sms"),
        (1, "email"),
        (1, "sms"),
        (3, "sms"),
        (7, "email"),
        (7, "sms"),
    ]
    from django_celery_beat.models import PeriodicTask

    assert {
        "collections_app.tasks.sweep_task",
        "collections_app.tasks.reminders_dispatch_task",
        "collections_app.tasks.reminders_requeue_stale_task",
    } <= set(PeriodicTask.objects.values_list("task", flat=True))
