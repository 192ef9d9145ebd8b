"""The daily escalation sweep (services/sweep/).

Every test here runs on SQLite (the ORM/services path) and on PostgreSQL (the writable-CTE path):
the same expectations, down to each event's payload, are how the two are shown to agree.
Dates are explicit (`as_of=`); loans are built relative to the as-of date of each test.
"""

import calendar
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import (
    Case,
    CaseEvent,
    Instalment,
    LegalReferral,
    MonthEndSnapshot,
    OutboundMessage,
    Payment,
    PromiseToPay,
    Strategy,
)
from collections_app.services.sweep import steps as sweep
from collections_app.services.sweep import sweep_chunk, sweep_plan, sweep_run

from .factories import BorrowerFactory, fresh, loan_with_schedule

pytestmark = pytest.mark.django_db

ON_SQLITE = connection.vendor == "sqlite"
ON_POSTGRES = connection.vendor == "postgresql"


# --- building blocks ----------------------------------------------------------------------------


def loan_due(as_of, dpd, *, instalments=1, **kwargs):
    """A loan whose first instalment is `dpd` days past due on `as_of` (negative: due later)."""
    return loan_with_schedule(days_overdue=dpd - (as_of - lender_today()).days, instalments=instalments, **kwargs)


def case_opened_before(as_of, dpd, **kwargs):
    """A case opened by the service the day before `as_of`, for a loan `dpd` days past due on `as_of`."""
    loan = loan_due(as_of, dpd, **kwargs)
    return services.case_open_for_loan(loan_id=loan.pk, as_of=as_of - timedelta(days=1))


def month_end(day):
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_month_end(day):
    first_of_next = month_end(day) + timedelta(days=1)
    return month_end(first_of_next)


def timeline(case, *, since=None):
    """(kind, actor, from_state, to_state, payload) of the case's events, oldest first."""
    events = CaseEvent.objects.filter(case_id=case.pk).order_by("id")
    if since is not None:
        events = events.filter(id__gt=since)
    return [(e.kind, e.actor, e.from_state, e.to_state, e.payload) for e in events]


def last_event_id():
    return CaseEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Case, CaseEvent, LegalReferral, MonthEndSnapshot, OutboundMessage, PromiseToPay)
    }


def place_hold(borrower_id, supervisor, code="dispute"):
    return services.hold_place(
        borrower_id=borrower_id, code=code, actor=supervisor, reason="borrower disputes the debt"
    )


# --- opening ------------------------------------------------------------------------------------


def test_opens_a_case_for_every_newly_overdue_loan_at_the_stage_its_dpd_maps_to():
    as_of = lender_today()
    loans = {dpd: loan_due(as_of, dpd) for dpd in (3, 10, 40, 70)}
    due_today = loan_due(as_of, 0)
    not_yet_due = loan_due(as_of, -5)

    report = sweep_run(as_of=as_of, chunk_size=2)

    expected_stage = {3: "reminder", 10: "call", 40: "visit", 70: "visit"}
    for dpd, loan in loans.items():
        case = Case.objects.get(loan=loan)
        assert case.state == expected_stage[dpd], dpd
        assert case.amount_overdue == Decimal("1000.00")
        assert case.oldest_unpaid_due_date == as_of - timedelta(days=dpd)
        opened = [e for e in timeline(case) if e[0] == "opened"]
        assert opened == [
            (
                "opened",
                "system",
                "",
                expected_stage[dpd],
                {
                    "dpd": dpd,
                    "amount_overdue": "1000.00",
                    "oldest_unpaid_due_date": (as_of - timedelta(days=dpd)).isoformat(),
                },
            )
        ]
        # No fake intermediate transitions.
        assert not case.events.filter(kind="transition").exists()
    assert not Case.objects.filter(loan__in=[due_today, not_yet_due]).exists()
    assert report.counts["opened"] == 4
    assert report.counts["escalated_call"] == report.counts["escalated_visit"] == 0


