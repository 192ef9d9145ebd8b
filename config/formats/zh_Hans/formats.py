"""Simplified Chinese formats: the same one date format on every page as in English (ISO order,
24-hour time), and amounts keep their thousands separators (Django's zh_Hans has none and groups by 4)."""
from django.conf.locale.zh_Hans.formats import *  # noqa: F401,F403  (input formats and the rest)

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
