"""The case page offers only what the actor may do now, and words refusals for people (issue 9,
point 17): no legal referral form while one waits, no second promise while one is pending, and no
`case: ...` / `due_date: ...` field names in the messages shown."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import LegalReferral, PromiseToPay

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db

FIELD_PREFIX = re.compile(r"\b(case|due_date|amount|reason|template|channel|outcome|visit): ")


@pytest.fixture
def my_case(collector, supervisor):
    borrower = BorrowerFactory(phones=["13912345678"], consent_after_hours=True)
    return assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=borrower)


@pytest.fixture
def my_visit_case(collector, supervisor):
    return assigned_case(to=collector, by=supervisor, days_overdue=40)


def page(client, case):
    return client.get(reverse("collections:case", args=[case.pk])).content.decode()


def messages_of(body):
    return " ".join(re.findall(r'<li class="message[^"]*"[^>]*>(.*?)</li>', body, re.S)) or body


def test_no_promise_form_while_a_promise_is_pending_and_a_second_is_refused_in_words(client, collector, my_case):
    client.force_login(collector)
    promise_url = reverse("collections:case-promise", args=[my_case.pk])
    assert promise_url in page(client, my_case)
    due = lender_today() + timedelta(days=3)
    services.promise_record(case_id=my_case.pk, actor=collector, amount="100.00", due_date=due)

    body = page(client, my_case)
    assert promise_url not in body
    assert 'data-testid="promise-pending"' in body

    response = client.post(promise_url, {"amount": "50.00", "due_date": due.isoformat()})
    assert response.status_code == 400
    body = response.content.decode()
    assert "is still pending" in body
    assert not FIELD_PREFIX.search(body), FIELD_PREFIX.search(body).group(0)
    assert PromiseToPay.objects.count() == 1


def test_no_referral_form_while_one_waits_and_a_second_is_refused_in_words(client, collector, my_visit_case):
    client.force_login(collector)
    legal_url = reverse("collections:case-legal-referral", args=[my_visit_case.pk])
    assert legal_url in page(client, my_visit_case)
    client.post(legal_url, {"reason": "no answer for weeks"})

    body = page(client, my_visit_case)
    assert legal_url not in body
    assert 'data-testid="referral-pending"' in body

    response = client.post(legal_url, {"reason": "again"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "already waiting for a decision" in body
    assert not FIELD_PREFIX.search(body), FIELD_PREFIX.search(body).group(0)
    assert LegalReferral.objects.count() == 1


def test_no_referral_form_under_a_hold(client, collector, supervisor, my_visit_case):
    services.hold_place(borrower_id=my_visit_case.borrower_id, code="complaint", actor=supervisor, reason="complaint")
    client.force_login(collector)
    assert reverse("collections:case-legal-referral", args=[my_visit_case.pk]) not in page(client, my_visit_case)


def test_an_auditor_is_offered_no_form_that_writes(client, auditor, my_visit_case):
    client.force_login(auditor)
    body = page(client, my_visit_case)
    for name in (
        "case-log-contact",
        "case-promise",
        "case-message",
        "case-note",
        "case-legal-referral",
        "case-transition",
        "case-visit",
    ):
        assert reverse(f"collections:{name}", args=[my_visit_case.pk]) not in body, name


def test_a_closed_case_offers_nothing_to_do(client, collector, supervisor, my_case):
    services.case_transition(case_id=my_case.pk, transition="close", actor=supervisor, reason="written_off")
    client.force_login(supervisor)
    body = page(client, my_case)
    for name in ("case-log-contact", "case-promise", "case-message", "case-transition"):
        assert reverse(f"collections:{name}", args=[my_case.pk]) not in body, name


def test_refusal_text_names_no_fields():
    from collections_app.errors import DomainError, invalid
    from collections_app.web.common import refusal_text

    assert refusal_text(invalid("due_date", "The promised date cannot be in the past.")) == (
        "The promised date cannot be in the past."
    )
    text = refusal_text(DomainError("visit_needs_two_agents", fields={"agents": ["Name at least two field agents."]}))
    assert "agents:" not in text and "Name at least two field agents." in text
