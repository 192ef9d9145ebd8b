"""What every part of the sweep shares: its constants, the clock, and the SQL templating of its
statements (table names, the active-hold test, the strategy's thresholds, the registered event kinds)."""

import calendar as month_calendar
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ...events import SqlKinds
from ...models import Case, Strategy
from ...strategy import DEFAULT_THRESHOLDS
from ...workflow import State
from ..webhooks import pg_outbox_cte

DEFAULT_CHUNK = 50_000
REFRESH_LOOKBACK_DAYS = 7
SWEEP_REASON = "sweep"
LEGAL_RETRY_DAYS = 30  # a rejected referral is not asked again for this long
BROKEN_PROMISE_PRIORITY_BUMP = 20
ESCALATION_STEPS = (  # (from, to, transition, threshold field)
    (State.REMINDER, State.CALL, "start_calls", "call_at_dpd"),
    (State.CALL, State.VISIT, "schedule_visit", "visit_at_dpd"),
)


def _is_postgres():
    return connection.vendor == "postgresql"


def is_month_end(day):
    return day.day == month_calendar.monthrange(day.year, day.month)[1]


def _lender_today():
    from ...calendar import lender_today

    return lender_today()


def _now():
    return timezone.now()


def _reopen_window_start(as_of):
    start_day = as_of - timedelta(days=settings.COLLECTIONS_REOPEN_WINDOW_DAYS)
    return datetime.combine(start_day, time(0), tzinfo=settings.LENDER_TIME_ZONE)


def _tables():
    """The statements name their tables by model ({Case}, {CaseEvent}, ...): any model of the app."""
    t = {model.__name__: model._meta.db_table for model in Case._meta.app_config.get_models()}
    t["open_states"] = "('reminder', 'call', 'visit', 'legal')"
    return t


_ACTIVE_HOLD_SQL = """EXISTS (SELECT 1 FROM {Hold} h WHERE h.borrower_id = {alias}.borrower_id
    AND h.lifted_at IS NULL AND h.starts_at <= %(now)s AND (h.ends_at IS NULL OR h.ends_at > %(now)s))"""


# A borrower who needs care (CONTRACT.md, Vulnerability): the sweep neither moves their cases to
# visit nor asks for legal referrals.
_VULNERABLE_SQL = """EXISTS (SELECT 1 FROM {VulnerabilityMarker} vm WHERE vm.borrower_id = {alias}.borrower_id
    AND vm.cleared_at IS NULL)"""
# While a plan is active the sweep never escalates the case.
_ACTIVE_PLAN_SQL = (
    """EXISTS (SELECT 1 FROM {RepaymentPlan} ap WHERE ap.case_id = {alias}.id AND ap.status = 'active')"""
)
# After a broken plan escalation resumes from the next sweep, one stage per sweep: a case whose plan a
# sweep for this date broke, or that a sweep for this date already moved since the break (its
# transition event carries today's DPD), moves no further today. Keyed on the date and the DPD rather
# than the clock, so a rerun for the same date moves nothing more. The few such cases of a chunk are
# found first (HELD_BACK_SQL, from its broken plans) and the escalation statements skip them by id:
# written as a correlated EXISTS in those statements the planner anti-joined the whole event table.
_MOVED_SINCE_BREAK_SQL = "{alias}.id = ANY(%(held_back)s::bigint[])"
HELD_BACK_SQL = """
SELECT DISTINCT bp.case_id
FROM {RepaymentPlan} bp JOIN {Case} c ON c.id = bp.case_id JOIN {CaseEvent} be ON be.case_id = bp.case_id
WHERE bp.case_id BETWEEN %(lo)s AND %(hi)s AND c.id BETWEEN %(lo)s AND %(hi)s AND bp.status = 'broken'
  AND ((be.kind = 'plan_broken' AND be.payload->>'sweep_date' = %(as_of)s::date::text)
       OR (be.kind = 'transition' AND be.actor = 'system' AND be.reason = %(reason)s AND be.at >= bp.ended_at
           AND be.payload->>'dpd' = (%(as_of)s::date - c.oldest_unpaid_due_date)::text))
"""


class _StrategySql:
    """How a statement learns each case's thresholds: those of the strategy in force on the case
    (`Case.strategy`, chosen by rules: services/strategy_choice.py) when it has one, else its
    product's default strategy, else the default strategy's. When every strategy has the same
    thresholds (the common case: only the default) they are literals and no join is needed;
    otherwise loan and strategies are joined (a chunk then also reads those rows).

    `cases=False` for statements over loans that have no case yet (opening): the product's only."""

    FIELDS = ("call_at_dpd", "visit_at_dpd", "legal_at_dpd")

    def __init__(self, cases=True):
        strategies = list(Strategy.objects.all())
        default = next((st for st in strategies if st.product == ""), None)
        base = default.thresholds if default else DEFAULT_THRESHOLDS
        self.defaults = {"call_at_dpd": base.call, "visit_at_dpd": base.visit, "legal_at_dpd": base.legal}
        base_values = tuple(self.defaults[f] for f in self.FIELDS)
        differ = [st for st in strategies if tuple(getattr(st, f) for f in self.FIELDS) != base_values]
        self.cases = cases
        self.by_product = any(st.product for st in differ)
        self.by_case = cases and bool(differ)

    def join(self, alias):
        text = ""
        if self.by_product:
            text += f"""JOIN {{Loan}} l ON l.id = {alias}.loan_id
    LEFT JOIN {{Strategy}} s ON s.product = l.product AND s.product <> ''"""
        if self.by_case:
            text += f"""
    LEFT JOIN {{Strategy}} cs ON cs.id = {alias}.strategy_id"""
        return text

    def threshold(self, field_name):
        default = int(self.defaults[field_name])
        sources = ([f"cs.{field_name}"] if self.by_case else []) + ([f"s.{field_name}"] if self.by_product else [])
        return f"COALESCE({', '.join(sources)}, {default})" if sources else str(default)


def _sql(template, alias="c", strategy=None):
    t = _tables()
    text = template.replace("{ACTIVE_HOLD}", _ACTIVE_HOLD_SQL.replace("{alias}", alias))
    text = text.replace("{VULNERABLE}", _VULNERABLE_SQL.replace("{alias}", alias))
    text = text.replace("{ACTIVE_PLAN}", _ACTIVE_PLAN_SQL.replace("{alias}", alias))
    text = text.replace("{MOVED_SINCE_BREAK}", _MOVED_SINCE_BREAK_SQL.replace("{alias}", alias))
    if "{WEBHOOKS" in text:  # the webhook outbox, fed by the `ev` CTE in the same statement
        text = text.replace("{WEBHOOKS_OPENED}", pg_outbox_cte("ev", cases="opened"))
        text = text.replace("{WEBHOOKS}", pg_outbox_cte("ev"))
    if strategy is not None:
        text = text.replace("{STRATEGY_JOIN}", strategy.join(alias))
        for name in ("call_at_dpd", "visit_at_dpd", "legal_at_dpd"):
            text = text.replace("{" + name.upper() + "}", strategy.threshold(name))
    return text.format(**t, kind=SqlKinds())  # {kind[opened]}: a registered kind (events.py)


def _execute(sql, params):
    """Runs one statement; returns the rows it wrote, or the count a statement selects last (one
    whose event insert is a CTE feeding the webhook outbox ends `SELECT count(*) FROM ev`)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.description is not None:
            return cursor.fetchone()[0]
        return cursor.rowcount
