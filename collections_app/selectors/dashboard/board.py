"""The portfolio dashboard's figures and tables, shared by the page (web/dashboard.py), the
downloads (services/files/exports/dashboard.py) and the beat job that keeps them warm.

The figures come from `portfolio` and `activity` (their exact definitions are in their docstrings), one
aggregate query each, kept a few minutes in the shared cache. Here they become tables — the same
rows for the page and for the files, so they always agree — and server-side SVG charts (`charts.py`).
"""

from functools import cached_property

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from ... import charts
from ... import shared_cache
from . import activity, portfolio
from .period import STAGES, ZERO, period_for
from ...calendar import lender_today
from ...errors import DomainError
from ...workflow import State
from .tables import Figure, Rate, Table, bucket_label, chart, collector_label, stage_label, target_label


class Dashboard:
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

    TABLES = {
        "portfolio": table_portfolio,
        "funnel": table_funnel,
        "roll-rates": table_roll_rates,
        "promises": table_promises,
        "collected-by-collector": table_collected_by_collector,
        "collected-by-week": table_collected_by_week,
        "contact-rate": table_contact_rate,
        "cure-rate": table_cure_rate,
    }

    def table(self, slug):
        try:
            return self.TABLES[slug](self)
        except KeyError:
            raise DomainError("not_found") from None

    # --- the page: charts beside the tables ----------------------------------------------------

    def figures(self):
        return [
            self.figure_portfolio(),
            self.figure_funnel(),
            self.figure_roll(),
            self.figure_promises(),
            self.figure_collected(),
            self.figure_contact(),
            self.figure_cure(),
        ]

    def figure_portfolio(self):
        table = self.table_portfolio()
        order = list(dict.fromkeys(row["bucket"] for row in self.portfolio))
        cells = {(row["stage"], row["bucket"]): row for row in self.portfolio}
        labels = [bucket_label(b) for b in order]

        def series(key):
            return [(s, stage_label(s), [cells[(s, b)][key] for b in order]) for s in STAGES]

        notes = []
        if self.is_current:
            notes.append(
                _("Live: days past due as of %(day)s in the lender's calendar.") % {"day": self.today.isoformat()}
            )
        elif not self.has_end_snapshot:
            notes.append(self.missing_snapshot_text(self.period.month_end))
        else:
            notes.append(_("From the month-end snapshot of %(day)s.") % {"day": self.period.month_end.isoformat()})
        return Figure(
            "portfolio",
            _("Portfolio by DPD bucket and stage"),
            [table],
            charts=[
                chart(
                    charts.stacked_bars,
                    labels,
                    series("cases"),
                    title=_("Open cases by bucket and stage"),
                    value_label=_("Cases"),
                    category_label=_("DPD bucket"),
                    chart_id="chart-portfolio-cases",
                ),
                chart(
                    charts.stacked_bars,
                    labels,
                    series("amount"),
                    title=_("Amount overdue by bucket and stage"),
                    value_label=_("Amount overdue"),
                    category_label=_("DPD bucket"),
                    fmt=charts.amount,
                    chart_id="chart-portfolio-amount",
                ),
            ],
            notes=notes,
        )

    def figure_funnel(self):
        table = self.table_funnel()
        steps = portfolio.stage_funnel(self.portfolio, self.finished)
        bars = [(row[0], row[1]) for row in table.rows]
        colours = [charts.colour_for(step["step"], i) for i, step in enumerate(steps)]
        return Figure(
            "funnel",
            _("Stage funnel"),
            [table],
            charts=[
                chart(
                    charts.bar_chart,
                    bars,
                    title=_("Open cases per stage; resolved and closed in the period"),
                    value_label=_("Cases"),
                    category_label=_("Stage"),
                    colours=colours,
                    chart_id="chart-funnel",
                ),
            ],
        )

    def figure_roll(self):
        start, end = self.period.previous_month_end, self.period.month_end
        figure = Figure(
            "roll-rates",
            _("Roll rates, %(start)s → %(end)s") % {"start": start.isoformat(), "end": end.isoformat()},
            [self.table_roll_rates()],
        )
        figure.notes.append(
            _(
                "Of the cases in a bucket at the end of the previous month, the share in each "
                "bucket at the end of this month; a case no longer open counts as cured/closed. "
                "Shares by amount weigh each case by its amount overdue at the previous month's end."
            )
        )
        if not self.has_start_snapshot:
            figure.missing.append(self.missing_snapshot_text(start))
        if not self.has_end_snapshot:
            if self.is_current:
                # Not a fault: this month has not ended. Said as a note, with the latest whole month a
                # click away (a fresh demo has its snapshots: seed_demo writes the past month ends).
                figure.notes.append(self.missing_snapshot_text(end))
                figure.see_month = self.period.previous.key
            else:
                figure.missing.append(self.missing_snapshot_text(end))
        if figure.missing or not self.has_end_snapshot:
            return figure
        rows = self.roll
        sources = list(dict.fromkeys(row["from_bucket"] for row in rows))
        targets = list(dict.fromkeys(row["to_bucket"] for row in rows))
        cell = {(row["from_bucket"], row["to_bucket"]): row for row in rows}
        for key, title, chart_id in (
            ("share_cases", _("Roll rates by number of cases"), "chart-roll-cases"),
            ("share_amount", _("Roll rates by amount overdue"), "chart-roll-amount"),
        ):
            figure.charts.append(
                chart(
                    charts.heat_map,
                    [bucket_label(s) for s in sources],
                    [target_label(t) for t in targets],
                    [[cell[(s, t)][key] for t in targets] for s in sources],
                    notes=[
                        [
                            _("%(n)s of %(total)s cases")
                            % {
                                "n": charts.number(cell[(s, t)]["cases"]),
                                "total": charts.number(cell[(s, t)]["from_cases"]),
                            }
                            for t in targets
                        ]
                        for s in sources
                    ],
                    title=title,
                    row_axis=_("Bucket on %(day)s") % {"day": start.isoformat()},
                    column_axis=_("Bucket on %(day)s") % {"day": end.isoformat()},
                    chart_id=chart_id,
                )
            )
        return figure

    def figure_promises(self):
        p = self.promises
        return Figure(
            "promises",
            _("Promises to pay"),
            [self.table_promises()],
            charts=[
                chart(
                    charts.bar_chart,
                    [
                        (_("Made"), p["made"]),
                        (_("Due"), p["due"]),
                        (_("Kept"), p["kept"]),
                        (_("Broken"), p["broken"]),
                        (_("Pending"), p["pending"]),
                    ],
                    title=_("Promises made, and promises due in the period by outcome"),
                    value_label=_("Promises"),
                    category_label=_("Promises"),
                    colours=["#1a4fa0", "#7b8794", "#0b6e4f", "#b42318", "#c98a00"],
                    chart_id="chart-promises",
                ),
                chart(
                    charts.rate_meters,
                    [
                        (
                            _("Kept rate"),
                            p["kept_rate"],
                            _("%(kept)s kept of %(judged)s judged")
                            % {"kept": charts.number(p["kept"]), "judged": charts.number(p["kept"] + p["broken"])},
                        )
                    ],
                    title=_("Promise kept rate"),
                    chart_id="chart-promises-rate",
                ),
            ],
            notes=[
                _("Kept, broken and pending count the promises due in the period; made counts those recorded in it.")
            ],
        )

    def figure_collected(self):
        by_collector = self.table_collected_by_collector()
        by_week = self.table_collected_by_week()
        return Figure(
            "collected",
            _("Amount collected"),
            [by_collector, by_week],
            charts=[
                chart(
                    charts.bar_chart,
                    [(row[0], row[2]) for row in by_collector.rows],
                    fmt=charts.amount,
                    title=_("Amount collected per collector"),
                    value_label=_("Amount collected"),
                    category_label=_("Collector"),
                    chart_id="chart-collected-collector",
                ),
                chart(
                    charts.bar_chart,
                    [(f"{row[1]:%m-%d}–{row[2]:%m-%d}", row[4]) for row in by_week.rows],
                    fmt=charts.amount,
                    vertical=True,
                    title=_("Amount collected per week"),
                    value_label=_("Amount collected"),
                    category_label=_("Week (days in the period)"),
                    chart_id="chart-collected-week",
                ),
            ],
            notes=[
                _(
                    "Payments not reversed, made while the loan had a collection case, attributed to the "
                    "collector who held the case at the moment of payment."
                )
            ],
        )

    def figure_contact(self):
        c = self.contact
        return Figure(
            "contact-rate",
            _("Contact rate"),
            [self.table_contact_rate()],
            charts=[
                chart(
                    charts.rate_meters,
                    [
                        (
                            _("Contact rate"),
                            c["rate"],
                            _("%(rpc)s of %(worked)s cases worked")
                            % {"rpc": charts.number(c["right_party"]), "worked": charts.number(c["worked"])},
                        )
                    ],
                    title=_("Contact rate: cases with a right-party contact / cases worked"),
                    chart_id="chart-contact-rate",
                ),
            ],
        )

    def figure_cure(self):
        figure = Figure("cure-rate", _("Cure rate"), [self.table_cure_rate()])
        start = self.period.previous_month_end
        if not self.has_start_snapshot:
            figure.missing.append(self.missing_snapshot_text(start))
            return figure
        c = self.cure
        figure.notes.append(
            _("Cases open at the start of the period (the snapshot of %(day)s) whose state at its end is resolved.")
            % {"day": start.isoformat()}
        )
        figure.charts.append(
            chart(
                charts.rate_meters,
                [
                    (
                        _("By cases"),
                        c["rate"],
                        _("%(n)s of %(total)s cases")
                        % {"n": charts.number(c["cured"]), "total": charts.number(c["open_at_start"])},
                    ),
                    (
                        _("By amount overdue"),
                        c["rate_amount"],
                        _("%(n)s of %(total)s")
                        % {"n": charts.amount(c["cured_amount"]), "total": charts.amount(c["amount_at_start"])},
                    ),
                ],
                title=_("Cure rate"),
                chart_id="chart-cure-rate",
            )
        )
        return figure
