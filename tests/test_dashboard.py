"""The portfolio dashboard: each figure on a small hand-built portfolio whose answer is worked out by
hand, the page (roles, month picker, charts, fixed query count) and its CSV downloads.

State is built through the services; month-end snapshots (the sweep's job on a month's last day)
and a broken promise (the sweep's job the day after its date) are written directly."""

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from collections_app import charts
from collections_app import roles as r
from collections_app.selectors.dashboard import activity as sel_activity
from collections_app.selectors.dashboard import period as sel_period
from collections_app.selectors.dashboard import portfolio as sel_portfolio
from collections_app.calendar import lender_today
from collections_app.models import Bucket, MonthEndSnapshot, PromiseToPay
from collections_app.services import (
    case_assign,
    case_transition,
    contact_log,
    payment_record,
    payment_reverse,
    promise_record,
)

from .factories import LoanFactory, UserFactory, fresh, overdue_case

pytestmark = pytest.mark.django_db

D = Decimal
PAST = sel_period.Period(date(2025, 11, 1))  # a month whose end (and the one before) are long past
URL = "/dashboard/"


def csv_url(table, month=None):
    url = reverse("collections:dashboard-csv", args=[table])
    return url + (f"?month={month}" if month else "")


def snapshot(month_end, case, bucket, amount, state="call", dpd=10):
    return MonthEndSnapshot.objects.create(
        month_end=month_end, case=case, state=state, dpd=dpd, bucket=bucket, amount_overdue=D(amount)
    )


def pay(case_or_loan, amount, *, actor, ref, at=None):
    loan = getattr(case_or_loan, "loan", case_or_loan)
    return payment_record(external_id=ref, loan=loan, amount=D(amount), paid_at=at or timezone.now(), actor=actor)


def read_csv(response):
    assert response.streaming
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark for Excel"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def page_table(response, slug):
    """A table of the page as the reader sees it: header and rows of cell text."""
    for figure in response.context["figures"]:
        for table in figure.tables:
            if table.slug == slug:
                rows = [[text for text, _num in row] for row in table.page_rows]
                if table.page_total:
                    rows.append([text for text, _num in table.page_total])
                return [str(c) for c in table.columns], rows
    raise AssertionError(f"no table {slug}")


def plain(text):
    """Page text to the CSV's plain form: no grouping, no percent sign, no dash for nothing."""
    text = text.replace(",", "").replace("%", "")
    return "" if text == "—" else text


def cell(rows, key, column):
    return next(row for row in rows if row["from_bucket"] == key[0] and row["to_bucket"] == key[1])[column]


# --- 1. Portfolio by bucket and stage --------------------------------------------------------------


def build_portfolio(supervisor):
    """reminder 1-7: 1 case 1000; call 8-30: 2 cases 2000; visit 31-60: 1 case 2000 (two instalments
    due); visit 91+: 1 case 4000 (four). Plus a resolved and a closed case, which are not open."""
    overdue_case(days_overdue=3)
    overdue_case(days_overdue=10)
    overdue_case(days_overdue=12)
    overdue_case(days_overdue=40)
    overdue_case(days_overdue=95, instalments=4)
    paid = overdue_case(days_overdue=10)
    pay(paid, "1000.00", actor=supervisor, ref="P-portfolio-paid")
    closed = overdue_case(days_overdue=10)
    case_transition(case_id=closed.pk, transition="close", actor=supervisor, reason="written_off")


def test_portfolio_counts_and_amounts_by_bucket_and_stage(supervisor):
    build_portfolio(supervisor)
    rows = sel_portfolio.portfolio_live(sel_portfolio.buckets(), lender_today())
    got = {(row["stage"], row["bucket"]): (row["cases"], row["amount"]) for row in rows if row["cases"]}
    assert got == {
        ("reminder", "1-7"): (1, D("1000.00")),
        ("call", "8-30"): (2, D("2000.00")),
        ("visit", "31-60"): (1, D("2000.00")),
        ("visit", "91+"): (1, D("4000.00")),
    }
    totals = sel_portfolio.portfolio_totals(rows)
    assert totals["total"] == {"cases": 5, "amount": D("9000.00")}
    assert totals["by_bucket"][sel_period.NO_BUCKET] == {"cases": 0, "amount": D("0.00")}