def test_a_loan_past_the_legal_threshold_opens_at_visit_with_a_legal_referral_requested_by_the_system():
    as_of = lender_today()
    loan = loan_due(as_of, 70)

    report = sweep_run(as_of=as_of)

    case = Case.objects.get(loan=loan)
    assert case.state == "visit"  # capped: legal always needs an approved referral
    referral = LegalReferral.objects.get(case=case)
    assert (referral.status, referral.requested_by) == ("requested", "system")
    assert [e[:4] for e in timeline(case)] == [
        ("opened", "system", "", "visit"),
        ("legal_referral_requested", "system", "", ""),
    ]
    assert case.events.get(kind="legal_referral_requested").payload == {"referral_id": referral.pk}
    assert report.counts["legal_requested"] == 1


def test_a_product_strategy_decides_the_opening_stage():
    Strategy.objects.create(product="pdl", name="Payday", call_at_dpd=3, visit_at_dpd=10, legal_at_dpd=20)
    as_of = lender_today()
    loan = loan_due(as_of, 5, product="pdl")

    sweep_run(as_of=as_of)

    case = Case.objects.get(loan=loan)
    assert [e[:4] for e in timeline(case)] == [("opened", "system", "", "call")]


# --- escalation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dpd_before, from_state, to_state, transition",
    [
        (7, "reminder", "call", "start_calls"),
        (30, "call", "visit", "schedule_visit"),
    ],
)
def test_escalates_when_the_derived_dpd_crosses_a_threshold(dpd_before, from_state, to_state, transition):
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, dpd_before).pk, as_of=today)
    assert case.state == from_state

    unchanged = sweep_run(as_of=today)  # DPD still below the threshold
    assert fresh(case).state == from_state
    assert unchanged.counts[f"escalated_{to_state}"] == 0
    mark = last_event_id()

    report = sweep_run(as_of=today + timedelta(days=1))

    assert fresh(case).state == to_state
    assert timeline(case, since=mark) == [
        ("transition", "system", from_state, to_state, {"transition": transition, "dpd": dpd_before + 1}),
    ]
    assert report.counts[f"escalated_{to_state}"] == 1


def test_a_product_strategy_with_other_thresholds_is_respected():
    Strategy.objects.create(product="pdl", name="Payday", call_at_dpd=3, visit_at_dpd=10, legal_at_dpd=20)
    today = lender_today()
    as_of = today + timedelta(days=1)
    pdl_reminder = case_opened_before(as_of, 3, product="pdl")  # opened at DPD 2: reminder
    pdl_call = case_opened_before(as_of, 10, product="pdl")  # opened at DPD 9: call (pdl visits at 10)
    pdl_legal = case_opened_before(as_of, 20, product="pdl")  # opened at DPD 19: visit by the pdl map
    consumer = case_opened_before(as_of, 3)  # default strategy: calls only at 8
    assert [c.state for c in (pdl_reminder, pdl_call, pdl_legal, consumer)] == ["reminder", "call", "visit", "reminder"]
    mark = last_event_id()

    sweep_run(as_of=as_of)

    assert fresh(pdl_reminder).state == "call"
    assert fresh(pdl_call).state == "visit"
    assert fresh(pdl_legal).state == "visit"
    assert fresh(consumer).state == "reminder"
    assert timeline(pdl_call, since=mark) == [
        ("transition", "system", "call", "visit", {"transition": "schedule_visit", "dpd": 10}),
    ]
    assert [e[0] for e in timeline(pdl_legal, since=mark)] == ["legal_referral_requested"]
    assert LegalReferral.objects.filter(case=pdl_legal, status="requested", requested_by="system").count() == 1
    assert timeline(consumer, since=mark) == []


def test_never_escalates_a_borrower_with_an_active_hold(supervisor):
    today = lender_today()
    case = case_opened_before(today + timedelta(days=1), 8)  # reminder at DPD 7
    place_hold(case.borrower_id, supervisor)
    mark = last_event_id()

    for days in (1, 30, 70):
        report = sweep_run(as_of=today + timedelta(days=days))
        assert report.counts["escalated_call"] == report.counts["escalated_visit"] == 0

    assert fresh(case).state == "reminder"
    assert not LegalReferral.objects.filter(case=case).exists()
    assert not [e for e in timeline(case, since=mark) if e[0] in ("transition", "legal_referral_requested")]


