"""The collector's pages through Django's test client: worklist, case page, actions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import AuditLog, Case, ContactAttempt, PromiseToPay

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def my_case(collector, supervisor):
    borrower = BorrowerFactory(phones=["13912345678"], consent_after_hours=True)
    return assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=borrower)


def test_collector_lands_on_the_worklist_and_sees_their_case_masked(client, collector, my_case):
    client.force_login(collector)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("collections:worklist")
    body = response.content.decode()
    assert f"#{my_case.pk}" in body
    assert my_case.borrower.name not in body  # masked
    assert my_case.borrower.name[0] + "*" in body


def test_collector_finds_a_case_by_the_last_four_digits_of_a_phone(client, collector, supervisor, my_case):
    other = assigned_case(to=collector, by=supervisor, days_overdue=5, borrower=BorrowerFactory(phones=["13800001111"]))
    client.force_login(collector)
    body = client.get(reverse("collections:worklist"), {"q": "5678"}).content.decode()
    assert f"#{my_case.pk}<" in body
    assert f"#{other.pk}<" not in body


def test_worklist_runs_a_fixed_number_of_queries(client, collector, supervisor, django_assert_max_num_queries):
    for _ in range(12):
        assigned_case(to=collector, by=supervisor, days_overdue=9)
    client.force_login(collector)
    with django_assert_max_num_queries(9):  # 8, plus the match count (a LIMIT 1001 count, issue 9 point 22)
        response = client.get(reverse("collections:worklist"))
    assert response.status_code == 200
    assert response.content.decode().count('href="/cases/') == 12


def test_collector_logs_a_call_and_a_promise_and_sees_them_on_the_timeline(client, collector, my_case):
    client.force_login(collector)
    url = reverse("collections:case", args=[my_case.pk])
    response = client.post(
        reverse("collections:case-log-contact", args=[my_case.pk]),
        {"channel": "call", "direction": "outbound", "outcome": "promise_made", "notes": "will pay"},
    )
    assert response.status_code == 302
    due = lender_today() + timedelta(days=3)
    response = client.post(
        reverse("collections:case-promise", args=[my_case.pk]), {"amount": "500.00", "due_date": due.isoformat()}
    )
    assert response.status_code == 302

    body = client.get(url).content.decode()
    assert ContactAttempt.objects.filter(case=my_case, outcome="promise_made").count() == 1
    assert PromiseToPay.objects.get(case=my_case).amount == Decimal("500.00")
    assert 'data-kind="contact_logged"' in body and 'data-kind="promise_recorded"' in body


def test_a_bad_promise_shows_the_error_next_to_the_field_and_writes_nothing(client, collector, my_case):
    client.force_login(collector)
    past = lender_today() - timedelta(days=1)
    response = client.post(
        reverse("collections:case-promise", args=[my_case.pk]), {"amount": "500.00", "due_date": past.isoformat()}
    )
    assert response.status_code == 400
    assert "cannot be in the past" in response.content.decode()
    assert not PromiseToPay.objects.exists()


def test_another_collectors_case_is_404(client, other_collector, my_case):
    client.force_login(other_collector)
    assert client.get(reverse("collections:case", args=[my_case.pk])).status_code == 404
    response = client.post(
        reverse("collections:case-log-contact", args=[my_case.pk]),
        {"channel": "call", "direction": "outbound", "outcome": "no_answer"},
    )
    assert response.status_code == 404
    assert not ContactAttempt.objects.exists()


def test_reveal_needs_a_reason_and_is_audited(client, collector, my_case):
    client.force_login(collector)
    url = reverse("collections:case-reveal", args=[my_case.pk])
    assert client.post(url, {"reason": ""}).status_code == 400
    response = client.post(url, {"reason": "borrower asked to confirm address"})
    assert my_case.borrower.national_id in response.content.decode()
    log = AuditLog.objects.get()
    assert (log.actor, log.reason, log.case_id) == ("user:collector", "borrower asked to confirm address", my_case.pk)


def test_call_now_is_blocked_with_reason_and_next_time_outside_contact_hours(client, collector, supervisor):
    # A borrower for whom it is the middle of the night now, whatever the server's clock says.
    now_utc = timezone.now()
    night_offset = (3 - now_utc.hour) % 24  # hours to add to UTC to reach 03:xx local
    zone = f"Etc/GMT{'-' if night_offset <= 12 else '+'}{night_offset if night_offset <= 12 else 24 - night_offset}"
    case = assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=BorrowerFactory(time_zone=zone))
    client.force_login(collector)
    body = client.get(reverse("collections:case", args=[case.pk])).content.decode()
    assert 'data-allowed="false"' in body
    assert "outside the borrower" in body
    assert 'data-testid="call-now" title=' in body and "disabled" in body


def test_supervisor_closes_a_case_from_its_page_and_a_bad_reason_is_refused(client, supervisor, my_case):
    client.force_login(supervisor)
    url = reverse("collections:case-transition", args=[my_case.pk])
    assert client.post(url, {"transition": "close", "reason": "paid_in_gold"}).status_code == 400
    assert client.post(url, {"transition": "close", "reason": "settled", "note": "agreed"}).status_code == 302
    assert Case.objects.get(pk=my_case.pk).state == "closed"


def test_a_stale_page_gets_a_clear_refusal_not_a_500(client, collector, my_case):
    client.force_login(collector)
    url = reverse("collections:case-transition", args=[my_case.pk])
    response = client.post(url, {"transition": "schedule_visit", "expected_state": "reminder"})
    assert response.status_code == 409
    assert "changed since you loaded it" in response.content.decode()


def test_next_case_follows_the_worklist_order(client, collector, supervisor):
    first = assigned_case(to=collector, by=supervisor, days_overdue=9)
    second = assigned_case(to=collector, by=supervisor, days_overdue=9)
    client.force_login(collector)
    response = client.get(reverse("collections:case-next", args=[first.pk]))
    assert response.url == reverse("collections:case", args=[second.pk])
    assert client.get(reverse("collections:case-next", args=[second.pk])).url == reverse("collections:worklist")


def test_older_events_load_fifty_at_a_time(client, collector, my_case):
    for n in range(60):
        services.note_add(case_id=my_case.pk, actor=collector, text=f"note {n}")
    client.force_login(collector)
    body = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert body.count('data-kind="note_added"') == 50
    assert 'data-testid="older"' in body
