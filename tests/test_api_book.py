"""The loan book endpoints as a lender's loan system uses them: PUT/GET borrowers and loans, the
bulk loans endpoint, scopes, masking and its audit, and the case following the loan."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import AuditLog, Borrower, Case, Instalment, Loan

from .factories import BorrowerFactory, book_borrower_data, book_loan_data, loan_with_schedule

# Transactional like tests/test_api_cases.py: every service call commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

# Queries of one GET, pinned: the token and its last-used stamp, then the rows (borrower: itself,
# active holds, contacts, and the audit row when unmasked; loan: itself with its borrower,
# instalments, case).
BORROWER_GET_QUERIES = 5
BORROWER_GET_PII_QUERIES = 6
LOAN_GET_QUERIES = 5


@pytest.fixture(autouse=True)
def _reference(reference_data):
    """Roles, buckets and the default strategy survive earlier flushes (tests/conftest.py)."""


@pytest.fixture
def lender(api):
    """The lender's loan system: it writes the book and reads the cases that follow from it."""
    return api("loans:write", "cases:read", name="loan-system")


# --- borrowers --------------------------------------------------------------------------------


def test_put_borrower_creates_201_then_answers_200_unchanged(lender):
    data = book_borrower_data()
    first = lender.put("/api/v1/borrowers/B1/", data)
    assert first.status_code == 201, first.json()
    assert first["X-Upsert-Status"] == "created"
    again = lender.put("/api/v1/borrowers/B1/", data)
    assert again.status_code == 200 and again["X-Upsert-Status"] == "unchanged"
    changed = lender.put("/api/v1/borrowers/B1/", {"city": "上海"})
    assert changed.status_code == 200 and changed["X-Upsert-Status"] == "updated"
    assert changed.json()["city"] == "上海"


def test_borrower_answers_are_masked_without_pii_read_and_nothing_is_audited(lender, api):
    lender.put("/api/v1/borrowers/B1/", book_borrower_data(holds=["dispute"]))

    body = api("cases:read", name="bi").get("/api/v1/borrowers/B1/").json()

    assert body["external_id"] == "B1"
    assert body["name"] == "王**"
    assert body["national_id"] == "1101**********1234"
    assert body["phones"] == ["138****8000"]
    assert body["email"] == "w***@example.com"
    assert body["address"] == "北京市****"
    assert body["contacts"] == [{"name": "王**", "relation": "brother", "phone": "137****1111"}]
    assert body["city"] == "北京" and body["time_zone"] == "Asia/Shanghai" and body["language"] == "zh-hans"
    assert body["consents"] == {"after_hours": False, "sms": True, "email": True}
    [hold] = body["holds"]
    assert (hold["code"], hold["source"], hold["ends_at"]) == ("dispute", "loan_system", None)
    assert hold["starts_at"].endswith("+08:00")
    assert not AuditLog.objects.exists()


def test_an_unmasked_borrower_read_is_written_to_the_audit_log(api):
    writer = api("loans:write", "pii:read", name="loan-system")
    put = writer.put("/api/v1/borrowers/B1/", book_borrower_data())
    assert put.json()["name"] == "王小明"

    body = writer.get("/api/v1/borrowers/B1/").json()

    assert body["name"] == "王小明" and body["phones"] == ["13812348000"]
    assert body["contacts"][0]["phone"] == "13700001111"
    rows = list(AuditLog.objects.order_by("id").values_list("actor", "action", "reason", "fields"))
    fields = ["name", "national_id", "phones", "email", "address", "contacts"]
    assert rows == [
        ("client:loan-system", "reveal", "api borrower upsert", fields),
        ("client:loan-system", "reveal", "api borrower read", fields),
    ]
    assert set(AuditLog.objects.values_list("borrower__external_id", flat=True)) == {"B1"}


def test_a_bad_borrower_is_400_naming_every_field_and_nothing_is_written(lender):
    response = lender.put(
        "/api/v1/borrowers/B1/",
        {"name": "", "time_zone": "Mars/Base", "language": "fr", "consents": {"sms": "perhaps"}, "phones": ["x"]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["fields"] == {
        "name": ["This field is required."],
        "time_zone": ["Unknown time zone: use an IANA name such as Asia/Shanghai."],
        "language": ["Must be one of: zh-hans, en."],
        "consents.sms": ["Must be true or false."],
        "phones[0]": ["Enter a phone number: 3 to 20 digits, optionally a leading +."],
    }
    assert not Borrower.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "7", "null"])
def test_a_body_that_is_not_an_object_is_400(lender, body):
    response = lender.put("/api/v1/borrowers/B1/", body)
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


def test_malformed_json_and_nul_bytes_are_400_not_500(lender):
    assert lender.put("/api/v1/borrowers/B1/", "{not json").status_code == 400
    response = lender.put("/api/v1/borrowers/B1/", {"name": "a\u0000b", "city": "x" * 100000})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"name", "city"}
    assert lender.get("/api/v1/borrowers/B%001/").status_code == 404


