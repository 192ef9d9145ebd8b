"""Fast formatting for the rows of busy pages (a list of 200 plans, a timeline of 50 events).

{% load collections_format %}
{{ plan.total|money }}          same text as floatformat:"2g" (two decimals, grouped)
{{ event.at|when }}             same text as date:"SHORT_DATETIME_FORMAT"
{{ instalment.due_date|day }}   same text as date:"SHORT_DATE_FORMAT"
{{ plan.case_id|case_url }}     same text as {% url 'collections:case' plan.case_id %}

Django's filters re-read the active language's formats and walk the format string on every call
(about 30-80 µs each; `bench pages` found them a large share of a page's time). These read the
formats once per language, then format with str.format/strftime; a format they cannot translate
exactly falls back to Django's own filter, so the text never differs (tests/test_format_filters.py).
"""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.defaultfilters import date as django_date
from django.template.defaultfilters import floatformat
from django.urls import get_script_prefix, reverse
from django.utils.formats import get_format
from django.utils.translation import get_language

register = template.Library()

CENT = Decimal("0.01")
# Django date format characters that strftime writes the same way (zero-padded, locale-free).
_STRFTIME = {"Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "i": "%M", "s": "%S"}
_URL_SENTINEL = 987654321


@lru_cache(maxsize=64)
def _strftime_pattern(django_format):
    """The strftime twin of a Django date format, or None when one of its characters has no exact twin."""
    out = []
    escaped = False
    for char in django_format:
        if escaped:
            out.append(char.replace("%", "%%"))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _STRFTIME:
            out.append(_STRFTIME[char])
        elif char.isalpha():
            return None
        else:
            out.append(char.replace("%", "%%"))
    return "".join(out)


@lru_cache(maxsize=16)
def _number_style(language):
    grouping = get_format("NUMBER_GROUPING", language)
    thousands = get_format("THOUSAND_SEPARATOR", language)
    decimal = get_format("DECIMAL_SEPARATOR", language)
    return grouping if isinstance(grouping, int) else None, thousands, decimal


def _date_text(value, format_name, kind):
    """Anything but a `kind` (a string, a date where a time is asked) goes to Django's filter, which
    answers it as it always has."""
    if value in (None, ""):
        return ""
    pattern = _strftime_pattern(get_format(format_name, get_language()))
    if pattern is None or not isinstance(value, kind) or value.year < 1000:  # strftime pads years < 1000
        return django_date(value, format_name)
    return value.strftime(pattern)


@register.filter(expects_localtime=True, is_safe=False)
def when(value):
    """A date and time in the active language's SHORT_DATETIME_FORMAT ("" for none)."""
    return _date_text(value, "SHORT_DATETIME_FORMAT", datetime)


@register.filter(expects_localtime=True, is_safe=False)
def day(value):
    """A date in the active language's SHORT_DATE_FORMAT ("" for none)."""
    return _date_text(value, "SHORT_DATE_FORMAT", date)


@register.filter(is_safe=True)
def money(value):
    """An amount with two decimals, grouped as the active language groups: floatformat:"2g"."""
    if isinstance(value, float) or isinstance(value, bool):
        return floatformat(value, "2g")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(value)
        rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        return floatformat(value, "2g")
    grouping, thousands, decimal = _number_style(get_language())
    if grouping != 3 or not rounded.is_finite() or rounded == 0:
        return floatformat(value, "2g")
    text = f"{rounded:,.2f}"
    if (thousands, decimal) != (",", "."):
        text = text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)
    return text


@lru_cache(maxsize=8)
def _case_path(script_prefix):
    return reverse("collections:case", args=[_URL_SENTINEL]).replace(str(_URL_SENTINEL), "{}")


@register.filter(is_safe=True)
def case_url(case_id):
    """The case page's address: {% url 'collections:case' id %} reversed once, not once per row."""
    return _case_path(get_script_prefix()).format(int(case_id))


@receiver(setting_changed)
def _forget_formats(*, setting, **_kwargs):
    """Tests that change the formats or the URLs see them at once, as Django's own caches do."""
    if setting in {"ROOT_URLCONF", "FORMAT_MODULE_PATH", "LANGUAGE_CODE", "USE_THOUSAND_SEPARATOR"} or setting.endswith(
        ("_FORMAT", "_SEPARATOR", "NUMBER_GROUPING")
    ):
        for cached in (_strftime_pattern, _number_style, _case_path):
            cached.cache_clear()
