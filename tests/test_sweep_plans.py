"""The sweep's side of repayment plans and vulnerable borrowers (services/sweep/plan_steps.py and the
escalation rules in services/sweep/steps.py).

Every test runs on SQLite (the ORM/services path) and on PostgreSQL (one statement per step); the same
expectations, down to each event's payload, show the two agree. Time passes through `as_of=`: plans
are proposed today and the sweep is run for later dates.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import (
    Case,
    CaseEvent,
    Hold,
    Instalment,
    LegalReferral,
    Payment,
    PlanInstalment,
    PlanPolicy,
    PlanStatus,
    RepaymentPlan,
    Strategy,
    SweepRun,
    VulnerabilityMarker,
)
from collections_app.services.plans import plan_propose
from collections_app.services.sweep import sweep_chunk_next, sweep_run, sweep_start
from collections_app.services.sweep.plan_steps import BROKEN_REASON, EXPIRED_REASON

from .factories import BorrowerFactory, assigned_case, fresh, loan_with_schedule

pytestmark = pytest.mark.django_db


def today():
    return lender_today()


def day(n):
    return today() + timedelta(days=n)


def sweep(as_of):
    return sweep_run(as_of=as_of, plan_reminders=False)


def plan_on(case, actor, schedule, *, kind="plan", discount=None):
    """A plan proposed on the case with explicit instalments [(days from today, amount)]."""
    extra = {"discount": discount} if discount is not None else {}
    return plan_propose(
        case_id=case.pk,
        actor=actor,
        kind=kind,
        reason="income_loss",
        instalments=[{"due_date": day(n).isoformat(), "amount": amount} for n, amount in schedule],
        **extra,
    )


def two_part_plan(collector, supervisor, *, first=5, second=35, days_overdue=10, borrower=None):
    """A call case (one 1,000.00 instalment overdue) on an active 2-part plan of 500.00 each."""
    case = assigned_case(to=collector, by=supervisor, days_overdue=days_overdue, instalments=1, borrower=borrower)
    plan = plan_on(case, collector, [(first, "500.00"), (second, "500.00")])
    assert plan.status == PlanStatus.ACTIVE
    return case, plan


def payload(plan, status):
    instalments = list(PlanInstalment.objects.filter(plan=plan).order_by("number"))
    return {
        "plan_id": plan.pk,
        "kind": plan.kind,
        "status": status,
        "total": str(plan.total),
        "discount": str(plan.discount),
        "instalments": len(instalments),
        "first_due_date": instalments[0].due_date.isoformat(),
        "last_due_date": instalments[-1].due_date.isoformat(),
    }


def events_since(case, mark):
    return [
        (e.kind, e.actor, e.from_state, e.to_state, e.reason, e.payload)
        for e in CaseEvent.objects.filter(case_id=case.pk, id__gt=mark).order_by("id")
    ]


def mark():
    return CaseEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def status(plan):
    return RepaymentPlan.objects.get(pk=plan.pk).status


def unrecorded_payment(loan, amount, name):
    """A payment row the plan services have not seen (as a bulk load of payments leaves it): only
    the sweep's set-based refresh brings the plan in step with it."""
    return Payment.objects.create(
        external_id=name, loan=loan, amount=Decimal(amount), paid_at=timezone.now(), recorded_by_label="system"
    )


# --- expiry -------------------------------------------------------------------------------------


def test_an_undecided_proposal_expires_the_day_after_its_last_day(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=1)
    plan = plan_on(case, collector, [(5, "450.00"), (35, "450.00")], kind="settlement", discount="100.00")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PROPOSED  # a discount is beyond a collector: it waits
    last_day = plan.expires_on

    assert sweep(last_day).counts["plans_expired"] == 0
    before = mark()
    assert sweep(last_day + timedelta(days=1)).counts["plans_expired"] == 1

    assert status(plan) == PlanStatus.EXPIRED
    assert events_since(case, before) == [
        ("plan_expired", "system", "", "", EXPIRED_REASON, payload(plan, "expired")),
    ]
    assert RepaymentPlan.objects.get(pk=plan.pk).ended_by == "system"
    again = mark()
    assert sweep(last_day + timedelta(days=1)).counts["plans_expired"] == 0
    assert mark() == again