def test_get_an_unknown_borrower_or_loan_is_404(lender):
    for path in ("/api/v1/borrowers/NOPE/", "/api/v1/loans/NOPE/", f"/api/v1/loans/{'x' * 65}/"):
        response = lender.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_get_borrower_runs_a_fixed_number_of_queries(lender, api, django_assert_num_queries):
    lender.put("/api/v1/borrowers/B1/", book_borrower_data(holds=["dispute", "complaint"]))
    reader, revealer = api("cases:read", name="bi"), api("cases:read", "pii:read", name="bi2")
    with django_assert_num_queries(BORROWER_GET_QUERIES):
        assert reader.get("/api/v1/borrowers/B1/").status_code == 200
    with django_assert_num_queries(BORROWER_GET_PII_QUERIES):
        assert revealer.get("/api/v1/borrowers/B1/").status_code == 200


# --- loans ------------------------------------------------------------------------------------


def test_put_loan_opens_its_case_as_of_today_and_a_payment_resolves_it(lender, api):
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=12)

    created = lender.put("/api/v1/loans/L1/", data)

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["amount_overdue"] == "1000.00" and body["principal"] == "3000.00"
    assert body["case"]["state"] == "call"
    assert [i["amount_paid"] for i in body["instalments"]] == ["0.00", "0.00", "0.00"]
    case = Case.objects.get(loan__external_id="L1")
    assert case.dpd(lender_today()) == 12

    paid = api("payments:write", "cases:read", name="bank").post(
        "/api/v1/payments/",
        {"external_id": "P1", "loan": "L1", "amount": "1000.00", "paid_at": timezone.now().isoformat()},
    )
    assert paid.status_code == 201, paid.json()

    after = lender.get("/api/v1/loans/L1/").json()
    assert after["case"] == {"id": case.pk, "state": "resolved"}
    assert after["amount_overdue"] == "0.00"
    # A client that writes the book but may not see cases is not told about them.
    assert api("loans:write", name="book-only").get("/api/v1/loans/L1/").json()["case"] is None
    assert after["instalments"][0]["amount_paid"] == "1000.00"


def test_put_loan_again_is_unchanged_and_without_instalments_keeps_the_schedule(lender):
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=12)
    lender.put("/api/v1/loans/L1/", data)
    stamp = Loan.objects.get().updated_at

    again = lender.put("/api/v1/loans/L1/", data)
    assert again.status_code == 200 and again["X-Upsert-Status"] == "unchanged"
    assert Loan.objects.get().updated_at == stamp

    data.pop("instalments")
    data["product"] = "auto"
    response = lender.put("/api/v1/loans/L1/", data)
    assert response["X-Upsert-Status"] == "updated" and len(response.json()["instalments"]) == 3


def test_a_changed_schedule_keeps_what_was_paid(lender, api):
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=40)
    lender.put("/api/v1/loans/L1/", data)
    api("payments:write", "cases:read", name="bank").post(
        "/api/v1/payments/",
        {"external_id": "P1", "loan": "L1", "amount": "1200.00", "paid_at": timezone.now().isoformat()},
    )

    data["instalments"][1]["amount_due"] = "900.00"
    data["instalments"][2]["due_date"] = (lender_today() + timedelta(days=60)).isoformat()
    body = lender.put("/api/v1/loans/L1/", data).json()

    assert [(i["amount_due"], i["amount_paid"]) for i in body["instalments"]] == [
        ("1000.00", "1000.00"),
        ("900.00", "200.00"),
        ("1000.00", "0.00"),
    ]
    assert body["amount_overdue"] == "700.00"

    data["instalments"][1]["amount_due"] = "100.00"
    refused = lender.put("/api/v1/loans/L1/", data)
    assert refused.status_code == 400
    assert refused.json()["fields"] == {
        "instalments[1].amount_due": ["Below the 200.00 already paid on this instalment."]
    }


def test_put_loan_refuses_an_unknown_borrower(lender):
    response = lender.put("/api/v1/loans/L1/", book_loan_data(borrower="NOPE"))
    assert response.status_code == 400
    assert response.json()["fields"] == {"borrower": ["No borrower with this external id."]}


def test_get_loan_runs_a_fixed_number_of_queries(api, django_assert_num_queries):
    loan = loan_with_schedule(days_overdue=10, instalments=6)
    reader = api("cases:read", name="bi")
    with django_assert_num_queries(LOAN_GET_QUERIES):
        body = reader.get(f"/api/v1/loans/{loan.external_id}/").json()
    assert len(body["instalments"]) == 6 and body["case"] is None