def test_portfolio_buckets_are_data(supervisor):
    build_portfolio(supervisor)
    Bucket.objects.all().delete()
    Bucket.objects.create(name="1-15", min_dpd=1, max_dpd=15)
    Bucket.objects.create(name="16+", min_dpd=16, max_dpd=None)
    rows = sel_portfolio.portfolio_live(sel_portfolio.buckets(), lender_today())
    totals = sel_portfolio.portfolio_totals(rows)["by_bucket"]
    assert totals["1-15"] == {"cases": 3, "amount": D("3000.00")}
    assert totals["16+"] == {"cases": 2, "amount": D("6000.00")}


def test_portfolio_counts_a_case_not_yet_past_due_and_a_gap_as_no_bucket(supervisor):
    overdue_case(days_overdue=10)  # 8-30
    overdue_case(days_overdue=20)
    Bucket.objects.filter(name="8-30").update(max_dpd=15)  # DPD 16-30 now falls in a gap
    rows = sel_portfolio.portfolio_live(sel_portfolio.buckets(), lender_today())
    totals = sel_portfolio.portfolio_totals(rows)["by_bucket"]
    assert totals["8-30"]["cases"] == 1
    assert totals[sel_period.NO_BUCKET] == {"cases": 1, "amount": D("1000.00")}


def test_past_month_portfolio_comes_from_its_month_end_snapshot(supervisor):
    a, b = overdue_case(days_overdue=10), overdue_case(days_overdue=40)
    snapshot(PAST.month_end, a, "8-30", "1000.00", state="call")
    snapshot(PAST.month_end, b, "31-60", "2500.50", state="visit")
    rows = sel_portfolio.portfolio_at_month_end(sel_portfolio.buckets(), PAST.month_end)
    got = {(row["stage"], row["bucket"]): (row["cases"], row["amount"]) for row in rows if row["cases"]}
    assert got == {("call", "8-30"): (1, D("1000.00")), ("visit", "31-60"): (1, D("2500.50"))}


# --- 2. Stage funnel and 7. cure rate --------------------------------------------------------------


def build_cure_portfolio(supervisor):
    """Four cases open at the start of this month (the snapshot of last month's end), 1000, 2000,
    3000 and 4000 overdue then: c1 is resolved (paid), c2 closed, c3 resolved then reopened by a
    reversal, c4 still open. c5 opened this month and is resolved: not in the base."""
    period = sel_period.Period.of(lender_today())
    cases = [overdue_case(days_overdue=10) for _ in range(5)]
    for case, amount in zip(cases[:4], ("1000.00", "2000.00", "3000.00", "4000.00")):
        snapshot(period.previous_month_end, case, "8-30", amount)
    c1, c2, c3, _c4, c5 = cases
    pay(c1, "1000.00", actor=supervisor, ref="P-c1")
    case_transition(case_id=c2.pk, transition="close", actor=supervisor, reason="settled")
    pay(c3, "1000.00", actor=supervisor, ref="P-c3")
    payment_reverse(external_id="P-c3", actor=supervisor, reason="bounced")
    pay(c5, "1000.00", actor=supervisor, ref="P-c5")
    assert [fresh(c).state for c in cases] == ["resolved", "closed", "call", "call", "resolved"]
    return period


def test_cure_rate_is_the_share_of_cases_open_at_the_start_that_are_resolved_at_the_end(supervisor):
    period = build_cure_portfolio(supervisor)
    cure = sel_portfolio.cure_rate(period)
    assert cure == {
        "open_at_start": 4,
        "amount_at_start": D("10000.00"),
        "cured": 1,
        "cured_amount": D("1000.00"),
        "rate": D("0.25"),
        "rate_amount": D("0.1"),
    }


def test_cure_rate_of_a_past_month_reads_the_state_at_that_months_end(supervisor):
    """Resolved now, after November 2025 ended: not cured in November 2025."""
    period = build_cure_portfolio(supervisor)
    for row in MonthEndSnapshot.objects.filter(month_end=period.previous_month_end):
        snapshot(PAST.previous_month_end, row.case, row.bucket, row.amount_overdue)
    cure = sel_portfolio.cure_rate(PAST)
    assert (cure["open_at_start"], cure["cured"], cure["rate"]) == (4, 0, D("0"))


