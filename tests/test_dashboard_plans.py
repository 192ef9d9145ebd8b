"""The dashboard's repayment plans figure (docs/dashboard.md, "Repayment plans"): made, active, kept,
broken, kept rate by collector and by kind, forgiven, on a small hand-built portfolio; the page, its
CSVs and a fixed number of queries."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import PlanStatus, RepaymentPlan
from collections_app.selectors.dashboard import period as sel_period
from collections_app.selectors.dashboard import plans as sel_plans
from collections_app.selectors.dashboard.board import Dashboard
from collections_app.services import payment_record
from collections_app.services.plans import plan_cancel

from .factories import assigned_case, proposed_plan
from .test_dashboard import PAST, csv_url, page_table, plain, read_csv

pytestmark = pytest.mark.django_db

D = Decimal
URL = "/dashboard/"


def pay_all(case, plan, actor, ref):
    payment_record(external_id=ref, loan=case.loan, amount=plan.total, paid_at=timezone.now(), actor=actor)


def build_plans(collector, other_collector, supervisor, tag=""):
    """This month: A active (collector), B a settlement kept (supervisor, 300.00 forgiven), C a plan
    kept (collector), D broken (collector), E waiting (other_collector, 12 months), F cancelled."""
    made = {}
    case = assigned_case(to=collector, by=supervisor, instalments=6)
    made["A"] = proposed_plan(case, collector, 6)
    case = assigned_case(to=collector, by=supervisor, instalments=2)
    made["B"] = proposed_plan(case, supervisor, 2, kind="settlement", discount="300.00")
    pay_all(case, made["B"], supervisor, f"B-all{tag}")
    case = assigned_case(to=collector, by=supervisor, instalments=1)
    made["C"] = proposed_plan(case, collector, 2)
    pay_all(case, made["C"], supervisor, f"C-all{tag}")
    case = assigned_case(to=collector, by=supervisor, instalments=3)
    made["D"] = proposed_plan(case, collector, 3)
    # The sweep breaks plans; here by hand, as it would leave the row.
    RepaymentPlan.objects.filter(pk=made["D"].pk).update(status=PlanStatus.BROKEN, ended_at=timezone.now())
    case = assigned_case(to=other_collector, by=supervisor, instalments=12)
    made["E"] = proposed_plan(case, other_collector, 12)
    case = assigned_case(to=collector, by=supervisor, instalments=3)
    made["F"] = proposed_plan(case, supervisor, 3)
    plan_cancel(plan_id=made["F"].pk, actor=supervisor, reason="borrower changed mind")
    return {k: RepaymentPlan.objects.get(pk=p.pk) for k, p in made.items()}


def test_plans_made_active_kept_broken_and_forgiven(collector, other_collector, supervisor):
    made = build_plans(collector, other_collector, supervisor)
    assert made["B"].status == made["C"].status == PlanStatus.KEPT and made["E"].status == PlanStatus.PROPOSED
    p = sel_plans.plans(sel_period.Period.of(lender_today()))
    assert p["made"] == 6 and p["made_amount"] == sum((x.total for x in made.values()), D("0"))
    assert (p["active"], p["active_amount"]) == (1, made["A"].total)
    assert (p["kept"], p["kept_amount"]) == (2, made["B"].total + made["C"].total)
    assert (p["broken"], p["broken_amount"]) == (1, made["D"].total)
    assert p["kept_rate"] == D(2) / D(3)
    assert p["forgiven"] == D("300.00")


def test_kept_rate_by_collector_and_by_kind(collector, other_collector, supervisor):
    build_plans(collector, other_collector, supervisor)
    rows = sel_plans.plans_judged(sel_period.Period.of(lender_today()))
    by_collector = {r["collector"]: r for r in sel_plans.judged_by(rows, "collector")}
    assert set(by_collector) == {"collector", "supervisor"}  # E waits, F was cancelled: not judged
    assert (by_collector["collector"]["kept"], by_collector["collector"]["broken"]) == (1, 1)
    assert by_collector["collector"]["kept_rate"] == D("0.5")
    assert by_collector["supervisor"]["kept_rate"] == 1
    by_kind = {r["kind"]: r for r in sel_plans.judged_by(rows, "kind")}
    assert (by_kind["plan"]["kept"], by_kind["plan"]["broken"]) == (1, 1)
    assert (by_kind["settlement"]["kept"], by_kind["settlement"]["broken"]) == (1, 0)


def test_a_past_month_counts_what_happened_in_it_and_what_was_active_at_its_end(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, instalments=6)
    plan = proposed_plan(case, collector, 6)
    in_past = datetime.combine(PAST.first_day + timedelta(days=3), time(10), tzinfo=settings.LENDER_TIME_ZONE)
    RepaymentPlan.objects.filter(pk=plan.pk).update(created_at=in_past, decided_at=in_past)
    past = sel_plans.plans(PAST)
    assert (past["made"], past["active"], past["kept"]) == (1, 1, 0)
    now = sel_plans.plans(sel_period.Period.of(lender_today()))
    assert (now["made"], now["active"]) == (0, 1)  # still active: made long ago
    RepaymentPlan.objects.filter(pk=plan.pk).update(
        status=PlanStatus.KEPT, ended_at=in_past + timedelta(days=5)
    )  # kept within the past month: not active at its end
    past = sel_plans.plans(PAST)
    assert (past["active"], past["kept"], past["kept_rate"]) == (0, 1, 1)
    assert sel_plans.plans(sel_period.Period.of(lender_today()))["active"] == 0


def test_the_page_shows_the_plans_and_each_csv_agrees(client, collector, other_collector, supervisor):
    build_plans(collector, other_collector, supervisor)
    client.force_login(supervisor)
    page = client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="figure-plans"' in html and 'id="chart-plans-title"' in html
    for slug in ("plans", "plans-by-collector", "plans-by-kind"):
        header, rows = page_table(page, slug)
        lines = read_csv(client.get(csv_url(slug)))
        assert lines[0] == header, slug
        assert lines[1:] == [[plain(text) for text in row] for row in rows], slug
    _header, rows = page_table(page, "plans")
    assert rows[-1][-1] == "300.00"  # forgiven
    _header, rows = page_table(page, "plans-by-kind")
    assert rows[-1] == ["Total", "2", rows[-1][2], "1", rows[-1][4], "66.7%"]


def test_who_may_not_see_the_dashboard_gets_no_plan_figures(client, collector):
    client.force_login(collector)
    assert client.get(URL).status_code == 404
    assert client.get(csv_url("plans")).status_code in (403, 404)


def test_the_plan_figures_run_a_fixed_number_of_queries(
    client, collector, other_collector, supervisor, django_assert_num_queries
):
    client.force_login(supervisor)
    cache.clear()
    with django_assert_num_queries(2):
        board = Dashboard(sel_period.Period.of(lender_today()))
        board.table_plans(), board.table_plans_by_collector(), board.table_plans_by_kind()
    build_plans(collector, other_collector, supervisor, "-1")
    build_plans(collector, other_collector, supervisor, "-2")
    cache.clear()
    with django_assert_num_queries(2):  # the plans aggregate, the judged plans by proposer and kind
        board = Dashboard(sel_period.Period.of(lender_today()))
        board.figure_plans()
