"""The worklist page (issue 9, point 22): how many cases match, sorting on request with keyset
paging, a search box that shows its whole placeholder, and the visit-recording warning's data."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app.selectors import worklist as worklist_reads
from collections_app.selectors.worklist import WorklistFilters, case_worklist_count, case_worklist_page

from .factories import assigned_case

pytestmark = pytest.mark.django_db

URL = "/worklist/"


@pytest.fixture
def five(collector, supervisor):
    """Five cases of the collector with distinct DPD and amounts (amount grows as DPD shrinks)."""
    return [
        assigned_case(to=collector, by=supervisor, days_overdue=days, amount=Decimal(amount))
        for days, amount in ((9, "100.00"), (20, "50.00"), (3, "300.00"), (15, "80.00"), (12, "90.00"))
    ]


def _ids(body):
    return [int(pk) for pk in re.findall(r'href="/cases/(\d+)/"', body)]


# --- How many match -------------------------------------------------------------------------------


def test_the_worklist_says_how_many_cases_match_its_filters(client, collector, five):
    client.force_login(collector)
    body = client.get(URL).content.decode()
    assert re.search(r'data-testid="match-count">5 cases match<', body)
    body = client.get(URL, {"stage": "reminder"}).content.decode()  # only the 3-day case
    assert re.search(r'data-testid="match-count">1 case matches<', body)


def test_the_count_stops_at_the_cap_and_says_plus(client, collector, five, monkeypatch):
    monkeypatch.setattr(worklist_reads, "WORKLIST_COUNT_CAP", 3)
    client.force_login(collector)
    body = client.get(URL).content.decode()
    assert re.search(r'data-testid="match-count">3\+ cases match<', body)


def test_the_count_is_a_limited_count_never_over_the_whole_portfolio(collector, five):
    with CaptureQueriesContext(connection) as queries:
        assert case_worklist_count(collector, WorklistFilters()) == (5, False)
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 1001" in counts[0].upper()
    assert case_worklist_count(collector, WorklistFilters(), cap=2) == (2, True)


def test_the_thousands_are_grouped_in_the_count(client, collector, five, monkeypatch):
    monkeypatch.setattr(worklist_reads, "case_worklist_count", lambda *a, **k: (1000, True))
    from collections_app.web import desk

    monkeypatch.setattr(desk, "case_worklist_count", lambda *a, **k: (1000, True))
    client.force_login(collector)
    assert "1,000+ cases match" in client.get(URL).content.decode()


def test_worklist_page_query_count_with_the_count(client, collector, supervisor, django_assert_max_num_queries):
    """The pin of test_views_cases (8) plus the one limited count query."""
    for _ in range(12):
        assigned_case(to=collector, by=supervisor, days_overdue=9)
    client.force_login(collector)
    with django_assert_max_num_queries(9):
        response = client.get(URL, {"sort": "-amount"})
    assert response.status_code == 200
    assert len(_ids(response.content.decode())) == 12


# --- Sorting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort, key, reverse_",
    [
        ("-dpd", lambda c: c.oldest_unpaid_due_date, False),
        ("dpd", lambda c: c.oldest_unpaid_due_date, True),
        ("amount", lambda c: c.amount_overdue, False),
        ("-amount", lambda c: c.amount_overdue, True),
    ],
)
def test_the_worklist_sorts_by_a_column_on_request(client, collector, five, sort, key, reverse_):
    client.force_login(collector)
    expected = [c.pk for c in sorted(five, key=key, reverse=reverse_)]
    assert _ids(client.get(URL, {"sort": sort}).content.decode()) == expected


@pytest.mark.parametrize("sort", ["-dpd", "dpd", "amount", "-amount", "next_action", "-next_action"])
def test_a_sorted_worklist_pages_by_keyset_through_every_case_once(collector, supervisor, five, sort):
    # Ties (same amount, same due date, no next action) must page by id too.
    five += [assigned_case(to=collector, by=supervisor, days_overdue=9, amount=Decimal("100.00")) for _ in range(3)]
    five[0].next_action_at = timezone.now() + timedelta(hours=1)
    five[0].save(update_fields=["next_action_at"])
    filters = WorklistFilters(sort=sort)
    everything, _ = case_worklist_page(collector, filters, limit=100)
    seen, after = [], None
    while True:
        rows, after = case_worklist_page(collector, filters, after=after, limit=2)
        seen += [c.pk for c in rows]
        if after is None:
            break
        after = worklist_reads.worklist_cursor_decode(after.encode(), sort)  # through its text, as the page does
    assert seen == [c.pk for c in everything]
    assert sorted(seen) == sorted(c.pk for c in five)


def test_sort_headers_link_to_the_sorted_first_page_keeping_the_filters(client, collector, five):
    client.force_login(collector)
    body = client.get(URL, {"stage": "call", "sort": "-amount", "after": "x|y|1"}).content.decode()
    assert 'href="?stage=call&amp;sort=amount"' in body  # clicked again: the other way
    assert 'aria-sort="descending"' in body
    assert 'href="?stage=call&amp;sort=-dpd"' in body


def test_the_next_page_link_keeps_the_sort(client, collector, five, monkeypatch):
    original = worklist_reads.case_worklist_page
    from collections_app.web import desk

    monkeypatch.setattr(desk, "case_worklist_page", lambda *a, **k: original(*a, **{**k, "limit": 2}))
    client.force_login(collector)
    body = client.get(URL, {"sort": "-amount"}).content.decode()
    next_url = re.search(r'href="(\?[^"]*after=[^"]*)" data-shortcut="j"', body).group(1).replace("&amp;", "&")
    second = client.get(URL + next_url).content.decode()
    expected = [c.pk for c in sorted(five, key=lambda c: c.amount_overdue, reverse=True)]
    assert _ids(second) == expected[2:4]


def test_an_unknown_sort_is_refused_not_passed_to_the_database(client, collector, five):
    client.force_login(collector)
    response = client.get(URL, {"sort": "borrower__national_id"})
    assert response.status_code == 400
    assert "cannot be sorted that way" in response.content.decode()


def test_a_cursor_of_another_order_is_refused(client, collector, five):
    client.force_login(collector)
    body = client.get(URL, {"sort": "amount", "after": "0||5"}).content.decode()
    assert 'role="alert"' in body


def test_the_export_follows_the_sort(client, collector, five):
    from .test_exports import read_csv, url

    client.force_login(collector)
    rows = read_csv(client.get(url("export-worklist", "csv"), {"sort": "amount"}))
    expected = [c.pk for c in sorted(five, key=lambda c: c.amount_overdue)]
    assert [int(r[0]) for r in rows[1:]] == expected


# --- The search box -------------------------------------------------------------------------------


def test_the_search_box_is_sized_to_its_placeholder(client, collector):
    client.force_login(collector)
    body = client.get(URL).content.decode()
    field = re.search(r'<input id="id_q"[^>]*>', body).group(0)
    placeholder = re.search(r'placeholder="([^"]*)"', field).group(1)
    size = int(re.search(r'size="(\d+)"', field).group(1))
    assert size >= len(placeholder.replace("&#x27;", "'"))


def test_the_search_box_counts_wide_characters_twice(monkeypatch):
    from collections_app.web.cases.forms import WorklistFilterForm

    form = WorklistFilterForm()
    form.fields["q"].help_text = "姓名、贷款编号或电话号码后四位"
    assert form.search_size >= 2 * len("姓名、贷款编号或电话号码后四位")


def test_the_visits_page_gives_the_browser_what_it_needs_to_warn(client, supervisor, field_agent, field_agent2):
    from collections_app import services

    from .factories import BorrowerFactory, overdue_case

    case = overdue_case(days_overdue=40, borrower=BorrowerFactory(time_zone="America/New_York"))
    when = timezone.now() + timedelta(hours=2)
    services.visit_schedule(case_id=case.pk, actor=supervisor, scheduled_for=when, agents=[field_agent, field_agent2])
    client.force_login(field_agent)
    body = client.get("/visits/").content.decode()
    assert "data-visit-warning" in body
    assert f'data-scheduled-for="{when.isoformat()}"' in body
    assert 'data-time-zone="America/New_York"' in body
    assert 'data-window-start="08:00" data-window-end="22:00"' in body
    assert 'data-after-hours="0"' in body
