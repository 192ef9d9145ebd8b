"""The portfolio dashboard's figures and tables, shared by the page (web/dashboard.py), the
downloads (services/files/exports/dashboard.py) and the beat job that keeps them warm.

The figures come from `portfolio`, `activity` and `plans` (their exact definitions are in their docstrings), one
aggregate query each, kept a few minutes in the shared cache. Here they become tables — the same
rows for the page and for the files, so they always agree — and server-side SVG charts (`charts.py`).
"""

from functools import cached_property

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import shared_cache
from . import activity, portfolio
from . import plans as plan_figures
from .figures import BoardFigures
from .period import STAGES, ZERO, period_for, ratio
from ...calendar import lender_today
from ...errors import DomainError
from ...labels import label
from ...workflow import State
from .tables import Rate, Table, bucket_label, collector_label, proposer_label, stage_label, target_label


class Dashboard(BoardFigures):
    """The figures of one period, each computed on first use (a CSV computes only its own)."""

    def __init__(self, period, today=None):
        self.period = period
        self.today = today or lender_today()
        self.is_current = period.is_current(self.today)
        self._computed_at = []

    # A figure's rows are kept in the shared cache for COLLECTIONS_DASHBOARD_CACHE_SECONDS: at a
    # million cases the aggregates take seconds, and a supervisor's dashboard may lag a few minutes
    # (the page says when its figures were computed). Beat keeps the current month warm
    # (tasks.dashboard_warm_task), so nobody waits for them.
    def _kept(self, name, compute):
        ttl = settings.COLLECTIONS_DASHBOARD_CACHE_SECONDS
        if ttl <= 0:
            return compute()
        key = f"dashboard:v1:{name}:{self.period.key}:{self.today.isoformat()}"
        kept = shared_cache.get(key)  # a miss when the cache is unreachable: computed here then
        if kept is None:
            kept = (timezone.now(), compute())
            shared_cache.set(key, kept, ttl)
        self._computed_at.append(kept[0])
        return kept[1]

    @property
    def computed_at(self):
        """When the oldest figure shown was computed (None when none came from the cache)."""
        return min(self._computed_at) if self._computed_at else None

    @classmethod
    def warm(cls, today=None):
        """Compute the current month's figures into the cache (beat runs this)."""
        today = today or lender_today()
        board = cls(period_for("", today=today), today)
        board.figures()
        return board

    # --- the queries -------------------------------------------------------------------------

    @cached_property
    def buckets(self):
        return portfolio.buckets()

    @cached_property
    def snapshots(self):
        return self._kept(
            "snapshots", lambda: portfolio.snapshots_present([self.period.previous_month_end, self.period.month_end])
        )

    @property
    def has_start_snapshot(self):
        return self.snapshots[self.period.previous_month_end]

    @property
    def has_end_snapshot(self):
        return self.snapshots[self.period.month_end]

    @cached_property
    def portfolio(self):
        if self.is_current:
            return self._kept("portfolio", lambda: portfolio.portfolio_live(self.buckets, self.today))
        return self._kept("portfolio", lambda: portfolio.portfolio_at_month_end(self.buckets, self.period.month_end))

    @cached_property
    def finished(self):
        return self._kept("finished", lambda: portfolio.cases_finished(self.period))

    @cached_property
    def roll(self):
        """The roll matrix, or None without both snapshots (the query is not run then)."""
        if not (self.has_start_snapshot and self.has_end_snapshot):
            return None
        return self._kept("roll", lambda: portfolio.roll_rates(self.period, self.buckets))

    @cached_property
    def promises(self):
        return self._kept("promises", lambda: activity.promises(self.period))

    @cached_property
    def collected(self):
        return self._kept("collected", lambda: activity.collected(self.period))

    @cached_property
    def contact(self):
        return self._kept("contact", lambda: activity.contact_rate(self.period))

    @cached_property
    def plans(self):
        return self._kept("plans", lambda: plan_figures.plans(self.period))

    @cached_property
    def plans_judged(self):
        return self._kept("plans-judged", lambda: plan_figures.plans_judged(self.period))

    @cached_property
    def cure(self):
        """The cure rate, or None without the snapshot of the period's start (not run then)."""
        if not self.has_start_snapshot:
            return None
        return self._kept("cure", lambda: portfolio.cure_rate(self.period, today=self.today))

    # --- words -------------------------------------------------------------------------------

    @property
    def portfolio_as_of(self):
        return self.today if self.is_current else self.period.month_end

    def missing_snapshot_text(self, day):
        if day >= self.today and day == self.period.month_end:
            return _(
                "The month-end snapshot for %(day)s is not written yet: the sweep writes it on the month's last day."
            ) % {"day": day.isoformat()}
        return _(
            "There is no month-end snapshot for %(day)s (the sweep did not run that day, or no case was open)."
        ) % {"day": day.isoformat()}

    # --- tables (the page and the CSV share them) ----------------------------------------------

    def table_portfolio(self):
        rows = self.portfolio
        stages = STAGES
        order = list(dict.fromkeys(row["bucket"] for row in rows))
        cells = {(row["stage"], row["bucket"]): row for row in rows}
        columns = [_("Bucket")]
        for stage in stages:
            columns += [
                _("%(stage)s: cases") % {"stage": stage_label(stage)},
                _("%(stage)s: amount overdue") % {"stage": stage_label(stage)},
            ]
        columns += [_("Total cases"), _("Total amount overdue")]
        body = []
        for bucket in order:
            line = [bucket_label(bucket)]
            for stage in stages:
                line += [cells[(stage, bucket)]["cases"], cells[(stage, bucket)]["amount"]]
            line += [
                sum(cells[(s, bucket)]["cases"] for s in stages),
                sum((cells[(s, bucket)]["amount"] for s in stages), ZERO),
            ]
            body.append(line)
        totals = portfolio.portfolio_totals(rows)
        total = [_("Total")]
        for stage in stages:
            got = totals["by_stage"].get(stage, {"cases": 0, "amount": ZERO})
            total += [got["cases"], got["amount"]]
        total += [totals["total"]["cases"], totals["total"]["amount"]]
        title = _("Open cases by DPD bucket and stage, %(day)s") % {"day": self.portfolio_as_of.isoformat()}
        return Table("portfolio", title, columns, body, total)

    def table_funnel(self):
        rows = portfolio.stage_funnel(self.portfolio, self.finished)
        labels = {str(State.RESOLVED): _("Resolved in the period"), str(State.CLOSED): _("Closed in the period")}
        body = [
            [labels.get(row["step"]) or _("Open in %(stage)s") % {"stage": stage_label(row["step"])}, row["cases"]]
            for row in rows
        ]
        return Table("funnel", _("Stage funnel"), [_("Step"), _("Cases")], body)

    def table_roll_rates(self):
        rows = self.roll or []
        start, end = self.period.previous_month_end.isoformat(), self.period.month_end.isoformat()
        columns = [
            _("Bucket on %(day)s") % {"day": start},
            _("Bucket on %(day)s") % {"day": end},
            _("Cases"),
            _("Share of cases (%)"),
            _("Amount overdue on %(day)s") % {"day": start},
            _("Share of amount (%)"),
            _("Amount overdue on %(day)s") % {"day": end},
        ]
        body = [
            [
                bucket_label(row["from_bucket"]),
                target_label(row["to_bucket"]),
                row["cases"],
                Rate(row["share_cases"]),
                row["amount_start"],
                Rate(row["share_amount"]),
                row["amount_end"],
            ]
            for row in rows
            if row["cases"]
        ]
        return Table(
            "roll-rates", _("Roll rates from %(start)s to %(end)s") % {"start": start, "end": end}, columns, body
        )

    def table_promises(self):
        p = self.promises
        body = [
            [_("Made in the period"), p["made"], p["made_amount"]],
            [_("Due in the period"), p["due"], p["due_amount"]],
            [_("Kept (due in the period)"), p["kept"], p["kept_amount"]],
            [_("Broken (due in the period)"), p["broken"], p["broken_amount"]],
            [_("Pending (due in the period)"), p["pending"], p["pending_amount"]],
            [_("Kept rate: kept / (kept + broken)"), Rate(p["kept_rate"]), None],
        ]
        return Table("promises", _("Promises to pay"), [_("Figure"), _("Promises"), _("Amount")], body)

    def table_collected_by_collector(self):
        rows = activity.collected_by_collector(self.collected)
        body = [[collector_label(row["collector"]), row["payments"], row["amount"]] for row in rows]
        total = [_("Total"), sum(row["payments"] for row in rows), sum((row["amount"] for row in rows), ZERO)]
        return Table(
            "collected-by-collector",
            _("Collected per collector"),
            [_("Collector"), _("Payments"), _("Amount collected")],
            body,
            total,
        )

    def table_collected_by_week(self):
        rows = activity.collected_by_week(self.collected, self.period)
        body = [[row["week"], row["first_day"], row["last_day"], row["payments"], row["amount"]] for row in rows]
        total = [
            _("Total"),
            None,
            None,
            sum(row["payments"] for row in rows),
            sum((row["amount"] for row in rows), ZERO),
        ]
        return Table(
            "collected-by-week",
            _("Collected per week"),
            [_("Week (Monday)"), _("From"), _("To"), _("Payments"), _("Amount collected")],
            body,
            total,
        )

    def table_contact_rate(self):
        c = self.contact
        body = [
            [_("Cases worked (any contact attempt)"), c["worked"]],
            [_("Cases with a right-party contact"), c["right_party"]],
            [_("Contact rate"), Rate(c["rate"])],
        ]
        return Table("contact-rate", _("Contact rate"), [_("Figure"), _("Cases")], body)

    def table_cure_rate(self):
        c = self.cure
        start = self.period.previous_month_end.isoformat()
        columns = [_("Figure"), _("Cases"), _("Amount overdue on %(day)s") % {"day": start}]
        if c is None:
            return Table("cure-rate", _("Cure rate"), columns, [])
        body = [
            [_("Open at the start of the period"), c["open_at_start"], c["amount_at_start"]],
            [_("Resolved by its end"), c["cured"], c["cured_amount"]],
            [_("Cure rate"), Rate(c["rate"]), Rate(c["rate_amount"])],
        ]
        return Table("cure-rate", _("Cure rate"), columns, body)

    def table_plans(self):
        p = self.plans
        body = [
            [_("Made in the period"), p["made"], p["made_amount"]],
            [_("Active at the end of the period"), p["active"], p["active_amount"]],
            [_("Kept (ended in the period)"), p["kept"], p["kept_amount"]],
            [_("Broken (ended in the period)"), p["broken"], p["broken_amount"]],
            [_("Kept rate: kept / (kept + broken)"), Rate(p["kept_rate"]), None],
            [_("Forgiven by settlements kept in the period"), None, p["forgiven"]],
        ]
        return Table("plans", _("Repayment plans"), [_("Figure"), _("Plans"), _("Amount")], body)

    def _table_plans_by(self, key, slug, title, first_column, label):
        rows = plan_figures.judged_by(self.plans_judged, key)
        columns = [first_column, _("Kept"), _("Kept amount"), _("Broken"), _("Broken amount"), _("Kept rate")]
        body = [
            [label(r[key]), r["kept"], r["kept_amount"], r["broken"], r["broken_amount"], Rate(r["kept_rate"])]
            for r in rows
        ]
        kept, broken = sum(r["kept"] for r in rows), sum(r["broken"] for r in rows)
        total = [
            _("Total"),
            kept,
            sum((r["kept_amount"] for r in rows), ZERO),
            broken,
            sum((r["broken_amount"] for r in rows), ZERO),
            Rate(ratio(kept, kept + broken)),
        ]
        return Table(slug, title, columns, body, total)

    def table_plans_by_collector(self):
        return self._table_plans_by(
            "collector", "plans-by-collector", _("Plan kept rate per collector"), _("Proposed by"), proposer_label
        )

    def table_plans_by_kind(self):
        return self._table_plans_by(
            "kind", "plans-by-kind", _("Plan kept rate per kind"), _("Kind"), lambda k: label("plan_kind", k)
        )

    TABLES = {
        "portfolio": table_portfolio,
        "funnel": table_funnel,
        "roll-rates": table_roll_rates,
        "promises": table_promises,
        "collected-by-collector": table_collected_by_collector,
        "collected-by-week": table_collected_by_week,
        "contact-rate": table_contact_rate,
        "cure-rate": table_cure_rate,
        "plans": table_plans,
        "plans-by-collector": table_plans_by_collector,
        "plans-by-kind": table_plans_by_kind,
    }

    def table(self, slug):
        try:
            return self.TABLES[slug](self)
        except KeyError:
            raise DomainError("not_found") from None