def test_a_loan_overdue_under_a_hold_opens_at_reminder(supervisor):
    as_of = lender_today()
    borrower = BorrowerFactory()
    place_hold(borrower.pk, supervisor)
    loan = loan_due(as_of, 40, borrower=borrower)

    sweep_run(as_of=as_of)

    case = Case.objects.get(loan=loan)
    assert [e[:4] for e in timeline(case)] == [("opened", "system", "", "reminder")]


def test_after_a_hold_is_lifted_the_next_sweep_catches_up_one_transition_at_a_time(supervisor):
    as_of = lender_today()
    borrower = BorrowerFactory()
    hold = place_hold(borrower.pk, supervisor)
    case = Case.objects.get(
        pk=services.case_open_for_loan(loan_id=loan_due(as_of, 40, borrower=borrower).pk, as_of=as_of).pk
    )
    assert case.state == "reminder"
    sweep_run(as_of=as_of)
    assert fresh(case).state == "reminder"

    services.hold_lift(hold_id=hold.pk, actor=supervisor, reason="dispute settled")
    mark = last_event_id()
    report = sweep_run(as_of=as_of)

    assert fresh(case).state == "visit"
    assert timeline(case, since=mark) == [
        ("transition", "system", "reminder", "call", {"transition": "start_calls", "dpd": 40}),
        ("transition", "system", "call", "visit", {"transition": "schedule_visit", "dpd": 40}),
    ]
    assert (report.counts["escalated_call"], report.counts["escalated_visit"]) == (1, 1)
    assert not LegalReferral.objects.filter(case=case).exists()  # DPD 40 < 61


# --- reopening ----------------------------------------------------------------------------------


def resolved_case_with_a_later_instalment(today, second_due, **loan_kwargs):
    """A case resolved by a payment today; its loan's next instalment falls due on `second_due`."""
    loan = loan_due(today, 10, **loan_kwargs)
    Instalment.objects.create(loan=loan, number=2, due_date=second_due, amount_due=Decimal("1000.00"))
    case = services.case_open_for_loan(loan_id=loan.pk, as_of=today)
    services.payment_record(external_id=f"P-cure-{loan.pk}", loan=loan, amount="1000.00", paid_at=timezone.now())
    assert fresh(case).state == "resolved"
    return case


def test_a_case_reopened_by_the_sweep_is_also_escalated_referred_and_snapshotted_by_it(settings):
    settings.COLLECTIONS_REOPEN_WINDOW_DAYS = 120
    today = lender_today()
    cured = resolved_case_with_a_later_instalment(today, today + timedelta(days=1))
    other = services.case_open_for_loan(loan_id=loan_due(today, 10).pk, as_of=today)  # a higher id
    as_of = month_end(today + timedelta(days=66))  # DPD of the missed instalment: 65 or more

    report = sweep_run(as_of=as_of)

    assert report.counts["reopened"] == 1
    cured = fresh(cured)
    assert cured.state == "visit"
    assert MonthEndSnapshot.objects.filter(month_end=as_of, case=other).exists()
    assert LegalReferral.objects.filter(case=other, status="requested").exists()
    # The reopened case is treated like the other one:
    assert MonthEndSnapshot.objects.filter(month_end=as_of, case=cured).exists()
    assert LegalReferral.objects.filter(case=cured, status="requested").exists()


def test_a_case_is_reopened_at_the_stage_its_dpd_maps_to_by_the_product_strategy():
    Strategy.objects.create(product="pdl", name="Payday", call_at_dpd=3, visit_at_dpd=10, legal_at_dpd=20)
    today = lender_today()
    cured = resolved_case_with_a_later_instalment(today, today + timedelta(days=1), product="pdl")
    mark = last_event_id()

    sweep_run(as_of=today + timedelta(days=6))  # the missed instalment is 5 days late: calls, for pdl

    reopened = [e for e in timeline(cured, since=mark) if e[0] == "transition"][0]
    assert reopened[2:4] == ("resolved", "call")


def test_a_closed_case_stays_closed_until_a_new_instalment_is_missed(supervisor):
    """docs/workflow.md: a closed case never comes back; a later missed instalment opens a new case."""
    today = lender_today()
    loan = loan_due(today, 10)
    Instalment.objects.create(loan=loan, number=2, due_date=today + timedelta(days=20), amount_due=Decimal("1000.00"))
    case = services.case_open_for_loan(loan_id=loan.pk, as_of=today)
    services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="written_off")

    report = sweep_run(as_of=today + timedelta(days=1))

    assert report.counts["opened"] == 0
    assert list(Case.objects.filter(loan=loan).values_list("state", flat=True)) == ["closed"]

    sweep_run(as_of=today + timedelta(days=21))  # the next instalment is missed: a new case
    assert Case.objects.filter(loan=loan, state__in=["reminder", "call", "visit"]).count() == 1


