"""The borrower's confirmation SMS when a plan becomes active (issue 11): queued after the commit
through the message service, at the next allowed time when not allowed now, skipped without
failing the plan when not allowed at all, once per plan."""

from datetime import timedelta

import pytest

from collections_app.calendar import lender_today
from collections_app.models import CaseEvent, MessageTemplate, OutboundMessage, PlanStatus
from collections_app.services.plans import plan_decide, plan_propose
from collections_app.services.plans.confirmation import plan_confirmation_queue

from .factories import BorrowerFactory, assigned_case
from .test_reminders import zone_at_local_hour

pytestmark = pytest.mark.django_db


def _propose(case, actor, months):
    return plan_propose(
        case_id=case.pk,
        actor=actor,
        kind="plan",
        reason="income_loss",
        months=months,
        first_due_date=(lender_today() + timedelta(days=7)).isoformat(),
    )


def test_the_migration_adds_the_template_in_both_languages():
    rows = MessageTemplate.objects.filter(code="plan_confirmation", channel="sms")
    assert sorted(rows.values_list("language", flat=True)) == ["en", "zh-hans"]
    assert all("{name}" in t.body and "{loan}" in t.body for t in rows)


def test_an_active_plan_queues_the_confirmation_after_the_commit(
    collector, supervisor, django_capture_on_commit_callbacks
):
    borrower = BorrowerFactory(time_zone=zone_at_local_hour(12))
    case = assigned_case(to=collector, by=supervisor, instalments=6, borrower=borrower)
    with django_capture_on_commit_callbacks(execute=True):
        plan = _propose(case, collector, 6)
    message = OutboundMessage.objects.get(case=case)
    assert (message.template_code, message.channel, message.status) == ("plan_confirmation", "sms", "queued")
    assert message.requested_by == "system"
    assert CaseEvent.objects.filter(case=case, kind="message_requested", actor="system").exists()
    assert plan_confirmation_queue(plan.pk) == message  # once per plan


def test_a_proposal_waiting_for_approval_sends_nothing_until_approved(
    collector, supervisor, django_capture_on_commit_callbacks
):
    case = assigned_case(
        to=collector, by=supervisor, instalments=12, borrower=BorrowerFactory(time_zone=zone_at_local_hour(12))
    )
    with django_capture_on_commit_callbacks(execute=True):
        plan = _propose(case, collector, 12)
    assert plan.status == PlanStatus.PROPOSED and not OutboundMessage.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        plan_decide(plan_id=plan.pk, actor=supervisor, decision="approve")
    assert OutboundMessage.objects.get(case=case).template_code == "plan_confirmation"


def test_at_night_the_confirmation_waits_for_the_next_allowed_time(
    collector, supervisor, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    borrower = BorrowerFactory(time_zone=zone_at_local_hour(3))
    case = assigned_case(to=collector, by=supervisor, instalments=6, borrower=borrower)
    with django_capture_on_commit_callbacks(execute=True):
        _propose(case, collector, 6)
    message = OutboundMessage.objects.get(case=case)
    assert message.status == "queued" and message.not_before > timezone.now() + timedelta(hours=3)


def test_an_opted_out_borrower_gets_nothing_and_the_plan_stands(
    collector, supervisor, django_capture_on_commit_callbacks
):
    borrower = BorrowerFactory(consent_sms=False, consent_after_hours=True)
    case = assigned_case(to=collector, by=supervisor, instalments=6, borrower=borrower)
    with django_capture_on_commit_callbacks(execute=True):
        plan = _propose(case, collector, 6)
    assert plan.status == PlanStatus.ACTIVE
    assert not OutboundMessage.objects.exists()