def test_funnel_counts_open_cases_per_stage_and_cases_resolved_and_closed_in_the_period(supervisor):
    build_cure_portfolio(supervisor)  # resolved: c1, c3 (then reopened), c5; closed: c2
    overdue_case(days_overdue=3)
    overdue_case(days_overdue=40)
    period = sel_period.Period.of(lender_today())
    finished = sel_portfolio.cases_finished(period)
    assert finished == {"resolved": 3, "closed": 1}
    funnel = sel_portfolio.stage_funnel(sel_portfolio.portfolio_live(sel_portfolio.buckets(), lender_today()), finished)
    assert funnel == [
        {"step": "reminder", "cases": 1},
        {"step": "call", "cases": 2},
        {"step": "visit", "cases": 1},
        {"step": "legal", "cases": 0},
        {"step": "resolved", "cases": 3},
        {"step": "closed", "cases": 1},
    ]
    assert sel_portfolio.cases_finished(PAST) == {"resolved": 0, "closed": 0}


# --- 3. Roll rates ---------------------------------------------------------------------------------


def build_roll(month=PAST):
    """End of October 2025: four cases in 8-30 (1000, 2000, 3000, 4000) and one in 31-60 (500).
    End of November: c1 rolled to 31-60 (1500 by then), c2 gone (cured/closed), c3 and c4 still in
    8-30, c5 rolled to 61-90; c6 is new in November (no row in the matrix)."""
    cases = [overdue_case(days_overdue=10) for _ in range(6)]
    c1, c2, c3, c4, c5, c6 = cases
    start, end = month.previous_month_end, month.month_end
    for case, amount in zip((c1, c2, c3, c4), ("1000.00", "2000.00", "3000.00", "4000.00")):
        snapshot(start, case, "8-30", amount)
    snapshot(start, c5, "31-60", "500.00", state="visit", dpd=40)
    snapshot(end, c1, "31-60", "1500.00", state="visit", dpd=40)
    snapshot(end, c3, "8-30", "3100.00")
    snapshot(end, c4, "8-30", "4100.00")
    snapshot(end, c5, "61-90", "800.00", state="visit", dpd=70)
    snapshot(end, c6, "1-7", "100.00", state="reminder", dpd=3)
    return cases


def test_roll_rates_by_count_and_by_amount():
    build_roll()
    rows = sel_portfolio.roll_rates(PAST, sel_portfolio.buckets())
    assert cell(rows, ("8-30", "31-60"), "share_cases") == D("0.25")
    assert cell(rows, ("8-30", "31-60"), "share_amount") == D("0.1")  # 1000 of 10000
    assert cell(rows, ("8-30", "31-60"), "amount_end") == D("1500.00")
    assert cell(rows, ("8-30", "8-30"), "share_cases") == D("0.5")
    assert cell(rows, ("8-30", "8-30"), "share_amount") == D("0.7")
    assert cell(rows, ("8-30", sel_period.CURED), "share_cases") == D("0.25")
    assert cell(rows, ("8-30", sel_period.CURED), "share_amount") == D("0.2")
    assert cell(rows, ("8-30", "1-7"), "cases") == 0
    assert cell(rows, ("31-60", "61-90"), "share_cases") == D("1")
    assert {row["from_bucket"] for row in rows} == {"8-30", "31-60"}  # c6 was not there at the start
    for source in ("8-30", "31-60"):  # each row sums to 100% both ways
        mine = [row for row in rows if row["from_bucket"] == source]
        assert sum(row["share_cases"] for row in mine) == 1
        assert sum(row["share_amount"] for row in mine) == 1


def test_roll_rates_page_shows_the_matrix_and_the_csv_the_same_numbers(client, supervisor):
    build_roll()
    client.force_login(supervisor)
    response = client.get(URL, {"month": PAST.key})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-roll-cases-title"' in html and "Roll rates by number of cases" in html
    header, rows = page_table(response, "roll-rates")
    assert ["8-30", "31-60", "1", "25.0%", "1,000.00", "10.0%", "1,500.00"] in rows
    assert ["8-30", "Cured/closed", "1", "25.0%", "2,000.00", "20.0%", "0.00"] in rows
    lines = read_csv(client.get(csv_url("roll-rates", PAST.key)))
    assert lines[0] == header
    assert lines[1:] == [[plain(text) for text in row] for row in rows]


