"""Issue 9, point 21: stored codes read as labels on the pages (fixed ones translated, operator-defined
ones editable in both languages), actors as people say them, one date format per language and
thousands separators in Simplified Chinese."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import formats, translation

from collections_app import labels
from collections_app.models import CodeLabel
from collections_app.services import contact_log, hold_place

from .factories import QueueFactory, assigned_case

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_afterwards():
    """A request in Chinese leaves Chinese active in this thread: later tests expect English."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def render(text, **context):
    return Template("{% load collections_labels %}" + text).render(Context(context))


def zh(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


# --- labels.py --------------------------------------------------------------------------------


def test_fixed_codes_have_labels_and_unknown_codes_read_as_words(django_assert_num_queries):
    with django_assert_num_queries(0):  # fixed kinds never ask the database
        assert labels.label("hold", "cease_contact") == "Cease contact"
        assert labels.label("outcome", "no_answer") == "No answer"
        assert labels.label("close_reason", "written_off") == "Written off"
        assert labels.label("reason", "outside_contact_hours").startswith("It is outside")
        assert labels.label("event", "hold_placed") == "Hold placed"
    assert labels.label("product", "cash_loan") == "Cash loan"
    assert labels.label("channel", "alipay") == "Alipay"
    assert labels.label("template", "overdue_firm") == "Firm overdue reminder"
    assert labels.label("product", "gold_card_plus") == "Gold card plus"
    assert labels.label("product", "") == "" and labels.label("product", None) == ""


def test_an_operator_label_wins_in_each_language_and_is_seen_at_once():
    assert labels.label("product", "cash_loan") == "Cash loan"  # read (and kept) before the row exists
    row = CodeLabel.objects.create(kind="product", code="cash_loan", label_en="Quick cash", label_zh_hans="现金贷")
    assert labels.label("product", "cash_loan") == "Quick cash"
    with translation.override("zh-hans"):
        assert labels.label("product", "cash_loan") == "现金贷"
    row.label_en = ""
    row.save()
    assert labels.label("product", "cash_loan") == "现金贷"  # one language missing: the other, not the code
    row.delete()
    assert labels.label("product", "cash_loan") == "Cash loan"


def test_a_label_row_of_a_fixed_kind_changes_nothing():
    CodeLabel.objects.create(kind="hold", code="dispute", label_en="Argument")
    assert labels.label("hold", "dispute") == "Dispute"


@pytest.mark.parametrize(
    "stored, shown",
    [
        ("user:alice", "alice"),
        ("client:loan-system", "API client loan-system"),
        ("system", "System"),
        ("borrower:B42", "Borrower B42 (self-service)"),
        ("", ""),
        ("odd", "odd"),
    ],
)
def test_actor_labels_read_as_people_say_them(stored, shown):
    assert labels.actor_label(stored) == shown
    assert render("{{ a|actor }}", a=stored) == shown


def test_the_template_filters(db):
    queue = QueueFactory(name="M1 calls", label_en="Early calls", label_zh_hans="早期电催")
    assert render('{{ p|label:"product" }}|{{ q|label:"queue" }}', p="cash_loan", q=queue) == "Cash loan|Early calls"
    with translation.override("zh-hans"):
        assert render('{{ q|label:"queue" }}', q=queue) == "早期电催"
    assert render('{{ q|label:"queue" }}', q=QueueFactory(name="plain")) == "plain"


# --- on the pages -----------------------------------------------------------------------------


@pytest.fixture
def my_case(collector, supervisor):
    queue = QueueFactory(name="m1_calls", label_en="M1 calls", label_zh_hans="M1 电催")
    return assigned_case(
        to=collector, by=supervisor, days_overdue=12, product="cash_loan", queue=queue, amount=Decimal("1234.50")
    )


def test_the_case_page_shows_labels_not_codes(client, collector, supervisor, my_case):
    hold_place(borrower_id=my_case.borrower_id, code="cease_contact", actor=supervisor, reason="letter")
    client.force_login(collector)
    html = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "Cash loan" in html and "cash_loan" not in html
    assert "M1 calls" in html and "m1_calls" not in html
    assert "Hold: Cease contact" in html and "cease_contact" not in html
    assert "user:supervisor" not in html  # the timeline names people as people
    assert '<option value="overdue">Overdue reminder</option>' in html


def test_the_case_page_in_chinese_shows_the_chinese_operator_labels(client, collector, my_case):
    CodeLabel.objects.create(kind="product", code="cash_loan", label_en="Cash loan", label_zh_hans="现金贷")
    client.force_login(collector)
    html = zh(client).get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "现金贷" in html and "M1 电催" in html


def test_the_queues_page_shows_queue_labels(client, supervisor, my_case):
    client.force_login(supervisor)
    html = client.get(reverse("collections:queues")).content.decode()
    assert ">M1 calls</a>" in html
    assert ">M1 电催</a>" in zh(client).get(reverse("collections:queues")).content.decode()


def test_a_payment_on_the_timeline_names_its_channel(client, collector, my_case):
    from collections_app.services import payment_record
    from django.utils import timezone

    payment_record(
        loan=my_case.loan.external_id,
        external_id="P-1",
        amount=Decimal("10.00"),
        paid_at=timezone.now(),
        channel="alipay",
        actor=None,
    )
    client.force_login(collector)
    html = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "Alipay" in html and "alipay" not in html.replace('data-kind="payment_recorded"', "")


# --- dates and numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_one_date_format_per_language_lists_and_case_page_alike(client, collector, my_case, language):
    at = datetime(2026, 3, 12, 9, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    contact_log(case_id=my_case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=at)
    client.force_login(collector)
    if language != "en":
        zh(client)
    worklist = client.get(reverse("collections:worklist")).content.decode()
    case_page = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "2026-03-12 09:05" in worklist  # the last contact, in the list
    assert "2026-03-12 09:05" in case_page  # the same contact on the timeline
    assert "a.m." not in worklist and "p.m." not in worklist
    with translation.override(language):
        assert formats.get_format("SHORT_DATETIME_FORMAT") == formats.get_format("DATETIME_FORMAT") == "Y-m-d H:i"


def test_chinese_pages_keep_thousands_separators(client, collector, my_case):
    client.force_login(collector)
    html = zh(client).get(reverse("collections:worklist")).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "1,234.50" in html and "1234.50" not in html
    with translation.override("zh-hans"):
        assert render('{{ n|floatformat:"2g" }}', n=Decimal("1234567.5")) == "1,234,567.50"


def test_a_closed_case_timeline_names_the_close_reason(client, supervisor, my_case):
    from collections_app.services import case_transition

    case_transition(
        case_id=my_case.pk, transition="close", actor=supervisor, reason="written_off", note="uncollectable"
    )
    client.force_login(supervisor)
    html = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "Written off — uncollectable" in html and "written_off" not in html


def test_a_reveal_on_the_timeline_names_the_fields_in_words(client, collector, my_case):
    from collections_app.services.pii import pii_reveal

    pii_reveal(actor=collector, reason="borrower called back", fields=("national_id", "phones"), case_id=my_case.pk)
    client.force_login(collector)
    html = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "National id, Phones — borrower called back" in html and "national_id" not in html
