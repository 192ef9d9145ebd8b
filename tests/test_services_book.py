"""The loan book write path (services/book.py): borrowers and loans by external id, every validation
rule with its message, schedules that keep paid money, the case following the loan."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app import roles as r
from collections_app import services
from collections_app.actors import actor_for_client
from collections_app.calendar import lender_today
from collections_app.errors import DomainError
from collections_app.models import Borrower, BorrowerContact, Case, CaseEvent, Hold, Instalment, Loan
from collections_app.services.book.borrowers import borrower_upsert
from collections_app.services.book.loans import loan_upsert, loan_upsert_many

from .factories import BorrowerFactory, book_loan_data, loan_with_schedule, overdue_case
from .helpers import race

D = Decimal
LOANS = actor_for_client("loan-system", [r.SCOPE_LOANS_WRITE])
BANK = actor_for_client("bank-feed", [r.SCOPE_PAYMENTS_WRITE])


def refusal(fn, **kwargs):
    with pytest.raises(DomainError) as caught:
        fn(**kwargs)
    return caught.value


def writes_during(fn):
    """Run fn; return the SQL statements it ran that write."""
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [
        q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


BORROWER = {
    "name": "王小明",
    "national_id": "110101199003071234",
    "phones": ["138 1234-8000", "+8613900001111"],
    "email": "wxm@example.com",
    "address": "北京市朝阳区建国路1号",
    "city": "北京",
    "time_zone": "Asia/Shanghai",
    "language": "zh-hans",
    "consents": {"after_hours": False, "sms": True, "email": False},
    "holds": [],
    "contacts": [{"name": "王大明", "relation": "brother", "phone": "13700001111"}],
}


# --- borrowers --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_borrower_create_stores_the_contract_shape_with_normalised_phones():
    result = borrower_upsert(external_id="B1", data=BORROWER, actor=LOANS)

    assert result.status == "created"
    b = Borrower.objects.get(external_id="B1")
    assert (b.name, b.city, b.language, b.time_zone) == ("王小明", "北京", "zh-hans", "Asia/Shanghai")
    assert b.phones == ["13812348000", "+8613900001111"]
    assert (b.consent_after_hours, b.consent_sms, b.consent_email) == (False, True, False)
    assert list(b.contacts.values_list("name", "relation", "phone")) == [("王大明", "brother", "13700001111")]


@pytest.mark.django_db
def test_borrower_create_with_only_a_name_takes_the_defaults():
    b = borrower_upsert(external_id="B2", data={"name": "Ann Lee"}, actor=LOANS).obj
    assert (b.time_zone, b.language, b.consent_sms, b.consent_email, b.consent_after_hours) == (
        "Asia/Shanghai",
        "zh-hans",
        True,
        True,
        False,
    )


@pytest.mark.django_db
def test_borrower_create_needs_a_name():
    error = refusal(borrower_upsert, external_id="B3", data={"city": "上海"}, actor=LOANS)
    assert error.code == "validation_error" and error.fields == {"name": ["This field is required."]}
    assert not Borrower.objects.filter(external_id="B3").exists()


@pytest.mark.django_db
def test_borrower_same_data_again_is_unchanged_and_writes_nothing():
    borrower_upsert(external_id="B1", data=BORROWER, actor=LOANS)
    before = Borrower.objects.get(external_id="B1").updated_at
    holder = {}

    def again():
        holder["result"] = borrower_upsert(external_id="B1", data=BORROWER, actor=LOANS)

    assert writes_during(again) == []
    assert holder["result"].status == "unchanged"
    assert Borrower.objects.get(external_id="B1").updated_at == before


@pytest.mark.django_db
def test_borrower_update_changes_only_the_keys_sent_and_notes_field_names_on_open_cases():
    case = overdue_case(days_overdue=5)
    external_id = case.borrower.external_id
    city = case.borrower.city

    result = borrower_upsert(
        external_id=external_id, data={"consents": {"sms": False}, "email": "new@example.com"}, actor=LOANS
    )

    assert result.status == "updated"
    b = Borrower.objects.get(pk=case.borrower_id)
    assert (b.consent_sms, b.email, b.city) == (False, "new@example.com", city)
    event = CaseEvent.objects.get(case=case, kind="borrower_updated")
    assert event.payload == {"fields": ["consents.sms", "email"]}  # names only: the values are personal data
    assert event.actor == "client:loan-system"


@pytest.mark.django_db
def test_borrower_contacts_are_replaced_and_an_empty_list_clears_them():
    borrower_upsert(external_id="B1", data=BORROWER, actor=LOANS)
    borrower_upsert(external_id="B1", data={"contacts": [{"name": "李四", "phone": "13600002222"}]}, actor=LOANS)
    assert list(BorrowerContact.objects.values_list("name", "relation", "phone")) == [("李四", "", "13600002222")]
    assert borrower_upsert(external_id="B1", data={"contacts": []}, actor=LOANS).status == "updated"
    assert not BorrowerContact.objects.exists()


@pytest.mark.django_db
def test_borrower_holds_set_the_loan_systems_holds_only(supervisor):
    case = overdue_case(days_overdue=5)
    borrower = case.borrower
    services.hold_place(borrower_id=borrower.pk, code="complaint", actor=supervisor, reason="called the regulator")

    assert (
        borrower_upsert(external_id=borrower.external_id, data={"holds": ["dispute", "bankruptcy"]}, actor=LOANS).status
        == "updated"
    )
    active = set(Hold.objects.active().filter(borrower=borrower).values_list("code", "source"))
    assert active == {("complaint", "staff"), ("dispute", "loan_system"), ("bankruptcy", "loan_system")}
    assert CaseEvent.objects.filter(case=case, kind="hold_placed").count() == 3

    assert (
        borrower_upsert(external_id=borrower.external_id, data={"holds": ["dispute", "bankruptcy"]}, actor=LOANS).status
        == "unchanged"
    )
    borrower_upsert(external_id=borrower.external_id, data={"holds": []}, actor=LOANS)
    assert set(Hold.objects.active().filter(borrower=borrower).values_list("code", flat=True)) == {"complaint"}


BORROWER_RULES = [
    ({"name": ""}, "name", "This field is required."),
    ({"name": 12}, "name", "Enter text."),
    ({"name": "x" * 201}, "name", "At most 200 characters."),
    ({"name": "a\x00b"}, "name", "Contains characters that are not allowed."),
    ({"national_id": "1" * 33}, "national_id", "At most 32 characters."),
    ({"phones": "13812348000"}, "phones", "Send a list of phone numbers."),
    ({"phones": ["12ab"]}, "phones[0]", "Enter a phone number: 3 to 20 digits, optionally a leading +."),
    ({"phones": ["138", 5]}, "phones[1]", "Enter a phone number as text."),
    ({"phones": ["13812348000"] * 11}, "phones", "At most 10 phone numbers."),
    ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
    ({"address": "x" * 401}, "address", "At most 400 characters."),
    ({"city": "x" * 101}, "city", "At most 100 characters."),
    ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone: use an IANA name such as Asia/Shanghai."),
    ({"time_zone": 8}, "time_zone", "Unknown time zone: use an IANA name such as Asia/Shanghai."),
    ({"language": "fr"}, "language", "Must be one of: zh-hans, en."),
    ({"consents": True}, "consents", "Send an object."),
    ({"consents": {"sms": "maybe"}}, "consents.sms", "Must be true or false."),
    ({"consents": {"fax": True}}, "consents.fax", "Unknown field."),
    ({"holds": "dispute"}, "holds", "Send a list of hold codes (an empty list lifts the loan system's holds)."),
    (
        {"holds": ["dispute", "angry"]},
        "holds[1]",
        "Must be one of: dispute, complaint, cease_contact, bankruptcy, deceased.",
    ),
    ({"contacts": {"name": "x"}}, "contacts", "Send a list of contact persons."),
    ({"contacts": ["x"]}, "contacts[0]", "Send an object."),
    ({"contacts": [{"relation": "friend"}]}, "contacts[0].name", "This field is required."),
    (
        {"contacts": [{"name": "x", "phone": "call me"}]},
        "contacts[0].phone",
        "Enter a phone number: 3 to 20 digits, optionally a leading +.",
    ),
    ({"contacts": [{"name": "x", "age": 3}]}, "contacts[0].age", "Unknown field."),
    ({"contacts": [{"name": "x"}] * 21}, "contacts", "At most 20 contact persons."),
    ({"nickname": "x"}, "nickname", "Unknown field."),
    ({"external_id": "OTHER"}, "external_id", "Differs from the external id addressed."),
]


@pytest.mark.django_db
@pytest.mark.parametrize("data,field,message", BORROWER_RULES, ids=[f for _d, f, _m in BORROWER_RULES])
def test_borrower_validation_names_the_field_and_writes_nothing(data, field, message):
    error = refusal(borrower_upsert, external_id="B9", data={"name": "Ann Lee", **data}, actor=LOANS)
    assert error.code == "validation_error"
    assert error.fields == {field: [message]}
    assert not Borrower.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("external_id", ["", " B1", "x" * 65, 17, "B\x001"])
def test_borrower_external_id_must_be_1_to_64_plain_characters(external_id):
    error = refusal(borrower_upsert, external_id=external_id, data={"name": "Ann"}, actor=LOANS)
    assert list(error.fields) == ["external_id"]


@pytest.mark.django_db
def test_borrower_every_bad_field_is_named_at_once():
    error = refusal(
        borrower_upsert,
        external_id="B1",
        actor=LOANS,
        data={"name": "", "time_zone": "Nowhere", "language": "xx", "consents": {"sms": 3}, "phones": ["?"]},
    )
    assert set(error.fields) == {"name", "time_zone", "language", "consents.sms", "phones[0]"}


@pytest.mark.django_db
def test_borrower_a_body_that_is_not_an_object_is_refused():
    error = refusal(borrower_upsert, external_id="B1", data=["name"], actor=LOANS)
    assert error.fields == {"non_field_errors": ["Send an object."]}


@pytest.mark.django_db
def test_borrower_text_forms_of_booleans_and_null_defaults_are_accepted():
    b = borrower_upsert(
        external_id="B1",
        actor=LOANS,
        data={"name": "Ann", "consents": {"sms": "false", "after_hours": "1"}, "time_zone": None, "language": "EN"},
    ).obj
    assert (b.consent_sms, b.consent_after_hours, b.time_zone, b.language) == (False, True, "Asia/Shanghai", "en")


@pytest.mark.django_db
def test_writing_the_book_needs_loans_write_or_a_manager(collector, supervisor):
    assert refusal(borrower_upsert, external_id="B1", data={"name": "A"}, actor=BANK).code == "permission_denied"
    assert refusal(borrower_upsert, external_id="B1", data={"name": "A"}, actor=collector).code == "permission_denied"
    assert refusal(loan_upsert, external_id="L1", data={}, actor=collector).code == "permission_denied"
    assert borrower_upsert(external_id="B1", data={"name": "A"}, actor=supervisor).status == "created"
    assert borrower_upsert(external_id="B2", data={"name": "A"}).status == "created"  # the system (commands)


# --- loans ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loan_create_with_an_overdue_instalment_opens_its_case_as_of_today():
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=10)

    result = loan_upsert(external_id="L1", data=data, actor=LOANS)

    assert result.status == "created"
    loan = Loan.objects.get(external_id="L1")
    assert loan.instalments.count() == 3 and loan.principal == D("3000.00")
    case = Case.objects.get(loan=loan)
    assert (case.state, case.dpd(lender_today()), case.amount_overdue) == ("call", 10, D("1000.00"))
    opened = CaseEvent.objects.get(case=case, kind="opened")
    assert opened.actor == "client:loan-system" and opened.reason == "loan L1 created"


@pytest.mark.django_db
def test_loan_create_with_nothing_due_yet_opens_no_case():
    borrower = BorrowerFactory()
    loan_upsert(
        external_id="L1", data=book_loan_data(borrower=borrower.external_id, first_due_days_ago=-5), actor=LOANS
    )
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_loan_create_follows_the_as_of_date():
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=0)
    loan_upsert(external_id="L1", data=data, actor=LOANS, as_of=lender_today() + timedelta(days=3))
    assert Case.objects.get().oldest_unpaid_due_date == lender_today()


@pytest.mark.django_db
def test_loan_same_data_again_is_unchanged_and_writes_nothing():
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=10)
    loan_upsert(external_id="L1", data=data, actor=LOANS)
    before = Loan.objects.get().updated_at
    holder = {}

    def again():
        holder["status"] = loan_upsert(external_id="L1", data=data, actor=LOANS).status

    assert writes_during(again) == []
    assert holder["status"] == "unchanged"
    assert Loan.objects.get().updated_at == before


@pytest.mark.django_db
def test_loan_without_instalments_leaves_the_schedule_untouched():
    borrower = BorrowerFactory()
    loan_upsert(
        external_id="L1", data=book_loan_data(borrower=borrower.external_id, first_due_days_ago=10), actor=LOANS
    )
    result = loan_upsert(external_id="L1", data={"product": "auto", "principal": "3500"}, actor=LOANS)
    assert result.status == "updated"
    loan = Loan.objects.get()
    assert (loan.product, loan.principal, loan.instalments.count()) == ("auto", D("3500.00"), 3)
    event = CaseEvent.objects.get(kind="loan_updated")
    assert event.payload == {"fields": ["principal", "product"]}


@pytest.mark.django_db
def test_a_changed_schedule_keeps_paid_amounts_and_moves_the_case():
    loan = loan_with_schedule(days_overdue=40, instalments=3)  # #1 40 days ago, #2 10 days ago, #3 in 20 days
    case = services.case_open_for_loan(loan_id=loan.pk)
    services.payment_record(external_id="P1", loan=loan, amount="1500.00", paid_at=timezone.now(), actor=BANK)
    first_due = lender_today() - timedelta(days=40)
    schedule = [  # #1 unchanged (paid), #2 grows, #3 dropped (unpaid), #4 new
        {"number": 1, "due_date": first_due.isoformat(), "amount_due": "1000.00"},
        {"number": 2, "due_date": (first_due + timedelta(days=30)).isoformat(), "amount_due": "1200.00"},
        {"number": 4, "due_date": (first_due + timedelta(days=90)).isoformat(), "amount_due": "800.00"},
    ]

    result = loan_upsert(external_id=loan.external_id, data={"instalments": schedule}, actor=LOANS)

    assert result.status == "updated"
    rows = list(
        Instalment.objects.filter(loan=loan).order_by("number").values_list("number", "amount_due", "amount_paid")
    )
    assert rows == [(1, D("1000.00"), D("1000.00")), (2, D("1200.00"), D("500.00")), (4, D("800.00"), D("0.00"))]
    case.refresh_from_db()
    assert case.amount_overdue == D("700.00")
    event = CaseEvent.objects.get(case=case, kind="loan_updated")
    assert event.payload["instalments"] == {"added": [4], "changed": [2], "removed": [3]}
    assert CaseEvent.objects.filter(case=case, kind="amounts_changed", actor="client:loan-system").exists()


@pytest.mark.django_db
def test_a_schedule_that_moves_the_arrears_into_the_future_resolves_the_case():
    loan = loan_with_schedule(days_overdue=5, instalments=1)
    case = services.case_open_for_loan(loan_id=loan.pk)
    later = (lender_today() + timedelta(days=25)).isoformat()
    loan_upsert(
        external_id=loan.external_id,
        actor=LOANS,
        data={"instalments": [{"number": 1, "due_date": later, "amount_due": "1000.00"}]},
    )
    case.refresh_from_db()
    assert case.state == "resolved"


@pytest.mark.django_db
def test_a_schedule_may_not_shrink_an_instalment_below_what_was_paid_on_it():
    loan = loan_with_schedule(days_overdue=40, instalments=2)
    services.payment_record(external_id="P1", loan=loan, amount="1500.00", paid_at=timezone.now(), actor=BANK)
    due = [i.due_date.isoformat() for i in loan.instalments.order_by("number")]
    error = refusal(
        loan_upsert,
        external_id=loan.external_id,
        actor=LOANS,
        data={
            "instalments": [
                {"number": 1, "due_date": due[0], "amount_due": "1000.00"},
                {"number": 2, "due_date": due[1], "amount_due": "400.00"},
            ]
        },
    )
    assert error.fields == {"instalments[1].amount_due": ["Below the 500.00 already paid on this instalment."]}
    assert Instalment.objects.get(loan=loan, number=2).amount_due == D("1000.00")


@pytest.mark.django_db
def test_a_schedule_may_not_drop_an_instalment_with_money_paid_on_it():
    loan = loan_with_schedule(days_overdue=40, instalments=2)
    services.payment_record(external_id="P1", loan=loan, amount="300.00", paid_at=timezone.now(), actor=BANK)
    due = loan.instalments.get(number=2).due_date.isoformat()
    error = refusal(
        loan_upsert,
        external_id=loan.external_id,
        actor=LOANS,
        data={"instalments": [{"number": 2, "due_date": due, "amount_due": "1000.00"}]},
    )
    assert error.fields == {
        "instalments": ["Instalment 1 has 300.00 paid on it and cannot be removed from the schedule."]
    }
    assert loan.instalments.count() == 2


@pytest.mark.django_db
def test_a_loan_needs_an_existing_borrower_and_never_moves_to_another():
    error = refusal(loan_upsert, external_id="L1", actor=LOANS, data=book_loan_data(borrower="NOPE"))
    assert error.fields == {"borrower": ["No borrower with this external id."]}
    loan = loan_with_schedule(days_overdue=3)
    other = BorrowerFactory()
    error = refusal(loan_upsert, external_id=loan.external_id, actor=LOANS, data={"borrower": other.external_id})
    assert error.fields == {"borrower": ["A loan cannot move to another borrower."]}


@pytest.mark.django_db
def test_a_new_loan_needs_borrower_principal_and_disbursement_date():
    error = refusal(loan_upsert, external_id="L1", data={"product": "auto"}, actor=LOANS)
    assert error.fields == {k: ["This field is required."] for k in ("borrower", "principal", "disbursed_on")}


LOAN_RULES = [
    ({"principal": "0"}, "principal", "Must be greater than zero."),
    ({"principal": "-5"}, "principal", "Must not be negative."),
    ({"principal": "10.005"}, "principal", "Use at most two decimal places."),
    ({"principal": 10.5}, "principal", "Send amounts as strings or decimals, not floating point."),
    ({"principal": "ten"}, "principal", "Enter an amount such as 500.00."),
    ({"principal": "NaN"}, "principal", "Enter an amount such as 500.00."),
    ({"principal": True}, "principal", "Enter an amount such as 500.00."),
    ({"principal": "1e12"}, "principal", "Enter an amount such as 500.00."),
    ({"principal": "1000000000000"}, "principal", "Amount is too large."),
    ({"currency": "yuan"}, "currency", "Enter a three-letter ISO 4217 code such as CNY."),
    ({"product": ""}, "product", "This field is required."),
    ({"product": "p" * 65}, "product", "At most 64 characters."),
    ({"disbursed_on": "2026-02-30"}, "disbursed_on", "Enter a date as YYYY-MM-DD."),
    ({"disbursed_on": "01/02/2026"}, "disbursed_on", "Enter a date as YYYY-MM-DD."),
    ({"disbursed_on": 20260102}, "disbursed_on", "Enter a date as YYYY-MM-DD."),
    ({"disbursed_on": "1899-12-31"}, "disbursed_on", "Enter a date from 1900-01-01 to 2199-12-31."),
    ({"borrower": ""}, "borrower", "Enter 1 to 64 characters without surrounding spaces."),
    ({"instalments": {"number": 1}}, "instalments", "Send the full schedule as a list of instalments."),
    ({"instalments": [7]}, "instalments[0]", "Send an object."),
    (
        {"instalments": [{"number": 1, "due_date": "2026-01-01"}]},
        "instalments[0].amount_due",
        "This field is required.",
    ),
    (
        {"instalments": [{"number": 0, "due_date": "2026-01-01", "amount_due": "1"}]},
        "instalments[0].number",
        "Enter a whole number from 1 to 100000.",
    ),
    (
        {"instalments": [{"number": 1, "due_date": "2026-01-01", "amount_due": "-1"}]},
        "instalments[0].amount_due",
        "Must not be negative.",
    ),
    (
        {"instalments": [{"number": 1, "due_date": "2026-01-01", "amount_due": "1", "amount_paid": "1"}]},
        "instalments[0].amount_paid",
        "Unknown field.",
    ),
    (
        {
            "instalments": [
                {"number": 1, "due_date": "2026-01-01", "amount_due": "1"},
                {"number": 1, "due_date": "2026-02-01", "amount_due": "1"},
            ]
        },
        "instalments[1].number",
        "Instalment number 1 appears more than once.",
    ),
    (
        {"disbursed_on": "2026-01-15", "instalments": [{"number": 1, "due_date": "2026-01-01", "amount_due": "1"}]},
        "instalments[0].due_date",
        "Falls before the loan was disbursed (2026-01-15).",
    ),
    ({"interest": "5"}, "interest", "Unknown field."),
]


@pytest.mark.django_db
@pytest.mark.parametrize("data,field,message", LOAN_RULES, ids=[f"{f}-{m[:20]}" for _d, f, m in LOAN_RULES])
def test_loan_validation_names_the_field_and_writes_nothing(data, field, message):
    borrower = BorrowerFactory()
    base = {"borrower": borrower.external_id, "principal": "3000.00", "disbursed_on": "2025-12-01"}
    error = refusal(loan_upsert, external_id="L1", data={**base, **data}, actor=LOANS)
    assert error.code == "validation_error"
    assert error.fields == {field: [message]}
    assert not Loan.objects.exists() and not Instalment.objects.exists()


@pytest.mark.django_db
def test_loan_integers_decimals_and_lowercase_currency_are_accepted():
    borrower = BorrowerFactory()
    loan = loan_upsert(
        external_id="L1",
        actor=LOANS,
        data={
            "borrower": borrower.external_id,
            "principal": 3000,
            "currency": "usd",
            "disbursed_on": "2025-12-01",
            "instalments": [{"number": "1", "due_date": "2026-01-01", "amount_due": D("1000.50")}],
        },
    ).obj
    assert (loan.principal, loan.currency) == (D("3000.00"), "USD")
    assert loan.instalments.get().amount_due == D("1000.50")


@pytest.mark.django_db
def test_bulk_applies_each_loan_on_its_own_in_order():
    borrower = BorrowerFactory()
    good = book_loan_data(borrower=borrower.external_id, first_due_days_ago=3)
    loan_upsert(external_id="L-old", data=good, actor=LOANS)

    results = loan_upsert_many(
        actor=LOANS,
        items=[
            {"external_id": "L-new", **good},
            {"external_id": "L-bad", **good, "principal": "-1"},
            {"external_id": "L-old", **good},
            "not an object",
            {"principal": "1"},
        ],
    )

    assert [(x.external_id, x.status) for x in results] == [
        ("L-new", "created"),
        ("L-bad", "error"),
        ("L-old", "unchanged"),
        (None, "error"),
        (None, "error"),
    ]
    assert results[1].errors == {"principal": ["Must not be negative."]}
    assert results[3].errors == {"non_field_errors": ["Send an object."]}
    assert results[4].errors == {"external_id": ["This field is required."]}
    assert set(Loan.objects.values_list("external_id", flat=True)) == {"L-old", "L-new"}


# --- PostgreSQL: concurrency ------------------------------------------------------------------


@pytest.fixture
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_loan_both_succeed_as_create_and_update(_postgres_only, reference_data):
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=10)

    results = race(lambda i: loan_upsert(external_id="L1", data=data, actor=LOANS).status, threads=4)

    assert sorted(v for _k, v in results) == ["created", "unchanged", "unchanged", "unchanged"], results
    assert Loan.objects.count() == 1 and Instalment.objects.count() == 3
    assert Case.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_borrower_never_fail(_postgres_only, reference_data):
    results = race(
        lambda i: borrower_upsert(external_id="B1", data={"name": f"name {i}"}, actor=LOANS).status, threads=4
    )
    assert all(k == "ok" for k, _v in results), results
    assert sorted(v for _k, v in results)[0] == "created" and Borrower.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_schedule_changes_of_one_loan_do_not_interleave(_postgres_only, reference_data):
    loan = loan_with_schedule(days_overdue=10, instalments=3)
    first = loan.instalments.get(number=1).due_date

    def put(i):
        schedule = [
            {
                "number": n,
                "due_date": (first + timedelta(days=30 * (n - 1))).isoformat(),
                "amount_due": f"{100 * (i + 1)}.00",
            }
            for n in range(1, 4 + i)
        ]
        return loan_upsert(external_id=loan.external_id, data={"instalments": schedule}, actor=LOANS).status

    results = race(put, threads=3)

    assert all(k == "ok" for k, _v in results), results
    amounts = set(Instalment.objects.filter(loan=loan).values_list("amount_due", flat=True))
    count = Instalment.objects.filter(loan=loan).count()
    assert len(amounts) == 1  # one writer's whole schedule, never a mix
    assert count == 2 + int(amounts.pop() / 100)


def test_an_update_keeps_instalments_after_the_stored_disbursement(reference_data):
    """Whichever of the two dates an update brings, no instalment falls due before the loan was paid out."""
    from collections_app.errors import DomainError
    from collections_app.services.book import loans as book

    from .factories import BorrowerFactory

    BorrowerFactory(external_id="B-d")
    book.loan_upsert(
        external_id="L-d",
        data={
            "borrower": "B-d",
            "principal": "1000",
            "disbursed_on": "2026-03-01",
            "instalments": [{"number": 1, "due_date": "2026-04-01", "amount_due": "500"}],
        },
    )
    with pytest.raises(DomainError) as early:
        book.loan_upsert(
            external_id="L-d", data={"instalments": [{"number": 1, "due_date": "2026-02-01", "amount_due": "500"}]}
        )
    assert "instalments[0].due_date" in early.value.fields
    with pytest.raises(DomainError) as late:
        book.loan_upsert(external_id="L-d", data={"disbursed_on": "2026-05-01"})
    assert "disbursed_on" in late.value.fields
    with pytest.raises(DomainError) as odd:
        book.loan_upsert(
            external_id="L-d", data={"instalments": [{"number": "²", "due_date": "2026-04-01", "amount_due": "500"}]}
        )
    assert "instalments[0].number" in odd.value.fields
