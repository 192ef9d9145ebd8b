"""`manage.py simulate`: the hidden propensity (pure), and runs of the simulation on small demo
portfolios through the real services: determinism, payments, promises kept and broken, contacts
that obey the contact rules, month-end snapshots, and a ground truth that separates who cures."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from collections_app.calendar import lender_date_of, lender_today
from collections_app.demo.seed import seed_demo
from collections_app.models import Case, CaseEvent, ContactAttempt, MonthEndSnapshot, Payment, PromiseToPay
from collections_app.simulation import Situation, propensity, propensity_logit, simulate, stable_uniform, traits_for
from collections_app.simulation import constants as k
from collections_app.simulation.borrowers import open_case_rows, recent_treatment, situation_of
from collections_app.simulation.clock import simulated_clock
from collections_app.workflow import OPEN_STATES


def test_traits_come_from_a_stable_hash_of_seed_and_borrower():
    # Pinned: Python's hash() is salted per process, this must not be.
    assert stable_uniform(1, "B000001", "stability") == pytest.approx(0.6990382898, abs=1e-9)
    a, b, other = traits_for(7, "B1"), traits_for(7, "B1"), traits_for(8, "B1")
    assert a == b
    assert (a.stability, a.willingness) != (other.stability, other.willingness)
    assert 0 <= a.stability < 1 and 0 <= a.willingness < 1


def test_reminders_calls_visits_plans_and_promises_raise_the_propensity_as_documented():
    traits = traits_for(3, "B42")
    day = lender_today()
    base = Situation(day=day, dpd=20)
    logit = propensity_logit(traits, base)
    treated = {
        k.REMINDER_EFFECT: Situation(day=day, dpd=20, days_since_reminder=k.REMINDER_MEMORY_DAYS - 1),
        k.CALL_EFFECT: Situation(day=day, dpd=20, days_since_conversation=0),
        k.VISIT_EFFECT: Situation(day=day, dpd=20, days_since_visit=k.VISIT_MEMORY_DAYS - 1),
        k.PLAN_EFFECT: Situation(day=day, dpd=20, asked="plan_instalment"),
        k.PROMISE_EFFECT: Situation(day=day, dpd=20, asked="promise"),
    }
    for effect, situation in treated.items():
        assert effect > 0
        assert propensity_logit(traits, situation) == pytest.approx(logit + effect)
        assert propensity(traits, situation) > propensity(traits, base)
    # Forgotten after the memory: a reminder sent REMINDER_MEMORY_DAYS ago no longer counts.
    old = Situation(day=day, dpd=20, days_since_reminder=k.REMINDER_MEMORY_DAYS)
    assert propensity_logit(traits, old) == pytest.approx(logit)
    # Longer arrears pay less.
    assert propensity(traits, Situation(day=day, dpd=90)) < propensity(traits, base)


def _portfolio(cases, seed):
    """A demo portfolio built as of the clock's moment (no simulated days); returns the build day."""
    seed_demo(cases=cases, seed=seed, days=0)
    return lender_today()


def _fingerprint(since):
    payments = sorted(
        Payment.objects.filter(external_id__startswith="SIM").values_list("external_id", "amount", "paid_at")
    )
    contacts = sorted(
        ContactAttempt.objects.filter(occurred_at__gte=since).values_list(
            "case__loan__external_id", "outcome", "occurred_at", "actor"
        )
    )
    promises = sorted(
        PromiseToPay.objects.filter(created_at__gte=since).values_list(
            "case__loan__external_id", "amount", "due_date", "status"
        )
    )
    states = sorted(Case.objects.values_list("loan__external_id", "state", "amount_overdue"))
    return payments, contacts, promises, states


@pytest.mark.django_db
def test_the_same_seed_on_the_same_start_gives_the_same_history_and_a_second_run_carries_on():
    with simulated_clock() as clock:
        clock.set(clock.real_now() - timedelta(days=20))
        built = _portfolio(40, seed=11)
        since = clock.now()
        mark = transaction.savepoint()
        first = simulate(days=4, seed=5, start=built + timedelta(days=1), clock=clock)
        one = _fingerprint(since)
        transaction.savepoint_rollback(mark)
        clock.set(since)
        again = simulate(days=4, seed=5, start=built + timedelta(days=1), clock=clock)
        two = _fingerprint(since)
        assert one == two
        assert one[0] and one[1], "the run made payments and contacts"
        assert first.counts == again.counts
        # A second run carries on from where the first ended (the day after the latest event).
        later = simulate(days=1, seed=5, clock=clock)
        assert later.start == again.end + timedelta(days=1)
        assert lender_date_of(CaseEvent.objects.latest("at").at) == later.start


