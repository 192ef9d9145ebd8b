"""The SMS preview on the case page masks the borrower's name as the page does (issue 9, point 2);
the text actually sent is built by the dispatcher, with the real name."""

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app.masking import mask_name
from collections_app.models import AuditLog, OutboundMessage
from collections_app.services.reminders import message_request, reminders_dispatch

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def my_case(collector, supervisor):
    borrower = BorrowerFactory(name="王小明", consent_after_hours=True, language="zh-hans")
    return assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=borrower)


@pytest.mark.parametrize("who", ["collector", "auditor", "supervisor"])
def test_the_preview_shows_the_name_masked_and_writes_no_audit_row(who, client, actor_named, my_case):
    client.force_login(actor_named(who))
    response = client.get(reverse("collections:case-message-preview", args=[my_case.pk]), {"template": "overdue"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="sms-preview"' in body
    assert "王小明" not in body
    assert mask_name("王小明") in body and my_case.loan.external_id in body
    assert not AuditLog.objects.exists()


def test_the_dispatcher_sends_the_real_name(collector, my_case):
    message = message_request(case_id=my_case.pk, actor=collector, channel="sms", template="overdue")
    OutboundMessage.objects.filter(pk=message.pk).update(not_before=timezone.now() - timezone.timedelta(seconds=1))
    reminders_dispatch()
    message.refresh_from_db()
    assert message.status == "sent"
    assert "王小明" in message.rendered