# --- amounts and resolution ---------------------------------------------------------------------


@pytest.mark.parametrize("dpd, full_refresh", [(3, False), (10, True)])
def test_resolves_a_case_whose_overdue_amount_reached_zero_outside_the_payment_service(dpd, full_refresh):
    """The loan system fixed the schedule (the instalment is marked paid, no payment recorded here).
    The daily sweep re-reads loans with an instalment due in the last week; `full_refresh` re-reads all."""
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, dpd).pk, as_of=today)
    Instalment.objects.filter(loan_id=case.loan_id).update(amount_paid=F("amount_due"))
    mark = last_event_id()

    report = sweep_run(as_of=today, full_refresh=full_refresh)

    case = fresh(case)
    assert case.state == "resolved"
    assert case.resolved_at is not None
    assert case.amount_overdue == Decimal("0.00")
    assert case.oldest_unpaid_due_date is None
    stage = "reminder" if dpd < 8 else "call"
    [changed, resolved] = timeline(case, since=mark)
    assert changed[:4] == ("amounts_changed", "system", "", "")
    assert changed[4]["amount_overdue_before"] == "1000.00"
    assert Decimal(changed[4]["amount_overdue"]) == 0  # its exact text: the next test
    assert changed[4]["oldest_unpaid_due_date"] is None
    assert resolved == ("transition", "system", stage, "resolved", {"transition": "resolve", "amount_overdue": "0.00"})
    assert (report.counts["amounts_changed"], report.counts["resolved"]) == (1, 1)
    assert +sweep_run(as_of=today, full_refresh=full_refresh).counts == Counter()


def test_an_amount_that_drops_to_zero_is_written_with_two_decimals():
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 3).pk, as_of=today)
    Instalment.objects.filter(loan_id=case.loan_id).update(amount_paid=F("amount_due"))

    sweep_run(as_of=today)

    assert case.events.get(kind="amounts_changed").payload == {
        "amount_overdue_before": "1000.00",
        "amount_overdue": "0.00",
        "oldest_unpaid_due_date": None,
    }


def test_the_daily_sweep_re_reads_amounts_only_of_loans_with_an_instalment_due_in_the_last_week():
    """By design (services/sweep/, REFRESH_LOOKBACK_DAYS): money and schedule changes reach cases
    through the services at once; the sweep only adds instalments falling due. A fix written straight
    into an instalment that fell due longer ago waits for `--full-refresh` (or a sync task)."""
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 10).pk, as_of=today)
    Instalment.objects.filter(loan_id=case.loan_id).update(amount_paid=F("amount_due"))

    daily = sweep_run(as_of=today)
    assert (daily.counts["amounts_changed"], daily.counts["resolved"]) == (0, 0)
    assert fresh(case).state == "call"

    out = StringIO()
    call_command("sweep", "--date", today.isoformat(), "--full-refresh", "--no-reminders", stdout=out)
    assert "resolved: 1" in out.getvalue()
    assert fresh(case).state == "resolved"


def test_resolving_a_visit_case_withdraws_its_pending_legal_referral():
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 70).pk, as_of=today)
    sweep_run(as_of=today)
    referral = LegalReferral.objects.get(case=case, status="requested")
    Instalment.objects.filter(loan_id=case.loan_id).update(amount_paid=F("amount_due"))

    sweep_run(as_of=today, full_refresh=True)

    assert fresh(case).state == "resolved"
    referral.refresh_from_db()
    assert (referral.status, referral.decided_by) == ("rejected", "system")
    assert case.events.filter(kind="legal_referral_rejected").count() == 1