# --- breaking -----------------------------------------------------------------------------------


def test_a_missed_instalment_breaks_the_plan_after_the_grace_days_and_brings_the_case_forward(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)
    priority = fresh(case).priority

    assert sweep(day(5 + 5)).counts["plans_broken"] == 0  # 5 days past due: within grace
    assert status(plan) == PlanStatus.ACTIVE
    before = mark()
    report = sweep(day(5 + 6))

    assert report.counts["plans_broken"] == 1
    assert status(plan) == PlanStatus.BROKEN
    broken_event = (
        "plan_broken",
        "system",
        "",
        "",
        BROKEN_REASON,
        {**payload(plan, "broken"), "sweep_date": day(11).isoformat()},
    )
    assert broken_event in events_since(case, before)
    case = fresh(case)
    assert case.priority == min(priority + 20, 100) and case.next_action_at is not None

    again = mark()
    assert sweep(day(5 + 6)).counts["plans_broken"] == 0  # a rerun for the same date adds nothing
    assert mark() == again


def test_the_grace_days_come_from_the_product_strategy_policy(collector, supervisor):
    strategy = Strategy.objects.create(product="short", name="Short loans")
    PlanPolicy.objects.create(strategy=strategy, grace_days=1)
    loan = loan_with_schedule(days_overdue=10, instalments=1, product="short")
    case = services.case_open_for_loan(loan_id=loan.pk)
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)
    plan = plan_on(case, collector, [(5, "500.00"), (35, "500.00")])

    sweep(day(6))
    assert status(plan) == PlanStatus.ACTIVE
    sweep(day(7))
    assert status(plan) == PlanStatus.BROKEN


def test_an_active_hold_stops_breaking_and_grace_counts_from_the_hold_end(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)
    hold = services.hold_place(borrower_id=case.borrower_id, code="dispute", actor=supervisor, reason="disputed")

    assert sweep(day(40)).counts["plans_broken"] == 0
    assert status(plan) == PlanStatus.ACTIVE

    # The instalment fell due 10 days before the hold ended (today): grace counts from the end.
    services.hold_lift(hold_id=hold.pk, actor=supervisor, reason="resolved")
    PlanInstalment.objects.filter(plan=plan, number=1).update(due_date=day(-10))
    sweep(day(5))
    assert status(plan) == PlanStatus.ACTIVE
    sweep(day(6))
    assert status(plan) == PlanStatus.BROKEN
    assert Hold.objects.filter(pk=hold.pk, lifted_at__isnull=False).exists()


# --- met, kept, settled -------------------------------------------------------------------------


def test_a_reversal_the_services_did_not_see_unmeets_the_instalment_and_the_plan_breaks_after_grace(
    collector, supervisor
):
    case, plan = two_part_plan(collector, supervisor)
    services.payment_record(external_id="P-1", loan=case.loan, amount="500.00", paid_at=timezone.now())
    assert PlanInstalment.objects.get(plan=plan, number=1).met

    assert sweep(day(20)).counts["plans_broken"] == 0  # met: nothing to break
    Payment.objects.filter(external_id="P-1").update(reversed_at=timezone.now())  # bounced, told in bulk
    report = sweep(day(20))

    assert report.counts["plan_instalments_changed"] == 1
    first = PlanInstalment.objects.get(plan=plan, number=1)
    assert not first.met and first.met_at is None
    assert status(plan) == PlanStatus.BROKEN  # due on day 5, unmet on day 20: past grace


def test_a_reversal_through_the_service_breaks_the_plan_after_grace(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)
    services.payment_record(external_id="P-2", loan=case.loan, amount="500.00", paid_at=timezone.now())
    services.payment_reverse(external_id="P-2", reason="bounced")
    assert not PlanInstalment.objects.get(plan=plan, number=1).met

    sweep(day(10))
    assert status(plan) == PlanStatus.ACTIVE
    sweep(day(11))
    assert status(plan) == PlanStatus.BROKEN