def _auc(scores, labels):
    """The rank (Mann-Whitney) AUC: the chance a positive scores above a negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.django_db
def test_a_simulated_month_writes_history_that_obeys_the_rules_and_the_propensity_separates_who_cures():
    seed = 21
    with simulated_clock() as clock:
        real_today = clock.real_today()
        # Build 12 days before a past month's end, then simulate 30 days across it.
        month_end = real_today.replace(day=1) - timedelta(days=1)
        month_end = month_end.replace(day=1) - timedelta(days=1)
        clock.at(month_end - timedelta(days=12), 12)
        built = _portfolio(150, seed=seed)
        start = built + timedelta(days=1)
        # The ground truth at the start: each open case's hidden propensity to pay its arrears.
        treatment = recent_treatment(start)
        truth = {
            row["case_id"]: propensity(
                traits_for(seed, row["borrower__external_id"]), situation_of(start, row, treatment)
            )
            for row in open_case_rows()
        }
        since = clock.now()
        report = simulate(days=30, seed=seed, start=start, clock=clock)

    assert report.days == 30 and report.end == start + timedelta(days=29)
    # Payments carry the simulated days' timestamps.
    paid = Payment.objects.filter(external_id__startswith=f"SIM{seed}-")
    assert paid.count() > 20
    assert all(start <= lender_date_of(p.paid_at) <= report.end for p in paid)
    # Promises made on those days: some kept, some broken.
    made = PromiseToPay.objects.filter(created_at__gte=since)
    assert made.filter(status="kept").exists() and made.filter(status="broken").exists()
    # Calls were made by the demo collectors, none breaking a contact rule; some were refused and skipped.
    calls = ContactAttempt.objects.filter(occurred_at__gte=since, channel="call")
    assert calls.count() > 50
    assert not ContactAttempt.objects.filter(occurred_at__gte=since).exclude(breach="").exists()
    assert set(calls.values_list("actor", flat=True)) <= {f"user:collector{n}" for n in ("", 2, 3, 4, 5)}
    assert report.counts["reminders_sent"] > 0
    # The month end crossed was snapshotted by the sweep.
    assert MonthEndSnapshot.objects.filter(month_end=month_end).exists()
    # Each night scored the open cases and chose their strategies, on the simulated days.
    still_open = Case.objects.filter(state__in=OPEN_STATES)
    assert still_open.exists() and not still_open.filter(risk_band="").exists()
    assert not still_open.filter(strategy__isnull=True).exists()
    stamps = sorted(set(still_open.values_list("risk_scored_at", flat=True)))
    assert since < stamps[0] and stamps[-1] < since + timedelta(days=30)
    # The hidden propensity separates the cases that cured within the 30 days from the rest.
    cured = dict(Case.objects.filter(pk__in=truth).values_list("pk", "state"))
    labels = [cured[case_id] not in OPEN_STATES for case_id in truth]
    assert 5 < sum(labels) < len(labels) - 5, "both outcomes occur"
    assert _auc([truth[c] for c in truth], labels) > 0.7


@pytest.mark.django_db
def test_simulate_command_prints_what_it_did_and_refuses_bad_days():
    with simulated_clock() as clock:
        clock.set(clock.real_now() - timedelta(days=5))
        seed_demo(cases=20, seed=4, days=0)
    out = StringIO()
    call_command("simulate", "--days", "2", "--seed", "4", stdout=out, stderr=StringIO())
    assert "simulated 2 days" in out.getvalue()
    with pytest.raises(Exception, match="at least 1"):
        call_command("simulate", "--days", "0", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db
def test_seed_demo_builds_the_portfolio_days_back_and_simulates_up_to_today():
    out = StringIO()
    call_command("seed_demo", "--cases", "30", "--seed", "9", "--days", "2", stdout=out, stderr=StringIO())
    assert "simulated 2 days" in out.getvalue()
    latest = lender_date_of(CaseEvent.objects.latest("at").at)
    assert latest == lender_today()