def test_re_ages_amounts_when_a_new_instalment_falls_due_and_ageing_alone_writes_nothing():
    today = lender_today()
    loan = loan_due(today, 10)
    Instalment.objects.create(loan=loan, number=2, due_date=today, amount_due=Decimal("500.00"))  # due today: not late

    sweep_run(as_of=today)
    case = Case.objects.get(loan=loan)
    assert case.amount_overdue == Decimal("1000.00")
    mark, touched = last_event_id(), case.updated_at

    again = sweep_run(as_of=today)  # same day: nothing
    assert +again.counts == Counter()
    assert last_event_id() == mark
    assert fresh(case).updated_at == touched

    report = sweep_run(as_of=today + timedelta(days=1))  # the second instalment is now a day late

    case = fresh(case)
    assert case.amount_overdue == Decimal("1500.00")
    assert case.oldest_unpaid_due_date == today - timedelta(days=10)
    assert case.updated_at > touched
    assert timeline(case, since=mark) == [
        (
            "amounts_changed",
            "system",
            "",
            "",
            {
                "amount_overdue_before": "1000.00",
                "amount_overdue": "1500.00",
                "oldest_unpaid_due_date": (today - timedelta(days=10)).isoformat(),
            },
        )
    ]
    assert report.counts["amounts_changed"] == 1
    mark, touched = last_event_id(), case.updated_at

    later = sweep_run(as_of=today + timedelta(days=2))  # ageing alone (DPD 12, no threshold crossed)

    assert later.counts["amounts_changed"] == 0
    assert last_event_id() == mark
    assert fresh(case).updated_at == touched
    assert fresh(case).dpd(today + timedelta(days=2)) == 12


# --- promises -----------------------------------------------------------------------------------


def test_a_promise_whose_date_passed_unpaid_is_broken_and_brings_the_case_forward(supervisor):
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 10).pk, as_of=today)
    promise = services.promise_record(case_id=case.pk, actor=supervisor, amount="300.00", due_date=today)
    before = fresh(case)

    on_the_day = sweep_run(as_of=today)  # the promised day has not passed yet
    assert on_the_day.counts["promises_broken"] == 0
    promise.refresh_from_db()
    assert promise.status == "pending"
    mark = last_event_id()

    started = timezone.now()
    report = sweep_run(as_of=today + timedelta(days=1))

    promise.refresh_from_db()
    assert promise.status == "broken"
    assert promise.settled_at is not None
    case = fresh(case)
    assert case.priority > before.priority
    assert case.next_action_at is not None and case.next_action_at >= started - timedelta(seconds=1)
    assert case.next_action_at < before.next_action_at  # brought forward from the morning after
    assert timeline(case, since=mark) == [
        ("promise_broken", "system", "", "", {"promise_id": promise.pk, "amount": "300.00"}),
    ]
    assert report.counts["promises_broken"] == 1


def test_a_promise_covered_by_a_payment_before_its_date_is_kept(supervisor):
    today = lender_today()
    case = services.case_open_for_loan(loan_id=loan_due(today, 10).pk, as_of=today)
    promise = services.promise_record(case_id=case.pk, actor=supervisor, amount="300.00", due_date=today)
    services.payment_record(
        external_id="P-ptp", loan=case.loan, amount="300.00", paid_at=timezone.now(), actor=supervisor
    )
    priority = fresh(case).priority
    mark = last_event_id()

    report = sweep_run(as_of=today + timedelta(days=1))

    promise.refresh_from_db()
    assert promise.status == "kept"
    assert report.counts["promises_broken"] == 0
    assert not CaseEvent.objects.filter(case=case, kind="promise_broken").exists()
    assert CaseEvent.objects.filter(case=case, kind="promise_kept").count() == 1
    assert fresh(case).priority == priority
    assert [e[0] for e in timeline(case, since=mark)] == []


# --- month-end snapshot -------------------------------------------------------------------------