def test_put_honours_idempotency_key(lender):
    borrower = BorrowerFactory()
    data = book_loan_data(borrower=borrower.external_id, first_due_days_ago=5)
    first = lender.put("/api/v1/loans/L1/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    replay = lender.put("/api/v1/loans/L1/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    data["product"] = "auto"
    assert lender.put("/api/v1/loans/L1/", data, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 409


# --- bulk -------------------------------------------------------------------------------------


def test_bulk_answers_each_loan_in_order(lender):
    borrower = BorrowerFactory()
    good = book_loan_data(borrower=borrower.external_id, first_due_days_ago=3)
    lender.put("/api/v1/loans/L-old/", good)

    response = lender.post(
        "/api/v1/loans/bulk/",
        {
            "loans": [
                {"external_id": "L-new", **good},
                {"external_id": "L-bad", **good, "currency": "yuan", "disbursed_on": "someday"},
                {"external_id": "L-old", **good},
                {"external_id": "L-old", **good, "product": "auto"},
                {"product": "auto"},
            ]
        },
    )

    assert response.status_code == 200, response.json()
    assert response.json()["results"] == [
        {"external_id": "L-new", "status": "created", "errors": {}},
        {
            "external_id": "L-bad",
            "status": "error",
            "errors": {
                "currency": ["Enter a three-letter ISO 4217 code such as CNY."],
                "disbursed_on": ["Enter a date as YYYY-MM-DD."],
            },
        },
        {"external_id": "L-old", "status": "unchanged", "errors": {}},
        {"external_id": "L-old", "status": "updated", "errors": {}},
        {"external_id": None, "status": "error", "errors": {"external_id": ["This field is required."]}},
    ]
    assert set(Loan.objects.values_list("external_id", flat=True)) == {"L-old", "L-new"}
    assert Case.objects.filter(loan__external_id="L-new").exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"loans": []}, "loans"),
        ({"loans": "L1"}, "loans"),
        ({}, "loans"),
        ({"loans": [{"external_id": "L1"}], "extra": 1}, "extra"),
        ([{"external_id": "L1"}], "non_field_errors"),
    ],
)
def test_bulk_refuses_a_malformed_envelope(lender, body, field):
    response = lender.post("/api/v1/loans/bulk/", body)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_bulk_echoes_odd_ids_and_field_names_safely_even_when_kept_for_a_replay(lender):
    body = '{"loans": [{"external_id": "L\\u0000"}, {"external_id": "L2", "\\ud800": 1, "a\\u0000": 2}]}'
    first = lender.post("/api/v1/loans/bulk/", body, HTTP_IDEMPOTENCY_KEY="odd")
    assert first.status_code == 200, first.content
    results = first.json()["results"]
    assert results[0] == {
        "external_id": None,
        "status": "error",
        "errors": {"external_id": ["Contains characters that are not allowed."]},
    }
    assert results[1]["external_id"] == "L2"
    assert set(results[1]["errors"]) == {"\\ud800", "a\\x00", "borrower", "principal", "disbursed_on"}
    replay = lender.post("/api/v1/loans/bulk/", body, HTTP_IDEMPOTENCY_KEY="odd")
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"


def test_bulk_refuses_more_than_1000_loans(lender):
    response = lender.post("/api/v1/loans/bulk/", {"loans": [{"external_id": f"L{i}"} for i in range(1001)]})
    assert response.status_code == 400
    assert response.json()["fields"] == {"loans": ["At most 1000 loans in one call."]}
    assert not Loan.objects.exists()


# --- scopes and people ------------------------------------------------------------------------


def test_writing_needs_loans_write_and_reading_loans_write_or_cases_read(api, lender):
    lender.put("/api/v1/borrowers/B1/", book_borrower_data())
    reader, bank = api("cases:read", name="bi"), api("payments:write", name="bank")
    assert reader.put("/api/v1/borrowers/B1/", {"city": "x"}).status_code == 403
    assert reader.post("/api/v1/loans/bulk/", {"loans": [{"external_id": "L1"}]}).status_code == 403
    assert reader.put("/api/v1/loans/L1/", {}).json()["code"] == "permission_denied"
    assert bank.get("/api/v1/borrowers/B1/").status_code == 403
    assert bank.get("/api/v1/loans/L1/").status_code == 403
    assert reader.get("/api/v1/borrowers/B1/").status_code == 200
    assert lender.get("/api/v1/borrowers/B1/").status_code == 200


def test_people_write_as_supervisors_and_read_with_a_see_all_role(client, supervisor, collector, auditor):
    client.force_login(supervisor)
    response = client.put("/api/v1/borrowers/B1/", json.dumps({"name": "Ann Lee"}), content_type="application/json")
    assert response.status_code == 201
    assert response.json()["name"] == "A** L**"  # people's API view is always masked
    client.force_login(auditor)
    assert client.get("/api/v1/borrowers/B1/").status_code == 200
    refused = client.put("/api/v1/borrowers/B1/", json.dumps({"name": "X"}), content_type="application/json")
    assert refused.status_code == 403
    client.force_login(collector)
    assert client.get("/api/v1/borrowers/B1/").status_code == 403
    assert Instalment.objects.count() == 0
