"""The formats both languages share: one date format on every page (lists and the case page alike),
ISO order, 24-hour time; amounts grouped by thousands with a comma (templates ask for grouping with
floatformat:"2g")."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