def test_roll_rates_say_when_a_snapshot_is_missing(client, supervisor):
    build_roll()
    client.force_login(supervisor)
    december = "2025-12"  # the end-of-November snapshot exists, the end-of-December one does not
    response = client.get(URL, {"month": december})
    assert response.status_code == 200
    assert "There is no month-end snapshot for 2025-12-31" in response.content.decode()
    response = client.get(URL, {"month": "2025-09"})  # neither end of August nor of September
    assert "There is no month-end snapshot for 2025-08-31" in response.content.decode()
    response = client.get(URL)  # this month's end has not come yet
    assert "is not written yet" in response.content.decode()


# --- 4. Promises -----------------------------------------------------------------------------------


def test_promises_made_kept_broken_and_the_kept_rate(supervisor):
    today = lender_today()
    cases = [overdue_case(days_overdue=10) for _ in range(4)]
    promises = [
        promise_record(case_id=c.pk, actor=supervisor, amount=amount, due_date=today)
        for c, amount in zip(cases, ("100.00", "200.00", "300.00", "400.00"))
    ]
    pay(cases[0], "100.00", actor=supervisor, ref="P-keeps-promise")  # keeps the first
    # The sweep breaks a promise the day after its date; here two are marked broken directly.
    PromiseToPay.objects.filter(pk__in=[promises[1].pk, promises[3].pk]).update(status=PromiseToPay.Status.BROKEN)
    result = sel_activity.promises(sel_period.Period.of(today))
    assert result == {
        "made": 4,
        "made_amount": D("1000.00"),
        "due": 4,
        "due_amount": D("1000.00"),
        "kept": 1,
        "kept_amount": D("100.00"),
        "broken": 2,
        "broken_amount": D("600.00"),
        "pending": 1,
        "pending_amount": D("300.00"),
        "kept_rate": D(1) / D(3),
    }
    assert charts.percent(result["kept_rate"]) == "33.3%"
    assert sel_activity.promises(PAST)["made"] == 0


def test_kept_rate_counts_promises_due_in_the_period_not_those_made_in_it(supervisor):
    today = lender_today()
    period = sel_period.Period.of(today)
    case = overdue_case(days_overdue=10)
    promise = promise_record(case_id=case.pk, actor=supervisor, amount="100.00", due_date=today)
    # Made last month, due last month, broken: not this month's kept rate.
    earlier = period.start - timedelta(days=3)
    PromiseToPay.objects.filter(pk=promise.pk).update(
        created_at=earlier, due_date=period.previous_month_end, status=PromiseToPay.Status.BROKEN
    )
    assert sel_activity.promises(period)["kept_rate"] is None
    assert sel_activity.promises(sel_period.Period.of(period.previous_month_end))["kept_rate"] == 0


# --- 5. Collected ----------------------------------------------------------------------------------


def build_collections(supervisor, collector, other_collector):
    """Case X: 100 paid before anyone held it, then assigned to `collector` (300 paid), then
    reassigned to `other_collector` (500 paid, then 50 paid and reversed). Case Y held by
    `collector`: 200 paid. A loan without a case: 999 paid (not collections' money)."""
    x = overdue_case(days_overdue=40)  # 2000 overdue
    pay(x, "100.00", actor=supervisor, ref="P-x-0")
    case_assign(case_ids=[x.pk], actor=supervisor, assignee=collector)
    pay(x, "300.00", actor=supervisor, ref="P-x-1")
    case_assign(case_ids=[x.pk], actor=supervisor, assignee=other_collector)
    pay(x, "500.00", actor=supervisor, ref="P-x-2")
    pay(x, "50.00", actor=supervisor, ref="P-x-3")
    payment_reverse(external_id="P-x-3", actor=supervisor, reason="bounced")
    y = overdue_case(days_overdue=40)
    case_assign(case_ids=[y.pk], actor=supervisor, assignee=collector)
    pay(y, "200.00", actor=supervisor, ref="P-y-1")
    pay(LoanFactory(), "999.00", actor=supervisor, ref="P-no-case")
    return x, y


