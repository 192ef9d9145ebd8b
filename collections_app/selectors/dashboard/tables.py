"""The dashboard's tables and figures as shown: cells (a rate, money, a count), labels of stages,
buckets and collectors, and a figure's parts. The page and the files show the same rows."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from ... import charts
from .period import CURED, NO_BUCKET
from ...workflow import State


class Rate:
    """A table cell holding a rate (a fraction, or None when there is no denominator)."""

    __slots__ = ("fraction",)

    def __init__(self, fraction):
        self.fraction = fraction


@dataclass
class Table:
    slug: str
    title: str
    columns: list
    rows: list
    total: list | None = None  # the totals row, shown last

    def all_rows(self):
        return self.rows + ([self.total] if self.total else [])

    @property
    def numeric(self):
        """Per column: does it hold numbers (right-aligned)?"""
        return [
            any(isinstance(row[i], (int, Decimal, Rate)) and not isinstance(row[i], bool) for row in self.all_rows())
            for i in range(len(self.columns))
        ]


def page_cell(value):
    if value is None:
        return "—"
    if isinstance(value, Rate):
        return charts.percent(value.fraction)
    if isinstance(value, Decimal):
        return charts.amount(value)
    if isinstance(value, int):
        return charts.number(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stage_label(stage):
    return str(State(stage).label)


def bucket_label(name):
    return name if name != NO_BUCKET else _("DPD 0 / none")


def target_label(name):
    return _("Cured/closed") if name == CURED else bucket_label(name)


def collector_label(username):
    return username or _("Unassigned")


def proposer_label(username):
    """A plan's proposer: the person's username; "" when no person proposed it."""
    return username or _("Borrower or API client")


def chart(draw, *args, title, **kwargs):
    """A chart with its title also shown as a caption (the SVG's own <title> is for screen readers)."""
    return {"caption": title, "svg": draw(*args, title=title, **kwargs)}


@dataclass
class Figure:
    key: str
    title: str
    tables: list
    charts: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    missing: list = field(default_factory=list)  # why the figure cannot be shown (snapshots missing)
    see_month: str = ""  # where to look instead (the last complete month)
