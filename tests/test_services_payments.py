"""Payments: allocation oldest first, re-ageing, resolving, idempotency by external id, input checks,
reversals that reopen, and promises kept by payments."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import CaseEvent, Instalment, Payment, PaymentAllocation, PromiseToPay

from .factories import fresh, loan_with_schedule
from .helpers import refused

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def case():
    """Instalments of 1000.00 due 40 and 10 days ago (overdue 2000.00) and in 20 days: a `visit` case."""
    loan = loan_with_schedule(days_overdue=40, instalments=3)
    return services.case_open_for_loan(loan_id=loan.pk)


def paid_amounts(loan):
    return [i.amount_paid for i in Instalment.objects.filter(loan=loan).order_by("due_date")]


def pay(case, amount, external_id="P-1", actor=None, **kwargs):
    kwargs.setdefault("paid_at", timezone.now())
    return services.payment_record(external_id=external_id, loan=case.loan, amount=amount, actor=actor, **kwargs)


def events(case, kind=None):
    qs = CaseEvent.objects.filter(case_id=case.pk).order_by("id")
    return list(qs.filter(kind=kind) if kind else qs)


# --- allocation and the case's amounts -----------------------------------------------------------


def test_payment_applies_to_the_oldest_instalment_first(case, api_client_payments):
    pay(case, "1500.00", actor=api_client_payments)
    assert paid_amounts(case.loan) == [D("1000.00"), D("500.00"), D("0.00")]


def test_payment_allocations_record_where_the_money_went(case):
    result = pay(case, "1200.00")
    allocations = list(PaymentAllocation.objects.filter(payment=result.payment).order_by("instalment__due_date"))
    assert [a.amount for a in allocations] == [D("1000.00"), D("200.00")]
    assert result.payment.unapplied_amount == D("0.00")


def test_partial_payment_re_ages_the_case(case, api_client_payments):
    assert case.dpd(lender_today()) == 40

    pay(case, "1000.00", actor=api_client_payments)

    after = fresh(case)
    assert after.state == "visit"  # re-ageing is not a transition: the sweep escalates and de-escalates
    assert after.amount_overdue == D("1000.00")
    assert after.oldest_unpaid_due_date == lender_today() - timedelta(days=10)
    assert after.dpd(lender_today()) == 10
    assert after.updated_at > case.updated_at
    [changed] = events(case, "amounts_changed")
    assert changed.actor == "client:bank-feed"
    assert changed.payload["amount_overdue_before"] == "2000.00"
    assert changed.payload["amount_overdue"] == "1000.00"
    assert changed.payload["oldest_unpaid_due_date"] == (lender_today() - timedelta(days=10)).isoformat()
    assert events(case, "transition") == []


def test_payment_within_the_oldest_instalment_lowers_the_amount_but_keeps_the_date(case):
    pay(case, "250.50")
    after = fresh(case)
    assert after.amount_overdue == D("1749.50")
    assert after.oldest_unpaid_due_date == case.oldest_unpaid_due_date


def test_payment_is_recorded_on_the_case_timeline(case, supervisor):
    pay(case, "10.00", external_id="P-tl", actor=supervisor, channel="alipay")
    [recorded] = events(case, "payment_recorded")
    assert recorded.actor == "user:supervisor"
    assert recorded.payload["external_id"] == "P-tl"
    assert recorded.payload["amount"] == "10.00"
    assert recorded.payload["channel"] == "alipay"


def test_full_payment_resolves_the_case_with_the_payer_as_actor(case, api_client_payments):
    pay(case, "2000.00", actor=api_client_payments)

    after = fresh(case)
    assert after.state == "resolved"
    assert after.resolved_at is not None
    assert after.amount_overdue == D("0.00")
    assert after.oldest_unpaid_due_date is None
    [resolve] = events(case, "transition")
    assert (resolve.from_state, resolve.to_state) == ("visit", "resolved")
    assert resolve.payload["transition"] == "resolve"
    assert resolve.actor == "client:bank-feed"


def test_payments_adding_up_to_the_overdue_amount_resolve(case, supervisor):
    pay(case, "1999.99", external_id="P-a", actor=supervisor)
    assert fresh(case).state == "visit"
    pay(case, "0.01", external_id="P-b", actor=supervisor)
    after = fresh(case)
    assert after.state == "resolved"
    assert events(case, "transition")[-1].actor == "user:supervisor"


def test_overpayment_keeps_the_surplus_unapplied(case):
    result = pay(case, "3500.00")
    assert result.created
    assert result.payment.unapplied_amount == D("500.00")
    assert Payment.objects.get(pk=result.payment.pk).unapplied_amount == D("500.00")
    assert paid_amounts(case.loan) == [D("1000.00")] * 3
    assert sum(a.amount for a in result.payment.allocations.all()) == D("3000.00")
    assert fresh(case).state == "resolved"


def test_payment_for_a_loan_without_a_case_is_recorded():
    loan = loan_with_schedule(days_overdue=-10, instalments=2)
    result = services.payment_record(
        external_id="P-early", loan=loan.external_id, amount="1000.00", paid_at=timezone.now()
    )
    assert result.created
    assert paid_amounts(loan) == [D("1000.00"), D("0.00")]
    assert not CaseEvent.objects.exists()


# --- idempotency by external_id -------------------------------------------------------------------


def test_replay_with_the_same_data_returns_the_original_and_applies_nothing_twice(case):
    paid_at = timezone.now()
    first = pay(case, "500.00", paid_at=paid_at)
    count_events = len(events(case))

    replay = pay(case, "500", paid_at=paid_at.isoformat())

    assert first.created is True
    assert replay.created is False
    assert replay.payment.pk == first.payment.pk
    assert Payment.objects.count() == 1
    assert PaymentAllocation.objects.count() == 1
    assert paid_amounts(case.loan) == [D("500.00"), D("0.00"), D("0.00")]
    assert fresh(case).amount_overdue == D("1500.00")
    assert len(events(case)) == count_events


def test_same_external_id_with_another_amount_is_idempotency_conflict(case):
    paid_at = timezone.now()
    pay(case, "500.00", paid_at=paid_at)
    with refused("idempotency_conflict", field="external_id"):
        pay(case, "600.00", paid_at=paid_at)
    assert paid_amounts(case.loan) == [D("500.00"), D("0.00"), D("0.00")]


def test_same_external_id_with_another_date_or_loan_is_idempotency_conflict(case):
    paid_at = timezone.now()
    pay(case, "500.00", paid_at=paid_at)
    with refused("idempotency_conflict"):
        pay(case, "500.00", paid_at=paid_at - timedelta(hours=1))
    other_loan = loan_with_schedule(days_overdue=5)
    with refused("idempotency_conflict"):
        services.payment_record(external_id="P-1", loan=other_loan, amount="500.00", paid_at=paid_at)
    assert Payment.objects.count() == 1


# --- input checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [100.5, 100.0], ids=["float", "float-whole"])
def test_float_amount_is_refused(amount, case):
    with refused("validation_error", field="amount"):
        pay(case, amount)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", ["10.001", D("10.005"), "0.001"])
def test_three_decimal_places_are_refused(amount, case):
    with refused("validation_error", field="amount"):
        pay(case, amount)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("amount", ["-1.00", D("-0.01"), "0", "0.00", "abc", "", "NaN", "Infinity"])
def test_negative_zero_and_non_numbers_are_refused(amount, case):
    with refused("validation_error", field="amount"):
        pay(case, amount)
    assert paid_amounts(case.loan) == [D("0.00")] * 3


def test_decimal_and_integer_amounts_are_accepted(case):
    assert pay(case, D("1.5"), external_id="P-d").payment.amount == D("1.50")
    assert pay(case, 2, external_id="P-i").payment.amount == D("2.00")


def test_naive_paid_at_is_refused(case):
    with refused("validation_error", field="paid_at"):
        pay(case, "100.00", paid_at=datetime(2025, 1, 1, 12, 0))
    with refused("validation_error", field="paid_at"):
        pay(case, "100.00", paid_at="2025-01-01T12:00:00")
    assert not Payment.objects.exists()


def test_future_paid_at_is_refused(case):
    with refused("validation_error", field="paid_at"):
        pay(case, "100.00", paid_at=timezone.now() + timedelta(hours=1))
    assert not Payment.objects.exists()


def test_paid_at_with_an_offset_is_accepted(case):
    result = pay(case, "100.00", paid_at="2025-01-01T12:00:00+08:00")
    assert result.payment.paid_at == datetime.fromisoformat("2025-01-01T04:00:00+00:00")


def test_unknown_loan_and_missing_external_id_are_refused():
    with refused("validation_error", field="loan"):
        services.payment_record(external_id="P-x", loan="NO-SUCH-LOAN", amount="1.00", paid_at=timezone.now())
    loan = loan_with_schedule(days_overdue=3)
    with refused("validation_error", field="external_id"):
        services.payment_record(external_id="  ", loan=loan, amount="1.00", paid_at=timezone.now())


# --- reversals -----------------------------------------------------------------------------------------


def test_reversal_reopens_a_resolved_case_at_the_stage_its_dpd_maps_to(case, api_client_payments):
    pay(case, "2000.00", actor=api_client_payments)
    assert fresh(case).state == "resolved"

    result = services.payment_reverse(external_id="P-1", actor=api_client_payments, reason="bounced")

    assert result.created is True
    assert result.payment.reversed_at is not None
    after = fresh(case)
    assert after.state == "visit"  # DPD 40
    assert after.resolved_at is None
    assert after.amount_overdue == D("2000.00")
    assert after.oldest_unpaid_due_date == lender_today() - timedelta(days=40)
    reopen = events(case, "transition")[-1]
    assert (reopen.from_state, reopen.to_state) == ("resolved", "visit")
    assert reopen.payload["transition"] == "reopen"
    assert reopen.payload["dpd"] == 40
    assert reopen.actor == "client:bank-feed"
    assert paid_amounts(case.loan) == [D("0.00")] * 3
    reversed_event = events(case, "payment_reversed")[-1]
    assert reversed_event.reason == "bounced"


@pytest.mark.parametrize(("days", "stage"), [(3, "reminder"), (10, "call")])
def test_reopen_stage_follows_dpd(days, stage):
    loan = loan_with_schedule(days_overdue=days, instalments=1)
    case = services.case_open_for_loan(loan_id=loan.pk)
    services.payment_record(external_id="P-r", loan=loan, amount="1000.00", paid_at=timezone.now())
    assert fresh(case).state == "resolved"

    services.payment_reverse(external_id="P-r", reason="chargeback")

    assert fresh(case).state == stage


def test_reversal_under_a_hold_reopens_at_reminder(case, supervisor):
    pay(case, "2000.00")
    services.hold_place(borrower_id=case.borrower_id, code="bankruptcy", actor=supervisor, reason="filed")
    services.payment_reverse(external_id="P-1", reason="bounced")
    assert fresh(case).state == "reminder"


def test_reversing_twice_is_a_no_op(case):
    pay(case, "2000.00")
    services.payment_reverse(external_id="P-1", reason="bounced")
    count_events = len(events(case))
    state = fresh(case).state

    again = services.payment_reverse(external_id="P-1", reason="bounced")

    assert again.created is False
    assert len(events(case)) == count_events
    assert fresh(case).state == state
    assert paid_amounts(case.loan) == [D("0.00")] * 3


def test_reversal_of_a_partial_payment_re_ages_the_open_case(case):
    pay(case, "1000.00")
    services.payment_reverse(external_id="P-1", reason="bounced")
    after = fresh(case)
    assert after.state == "visit"
    assert after.amount_overdue == D("2000.00")
    assert after.oldest_unpaid_due_date == lender_today() - timedelta(days=40)
    assert events(case, "amounts_changed")[-1].payload["amount_overdue"] == "2000.00"


def test_reversal_of_an_overpayment_takes_back_only_what_was_applied(case):
    pay(case, "1000.00", external_id="P-a")
    pay(case, "2500.00", external_id="P-b")  # 2000 applied, 500 unapplied
    services.payment_reverse(external_id="P-b", reason="bounced")
    assert paid_amounts(case.loan) == [D("1000.00"), D("0.00"), D("0.00")]
    assert fresh(case).amount_overdue == D("1000.00")


def test_reversal_needs_a_reason_and_a_known_payment(case):
    pay(case, "100.00")
    with refused("validation_error", field="reason"):
        services.payment_reverse(external_id="P-1", reason="")
    with refused("not_found"):
        services.payment_reverse(external_id="P-404", reason="bounced")
    assert paid_amounts(case.loan)[0] == D("100.00")


def test_reversal_outside_the_reopen_window_opens_a_new_case(case):
    pay(case, "2000.00")
    # The model is the subject: the case was resolved 31 days ago.
    from collections_app.models import Case

    Case.objects.filter(pk=case.pk).update(resolved_at=timezone.now() - timedelta(days=31))

    services.payment_reverse(external_id="P-1", reason="bounced")

    assert fresh(case).state == "resolved"
    new = Case.objects.exclude(pk=case.pk).get(loan=case.loan)
    assert new.state == "visit"
    assert CaseEvent.objects.filter(case=new, kind="opened").count() == 1


# --- promises kept by payments ---------------------------------------------------------------------


def test_promise_is_kept_when_payments_since_it_reach_its_amount(case, collector, supervisor):
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)
    promise = services.promise_record(
        case_id=case.pk, actor=collector, amount="800.00", due_date=lender_today() + timedelta(days=5)
    )

    pay(case, "500.00", external_id="P-a")
    assert PromiseToPay.objects.get(pk=promise.pk).status == "pending"
    pay(case, "300.00", external_id="P-b")

    promise = PromiseToPay.objects.get(pk=promise.pk)
    assert promise.status == "kept"
    assert promise.settled_at is not None
    [kept] = events(case, "promise_kept")
    assert kept.payload == {"promise_id": promise.pk, "amount": "800.00"}
    assert fresh(case).state == "visit"  # 1200.00 still overdue


def test_payments_before_the_promise_do_not_keep_it(case, supervisor):
    pay(case, "500.00", external_id="P-old", paid_at=timezone.now() - timedelta(days=2))
    promise = services.promise_record(
        case_id=case.pk, actor=supervisor, amount="500.00", due_date=lender_today() + timedelta(days=5)
    )
    pay(case, "100.00", external_id="P-new")
    assert PromiseToPay.objects.get(pk=promise.pk).status == "pending"


def test_a_reversed_payment_does_not_count_towards_a_promise(case, supervisor):
    promise = services.promise_record(
        case_id=case.pk, actor=supervisor, amount="500.00", due_date=lender_today() + timedelta(days=5)
    )
    pay(case, "400.00", external_id="P-a")
    services.payment_reverse(external_id="P-a", reason="bounced")
    pay(case, "100.00", external_id="P-b")
    assert PromiseToPay.objects.get(pk=promise.pk).status == "pending"


def test_a_payment_after_the_promised_date_does_not_keep_the_promise(case, supervisor):
    promise = services.promise_record(case_id=case.pk, actor=supervisor, amount="500.00", due_date=lender_today())
    # Time passes (the promise, not the service, is the subject): it was made 5 days ago, due 2 days ago.
    PromiseToPay.objects.filter(pk=promise.pk).update(
        due_date=lender_today() - timedelta(days=2), created_at=timezone.now() - timedelta(days=5)
    )

    pay(case, "500.00", external_id="P-late")

    assert PromiseToPay.objects.get(pk=promise.pk).status == "pending"  # for the sweep to mark broken
    assert events(case, "promise_kept") == []
