"""One table of tricky values through every door (issue 10, point 2): the API (payment, promise,
contact), the loan-book upsert, a file import row and a page form take or refuse each value alike,
with the same words (collections_app/values.py is the only parser). One documented difference: a
time without an offset is refused by the API and read in a zone by the import (the lender's) and
the page forms (the current one)."""

import csv
import io
import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app import values
from collections_app.actors import actor_for_client
from collections_app.errors import DomainError
from collections_app.web.cases.forms import ContactForm, PromiseForm
from collections_app.models import Loan, Payment
from collections_app.roles import SCOPE_LOANS_WRITE
from collections_app.services.book.loans import loan_upsert
from collections_app.services.files.imports import import_file

from .factories import BorrowerFactory, loan_with_schedule, overdue_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets, the default strategy and templates (tests/conftest.py)."""


AMOUNT = "Enter an amount such as 500.00."
ASCII = "Use the digits 0-9 only."
DECIMALS = "Use at most two decimal places."
NEGATIVE = "Must not be negative."
ZERO = "Must be greater than zero."
FLOAT = "Send amounts as strings or decimals, not floating point."
TOO_LARGE = "Amount is too large."
DATE = "Enter a date as YYYY-MM-DD."
YEARS = "Enter a date from 1900-01-01 to 2199-12-31."
MOMENT = "Enter a date and time such as 2026-11-02T10:30:00+08:00."
OFFSET = "The UTC offset must be between -15:59 and +15:59."
NEEDS_OFFSET = "Give the time with its offset (for example +08:00)."

# (value, expected): a Decimal taken, or the message of the refusal. A JSON value (not a str) goes
# only through the doors that take JSON or Python values (API, loan book).
MONEY = [
    ("1e3", AMOUNT),
    ("1E3", AMOUNT),
    ("ten", AMOUNT),
    ("1,000", AMOUNT),
    ("1 000", AMOUNT),
    (" 12.5 ", Decimal("12.50")),
    ("12.345", DECIMALS),
    ("-1", NEGATIVE),
    ("+5", AMOUNT),
    ("0", ZERO),
    ("0.00", ZERO),
    ("١٢٣", ASCII),
    ("１２３", ASCII),
    ("NaN", AMOUNT),
    ("Infinity", AMOUNT),
    ("-Infinity", AMOUNT),
    ("12.", AMOUNT),
    (".5", AMOUNT),
    ("0x10", AMOUNT),
    ("1000000000000", TOO_LARGE),
    ("01000.5", Decimal("1000.50")),
    ("100", Decimal("100.00")),
    ("0.01", Decimal("0.01")),
    (1e3, FLOAT),
    (12.5, FLOAT),
    (1000, Decimal("1000.00")),
    (True, AMOUNT),
    (-5, NEGATIVE),
]
# SOON is replaced by a day three days ahead (a promise may not be in the past).
DAYS = [
    ("2026-02-30", DATE),
    ("0001-01-01", YEARS),
    ("2200-01-01", YEARS),
    ("1899-12-31", YEARS),
    ("31/01/2026", DATE),
    ("2026-W01-1", DATE),
    ("20260105", DATE),
    ("２０２６-01-05", ASCII),
    ("tomorrow", DATE),
    ("2026-01-05T00:00:00", DATE),
    (" SOON ", "SOON"),
]
_at = datetime.fromisoformat
MOMENTS = [
    ("2026-01-05T10:00:00+08:00", _at("2026-01-05T02:00:00+00:00")),
    (" 2026-01-05T10:00Z ", _at("2026-01-05T10:00:00+00:00")),
    ("2026-01-05T10:00+16:00", OFFSET),
    ("2026-01-05T10:00-16:00", OFFSET),
    ("2026-01-05T10:00+15:59", _at("2026-01-04T18:01:00+00:00")),
    ("0001-01-01T10:00:00+08:00", YEARS),
    ("1899-12-31T10:00:00+00:00", YEARS),
    ("2026-02-30T10:00:00+08:00", MOMENT),
    ("yesterday", MOMENT),
    ("2026-01-05", MOMENT),
    ("２０２６-01-05T10:00:00+08:00", ASCII),
    ("2026-01-05T10:00", "naive"),
    ("0001-01-01T10:00", YEARS),
]


def _csv(*cells):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def _import(tmp_path, kind, header, *cells):
    path = tmp_path / f"{kind}.csv"
    path.write_text(",".join(header) + "\n" + _csv(*cells), encoding="utf-8")
    result = import_file(path, kind, follow_cases="none", report_path=Path(tmp_path) / "report.csv")
    with open(result.report_path, encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["level"] == "error"]
    return rows


def _refusal(expected):
    return isinstance(expected, str) and expected not in ("naive", "SOON")


# --- money ---------------------------------------------------------------------------------------


@pytest.fixture
def money_doors(api, tmp_path, settings):
    """Each door as a function of the raw value: returns the Decimal taken or the messages refused."""
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    loan = loan_with_schedule(days_overdue=10)
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write", "payments:write")
    borrower = BorrowerFactory()
    due = (timezone.localdate() + timezone.timedelta(days=3)).isoformat()
    counter = iter(range(10_000))

    def api_payment(value):
        external_id = f"P{next(counter)}"
        response = caller.post(
            "/api/v1/payments/",
            {
                "external_id": external_id,
                "loan": loan.external_id,
                "amount": value,
                "paid_at": "2026-01-05T10:00:00+08:00",
            },
        )
        if response.status_code == 201:
            return Payment.objects.get(external_id=external_id).amount
        assert response.status_code == 400, response.content
        return response.json()["fields"]["amount"]

    def api_promise(value):
        response = caller.post(f"/api/v1/cases/{case.pk}/promises/", {"amount": value, "due_date": due})
        if response.status_code == 201:
            case.promises.all().delete()
            return Decimal(response.json()["amount"])
        assert response.status_code == 400, response.content
        return response.json()["fields"]["amount"]

    def book(value):
        external_id = f"L{next(counter)}"
        try:
            loan_upsert(
                external_id=external_id,
                actor=actor_for_client("core", [SCOPE_LOANS_WRITE]),
                data={
                    "borrower": borrower.external_id,
                    "product": "consumer",
                    "principal": value,
                    "currency": "CNY",
                    "disbursed_on": "2026-01-05",
                },
            )
        except DomainError as error:
            return error.fields["principal"]
        return Loan.objects.get(external_id=external_id).principal

    def file_row(value):
        external_id = f"F{next(counter)}"
        refused = _import(
            tmp_path,
            "payments",
            ("external_id", "loan", "amount", "paid_at"),
            external_id,
            loan.external_id,
            value,
            "2026-01-05T10:00:00+08:00",
        )
        if not refused:
            return Payment.objects.get(external_id=external_id).amount
        return [r["reason"] for r in refused if r["column"] == "amount"]

    def page_form(value):
        form = PromiseForm(data={"amount": value, "due_date": due})
        if form.is_valid():
            return form.cleaned_data["amount"]
        return form.errors["amount"]

    return {
        "api_payment": api_payment,
        "api_promise": api_promise,
        "book": book,
        "file_row": file_row,
        "page_form": page_form,
    }


@pytest.mark.parametrize("value,expected", MONEY, ids=[repr(v) for v, _e in MONEY])
def test_an_amount_is_taken_or_refused_alike_at_every_door(money_doors, value, expected):
    for door, send in money_doors.items():
        if not isinstance(value, str) and door in ("file_row", "page_form"):
            continue  # a file cell and a form field are always text
        got = send(value)
        if _refusal(expected):
            assert list(got) == [expected], (door, value, got)
        else:
            assert got == expected, (door, value, got)


def test_a_json_number_with_an_exponent_is_a_float_and_refused(api):
    loan = loan_with_schedule(days_overdue=10)
    body = (
        '{"external_id": "P-E", "loan": "%s", "amount": 1e3, "paid_at": "2026-01-05T10:00:00+08:00"}' % loan.external_id
    )
    response = api("payments:write").post("/api/v1/payments/", body)
    assert response.status_code == 400
    assert response.json()["fields"] == {"amount": [FLOAT]}
    assert json.loads(body)["amount"] == 1000.0


# --- days ----------------------------------------------------------------------------------------


@pytest.fixture
def day_doors(api, tmp_path, settings):
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write")
    borrower = BorrowerFactory()
    counter = iter(range(10_000))

    def api_promise(value):
        response = caller.post(f"/api/v1/cases/{case.pk}/promises/", {"amount": "10.00", "due_date": value})
        if response.status_code == 201:
            case.promises.all().delete()
            return response.json()["due_date"]
        assert response.status_code == 400, response.content
        return response.json()["fields"]["due_date"]

    def book(value):
        external_id = f"L{next(counter)}"
        try:
            loan_upsert(
                external_id=external_id,
                actor=actor_for_client("core", [SCOPE_LOANS_WRITE]),
                data={
                    "borrower": borrower.external_id,
                    "product": "consumer",
                    "principal": "100",
                    "currency": "CNY",
                    "disbursed_on": value,
                },
            )
        except DomainError as error:
            return error.fields["disbursed_on"]
        return Loan.objects.get(external_id=external_id).disbursed_on.isoformat()

    def file_row(value):
        external_id = f"F{next(counter)}"
        refused = _import(
            tmp_path,
            "loans",
            ("external_id", "borrower", "product", "principal", "currency", "disbursed_on"),
            external_id,
            borrower.external_id,
            "consumer",
            "100",
            "CNY",
            value,
        )
        if not refused:
            return Loan.objects.get(external_id=external_id).disbursed_on.isoformat()
        return [r["reason"] for r in refused if r["column"] == "disbursed_on"]

    def page_form(value):
        form = PromiseForm(data={"amount": "10.00", "due_date": value})
        if form.is_valid():
            return form.cleaned_data["due_date"].isoformat()
        return form.errors["due_date"]

    return {"api_promise": api_promise, "book": book, "file_row": file_row, "page_form": page_form}


@pytest.mark.parametrize("value,expected", DAYS, ids=[v for v, _e in DAYS])
def test_a_day_is_taken_or_refused_alike_at_every_door(day_doors, value, expected):
    soon = (timezone.localdate() + timezone.timedelta(days=3)).isoformat()
    value = value.replace("SOON", soon)
    for door, send in day_doors.items():
        got = send(value)
        if _refusal(expected):
            assert list(got) == [expected], (door, value, got)
        else:
            assert got == soon, (door, value, got)


# --- moments -------------------------------------------------------------------------------------


@pytest.fixture
def moment_doors(api, tmp_path, settings):
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    loan = loan_with_schedule(days_overdue=10)
    case = overdue_case(days_overdue=10)
    caller = api("cases:read", "cases:write", "payments:write")
    counter = iter(range(10_000))

    def api_payment(value):
        external_id = f"P{next(counter)}"
        response = caller.post(
            "/api/v1/payments/",
            {"external_id": external_id, "loan": loan.external_id, "amount": "1.00", "paid_at": value},
        )
        if response.status_code == 201:
            return Payment.objects.get(external_id=external_id).paid_at
        assert response.status_code == 400, response.content
        return response.json()["fields"]["paid_at"]

    def api_contact(value):
        response = caller.post(
            f"/api/v1/cases/{case.pk}/contacts/", {"channel": "call", "outcome": "no_answer", "occurred_at": value}
        )
        if response.status_code == 201:
            return case.contacts.get(pk=response.json()["id"]).occurred_at
        assert response.status_code == 400, response.content
        return response.json()["fields"]["occurred_at"]

    def file_row(value):
        external_id = f"F{next(counter)}"
        refused = _import(
            tmp_path,
            "payments",
            ("external_id", "loan", "amount", "paid_at"),
            external_id,
            loan.external_id,
            "1.00",
            value,
        )
        if not refused:
            return Payment.objects.get(external_id=external_id).paid_at
        return [r["reason"] for r in refused if r["column"] == "paid_at"]

    def page_form(value):
        form = ContactForm(
            data={"channel": "call", "direction": "outbound", "outcome": "no_answer", "occurred_at": value}
        )
        if form.is_valid():
            return form.cleaned_data["occurred_at"]
        return form.errors["occurred_at"]

    return {"api_payment": api_payment, "api_contact": api_contact, "file_row": file_row, "page_form": page_form}


@pytest.mark.parametrize("value,expected", MOMENTS, ids=[v for v, _e in MOMENTS])
def test_a_moment_is_taken_or_refused_alike_at_every_door(moment_doors, value, expected, settings):
    for door, send in moment_doors.items():
        got = send(value)
        if expected == "naive":  # the one difference: only the API insists on an offset
            if door.startswith("api"):
                assert list(got) == [NEEDS_OFFSET], (door, value, got)
            else:
                zone = settings.LENDER_TIME_ZONE if door == "file_row" else ZoneInfo(settings.TIME_ZONE)
                assert got == datetime(2026, 1, 5, 10, 0, tzinfo=zone), (door, value, got)
        elif _refusal(expected):
            assert list(got) == [expected], (door, value, got)
        else:
            assert got == expected, (door, value, got)


# --- the parsers themselves ----------------------------------------------------------------------


def test_every_refusal_is_one_bad_value_with_a_message_and_no_field_name():
    for parser, value in (
        (values.money, "ten"),
        (values.day, "2026-02-30"),
        (values.moment, "yesterday"),
        (values.phone, "12"),
        (values.text, ""),
        (values.choice, "x"),
    ):
        kwargs = {"choices": [("a", "A")]} if parser is values.choice else {}
        with pytest.raises(values.BadValue) as caught:
            parser(value, **kwargs)
        assert caught.value.message and ":" not in caught.value.message.split(" ")[0]


# --- the import looks up the rows' loans once per chunk, not once per row ------------------------


def test_a_payments_import_looks_up_its_loans_once_per_chunk(tmp_path, settings):
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    loan = loan_with_schedule(days_overdue=10)

    def queries_for(rows, known_every=2):
        path = tmp_path / f"p{rows}-{known_every}.csv"
        lines = "".join(
            _csv(
                f"X{rows}-{known_every}-{i}",
                loan.external_id if known_every == 2 and i % 2 else "NOPE",
                "1.00",
                "2026-01-05T10:00:00+08:00",
            )
            for i in range(rows)
        )
        path.write_text("external_id,loan,amount,paid_at\n" + lines, encoding="utf-8")
        with CaptureQueriesContext(connection) as ctx:
            import_file(path, "payments", follow_cases="none", report_path=tmp_path / f"r{rows}.csv")
        # Each row runs in its own savepoint (a refused row writes nothing): those are not look-ups.
        return [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]

    # Rows naming unknown loans cost no query each: one look-up for the chunk, then nothing.
    unknown_two, unknown_six = (
        queries_for(2, known_every=rows_never_known),
        queries_for(6, known_every=rows_never_known),
    )
    assert len(unknown_two) == len(unknown_six) == 1, unknown_six
    assert '"external_id" IN (' in unknown_six[0] and "collections_app_loan" in unknown_six[0]
    # Half known: still one look-up of the chunk's loans, and no exists() per row.
    four = queries_for(4)
    assert len([sql for sql in four if sql.startswith('SELECT "collections_app_loan"."external_id"')]) == 1
    assert not [sql for sql in four if sql.startswith("SELECT 1 AS") and "collections_app_loan" in sql]


rows_never_known = 10**9  # every row names the unknown loan


@pytest.mark.parametrize(
    "due,amount,column,expected",
    [
        ("2026-01-31", "１２３", "amount_due", ASCII),
        ("2026-01-31", "1e3", "amount_due", AMOUNT),
        ("2026-01-31", "1,000", "amount_due", AMOUNT),
        ("2026-01-31", "12.345", "amount_due", DECIMALS),
        ("2026-01-31", "-1", "amount_due", NEGATIVE),
        ("0001-01-01", "10", "due_date", YEARS),
        ("2200-01-01", "10", "due_date", YEARS),
        ("２０２６-01-31", "10", "due_date", ASCII),
        ("2026-02-30", "10", "due_date", DATE),
    ],
)
def test_an_instalments_file_refuses_alike_on_both_paths(tmp_path, settings, due, amount, column, expected):
    """The instalments import checks cells in SQL on PostgreSQL and in Python elsewhere: same words."""
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    loan = loan_with_schedule(days_overdue=10)
    refused = _import(
        tmp_path, "instalments", ("loan", "number", "due_date", "amount_due"), loan.external_id, "9", due, amount
    )
    assert [(r["column"], r["reason"]) for r in refused] == [(column, expected)]


@pytest.mark.parametrize(
    "value,expected",
    [m for m in MOMENTS if _refusal(m[1]) or m[1] == "naive"],
    ids=[m[0] for m in MOMENTS if _refusal(m[1]) or m[1] == "naive"],
)
def test_the_case_feed_filter_reads_times_by_the_same_rule(api, value, expected):
    response = api("cases:read").get("/api/v1/cases/", data={"updated_after": value})
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {"updated_after": [NEEDS_OFFSET if expected == "naive" else expected]}