def test_a_kept_settlement_closes_the_case_settled_and_no_case_opens_again(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=3)  # due -10, +20, +50
    plan = plan_on(case, supervisor, [(5, "1350.00"), (35, "1350.00")], kind="settlement", discount="300.00")
    assert plan.status == PlanStatus.ACTIVE and plan.total == Decimal("2700.00")
    unrecorded_payment(case.loan, "1350.00", "S-1")
    unrecorded_payment(case.loan, "1350.00", "S-2")
    state_before = fresh(case).state
    before = mark()

    report = sweep(day(1))

    assert (report.counts["plans_kept"], report.counts["settled"]) == (1, 1)
    assert status(plan) == PlanStatus.KEPT
    case = fresh(case)
    assert (case.state, case.close_reason) == ("closed", "settled") and case.closed_at is not None
    assert events_since(case, before) == [
        ("plan_kept", "system", "", "", "", payload(plan, "kept")),
        (
            "transition",
            "system",
            state_before,
            "closed",
            "settled",
            {"transition": "close", "plan_id": plan.pk, "forgiven": "300.00", "note": "settlement kept"},
        ),
    ]
    assert PlanInstalment.objects.filter(plan=plan, met=True).count() == 2

    again = mark()
    assert +sweep(day(1)).counts == {}
    # The loan's later instalments fall due unpaid: the settlement covered them, nothing reopens.
    report = sweep(day(60))
    assert report.counts["opened"] == 0 and report.counts["reopened"] == 0
    assert not Case.objects.filter(loan=case.loan).exclude(pk=case.pk).exists()
    assert mark() == again


def test_a_plan_kept_by_payments_resolves_the_case_the_same_sweep(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)
    unrecorded_payment(case.loan, "1000.00", "K-1")
    Instalment.objects.filter(loan=case.loan).update(amount_paid=F("amount_due"))  # the loan system's books

    report = sweep_run(as_of=day(1), plan_reminders=False, full_refresh=True)

    assert (report.counts["plans_kept"], report.counts["resolved"]) == (1, 1)
    assert status(plan) == PlanStatus.KEPT and fresh(case).state == "resolved"


def test_a_case_resolving_in_the_sweep_cancels_an_unmet_plan(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)
    Instalment.objects.filter(loan=case.loan).update(amount_paid=F("amount_due"))  # written off upstream
    before = mark()

    report = sweep_run(as_of=day(1), plan_reminders=False, full_refresh=True)

    assert report.counts["resolved"] == 1
    assert status(plan) == PlanStatus.CANCELLED
    kinds = [(e[0], e[4]) for e in events_since(case, before)]
    assert kinds[-1] == ("plan_cancelled", "The case resolved.")
    assert events_since(case, before)[-1][5] == payload(plan, "cancelled")


# --- escalation ---------------------------------------------------------------------------------


def test_the_sweep_never_escalates_a_case_on_an_active_plan(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor, first=35, second=65)
    assert fresh(case).state == "call"

    report = sweep(day(30))  # DPD 40: past the visit threshold

    assert report.counts["escalated_visit"] == 0
    assert fresh(case).state == "call" and status(plan) == PlanStatus.ACTIVE


def test_after_a_broken_plan_escalation_resumes_one_stage_per_sweep(collector, supervisor):
    case, plan = two_part_plan(collector, supervisor)  # call, DPD 10 today; instalment due on day 5

    report = sweep(day(60))  # DPD 70: past visit (31) and legal (61)

    assert status(plan) == PlanStatus.BROKEN
    assert fresh(case).state == "call" and report.counts["escalated_visit"] == 0  # from the next sweep
    assert +sweep(day(60)).counts == {}  # a rerun for the same date moves nothing more

    assert sweep(day(61)).counts["escalated_visit"] == 1
    assert fresh(case).state == "visit"
    assert not LegalReferral.objects.filter(case=case).exists()  # one stage this sweep
    assert +sweep(day(61)).counts == {}

    assert sweep(day(62)).counts["legal_requested"] == 1
    assert LegalReferral.objects.filter(case=case, status="requested").exists()


