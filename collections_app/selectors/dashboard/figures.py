"""The dashboard's figures: server-side SVG charts (`charts.py`) beside the tables, for the page.

`BoardFigures` is the half of `board.Dashboard` that draws: each `figure_*` reads the board's
queries and tables (`self.portfolio`, `self.table_portfolio()`, ...) and returns a `Figure`.
"""

from django.utils.translation import gettext as _

from ... import charts
from . import portfolio
from .period import STAGES
from .tables import Figure, bucket_label, chart, stage_label, target_label


class BoardFigures:
    """The charts of `board.Dashboard` (mixed into it; the queries and tables are its own)."""

    def figures(self):
        return [
            self.figure_portfolio(),
            self.figure_funnel(),
            self.figure_roll(),
            self.figure_promises(),
            self.figure_collected(),
            self.figure_contact(),
            self.figure_cure(),
            self.figure_plans(),
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

    def figure_plans(self):
        p = self.plans
        by_collector, by_kind = self.table_plans_by_collector(), self.table_plans_by_kind()
        meters = [
            (
                _("All plans"),
                p["kept_rate"],
                _("%(kept)s kept of %(judged)s judged")
                % {"kept": charts.number(p["kept"]), "judged": charts.number(p["kept"] + p["broken"])},
            )
        ]
        meters += [
            (
                row[0],
                row[5].fraction,
                _("%(kept)s kept, %(broken)s broken")
                % {"kept": charts.number(row[1]), "broken": charts.number(row[3])},
            )
            for row in by_kind.rows
        ]
        return Figure(
            "plans",
            _("Repayment plans"),
            [self.table_plans(), by_collector, by_kind],
            charts=[
                chart(
                    charts.bar_chart,
                    [
                        (_("Made"), p["made"]),
                        (_("Active"), p["active"]),
                        (_("Kept"), p["kept"]),
                        (_("Broken"), p["broken"]),
                    ],
                    title=_("Plans made in the period, active at its end, kept and broken in it"),
                    value_label=_("Plans"),
                    category_label=_("Plans"),
                    colours=["#1a4fa0", "#c98a00", "#0b6e4f", "#b42318"],
                    chart_id="chart-plans",
                ),
                chart(charts.rate_meters, meters, title=_("Plan kept rate"), chart_id="chart-plans-rate"),
            ],
            notes=[
                _(
                    "Made counts the plans proposed in the period; active, those approved and not ended at its "
                    "end (now, for this month); kept and broken, those that ended so in the period. A plan's "
                    "amount is what the borrower agreed to pay; forgiven is the discount of the settlements kept. "
                    "A plan's collector is the person who proposed it."
                )
            ],
        )