def test_collected_per_collector_follows_the_reassignment(supervisor, collector, other_collector):
    build_collections(supervisor, collector, other_collector)
    period = sel_period.Period.of(lender_today())
    rows = sel_activity.collected(period)
    assert sel_activity.collected_by_collector(rows) == [
        {"collector": "collector", "payments": 2, "amount": D("500.00")},
        {"collector": "collector2", "payments": 1, "amount": D("500.00")},
        {"collector": "", "payments": 1, "amount": D("100.00")},
    ]
    weeks = sel_activity.collected_by_week(rows, period)
    assert sum(w["amount"] for w in weeks) == D("1100.00")
    this_week = lender_today() - timedelta(days=lender_today().weekday())
    assert [w for w in weeks if w["amount"]] == [
        {
            "week": this_week,
            "first_day": max(this_week, period.first_day),
            "last_day": min(this_week + timedelta(days=6), period.last_day),
            "payments": 4,
            "amount": D("1100.00"),
        }
    ]
    assert [w["week"] for w in weeks] == [m for m, _f, _l in sel_activity.weeks_of(period)]
    assert sel_activity.collected(PAST) == []


def test_collected_uses_the_holder_at_the_moment_of_payment_not_today(supervisor, collector, other_collector):
    """A payment recorded late (paid before the reassignment) stays with the former holder."""
    case = overdue_case(days_overdue=40)
    case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)
    paid_while_collector_held_it = timezone.now()
    case_assign(case_ids=[case.pk], actor=supervisor, assignee=other_collector)
    pay(case, "250.00", actor=supervisor, ref="P-late", at=paid_while_collector_held_it)
    pay(case, "70.00", actor=supervisor, ref="P-now")
    rows = sel_activity.collected_by_collector(sel_activity.collected(sel_period.Period.of(lender_today())))
    assert rows == [
        {"collector": "collector", "payments": 1, "amount": D("250.00")},
        {"collector": "collector2", "payments": 1, "amount": D("70.00")},
    ]


def test_collected_csv_has_a_header_and_the_page_numbers_in_utf8_with_bom(client, supervisor, other_collector):
    zhang = UserFactory(username="张三", roles=[r.COLLECTOR])
    build_collections(supervisor, zhang, other_collector)
    client.force_login(supervisor)
    page = client.get(URL)
    for slug in ("collected-by-collector", "collected-by-week"):
        header, rows = page_table(page, slug)
        response = client.get(csv_url(slug))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f"dashboard-{slug}-" in response["Content-Disposition"]
        lines = read_csv(response)
        assert lines[0] == header
        assert lines[1:] == [[plain(text) for text in row] for row in rows]
    lines = read_csv(client.get(csv_url("collected-by-collector")))
    assert lines == [
        ["Collector", "Payments", "Amount collected"],
        ["collector2", "1", "500.00"],
        ["张三", "2", "500.00"],
        ["Unassigned", "1", "100.00"],
        ["Total", "4", "1100.00"],
    ]


def test_csv_quotes_a_name_a_spreadsheet_would_run_as_a_formula(client, supervisor):
    evil = UserFactory(username="@SUM", roles=[r.COLLECTOR])
    case = overdue_case(days_overdue=10)
    case_assign(case_ids=[case.pk], actor=supervisor, assignee=evil)
    pay(case, "10.00", actor=supervisor, ref="P-evil")
    client.force_login(supervisor)
    lines = read_csv(client.get(csv_url("collected-by-collector")))
    assert lines[1] == ["'@SUM", "1", "10.00"]


def test_the_page_renders_in_chinese(client, supervisor):
    overdue_case(days_overdue=10)
    client.force_login(supervisor)
    client.cookies["django_language"] = "zh-hans"
    response = client.get(URL)
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in response.content.decode()
    lines = read_csv(client.get(csv_url("portfolio")))
    assert lines[-1][0] and lines[-1][-2:] == ["1", "1000.00"]


# --- 6. Contact rate -------------------------------------------------------------------------------


