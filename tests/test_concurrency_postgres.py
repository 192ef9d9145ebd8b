"""Real concurrency against PostgreSQL: row locks make racing requests serialise, so exactly one
wins and nothing is applied twice. Skipped on SQLite (one writer at a time, no row locks)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from collections_app import roles as r
from collections_app import services
from collections_app.actors import actor_for_client
from collections_app.errors import DomainError
from collections_app.models import Case, CaseEvent, ContactAttempt, Hold, Instalment, Payment, PaymentAllocation

from .factories import loan_with_schedule
from .helpers import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# API clients need no groups (a transactional test starts from flushed tables).
WRITER = actor_for_client("dialler", [r.SCOPE_CASES_READ, r.SCOPE_CASES_WRITE])
BANK = actor_for_client("bank-feed", [r.SCOPE_PAYMENTS_WRITE])


@pytest.fixture(autouse=True)
def _needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


def test_concurrent_start_calls_exactly_one_succeeds():
    loan = loan_with_schedule(days_overdue=3)
    case = services.case_open_for_loan(loan_id=loan.pk)

    results = race(lambda _i: services.case_transition(case_id=case.pk, transition="start_calls", actor=WRITER))

    oks = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(oks) == 1
    assert len(errors) == 1
    assert isinstance(errors[0], DomainError), repr(errors[0])
    assert errors[0].code in {"transition_not_allowed", "stale_version"}
    assert Case.objects.get(pk=case.pk).state == "call"
    assert CaseEvent.objects.filter(case_id=case.pk, kind="transition").count() == 1


def test_concurrent_start_calls_with_expected_state_exactly_one_succeeds():
    loan = loan_with_schedule(days_overdue=3)
    case = services.case_open_for_loan(loan_id=loan.pk)

    results = race(
        lambda _i: services.case_transition(
            case_id=case.pk, transition="start_calls", actor=WRITER, expected_state="reminder"
        ),
        threads=4,
    )

    kinds = sorted(kind for kind, _ in results)
    assert kinds == ["error", "error", "error", "ok"]
    assert {value.code for kind, value in results if kind == "error"} <= {"transition_not_allowed", "stale_version"}
    assert CaseEvent.objects.filter(case_id=case.pk, kind="transition").count() == 1


def test_concurrent_payments_with_the_same_external_id_apply_once():
    loan = loan_with_schedule(days_overdue=40)
    case = services.case_open_for_loan(loan_id=loan.pk)
    paid_at = timezone.now()

    results = race(
        lambda _i: services.payment_record(
            external_id="P-race", loan=loan.external_id, amount="1500.00", paid_at=paid_at, actor=BANK
        )
    )

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert sorted(value.created for _, value in results) == [False, True]
    assert Payment.objects.filter(external_id="P-race").count() == 1
    assert PaymentAllocation.objects.count() == 2
    paid = list(Instalment.objects.filter(loan=loan).order_by("due_date").values_list("amount_paid", flat=True))
    assert paid == [Decimal("1000.00"), Decimal("500.00"), Decimal("0.00")]
    assert Case.objects.get(pk=case.pk).amount_overdue == Decimal("500.00")
    assert CaseEvent.objects.filter(case_id=case.pk, kind="payment_recorded").count() == 1


def test_concurrent_full_payments_with_different_ids_resolve_once():
    loan = loan_with_schedule(days_overdue=40)
    case = services.case_open_for_loan(loan_id=loan.pk)
    counter = iter(range(100))
    lock = threading.Lock()

    def pay(_i):
        with lock:
            n = next(counter)
        return services.payment_record(
            external_id=f"P-{n}", loan=loan.external_id, amount="2000.00", paid_at=timezone.now(), actor=BANK
        )

    results = race(pay)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert Case.objects.get(pk=case.pk).state == "resolved"
    assert CaseEvent.objects.filter(case_id=case.pk, kind="transition").count() == 1
    # The second payment found nothing left to pay but the future instalment.
    assert sum(p.unapplied_amount for p in Payment.objects.all()) == Decimal("1000.00")


def test_concurrent_case_open_for_loan_opens_one_case():
    loan = loan_with_schedule(days_overdue=10)

    results = race(lambda _i: services.case_open_for_loan(loan_id=loan.pk), threads=3)

    assert all(kind == "ok" for kind, _ in results), results
    assert len({value.pk for _, value in results}) == 1
    assert Case.objects.filter(loan=loan).count() == 1
    assert CaseEvent.objects.filter(kind="opened").count() == 1


def test_concurrent_disputes_on_two_cases_of_one_borrower_place_one_hold_without_deadlock():
    loan_a = loan_with_schedule(days_overdue=10)
    loan_b = loan_with_schedule(days_overdue=40, borrower=loan_a.borrower)
    case_a = services.case_open_for_loan(loan_id=loan_a.pk)
    case_b = services.case_open_for_loan(loan_id=loan_b.pk)
    ids = iter([case_a.pk, case_b.pk])
    lock = threading.Lock()

    def dispute(_i):
        with lock:
            case_id = next(ids)
        return services.contact_log(
            case_id=case_id,
            actor=WRITER,
            channel="call",
            outcome="dispute_raised",
            occurred_at=timezone.now() - timezone.timedelta(minutes=1),
        )

    results = race(dispute)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert Hold.objects.filter(borrower=loan_a.borrower, code="dispute").count() == 1
    assert ContactAttempt.objects.count() == 2
    # The one hold is announced once on each open case.
    assert CaseEvent.objects.filter(kind="hold_placed").count() == 2


def test_dispute_racing_a_staff_hold_does_not_deadlock():
    loan_a = loan_with_schedule(days_overdue=10)
    loan_b = loan_with_schedule(days_overdue=40, borrower=loan_a.borrower)
    case_a = services.case_open_for_loan(loan_id=loan_a.pk)
    services.case_open_for_loan(loan_id=loan_b.pk)
    manager = actor_for_client("loan-system", [r.SCOPE_CASES_READ, r.SCOPE_CASES_MANAGE])
    jobs = iter(
        [
            lambda: services.contact_log(
                case_id=case_a.pk,
                actor=WRITER,
                channel="call",
                outcome="dispute_raised",
                occurred_at=timezone.now() - timezone.timedelta(minutes=1),
            ),
            lambda: services.hold_place(
                borrower_id=loan_a.borrower_id, code="complaint", actor=manager, reason="complaint by letter"
            ),
        ]
    )
    lock = threading.Lock()

    def run_one(_i):
        with lock:
            job = next(jobs)
        return job()

    results = race(run_one)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert set(Hold.objects.values_list("code", flat=True)) == {"dispute", "complaint"}
