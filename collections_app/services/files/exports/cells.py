"""One value, two spellings: text for CSV, a typed cell for XLSX.

Money (Decimal) is a two-decimal string in CSV and a number with a 0.00 format in XLSX; times are
shown in the lender's zone (Asia/Shanghai) with their offset (`2026-11-29T16:44:54+08:00` in CSV; a
date-time cell whose format prints the offset in XLSX, as Excel has no time zones); dates are ISO.
Text a spreadsheet would run as a formula is neutralised in both."""

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext as _

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT = "0.00"
DATE_FORMAT = "yyyy-mm-dd"


def local_time(moment, zone=None):
    return moment.astimezone(zone or settings.LENDER_TIME_ZONE)


def _offset(moment):
    text = moment.strftime("%z")  # +0800
    return f"{text[:3]}:{text[3:]}" if text else ""


def _money(value):
    return value.quantize(Decimal("0.01"))


def yes_no():
    """The words for booleans, translated once per file (not once per cell)."""
    return _("Yes"), _("No")


def csv_text(value, words=None):
    if value is None:
        return ""
    if isinstance(value, bool):
        yes, no = words or yes_no()
        return yes if value else no
    if isinstance(value, Decimal):
        return f"{_money(value):.2f}"
    if isinstance(value, datetime):
        return local_time(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def xlsx_cell(sheet, value, words=None):
    """A value for openpyxl's write-only `append`: plain values as they are, WriteOnlyCell where a
    format or a forced text type is needed."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float):
        return value
    if isinstance(value, bool):
        yes, no = words or yes_no()
        return yes if value else no
    if isinstance(value, Decimal):
        cell = WriteOnlyCell(sheet, value=_money(value))
        cell.number_format = MONEY_FORMAT
        return cell
    if isinstance(value, datetime):
        moment = local_time(value)
        cell = WriteOnlyCell(sheet, value=moment.replace(tzinfo=None))
        cell.number_format = f'yyyy-mm-dd hh:mm:ss"{_offset(moment)}"'
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    # Control characters are not allowed in the file format (openpyxl refuses them): a note typed
    # with one must not fail the whole export.
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))
    if text.startswith("="):
        # openpyxl would store it as a formula: keep it text.
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    return text
