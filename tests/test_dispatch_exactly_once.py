"""A worker killed mid-dispatch re-sends nothing (issue 9, point 13): each message is marked sent as
soon as its answer comes, the HTTP gateway gets the message's key as `Idempotency-Key`, and the
console and file backends keep a ledger of the keys they sent and skip them."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from collections_app import gateways
from collections_app.calendar import lender_today
from collections_app.gateways import FileSmsBackend, Outgoing
from collections_app.models import CaseEvent, OutboundMessage
from collections_app.services import reminders
from collections_app.services.reminders import reminders_dispatch, reminders_plan

from .factories import BorrowerFactory, loan_with_schedule
from .fake_gateway import http_sms, sms_gateway  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

N = 5


class WorkerKilled(BaseException):
    """The process died (SIGKILL has no handler: nothing after this point runs)."""


def five_due_sms():
    as_of = lender_today() + timedelta(days=10)
    for _ in range(N):
        borrower = BorrowerFactory(consent_after_hours=True)
        loan_with_schedule(days_overdue=3 - 10, instalments=1, borrower=borrower)  # day 3 on as_of: SMS only
    reminders_plan(as_of=as_of)
    OutboundMessage.objects.update(not_before=timezone.now() - timedelta(minutes=1))
    assert OutboundMessage.objects.filter(channel="sms", status="queued").count() == N
    assert not OutboundMessage.objects.exclude(channel="sms").exists()
    return list(OutboundMessage.objects.order_by("not_before", "id").values_list("idempotency_key", flat=True))


def ten_minutes_pass_and_the_stale_claims_are_requeued():
    OutboundMessage.objects.filter(status="sending").update(claimed_at=timezone.now() - timedelta(minutes=20))
    return reminders.reminders_requeue_stale()


def statuses(keys):
    by_key = dict(OutboundMessage.objects.values_list("idempotency_key", "status"))
    return [by_key[k] for k in keys]


def test_http_worker_killed_after_k_answers_the_rerun_sends_only_the_rest(http_sms):  # noqa: F811
    keys = five_due_sms()
    real_post = gateways.HttpSmsBackend._post
    calls = []

    def post_then_die_on_the_third(self, messages, idempotency_key):
        calls.append(idempotency_key)
        answers = real_post(self, messages, idempotency_key)
        if len(calls) == 3:  # the gateway took the third message; the worker died before recording it
            raise WorkerKilled
        return answers

    with mock.patch.object(gateways.HttpSmsBackend, "_post", post_then_die_on_the_third), pytest.raises(WorkerKilled):
        reminders_dispatch()

    # The two answered before the kill are recorded sent at once; the rest are still claimed.
    assert statuses(keys) == ["sent", "sent", "sending", "sending", "sending"]
    assert ten_minutes_pass_and_the_stale_claims_are_requeued() == 3

    rerun = reminders_dispatch()

    assert (rerun.claimed, rerun.sent) == (3, 3)
    assert statuses(keys) == ["sent"] * N
    # Only the rest went again: the third (delivered, unrecorded) under the same key, deduplicated.
    assert http_sms.received_ids == keys[:3] + keys[2:]
    assert [r["idempotency_key"] for r in http_sms.requests] == http_sms.received_ids
    assert sorted(http_sms.delivered_ids) == sorted(keys)
    assert reminders_dispatch().claimed == 0


def test_console_worker_killed_mid_batch_the_ledger_shows_each_message_once(settings, tmp_path, capsys):
    settings.COLLECTIONS_SMS_BACKEND = "collections_app.gateways.ConsoleSmsBackend"
    settings.COLLECTIONS_SMS_LEDGER = str(tmp_path / "ledger.txt")
    keys = five_due_sms()
    real_add = gateways._Ledger.add
    added = []

    def add_then_die_on_the_third(self, key):
        real_add(self, key)
        added.append(key)
        if len(added) == 3:  # printed and noted in the ledger, then killed before the answer was recorded
            raise WorkerKilled

    with mock.patch.object(gateways._Ledger, "add", add_then_die_on_the_third), pytest.raises(WorkerKilled):
        reminders_dispatch()
    assert statuses(keys) == ["sent", "sent", "sending", "sending", "sending"]
    assert ten_minutes_pass_and_the_stale_claims_are_requeued() == 3

    rerun = reminders_dispatch()

    assert rerun.sent == 3
    assert statuses(keys) == ["sent"] * N
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[sms]")]
    assert [next(k for k in keys if f"key={k} " in line) for line in printed] == keys  # each once, in order
    assert (tmp_path / "ledger.txt").read_text().split() == keys
    provider_ids = dict(OutboundMessage.objects.values_list("idempotency_key", "provider_message_id"))
    assert provider_ids[keys[2]] == f"console-{keys[2]}"  # the skipped one is answered as accepted


def test_file_backend_skips_keys_in_its_ledger_and_without_a_ledger_sends_again(settings, tmp_path):
    settings.COLLECTIONS_SMS_FILE = tmp_path / "sms.jsonl"
    settings.COLLECTIONS_SMS_LEDGER = str(tmp_path / "ledger.txt")
    first = [Outgoing("k1", "13800138000", "one"), Outgoing("k2", "13800138001", "two")]

    assert [r.ok for r in FileSmsBackend().send(first)] == [True, True]
    answers = list(FileSmsBackend().send([first[1], Outgoing("k3", "13800138002", "three")]))

    assert [(r.key, r.ok) for r in answers] == [("k2", True), ("k3", True)]
    lines = [json.loads(line)["key"] for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    assert lines == ["k1", "k2", "k3"]

    settings.COLLECTIONS_SMS_LEDGER = ""
    list(FileSmsBackend().send([first[0]]))
    assert len((tmp_path / "sms.jsonl").read_text().splitlines()) == 4


def test_a_stalled_worker_writes_nothing_over_the_claim_of_the_worker_that_took_its_messages_over():
    keys = five_due_sms()
    stalled = reminders.dispatch._claim(N)  # worker A claims the five, then stalls past the stale limit
    assert ten_minutes_pass_and_the_stale_claims_are_requeued() == N
    taken_over = reminders.dispatch._claim(N)  # worker B claims them again and is still sending
    assert statuses(keys) == ["sending"] * N

    reminders.dispatch._record(
        [(m, {"status": "failed", "reason": "retries_exhausted", "error": "late answer"}) for m in stalled]
    )
    assert statuses(keys) == ["sending"] * N  # A's late answers are not B's
    assert not CaseEvent.objects.filter(kind="message_failed").exists()

    reminders.dispatch._record([(m, {"status": "sent", "provider_message_id": "p1"}) for m in taken_over])
    assert statuses(keys) == ["sent"] * N