def test_contact_rate_is_cases_with_a_right_party_contact_over_cases_worked(supervisor):
    a, b, c, untouched = (overdue_case(days_overdue=10) for _ in range(4))
    log = dict(actor=supervisor, channel="call")
    contact_log(case_id=a.pk, outcome="no_answer", **log)
    contact_log(case_id=a.pk, outcome="right_party_contact", **log)
    contact_log(case_id=a.pk, outcome="promise_made", **log)  # a second conversation: still one case
    contact_log(case_id=b.pk, outcome="no_answer", **log)
    contact_log(case_id=c.pk, outcome="third_party", **log)  # someone else picked up: not right-party
    period = sel_period.Period.of(lender_today())
    last_month = period.start - timedelta(hours=1)
    contact_log(case_id=untouched.pk, outcome="right_party_contact", occurred_at=last_month, **log)
    assert sel_activity.contact_rate(period) == {"worked": 3, "right_party": 1, "rate": D(1) / D(3)}
    assert sel_activity.contact_rate(sel_period.Period.of(period.previous_month_end)) == {
        "worked": 1,
        "right_party": 1,
        "rate": D(1),
    }
    assert sel_activity.contact_rate(PAST) == {"worked": 0, "right_party": 0, "rate": None}


# --- The page --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["collector", "field_agent", "legal_officer"])
def test_the_dashboard_is_not_there_for_other_roles(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(URL).status_code == 404
    assert client.get(csv_url("portfolio")).status_code == 404


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin_user", "superuser"])
def test_supervisors_auditors_and_admins_see_the_dashboard(client, request, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get(URL)
    assert response.status_code == 200
    assert client.get(csv_url("portfolio")).status_code == 200


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "month, message",
    [
        ("2025-13", "Enter a month as YYYY-MM"),
        ("November", "Enter a month as YYYY-MM"),
        ("2025-1", "Enter a month as YYYY-MM"),
        ("1999-12", "Choose a month from 2000-01 on."),
        ("2999-01", "has not started yet"),
    ],
)
def test_the_month_picker_refuses_a_bad_month_with_a_message(client, supervisor, month, message):
    client.force_login(supervisor)
    response = client.get(URL, {"month": month})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'data-testid="month-error"' in html
    response = client.get(csv_url("promises", month))
    assert response.status_code == 400 and message in response.content.decode()


def test_unknown_csv_table_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get(csv_url("nothing")).status_code == 404


def test_every_table_downloads_with_a_header_row_matching_the_page(client, supervisor, collector, other_collector):
    build_roll()
    build_collections(supervisor, collector, other_collector)
    client.force_login(supervisor)
    for month in (None, PAST.key):
        page = client.get(URL, {"month": month} if month else {})
        for slug in (
            "portfolio",
            "funnel",
            "roll-rates",
            "promises",
            "collected-by-collector",
            "collected-by-week",
            "contact-rate",
            "cure-rate",
        ):
            header, rows = page_table(page, slug)
            lines = read_csv(client.get(csv_url(slug, month)))
            assert lines[0] == header, slug
            assert lines[1:] == [[plain(text) for text in row] for row in rows], slug
            assert f'href="{csv_url(slug, page.context["period"].key)}"'.replace("&", "&amp;") in page.content.decode()


def test_every_figure_is_an_accessible_svg_chart_without_script(client, supervisor, collector, other_collector):
    build_portfolio(supervisor)
    build_collections(supervisor, collector, other_collector)
    client.force_login(supervisor)
    html = client.get(URL).content.decode()
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) >= 7
    for svg in svgs:
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
        assert "<script" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert "Open cases by bucket and stage" in html
    assert "Amount collected per collector" in html
    assert "4,000.00" in html  # the 91+ visit case's amount, on its bar and in the table


def count_queries(client, django_assert_num_queries, n, month=None):
    with django_assert_num_queries(n):
        response = client.get(URL, {"month": month} if month else {})
    assert response.status_code == 200
    return response


# session, user, the user's groups; then buckets, snapshot presence, portfolio, resolved/closed,
# [roll matrix,] promises, collected, contacts, [cure rate], plans, plans judged by proposer and kind;
# the latest risk scoring run (issue 12: "a failed nightly scoring ... says so on the dashboard")
PAGE_QUERIES_PAST_MONTH = 15  # both snapshots there: every figure
PAGE_QUERIES_CURRENT_MONTH = 13  # no snapshot of last month's end (no cure rate), none of this month's yet