# --- vulnerability ------------------------------------------------------------------------------


def mark_vulnerable(borrower_id):
    return VulnerabilityMarker.objects.create(
        borrower_id=borrower_id, code="illness", set_by="user:supervisor", review_on=day(30)
    )


def test_a_vulnerable_borrowers_call_case_at_dpd_40_stays_in_call(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=1)
    mark_vulnerable(case.borrower_id)
    other = assigned_case(to=collector, by=supervisor, days_overdue=10, instalments=1)

    report = sweep(day(30))

    assert fresh(case).state == "call" and fresh(other).state == "visit"
    assert report.counts["escalated_visit"] == 1


def test_no_legal_referral_is_requested_for_a_vulnerable_borrower(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40, instalments=1)
    assert fresh(case).state == "visit"
    marker = mark_vulnerable(case.borrower_id)

    assert sweep(day(30)).counts["legal_requested"] == 0
    VulnerabilityMarker.objects.filter(pk=marker.pk).update(cleared_at=timezone.now())
    assert sweep(day(30)).counts["legal_requested"] == 1


def test_a_vulnerable_borrowers_new_case_opens_at_most_at_call():
    borrower = BorrowerFactory()
    mark_vulnerable(borrower.pk)
    loan = loan_with_schedule(days_overdue=40, instalments=1, borrower=borrower)
    plain = loan_with_schedule(days_overdue=40, instalments=1)

    sweep(today())

    assert Case.objects.get(loan=loan).state == "call"
    assert Case.objects.get(loan=plain).state == "visit"


# --- the run's counts and timings ---------------------------------------------------------------


def test_a_chunked_run_times_the_plan_steps_apart(collector, supervisor):
    two_part_plan(collector, supervisor)
    run = sweep_start(as_of=day(11))
    while sweep_chunk_next(run_id=run.pk).outcome not in ("finished", "over"):
        pass
    run = SweepRun.objects.get(pk=run.pk)
    assert run.counts["plans_broken"] == 1
    assert run.counts["plan_steps_ms"] >= 0
    report = sweep(day(11))
    assert report.timings["plan_steps"] > 0 and report.timings["chunk"] >= report.timings["plan_steps"]


# --- webhooks -----------------------------------------------------------------------------------


def test_plan_events_of_the_sweep_queue_their_webhooks_once(collector, supervisor, settings):
    from collections_app.models import WebhookDelivery
    from collections_app.services import webhooks

    settings.COLLECTIONS_WEBHOOK_NUDGE = False
    settings.COLLECTIONS_WEBHOOK_ALLOW_LOCAL = True
    case, plan = two_part_plan(collector, supervisor)
    subscription, _secret = webhooks.webhook_subscription_create(
        url="http://127.0.0.1:9/hooks", event_types=["plan.broken", "plan.kept"]
    )

    sweep(day(11))

    [delivery] = WebhookDelivery.objects.filter(subscription=subscription)
    broken = CaseEvent.objects.get(case_id=case.pk, kind="plan_broken")
    assert delivery.event_type == "plan.broken" and delivery.event_key == f"evt_{broken.pk}"
    data = delivery.payload["data"]
    expected = payload(plan, "broken")
    assert (data["case"], data["actor"], data["plan"], data["status"], data["reason"]) == (
        case.pk,
        "system",
        plan.pk,
        "broken",
        BROKEN_REASON,
    )
    assert {k: data[k] for k in ("kind", "total", "discount", "instalments", "first_due_date", "last_due_date")} == {
        k: expected[k] for k in ("kind", "total", "discount", "instalments", "first_due_date", "last_due_date")
    }
    sweep(day(11))
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 1
