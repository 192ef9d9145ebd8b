"""The day loop: each simulated day, in the order a real day runs, with the clock (clock.py) on
that day's moments:
06:00 the sweep for the day (sweep_run: open, escalate, resolve, settle promises and plans, the
      month-end snapshot on a month's last day), the nightly risk scoring (which chooses strategies:
      champion/challenger groups act on the simulated borrowers) and the day's reminders planned;
08:00 the supervisor files and deals out new cases and plans visits (collectors.py);
09:00-21:00 the collectors' calls; every two hours (08:00 to 22:00) the reminder dispatcher sends
      what is due (reminders_dispatch, through the quiet gateway) and field agents record visits;
20:00-21:00 the borrowers' payments (borrowers.py)."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal

from django.db import transaction
from django.conf import settings
from django.db.models import Count, Max

from ..calendar import lender_date_of
from ..models import CaseEvent, PromiseToPay
from ..services.reminders import reminders_dispatch
from ..services.sweep import sweep_run
from .borrowers import borrowers_pay
from .clock import simulated_clock
from .collectors import Staff, agents_record_visits, collectors_call, supervisor_morning

SWEEP_HOUR = 6
TICK_HOURS = (8, 10, 12, 14, 16, 18, 20, 22)
DISPATCH_BATCH = 2000
DISPATCH_ROUNDS = 10  # batches per tick at most


@dataclass
class SimulationReport:
    seed: int
    start: date | None = None
    days: int = 0
    counts: Counter = field(default_factory=Counter)  # what happened, by kind
    refused: Counter = field(default_factory=Counter)  # what a service or the contact rules refused
    amount_paid: Decimal = Decimal("0")
    seconds: float = 0.0
    timings: Counter = field(default_factory=Counter)  # seconds by part of the day
    promises: dict = field(default_factory=dict)  # status -> promises made on the simulated days

    @contextmanager
    def timed(self, part):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[part] += time.perf_counter() - started

    @property
    def end(self):
        return self.start + timedelta(days=self.days - 1) if self.start and self.days else None

    def lines(self):
        c = self.counts
        paid = sum(v for key, v in c.items() if key.startswith("payments_"))
        out = [
            f"simulated {self.days} days, {self.start} to {self.end} (seed {self.seed}) in {self.seconds:.1f}s",
            f"  sweep: opened {c['sweep_opened']}, resolved {c['sweep_resolved']}, "
            f"escalated to call {c['sweep_escalated_call']}, to visit {c['sweep_escalated_visit']}, "
            f"month-end snapshot rows {c['sweep_snapshot']}",
            "  promises made: "
            + ", ".join(f"{status} {n}" for status, n in sorted(self.promises.items()))
            + f" (broken by the sweep {c['sweep_promises_broken']}, of older ones too)",
            f"  payments {paid} ({self.amount_paid:,.2f}): on time {c['payments_due']}, arrears "
            f"{c['payments_overdue']}, promised {c['payments_promise']}, plan {c['payments_plan_instalment']}",
            f"  calls: conversations {c['calls_conversation']}, plans {c['calls_plan']}, "
            f"unanswered {c['calls_unanswered']}, refused by the contact rules "
            f"{sum(v for key, v in self.refused.items() if key.startswith('call:'))}",
            f"  reminders sent {c['reminders_sent']}, suppressed {c['reminders_suppressed']}; "
            f"visits planned {c['visits_planned']}, met {c['visits_met_borrower']}, not home {c['visits_not_home']}",
        ]
        out.append("  seconds: " + ", ".join(f"{part} {s:.1f}" for part, s in self.timings.most_common()))
        if self.refused:
            out.append("  refused: " + ", ".join(f"{key} {n}" for key, n in sorted(self.refused.items())))
        return out


def _promise_outcomes(report):
    """{status: count} of the promises made on the simulated days (kept, broken, pending)."""
    if not report.days:
        return {}
    tz = settings.LENDER_TIME_ZONE
    since = datetime.combine(report.start, dtime(0), tzinfo=tz)
    until = datetime.combine(report.end + timedelta(days=1), dtime(0), tzinfo=tz)
    rows = PromiseToPay.objects.filter(created_at__gte=since, created_at__lt=until).values("status")
    return dict(rows.annotate(n=Count("id")).values_list("status", "n"))


def default_start(clock):
    """The day after the portfolio's latest event (a second run carries on from the first; a
    portfolio loaded or worked today goes on tomorrow), or the lender's today on an empty one."""
    last = CaseEvent.objects.aggregate(at=Max("at"))["at"]
    return lender_date_of(last) + timedelta(days=1) if last else clock.real_today()


def _dispatch(report):
    for _ in range(DISPATCH_ROUNDS):
        result = reminders_dispatch(limit=DISPATCH_BATCH)
        report.counts["reminders_sent"] += result.sent
        report.counts["reminders_suppressed"] += result.suppressed
        if not result.claimed:
            return


def simulate_day(*, day, seed, clock, staff, report):
    clock.at(day, SWEEP_HOUR)
    with report.timed("sweep"):
        swept = sweep_run(as_of=day, plan_reminders=True, score_risk=True)
    for key, n in swept.counts.items():
        report.counts[f"sweep_{key}"] += n
    with report.timed("supervisor"):
        supervisor_morning(day=day, clock=clock, staff=staff, report=report)
    ticks = list(TICK_HOURS)

    def before(seconds):
        while ticks and ticks[0] * 3600 <= seconds:
            clock.at(day, ticks.pop(0))
            with report.timed("reminders"):
                _dispatch(report)
            with report.timed("visits"):
                agents_record_visits(seed=seed, clock=clock, staff=staff, report=report)

    started = time.perf_counter()
    collectors_call(day=day, seed=seed, clock=clock, staff=staff, report=report, before=before)
    report.timings["calls"] += time.perf_counter() - started
    before(20 * 3600)
    with report.timed("payments"):
        borrowers_pay(day=day, seed=seed, clock=clock, report=report)
    before(24 * 3600)


def simulate(*, days, seed, start=None, progress=None, clock=None):
    """Move the portfolio forward `days` days from `start` (default: default_start). Returns a
    SimulationReport. `progress(day_number, day, seconds)` is called after each day. `clock`: a
    simulated clock already running (seed_demo builds its portfolio under it), else one is opened."""
    if days < 0:
        raise ValueError("days cannot be negative")
    if clock is None:
        with simulated_clock() as clock:
            return simulate(days=days, seed=seed, start=start, progress=progress, clock=clock)
    started = time.monotonic()
    report = SimulationReport(seed=seed, start=start or default_start(clock))
    staff = Staff.load()
    for n in range(days):
        day = report.start + timedelta(days=n)
        with transaction.atomic():  # a whole day or none of it (and one commit a day)
            simulate_day(day=day, seed=seed, clock=clock, staff=staff, report=report)
        report.days = n + 1
        if progress:
            progress(n + 1, day, time.monotonic() - started)
    report.promises = _promise_outcomes(report)
    report.seconds = time.monotonic() - started
    return report