def test_month_end_snapshot_rows_are_written_on_the_last_day_of_a_month_only_and_never_twice():
    as_of = month_end(lender_today())
    loans = {dpd: loan_due(as_of, dpd) for dpd in (3, 10, 45)}
    resolved = services.case_open_for_loan(loan_id=loan_due(as_of, 5).pk, as_of=as_of - timedelta(days=1))
    Instalment.objects.filter(loan_id=resolved.loan_id).update(amount_paid=F("amount_due"))

    day_before = sweep_run(as_of=as_of - timedelta(days=1))
    assert day_before.counts["snapshot"] == 0
    assert not MonthEndSnapshot.objects.exists()

    report = sweep_run(as_of=as_of)

    rows = {s.case.loan_id: s for s in MonthEndSnapshot.objects.select_related("case")}
    assert set(rows) == {loan.pk for loan in loans.values()}  # one per open case; the resolved one has none
    expected = {3: ("1-7", "reminder"), 10: ("8-30", "call"), 45: ("31-60", "visit")}
    for dpd, loan in loans.items():
        row = rows[loan.pk]
        assert (row.month_end, row.bucket, row.state, row.dpd, row.amount_overdue) == (
            as_of,
            *expected[dpd],
            dpd,
            Decimal("1000.00"),
        )
    assert report.counts["snapshot"] == 3

    rerun = sweep_run(as_of=as_of)
    assert rerun.counts["snapshot"] == 0
    assert MonthEndSnapshot.objects.count() == 3


# --- a whole portfolio: exact outcome, idempotence, a killed worker -------------------------------


def build_portfolio(as_of, supervisor):
    """A bit of everything, for a sweep on `as_of` (after today, so promises can fall due before it)."""
    today = lender_today()
    assert as_of > today
    p = {}
    # Existing cases, opened the day before (creation order decides the case-id chunks).
    p["to_visit"] = case_opened_before(as_of, 31).loan
    p["held"] = case_opened_before(as_of, 8).loan
    place_hold(p["held"].borrower_id, supervisor)
    p["paid_elsewhere"] = case_opened_before(as_of, 5).loan  # fell due this week: the daily sweep re-reads it
    Instalment.objects.filter(loan=p["paid_elsewhere"]).update(amount_paid=F("amount_due"))
    p["to_call"] = case_opened_before(as_of, 8).loan
    p["to_legal"] = case_opened_before(as_of, 61).loan
    broken = case_opened_before(as_of, 15)
    services.promise_record(case_id=broken.pk, actor=supervisor, amount="300.00", due_date=today)
    p["promise_broken"] = broken.loan
    kept = case_opened_before(as_of, 16)
    services.promise_record(case_id=kept.pk, actor=supervisor, amount="300.00", due_date=today)
    # Money seen by the loan system (not through payment_record, which would also re-age the case as
    # of today): the sweep finds it covers the promise.
    Payment.objects.create(
        external_id=f"P-kept-{kept.pk}",
        loan=kept.loan,
        amount=Decimal("300.00"),
        paid_at=timezone.now(),
        recorded_by_label="client:loan-system",
    )
    p["promise_kept"] = kept.loan
    # Loans without a case yet.
    for dpd in (1, 3, 10, 40, 70):
        p[f"new_{dpd}"] = loan_due(as_of, dpd)
    p["due_today"] = loan_due(as_of, 0)
    p["pre_due"] = loan_due(as_of, -3)
    return p


def outcome():
    """Every case's end state and timeline, keyed by loan, without ids and times; and the outbox."""

    def clean(payload):
        return {k: v for k, v in payload.items() if not k.endswith("_id")}

    cases = {}
    for case in Case.objects.select_related("loan").order_by("id"):
        cases.setdefault(case.loan.external_id, []).append(
            (
                case.state,
                str(case.amount_overdue),
                case.oldest_unpaid_due_date,
                case.priority,
                case.next_action_at is not None,
                [
                    (e.kind, e.actor, e.from_state, e.to_state, e.reason, clean(e.payload))
                    for e in case.events.order_by("id")
                ],
                sorted((r.status, r.requested_by, r.reason) for r in case.legal_referrals.all()),
                sorted((s.month_end, s.bucket, s.state, s.dpd, str(s.amount_overdue)) for s in case.snapshots.all()),
                sorted((p.status, str(p.amount)) for p in case.promises.all()),
            )
        )
    messages = sorted(
        OutboundMessage.objects.values_list(
            "idempotency_key", "status", "reason", "channel", "template_code", "case__loan__external_id"
        )
    )
    return cases, messages


def kinds_since(loan, mark):
    return [(e[0], e[2], e[3]) for e in timeline(Case.objects.filter(loan=loan).latest("id"), since=mark)]


