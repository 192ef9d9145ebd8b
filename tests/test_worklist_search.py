"""Worklist search never unmasks a name (issue 9, point 3): a name term matches the names only as the
searcher sees them, masked, so a full-name guess finds the same cases as any other name with the same
masked form. Loan numbers and the last four digits of a phone search as before."""

import re

import pytest
from django.urls import reverse

from collections_app.selectors.worklist import WorklistFilters, case_worklist_page

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(collector, supervisor):
    def make(name, phone="13800000000"):
        return assigned_case(
            to=collector, by=supervisor, days_overdue=9, borrower=BorrowerFactory(name=name, phones=[phone])
        )

    return {name: make(name) for name in ("王小明", "王大明", "王明", "李小明", "John Smith", "Jan Smart")}


def found(collector, term):
    rows, _cursor = case_worklist_page(collector, WorklistFilters(search=term))
    return {c.borrower.name for c in rows}


def test_a_full_name_guess_does_not_distinguish(collector, cases):
    right, wrong = found(collector, "王小明"), found(collector, "王大明")
    assert right == wrong == {"王小明", "王大明"}  # what the list shows for both: 王**
    assert found(collector, "王**") == right
    assert found(collector, "John Smith") == found(collector, "Jxxx Sxxxx") == {"John Smith"}
    assert found(collector, "J*** S****") == {"John Smith"}


def test_one_character_finds_the_names_starting_with_it(collector, cases):
    assert found(collector, "王") == {"王小明", "王大明", "王明"}
    assert found(collector, "j") == {"John Smith", "Jan Smart"}


def test_loan_numbers_and_phone_digits_search_as_before(collector, supervisor, cases):
    case = cases["李小明"]
    assert found(collector, case.loan.external_id) == {"李小明"}
    other = assigned_case(
        to=collector, by=supervisor, days_overdue=9, borrower=BorrowerFactory(name="赵六", phones=["13912345678"])
    )
    assert found(collector, "5678") == {other.borrower.name}


def test_the_worklist_page_answers_the_same_for_right_and_wrong_guesses(client, collector, cases):
    client.force_login(collector)
    url = reverse("collections:worklist")

    def case_ids(term):
        return sorted(re.findall(r'href="/cases/(\d+)/"', client.get(url, {"q": term}).content.decode()))

    assert case_ids("王小明") == case_ids("王大明") != []
