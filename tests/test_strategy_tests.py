"""Issue 12, the "Strategy tests" page: its intervals (checked against published values), its
figures on a hand-built portfolio, the CSV and XLSX of the same table, its fixed query count, and
who may open it (supervisors, auditors; a collector gets 404 and no link)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app import stats
from collections_app.models import Case, ContactAttempt, Hold, Payment, Strategy, StrategyRule
from collections_app.services.strategy_choice import group_slot, strategies_choose

from .factories import fresh, overdue_case

pytestmark = pytest.mark.django_db


# --- the intervals ---------------------------------------------------------------------------------


def test_wilson_interval_matches_the_published_values():
    p, low, high = stats.wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert stats.wilson(0, 10)[1] == 0.0 and round(stats.wilson(0, 10)[2], 4) == 0.2775
    assert stats.wilson(0, 0) is None


def test_newcombe_difference_matches_newcombe_1998_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, 56/70 − 48/80, method 10: 0.0524 to 0.3339.
    d, low, high = stats.newcombe_difference(56, 70, 48, 80)
    assert round(d, 4) == 0.2
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_the_verdict_needs_an_interval_excluding_zero():
    assert stats.verdict((0.1, 0.02, 0.18)) == "better"
    assert stats.verdict((-0.1, -0.18, -0.02)) == "worse"
    assert stats.verdict((0.05, -0.01, 0.11)) == "unknown"
    assert stats.verdict(None) == "unknown"


def test_mean_and_ratio_intervals():
    mean, low, high = stats.mean_interval(total=20, total_squares=50, n=10)  # values with mean 2, var 1.11
    assert mean == 2 and round(high - mean, 3) == round(1.959963984540054 * (10 / 9 / 10) ** 0.5, 3)
    r, low, high = stats.ratio_interval(sx=50, sy=100, sxx=500, syy=2000, sxy=1000, n=5)
    assert r == 0.5 and low <= 0.5 <= high


# --- the page --------------------------------------------------------------------------------------


def build_test(cases=20, days_ago=40):
    challenger = Strategy.objects.create(name="Firm", product=None, call_at_dpd=3, visit_at_dpd=20, legal_at_dpd=50)
    champion = Strategy.objects.create(name="Gentle", product=None, challenger=challenger, challenger_share=50)
    StrategyRule.objects.create(position=1, strategy=champion)
    made = [overdue_case(days_overdue=10) for _ in range(cases)]
    Case.objects.filter(pk__in=[c.pk for c in made]).update(
        risk_band="C", p_cure="0.50", risk_model="scorecard-1", risk_scored_at=timezone.now()
    )
    chosen_at = timezone.now() - timedelta(days=days_ago)
    strategies_choose(now=chosen_at)
    return champion, challenger, made, chosen_at


def test_the_page_shows_each_test_with_its_figures_and_verdict(client, supervisor):
    champion, challenger, cases, chosen_at = build_test()
    by_group = {"champion": [], "challenger": []}
    for case in cases:
        by_group[fresh(case).strategy_group].append(case)
    assert by_group["champion"] and by_group["challenger"]
    # Every challenger-group case cures within 30 days, no champion-group case does.
    Case.objects.filter(pk__in=[c.pk for c in by_group["challenger"]]).update(
        state="resolved", resolved_at=chosen_at + timedelta(days=5)
    )
    first = by_group["champion"][0]
    ContactAttempt.objects.create(
        case=first,
        borrower=first.borrower,
        channel="call",
        outcome="no_answer",
        breach="quiet_hours",
        occurred_at=chosen_at + timedelta(days=1),
    )
    Hold.objects.create(borrower=first.borrower, code="complaint", starts_at=chosen_at + timedelta(days=2))
    Payment.objects.create(
        external_id="pay-1", loan=first.loan, amount=Decimal("100.00"), paid_at=chosen_at + timedelta(days=3)
    )
    client.force_login(supervisor)

    response = client.get("/strategy-tests/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "challenger better" in body and "excludes 0" in body
    assert 'data-verdict="better"' in body
    difference = response.context["tests"][0]["difference"]
    assert difference["value"] == "+100.0" and " to +" in difference["range"]
    tests = response.context["tests"]
    assert len(tests) == 1 and tests[0]["test"].strategy == champion
    figures = tests[0]["test"].groups
    n_champion, n_challenger = len(by_group["champion"]), len(by_group["challenger"])
    assert (figures["champion"].cases, figures["challenger"].cases) == (n_champion, n_challenger)
    assert figures["challenger"].cure[0] == 1.0 and figures["champion"].cure[0] == 0.0
    assert figures["champion"].breaches[0] == pytest.approx(1 / n_champion)
    assert figures["champion"].complaints[0] == pytest.approx(1 / n_champion)
    assert figures["champion"].contacts_per_case[0] == pytest.approx(1 / n_champion)
    overdue = sum(fresh(c).amount_overdue for c in by_group["champion"])
    assert figures["champion"].collected_per_overdue[0] == pytest.approx(float(Decimal("100.00") / overdue))


def test_a_test_too_young_to_measure_is_not_yet_known(client, auditor):
    build_test(cases=10, days_ago=5)
    client.force_login(auditor)
    response = client.get("/strategy-tests/")
    assert response.status_code == 200
    assert 'data-verdict="unknown"' in response.content.decode()
    assert response.context["tests"][0]["difference"] is None


def test_csv_and_xlsx_carry_the_same_table(client, supervisor):
    champion, challenger, cases, chosen_at = build_test(cases=10)
    client.force_login(supervisor)
    response = client.get("/strategy-tests.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, data = rows[0], rows[1:]
    assert header[:5] == ["Strategy", "Challenger", "Challenger share (%)", "Group", "Cases"]
    assert header[-1] == "Verdict" and "Cure rate at 30 days (%)" in header
    assert [r[:4] for r in data] == [["Gentle", "Firm", "50", "champion"], ["Gentle", "Firm", "50", "challenger"]]
    challengers = sum(group_slot(c.pk) < 50 for c in cases)
    assert [int(r[4]) for r in data] == [10 - challengers, challengers]
    xlsx = client.get("/strategy-tests.xlsx")
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_the_page_runs_a_fixed_number_of_queries(client, supervisor, django_assert_num_queries):
    build_test(cases=6)
    client.force_login(supervisor)
    client.get("/strategy-tests/")  # warm the session and caches
    # session, user, roles, then the page's three: the tests, the figures, the roll-forward
    with django_assert_num_queries(6) as small:
        client.get("/strategy-tests/")
    second = Strategy.objects.create(name="Second challenger", product=None)
    other = Strategy.objects.create(name="Other", product=None, challenger=second, challenger_share=20)
    StrategyRule.objects.create(position=0, strategy=other, band="E")
    more = [overdue_case(days_overdue=12) for _ in range(8)]
    Case.objects.filter(pk__in=[c.pk for c in more]).update(
        risk_band="E", p_cure="0.10", risk_model="scorecard-1", risk_scored_at=timezone.now()
    )
    strategies_choose()
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get("/strategy-tests/")
    assert len(response.context["tests"]) == 2


def test_a_collector_gets_404_and_no_link(client, collector, supervisor, auditor):
    client.force_login(collector)
    assert client.get("/strategy-tests/").status_code == 404
    assert client.get("/strategy-tests.csv").status_code == 404
    assert "/strategy-tests/" not in client.get("/worklist/").content.decode()
    for person in (supervisor, auditor):
        client.force_login(person)
        page = client.get("/dashboard/").content.decode()
        assert 'href="/strategy-tests/"' in page


def test_an_operator_without_a_challenger_sees_that_no_test_runs(client, supervisor):
    client.force_login(supervisor)
    response = client.get("/strategy-tests/")
    assert 'data-testid="no-tests"' in response.content.decode()


def test_roll_forward_compares_the_buckets_of_the_first_two_month_ends_after_the_choice(client, supervisor):
    from collections_app.models import Bucket, MonthEndSnapshot, StrategyChoice

    champion, challenger, cases, chosen_at = build_test(cases=10)
    m1_bucket, m2_bucket = list(Bucket.objects.order_by("min_dpd"))[1:3]
    first_end = StrategyChoice.objects.values_list("chosen_on", flat=True).first() + timedelta(days=1)
    next_end = first_end + timedelta(days=30)
    for case in cases:
        group = fresh(case).strategy_group
        MonthEndSnapshot.objects.create(
            month_end=first_end, case=case, state="call", dpd=10, bucket=m1_bucket.name, amount_overdue=1
        )
        if group == "champion":  # worse a month later; the challenger group's cases were no longer open
            MonthEndSnapshot.objects.create(
                month_end=next_end, case=case, state="visit", dpd=40, bucket=m2_bucket.name, amount_overdue=1
            )
    client.force_login(supervisor)
    figures = client.get("/strategy-tests/").context["tests"][0]["test"].groups
    assert figures["champion"].roll_forward[0] == 1.0
    assert figures["challenger"].roll_forward[0] == 0.0