def test_a_portfolio_sweep_gives_exactly_these_changes(supervisor):
    as_of = next_month_end(lender_today())
    p = build_portfolio(as_of, supervisor)
    mark = last_event_id()

    report = sweep_run(as_of=as_of, chunk_size=2)

    state = {name: Case.objects.filter(loan=loan).values_list("state", flat=True).first() for name, loan in p.items()}
    assert state == {
        "to_visit": "visit",
        "held": "reminder",
        "paid_elsewhere": "resolved",
        "to_call": "call",
        "to_legal": "visit",
        "promise_broken": "call",
        "promise_kept": "call",
        "new_1": "reminder",
        "new_3": "reminder",
        "new_10": "call",
        "new_40": "visit",
        "new_70": "visit",
        "due_today": None,
        "pre_due": None,
    }
    assert kinds_since(p["to_visit"], mark) == [("transition", "call", "visit")]
    assert kinds_since(p["held"], mark) == []
    assert kinds_since(p["paid_elsewhere"], mark) == [
        ("amounts_changed", "", ""),
        ("transition", "reminder", "resolved"),
    ]
    assert kinds_since(p["to_call"], mark) == [("transition", "reminder", "call")]
    assert kinds_since(p["to_legal"], mark) == [("legal_referral_requested", "", "")]
    assert kinds_since(p["promise_broken"], mark) == [("promise_broken", "", "")]
    assert kinds_since(p["promise_kept"], mark) == [("promise_kept", "", "")]
    assert kinds_since(p["new_70"], mark) == [("opened", "", "visit"), ("legal_referral_requested", "", "")]
    written = CaseEvent.objects.filter(id__gt=mark)
    assert set(written.values_list("actor", flat=True)) == {"system"}
    assert set(written.values_list("reason", flat=True)) == {"sweep", "DPD reached legal review"}
    assert dict(+report.counts) == {
        "opened": 5,
        "escalated_call": 1,
        "escalated_visit": 1,
        "legal_requested": 2,
        "amounts_changed": 1,
        "resolved": 1,
        "promises_broken": 1,
        "promises_kept": 1,
        "snapshot": 11,
        "reminders_planned": 4,
    }
    # Every open case has its month-end row, none for the resolved one.
    assert MonthEndSnapshot.objects.filter(month_end=as_of).count() == Case.objects.exclude(state="resolved").count()
    assert set(OutboundMessage.objects.values_list("template_code", "channel")) == {
        ("pre_due", "sms"),
        ("overdue", "sms"),
        ("overdue", "email"),
    }


def test_running_the_sweep_twice_for_the_same_date_changes_nothing_the_second_time(supervisor):
    as_of = next_month_end(lender_today())
    build_portfolio(as_of, supervisor)
    first = sweep_run(as_of=as_of, chunk_size=3)
    assert first.counts["opened"] and first.counts["snapshot"] and first.counts["reminders_planned"]
    counts, result = row_counts(), outcome()

    second = sweep_run(as_of=as_of, chunk_size=3)

    assert dict(+second.counts) == {}
    assert row_counts() == counts
    assert outcome() == result


