"""The fast row filters write exactly what Django's filters write, in both languages."""

from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import engines
from django.urls import reverse
from django.utils import timezone, translation

AMOUNTS = [
    Decimal("0"),
    Decimal("0.004"),
    Decimal("0.005"),
    Decimal("1"),
    Decimal("12.345"),
    Decimal("999.995"),
    Decimal("1234.5"),
    Decimal("1234567.891"),
    Decimal("-1234.555"),
    Decimal("-0.001"),
    Decimal("100000000.00"),
    12,
    "3456.7",
    1234.565,
    "ten",
    None,
]
MOMENTS = [
    datetime(2026, 12, 3, 7, 5, tzinfo=dt_timezone.utc),
    datetime(2026, 1, 31, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai")),
    datetime(1999, 12, 31, 16, 0, tzinfo=dt_timezone.utc),
]


def render(text, **context):
    return engines["django"].from_string("{% load collections_format %}" + text).render(context)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_money_is_floatformat_2g(language):
    with translation.override(language):
        for amount in AMOUNTS:
            assert render("{{ v|money }}", v=amount) == render('{{ v|floatformat:"2g" }}', v=amount), amount


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "UTC"])
def test_when_and_day_are_the_date_filter(language, zone):
    with translation.override(language), timezone.override(zone):
        for moment in MOMENTS:
            assert render("{{ v|when }}", v=moment) == render('{{ v|date:"SHORT_DATETIME_FORMAT" }}', v=moment)
            assert render("{{ v|day }}", v=moment) == render('{{ v|date:"SHORT_DATE_FORMAT" }}', v=moment)
        assert render("{{ v|day }}", v=date(2027, 2, 5)) == "2027-02-05"
        assert render("{{ v|when }}|{{ w|day }}", v=None, w="") == "|"


def test_a_format_without_an_exact_strftime_twin_falls_back(settings):
    from collections_app.templatetags import collections_format

    assert collections_format._strftime_pattern("Y-m-d H:i") == "%Y-%m-%d %H:%M"
    assert collections_format._strftime_pattern("N j, Y") is None  # month names, unpadded day
    assert collections_format._strftime_pattern(r"Y\年m\月d\日") == "%Y年%m月%d日"


def test_case_url_is_the_reversed_url():
    assert render("{{ v|case_url }}", v=464818) == reverse("collections:case", args=[464818])
    assert render("{{ v|case_url }}", v="7") == reverse("collections:case", args=[7])


def test_what_is_not_a_date_gets_what_djangos_filter_gives():
    assert render("{{ v|when }}|{{ v|day }}", v="2026-12-03") == render(
        '{{ v|date:"SHORT_DATETIME_FORMAT" }}|{{ v|date:"SHORT_DATE_FORMAT" }}', v="2026-12-03"
    )
    assert render("{{ v|day }}", v=date(2026, 12, 3)) == render('{{ v|date:"SHORT_DATE_FORMAT" }}', v=date(2026, 12, 3))


def test_changed_formats_are_seen_at_once(settings):
    moment = datetime(2026, 12, 3, 7, 5, tzinfo=dt_timezone.utc)
    with translation.override("en"), timezone.override("UTC"):
        assert render("{{ v|when }}", v=moment) == "2026-12-03 07:05"
        settings.SHORT_DATETIME_FORMAT = "d/m/Y H:i"
        settings.FORMAT_MODULE_PATH = None
        assert render("{{ v|when }}", v=moment) == render('{{ v|date:"SHORT_DATETIME_FORMAT" }}', v=moment)
