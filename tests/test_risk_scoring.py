"""Issue 12, the scoring core: the scorecard's check, features as of a date, the score of a case
worked out by hand, the nightly `risk_score` (every open case and due-soon loan, closed ones left,
a failed run keeps yesterday's scores), and what the API and the case page show."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import Case, Instalment, Loan, ScorecardBin, Scorer, ScoringRun
from collections_app.services.risk import Bin, scorecard_check, scorer_activate, scorer_bins
from collections_app.services.risk.scorecard import scorer_bins_save
from collections_app.services.risk.features import NEVER_DAYS, risk_features
from collections_app.services.risk.score import risk_score

from .factories import BorrowerFactory, LoanFactory, fresh, overdue_case

pytestmark = pytest.mark.django_db


def D(value):
    return None if value is None else Decimal(str(value))


def dpd_bins(*rows):
    return [Bin("dpd", D(lo), D(hi), "", pts) for lo, hi, pts in rows]


# --- the points table's check ---------------------------------------------------------------------


def test_overlapping_bins_are_refused_naming_the_characteristic_and_the_bounds():
    with pytest.raises(ValidationError) as refused:
        scorecard_check(dpd_bins((None, 10, 50), (8, 31, 20), (31, None, 0)), target="cure")
    assert refused.value.messages == ["dpd: bins [−∞, 10) and [8, 31) overlap."]


def test_a_gap_between_bins_and_an_open_top_are_refused():
    with pytest.raises(ValidationError) as refused:
        scorecard_check(dpd_bins((None, 8, 50), (10, 31, 20)), target="cure")
    assert refused.value.messages == [
        "dpd: values from 8 to 10 fall in no bin (between [−∞, 8) and [10, 31)).",
        "dpd: values from 31 up fall in no bin.",
    ]


def test_a_first_bin_above_zero_and_a_product_without_catch_all_are_refused():
    bins = [*dpd_bins((5, None, 1)), Bin("product", None, None, "consumer", 3)]
    with pytest.raises(ValidationError) as refused:
        scorecard_check(bins, target="cure")
    assert refused.value.messages == [
        "dpd: values from 0 to 5 fall in no bin.",
        "product: no bin with an empty category catches the other values.",
    ]


def test_a_characteristic_the_target_cannot_use_is_refused():
    with pytest.raises(ValidationError) as refused:
        scorecard_check(dpd_bins((None, None, 1)), target="pay")
    assert refused.value.messages == ["dpd cannot be used for target pay."]


@pytest.mark.parametrize("name", ["default-cure", "default-pay"])
def test_the_shipped_scorecards_pass_the_check_and_are_active(name):
    scorer = Scorer.objects.get(name=name, version=1)
    assert scorer.active
    scorecard_check(
        [Bin(b.characteristic, b.lower, b.upper, b.category, b.points) for b in scorer.bins.all()],
        target=scorer.target,
    )


def _copy_of_default(name="my-cure", version=1):
    base = Scorer.objects.get(name="default-cure")
    scorer = Scorer.objects.create(
        name=name, version=version, target="cure", base_score=base.base_score, points_to_double_odds=40
    )
    scorer_bins_save(scorer, scorer_bins(base))
    return scorer


def test_activating_a_scorecard_with_overlapping_bins_is_refused_and_the_active_one_stays(admin_user):
    scorer = _copy_of_default()
    ScorecardBin.objects.create(scorer=scorer, characteristic="dpd", lower=5, upper=20, points=1)
    with pytest.raises(DomainError) as refused:
        scorer_activate(actor=admin_user, scorer_id=scorer.pk)
    assert refused.value.code == "validation_error"
    assert "dpd: bins" in refused.value.message and "overlap" in refused.value.message
    assert list(Scorer.objects.filter(target="cure", active=True).values_list("name", flat=True)) == ["default-cure"]


def test_activating_a_good_scorecard_replaces_the_active_one_of_its_target_only(admin_user, collector):
    scorer = _copy_of_default()
    with pytest.raises(DomainError):
        scorer_activate(actor=collector, scorer_id=scorer.pk)
    scorer_activate(actor=admin_user, scorer_id=scorer.pk)
    assert set(Scorer.objects.filter(active=True).values_list("name", flat=True)) == {"my-cure", "default-pay"}


def test_the_database_holds_at_most_one_active_scorer_per_target():
    scorer = _copy_of_default()
    with pytest.raises(IntegrityError), transaction.atomic():
        Scorer.objects.filter(pk=scorer.pk).update(active=True)


# --- features as of a date ------------------------------------------------------------------------


def _pay(case, amount, when, ref):
    return services.payment_record(external_id=ref, loan=case.loan, amount=Decimal(amount), paid_at=when)


def test_features_as_of_a_past_date_ignore_later_payments_contacts_and_loans(supervisor):
    case = overdue_case(days_overdue=10)
    Case.objects.filter(pk=case.pk).update(opened_at=timezone.now() - timedelta(days=5))
    yesterday = lender_today() - timedelta(days=1)
    _pay(case, "400.00", timezone.now(), "P-today")
    services.contact_log(case_id=case.pk, actor=supervisor, channel="call", outcome="right_party_contact")
    LoanFactory(borrower=case.borrower, disbursed_on=lender_today())

    past = risk_features(target="cure", as_of=yesterday)
    assert past.ids.tolist() == [case.pk]
    assert past.column("dpd").tolist() == [9]
    assert past.column("amount_overdue").tolist() == [1000.0]
    assert past.column("paid_share").tolist() == [0.0]
    assert past.column("days_since_payment").tolist() == [NEVER_DAYS]
    assert past.column("days_since_contact").tolist() == [NEVER_DAYS]
    assert past.column("borrower_loans").tolist() == [1]
    assert past.column("loan_age").tolist() == [199]

    today = risk_features(target="cure")
    assert today.column("dpd").tolist() == [10]
    assert today.column("amount_overdue").tolist() == [600.0]
    assert today.column("paid_share").tolist() == [pytest.approx(400 / 3000)]
    assert today.column("days_since_payment").tolist() == [0]
    assert today.column("days_since_contact").tolist() == [0]
    assert today.column("borrower_loans").tolist() == [2]


def test_a_case_opened_after_the_date_is_not_scored_as_of_it_and_a_later_reversal_is_undone():
    case = overdue_case(days_overdue=10)
    yesterday = lender_today() - timedelta(days=1)
    assert risk_features(target="cure", as_of=yesterday).ids.tolist() == []
    Case.objects.filter(pk=case.pk).update(opened_at=timezone.now() - timedelta(days=5))
    _pay(case, "1000.00", timezone.now() - timedelta(days=3), "P-old")
    services.payment_reverse(external_id="P-old", reason="bounced")
    assert fresh(case).is_open
    # As of yesterday the payment stood (its reversal came today): nothing was overdue then.
    past = risk_features(target="cure", as_of=yesterday)
    assert past.column("amount_overdue").tolist() == [0.0]
    assert past.column("days_since_payment").tolist() == [2]


def test_broken_promises_and_past_cures_count_the_borrowers_history(supervisor):
    borrower = BorrowerFactory()
    old = overdue_case(days_overdue=3, borrower=borrower)
    _pay(old, "1000.00", timezone.now(), "P-cure")
    assert fresh(old).state == "resolved"
    case = overdue_case(days_overdue=20, borrower=borrower)
    features = risk_features(target="cure")
    assert features.ids.tolist() == [case.pk]
    assert features.column("past_cures").tolist() == [1]
    assert features.column("past_cases").tolist() == [1]
    assert features.column("borrower_loans").tolist() == [2]


# --- the score ------------------------------------------------------------------------------------


def test_the_score_of_a_case_worked_out_by_hand():
    """overdue_case(10): dpd 10 → 70, no broken promise → 50, nothing paid → 10, never paid → 0, never
    reached → 0, loan 200 days old → 40, one loan → 40, consumer → 35, 1,000 overdue → 35, no past
    cure → 20: 300 points; log-odds (300 − 350) · ln 2 / 40, p = 0.296 → 0.30, band D. Lost against
    the best bins: dpd 50, days since payment 50, days since contact 45, paid share 35, ..."""
    case = overdue_case(days_overdue=10)
    run = risk_score()
    assert run.status == "ok", run.error
    case = fresh(case)
    expected = 1 / (1 + math.exp(-(300 - 350) * math.log(2) / 40))
    assert round(expected, 2) == 0.30
    assert case.p_cure == Decimal("0.30")
    assert case.risk_band == "D"
    assert case.risk_reasons == ["high_dpd", "no_recent_payment", "no_contact_14d"]
    assert case.risk_model == "default-cure-1"
    assert case.risk_scored_at is not None


def _due_soon_loan(*, days_to_due=3, paid_before=True):
    """A loan whose next instalment falls due in `days_to_due` days, nothing overdue."""
    loan = LoanFactory(disbursed_on=lender_today() - timedelta(days=100))
    today = lender_today()
    Instalment.objects.create(
        loan=loan,
        number=1,
        due_date=today - timedelta(days=27),
        amount_due=Decimal("500.00"),
        amount_paid=Decimal("500.00") if paid_before else Decimal("0"),
    )
    Instalment.objects.create(
        loan=loan, number=2, due_date=today + timedelta(days=days_to_due), amount_due=Decimal("500.00")
    )
    return loan


def test_risk_score_writes_every_open_case_and_due_soon_loan_and_leaves_the_others(supervisor):
    open_cases = [overdue_case(days_overdue=d) for d in (3, 40, 100)]
    closed = overdue_case(days_overdue=10)
    services.case_transition(case_id=closed.pk, transition="close", actor=supervisor, reason="written_off")
    due_soon = _due_soon_loan(days_to_due=3)
    due_later = _due_soon_loan(days_to_due=12)
    overdue_loan = open_cases[0].loan

    run = risk_score()
    assert run.status == "ok", run.error
    assert run.counts["cases"] == 3 and run.counts["loans"] == 1 and run.counts["bands_changed"] == 3
    # Never paid, never reached: 3 days late 350 points (p 0.50, C); 40 days 260 (0.17, E); 100 days 210.
    bands = [(fresh(c).risk_band, fresh(c).p_cure) for c in open_cases]
    assert bands == [("C", Decimal("0.50")), ("E", Decimal("0.17")), ("E", Decimal("0.08"))]
    assert fresh(closed).risk_band == "" and fresh(closed).p_cure is None
    loan = Loan.objects.get(pk=due_soon.pk)
    assert loan.p_pay is not None and loan.pay_band and loan.pay_model == "default-pay-1"
    assert Loan.objects.get(pk=due_later.pk).p_pay is None
    assert Loan.objects.get(pk=overdue_loan.pk).p_pay is None


def test_a_loan_that_leaves_the_due_soon_set_loses_its_p_pay():
    loan = _due_soon_loan(days_to_due=3)
    risk_score()
    assert Loan.objects.get(pk=loan.pk).p_pay is not None
    Instalment.objects.filter(loan=loan, number=2).update(amount_paid=Decimal("500.00"))
    run = risk_score()
    assert run.counts["loans_cleared"] == 1
    assert Loan.objects.get(pk=loan.pk).p_pay is None


def test_a_failed_run_keeps_yesterdays_scores_and_says_so(monkeypatch, supervisor):
    case = overdue_case(days_overdue=10)
    first = risk_score(as_of=lender_today() - timedelta(days=1))
    assert first.status == "ok"
    before = fresh(case)

    from collections_app.services.risk import score

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(score, "_write_loans", broken)  # after the cases were written, in the same transaction
    services.contact_log(case_id=case.pk, actor=supervisor, channel="call", outcome="right_party_contact")
    run = risk_score()
    assert run.status == ScoringRun.Status.FAILED
    assert "disk full" in run.error
    after = fresh(case)
    assert (after.p_cure, after.risk_reasons, after.risk_scored_at) == (
        before.p_cure,
        before.risk_reasons,
        before.risk_scored_at,
    )
    assert ScoringRun.objects.first() == run
    from collections_app.selectors.risk import scoring_note, scoring_run_latest

    assert scoring_note(scoring_run_latest()) == (
        f"Risk scoring for {lender_today().isoformat()} failed; the scores shown are from the last good run.",
        True,
    )


def test_a_band_change_moves_updated_at_and_a_same_band_rescore_does_not(supervisor):
    case = overdue_case(days_overdue=10)
    opened_version = fresh(case).updated_at
    risk_score()
    first = fresh(case)
    assert first.updated_at > opened_version  # first scoring: no band → D
    risk_score()
    again = fresh(case)
    assert again.risk_band == first.risk_band and again.updated_at == first.updated_at
    assert again.risk_scored_at > first.risk_scored_at
    # A conversation today and a payment of most of it: a better band.
    services.contact_log(case_id=case.pk, actor=supervisor, channel="call", outcome="right_party_contact")
    risk_score()
    moved = fresh(case)
    assert moved.risk_band != again.risk_band
    assert moved.updated_at > again.updated_at


def test_an_active_model_whose_estimator_cannot_be_loaded_fails_the_run_and_writes_nothing():
    case = overdue_case(days_overdue=10)
    Scorer.objects.filter(target="cure").update(active=False)
    Scorer.objects.create(name="gbm", version=1, kind="model", target="cure", active=True, artifact=b"x")
    run = risk_score()
    assert run.status == "failed" and "gbm-1 cannot be loaded" in run.error and "train it again" in run.error
    assert fresh(case).risk_band == ""


def test_the_command_prints_the_run_and_refuses_a_bad_date(capsys):
    overdue_case(days_overdue=10)
    call_command("risk_score")
    out = capsys.readouterr().out
    assert "cases scored: 1" in out and "default-cure-1" in out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("risk_score", "--date", "yesterday")


# --- what people and clients see ------------------------------------------------------------------


def test_the_api_case_shape_has_risk_null_until_scored_then_the_contract_shape(api):
    case = overdue_case(days_overdue=10)
    caller = api("cases:read")
    assert caller.get("/api/v1/cases/").json()["results"][0]["risk"] is None
    assert caller.get(f"/api/v1/cases/{case.pk}/").json()["risk"] is None
    risk_score()
    expected_keys = {"band", "p_cure", "reasons", "model", "scored_at"}
    for body in (caller.get("/api/v1/cases/").json()["results"][0], caller.get(f"/api/v1/cases/{case.pk}/").json()):
        risk = body["risk"]
        assert set(risk) == expected_keys
        assert risk["band"] == "D" and risk["p_cure"] == "0.30" and risk["model"] == "default-cure-1"
        assert risk["reasons"] == ["high_dpd", "no_recent_payment", "no_contact_14d"]
        assert risk["scored_at"].endswith("+08:00")
    looked_up = caller.post("/api/v1/cases/lookup/", {"loans": [case.loan.external_id]}).json()
    assert looked_up["results"][0]["case"]["risk"]["band"] == "D"


def test_the_openapi_schema_documents_risk(client):
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "CaseRisk" in schema and "p_cure" in schema


def test_the_case_page_says_why_the_borrower_is_in_their_band(client, collector, supervisor):
    from django.urls import reverse

    from .factories import assigned_case

    case = assigned_case(to=collector, by=supervisor, days_overdue=10)
    client.force_login(collector)
    url = reverse("collections:case", args=[case.pk])
    assert "Not scored yet" in client.get(url).content.decode()
    risk_score()
    page = client.get(url).content.decode()
    assert "Band D: 30 % likely to have nothing overdue in 30 days" in page
    assert "Why D:" in page
    assert "Many days past due; No recent payment; No recent conversation with the borrower" in page


# --- the admin ------------------------------------------------------------------------------------


def _scorer_form(scorer, extra_bins=()):
    bins = list(scorer.bins.order_by("pk"))
    data = {
        "name": scorer.name,
        "version": scorer.version,
        "kind": scorer.kind,
        "target": scorer.target,
        "description": scorer.description,
        "base_score": scorer.base_score,
        "base_odds": scorer.base_odds,
        "points_to_double_odds": scorer.points_to_double_odds,
        "bins-TOTAL_FORMS": len(bins) + len(extra_bins),
        "bins-INITIAL_FORMS": len(bins),
        "bins-MIN_NUM_FORMS": 0,
        "bins-MAX_NUM_FORMS": 1000,
    }
    rows = [(b.pk, b.characteristic, b.lower, b.upper, b.category, b.points) for b in bins] + [
        (None, *extra) for extra in extra_bins
    ]
    for i, (pk, characteristic, lower, upper, category, points) in enumerate(rows):
        data.update(
            {
                f"bins-{i}-id": pk or "",
                f"bins-{i}-scorer": scorer.pk,
                f"bins-{i}-characteristic": characteristic,
                f"bins-{i}-lower": "" if lower is None else lower,
                f"bins-{i}-upper": "" if upper is None else upper,
                f"bins-{i}-category": category,
                f"bins-{i}-points": points,
            }
        )
    return data


def test_the_admin_refuses_an_overlapping_bin_naming_it_and_saves_nothing(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    scorer = Scorer.objects.get(name="default-cure")
    count = scorer.bins.count()
    url = f"/admin/collections_app/scorer/{scorer.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(url, _scorer_form(scorer, [("loan_age", "30", "100", "", 5)]))
    assert response.status_code == 200
    assert "loan_age: bins [−∞, 91) and [30, 100) overlap." in response.content.decode()
    assert scorer.bins.count() == count and Scorer.objects.get(pk=scorer.pk).active
    # A good edit saves.
    response = client.post(url, _scorer_form(scorer))
    assert response.status_code == 302


def test_the_admin_action_makes_a_scorer_active_or_says_why_not(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    scorer = _copy_of_default()
    ScorecardBin.objects.filter(scorer=scorer, characteristic="product", category="").delete()
    response = client.post(
        "/admin/collections_app/scorer/", {"action": "make_active", "_selected_action": [scorer.pk]}, follow=True
    )
    # (the admin capitalises a message's first letter)
    assert "Product: no bin with an empty category catches the other values." in response.content.decode()
    assert Scorer.objects.get(name="default-cure").active
    ScorecardBin.objects.create(scorer=scorer, characteristic="product", category="", points=1)
    client.post("/admin/collections_app/scorer/", {"action": "make_active", "_selected_action": [scorer.pk]})
    assert Scorer.objects.get(pk=scorer.pk).active and not Scorer.objects.get(name="default-cure").active


def test_the_dashboard_says_when_the_last_scoring_failed(client, supervisor, monkeypatch):
    overdue_case(days_overdue=10)
    client.force_login(supervisor)
    assert "Risk scores have never been computed." in client.get("/dashboard/").content.decode()
    risk_score()
    assert "Risk scores as of" in client.get("/dashboard/").content.decode()

    from collections_app.services.risk import score

    monkeypatch.setattr(score, "band_cutoffs", lambda: [])
    assert risk_score().status == "failed"
    page = client.get("/dashboard/").content.decode()
    assert "failed; the scores shown are from the last good run." in page


# --- the nightly chain ----------------------------------------------------------------------------


def test_the_nightly_chain_scores_after_the_sweep_and_before_the_reminder_plan(monkeypatch):
    """sweep_task → chunk tasks → risk_score_task → reminders_plan_task (eager in tests)."""
    from collections_app.services import reminders
    from collections_app.tasks.sweep import sweep_task

    from .factories import loan_with_schedule

    loans = [loan_with_schedule(days_overdue=d) for d in (3, 10, 40)]
    seen = {}
    real_plan = reminders.reminders_plan

    def plan_after_scoring(*, as_of, **kwargs):
        seen["scored_before_planning"] = Case.objects.filter(risk_scored_at__isnull=False).count()
        return real_plan(as_of=as_of, **kwargs)

    monkeypatch.setattr(reminders, "reminders_plan", plan_after_scoring)
    sweep_task.delay(chunk_size=2).get()
    assert Case.objects.filter(loan__in=loans).count() == 3
    assert seen == {"scored_before_planning": 3}
    assert ScoringRun.objects.get().status == "ok"


def test_a_failed_scoring_does_not_stop_the_reminder_plan(monkeypatch):
    from collections_app.services import reminders
    from collections_app.services.risk import score
    from collections_app.tasks.risk import risk_score_task

    from collections_app.services.reminders.planner import PlanResult

    planned = []

    def plan(*, as_of, **kwargs):
        planned.append(as_of)
        return PlanResult()

    monkeypatch.setattr(score, "band_cutoffs", lambda: [])
    monkeypatch.setattr(reminders, "reminders_plan", plan)
    answer = risk_score_task.delay().get()
    assert answer["status"] == "failed"
    assert planned == [lender_today()]


def test_the_sweep_command_scores_unless_told_not_to(capsys):
    overdue_case(days_overdue=10)
    call_command("sweep", "--no-risk", "--no-reminders")
    assert not ScoringRun.objects.exists()
    call_command("sweep", "--no-reminders")
    assert "risk scored: 1 cases" in capsys.readouterr().out
    assert ScoringRun.objects.get().status == "ok"


def test_the_admin_refuses_band_cut_offs_that_leave_a_probability_in_no_band(client, admin_user):
    from collections_app.models import RiskBand

    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    band = RiskBand.objects.get(code="E")
    url = f"/admin/collections_app/riskband/{band.pk}/change/"
    response = client.post(url, {"code": "E", "min_probability": "0.05"})
    assert response.status_code == 200
    assert "The lowest risk band must start at 0.00" in response.content.decode()
    assert RiskBand.objects.get(code="E").min_probability == Decimal("0.00")
    band_b = RiskBand.objects.get(code="B")
    response = client.post(
        f"/admin/collections_app/riskband/{band_b.pk}/change/", {"code": "B", "min_probability": "0.65"}
    )
    assert response.status_code == 302 and RiskBand.objects.get(code="B").min_probability == Decimal("0.65")