def test_a_worker_killed_mid_sweep_leaves_whole_chunks_and_the_rerun_finishes_exactly_once(supervisor, monkeypatch):
    as_of = next_month_end(lender_today())
    p = build_portfolio(as_of, supervisor)
    before = outcome()

    # What a clean run gives (then rolled back, so the same portfolio can be swept again).
    with transaction.atomic():
        clean_report = sweep_run(as_of=as_of, chunk_size=2)
        clean = outcome()
        transaction.set_rollback(True)
    assert outcome() == before

    plan = sweep_plan(as_of, chunk_size=2)
    to_call_case = Case.objects.get(loan=p["to_call"])
    crash_at = next(i for i, (kind, lo, hi) in enumerate(plan) if kind == "cases" and lo <= to_call_case.pk <= hi)
    assert plan[crash_at - 1][0] == "cases"  # at least one case chunk has finished before the crash
    for kind, lo, hi in plan[:crash_at]:
        sweep_chunk(as_of=as_of, kind=kind, lo=lo, hi=hi)

    # The worker dies late in the chunk: after the amounts, resolutions, escalations and promises.
    steps = sweep._PgSteps if ON_POSTGRES else sweep._OrmSteps
    original = steps.settle_promises
    crashed = []

    def settle_then_die(self):
        result = original(self)
        if not crashed:
            crashed.append(True)
            raise RuntimeError("worker killed")
        return result

    monkeypatch.setattr(steps, "settle_promises", settle_then_die)
    kind, lo, hi = plan[crash_at]

    def in_chunk():
        return sorted(
            Case.objects.filter(id__gte=lo, id__lte=hi).values_list(
                "id", "state", "amount_overdue", "priority", "updated_at"
            )
        )

    chunk_before, events_before, referrals_before = in_chunk(), CaseEvent.objects.count(), LegalReferral.objects.count()
    with pytest.raises(RuntimeError, match="worker killed"):
        sweep_chunk(as_of=as_of, kind=kind, lo=lo, hi=hi)

    # The failing chunk left nothing, though a clean run changes cases in it.
    assert in_chunk() == chunk_before
    assert CaseEvent.objects.count() == events_before
    assert LegalReferral.objects.count() == referrals_before
    assert fresh(to_call_case).state == "reminder"
    paid_case = Case.objects.get(loan=p["paid_elsewhere"])
    assert lo <= paid_case.pk <= hi and paid_case.state == "reminder"

    rerun = sweep_run(as_of=as_of, chunk_size=2)

    assert outcome() == clean  # every case where a clean run puts it, each change exactly once
    assert rerun.counts["opened"] == 0  # the opening chunks had finished before the crash
    assert rerun.counts["escalated_call"] == clean_report.counts["escalated_call"] == 1
    assert rerun.counts["resolved"] == clean_report.counts["resolved"] == 1
    for case in Case.objects.all():
        changes = [
            (kind, frm, to, payload.get("transition"))
            for kind, _a, frm, to, payload in timeline(case)
            if kind in ("opened", "transition", "amounts_changed", "promise_broken", "legal_referral_requested")
        ]
        assert len(changes) == len(set(changes)), (case.loan.external_id, changes)


# --- the command ----------------------------------------------------------------------------------


def test_the_sweep_command_prints_what_it_did(supervisor):
    as_of = next_month_end(lender_today())
    build_portfolio(as_of, supervisor)
    out = StringIO()

    call_command("sweep", "--date", as_of.isoformat(), "--chunk-size", "4", stdout=out)

    text = out.getvalue()
    assert f"sweep for {as_of.isoformat()}" in text
    assert "opened: 5" in text
    assert "escalated: to call 1, to visit 1" in text
    assert "legal referrals requested: 2" in text
    assert "resolved: 1" in text
    assert "promises broken: 1" in text
    assert "month-end snapshot rows: 11" in text
    assert "reminders planned: 4" in text

    again = StringIO()
    call_command("sweep", "--date", as_of.isoformat(), stdout=again)
    assert "opened: 0" in again.getvalue() and "reminders planned: 0" in again.getvalue()


@pytest.mark.parametrize("bad", ["2026-02-30", "yesterday", "31/01/2026"])
def test_the_sweep_command_rejects_a_bad_date(bad):
    with pytest.raises(CommandError, match="not a date"):
        call_command("sweep", "--date", bad, stdout=StringIO())


def test_the_sweep_command_defaults_to_the_lenders_today():
    loan = loan_due(lender_today(), 10)
    out = StringIO()

    call_command("sweep", "--no-reminders", stdout=out)

    assert f"sweep for {lender_today().isoformat()}" in out.getvalue()
    assert Case.objects.get(loan=loan).state == "call"
    assert not OutboundMessage.objects.exists()


def test_sweep_plan_covers_every_loan_and_open_case_and_ends_open_ended():
    as_of = lender_today()
    for dpd in (3, 10, 40):
        services.case_open_for_loan(loan_id=loan_due(as_of, dpd).pk, as_of=as_of)
    loan_due(as_of, 5)

    plan = sweep_plan(as_of, chunk_size=2)

    kinds = [kind for kind, _lo, _hi in plan]
    assert kinds == sorted(kinds, key=lambda k: k != "loans")  # openings first
    assert plan[-1][0] == "cases" and plan[-1][2] >= 2**62  # cases opened by this sweep are covered too
    case_ids = list(Case.objects.values_list("id", flat=True))
    assert all(any(kind == "cases" and lo <= cid <= hi for kind, lo, hi in plan) for cid in case_ids)