def test_the_page_runs_a_fixed_number_of_queries(
    client, supervisor, collector, other_collector, django_assert_num_queries
):
    build_roll()
    period = sel_period.Period.of(lender_today())
    client.force_login(supervisor)
    count_queries(client, django_assert_num_queries, PAGE_QUERIES_PAST_MONTH, PAST.key)
    count_queries(client, django_assert_num_queries, PAGE_QUERIES_CURRENT_MONTH)
    # Ten times more of everything: the same number of queries.
    build_portfolio(supervisor)
    build_collections(supervisor, collector, other_collector)
    for i in range(10):
        case = overdue_case(days_overdue=10 + i)
        snapshot(period.previous_month_end, case, "8-30", "100.00")
        snapshot(PAST.previous_month_end, case, "8-30", "100.00")
        snapshot(PAST.month_end, case, "31-60", "100.00")
        contact_log(case_id=case.pk, actor=supervisor, channel="call", outcome="right_party_contact")
        promise_record(case_id=case.pk, actor=supervisor, amount="10.00", due_date=lender_today())
    cache.clear()  # the figures read above are kept for minutes: count them computed afresh
    count_queries(client, django_assert_num_queries, PAGE_QUERIES_PAST_MONTH, PAST.key)
    count_queries(client, django_assert_num_queries, PAGE_QUERIES_CURRENT_MONTH + 1)  # now with a cure rate


def test_the_figures_are_kept_a_few_minutes_and_the_page_says_since_when(
    client, supervisor, settings, django_assert_num_queries
):
    def portfolio_table(response):
        html = response.content.decode()
        start = html.index('data-testid="table-portfolio"')
        return html[start : html.index("</table>", start)]

    overdue_case(days_overdue=12)
    client.force_login(supervisor)
    first = client.get("/dashboard/")
    assert first.status_code == 200 and b'data-testid="computed-at"' in first.content
    overdue_case(days_overdue=40)  # a new case: not in the kept figures yet
    # session, user, groups and the latest risk scoring run (one indexed row, not kept: a failed
    # scoring shows at once): the figures come from the cache
    with django_assert_num_queries(4):
        again = client.get("/dashboard/")
    assert portfolio_table(again) == portfolio_table(first)

    from collections_app.tasks.dashboard import dashboard_warm_task

    cache.clear()  # the kept figures expire ...
    dashboard_warm_task()  # ... and beat's job computes them again before anyone asks
    with django_assert_num_queries(4):  # so the next view still runs no aggregate
        fresh = client.get("/dashboard/")
    assert portfolio_table(fresh) != portfolio_table(first)  # and the new case counts now

    settings.COLLECTIONS_DASHBOARD_CACHE_SECONDS = 0
    assert b'data-testid="computed-at"' not in client.get("/dashboard/").content


def test_a_csv_runs_only_its_own_queries(client, supervisor, django_assert_num_queries):
    client.force_login(supervisor)
    with django_assert_num_queries(5):  # session, user, groups, the audit row of the export, the promises aggregate
        read_csv(client.get(csv_url("promises")))


# --- Pieces ----------------------------------------------------------------------------------------


def test_period_is_a_month_in_the_lenders_calendar(settings):
    period = sel_period.period_for("2025-02", today=date(2026, 5, 10))
    assert (period.first_day, period.last_day, period.previous_month_end) == (
        date(2025, 2, 1),
        date(2025, 2, 28),
        date(2025, 1, 31),
    )
    assert period.start.isoformat() == "2025-02-01T00:00:00+08:00"
    assert period.end.isoformat() == "2025-03-01T00:00:00+08:00"
    assert sel_period.period_for("", today=date(2026, 5, 10)).key == "2026-05"
    assert sel_period.period_for("2025-12", today=date(2026, 1, 3)).next.key == "2026-01"


def test_charts_escape_labels_and_label_their_axes():
    svg = charts.bar_chart(
        [("<b>x</b>", 3), ("y", 1)], title="T & t", value_label="Cases", category_label="Who", chart_id="c1"
    )
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert '<title id="c1-title">T &amp; t</title>' in svg
    assert ">Cases</text>" in svg and ">Who</text>" in svg
    empty = charts.bar_chart([], title="T", value_label="V", category_label="C")
    assert "No data for this period." in empty
    assert charts.percent(D("0.3335")) == "33.4%" and charts.percent(None) == "—"


def test_beat_keeps_the_current_month_warm_more_often_than_the_figures_expire(settings):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="collections_app.tasks.dashboard_warm_task")
    assert task.enabled and task.interval.every * {"seconds": 1, "minutes": 60}[task.interval.period] < (
        settings.COLLECTIONS_DASHBOARD_CACHE_SECONDS
    )
