"""`seed_demo`: the demo users and queues, then the portfolio in chunks (the command `seed_demo`
calls it)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from ..calendar import lender_today
from ..models import Case
from .people import DEFAULT_PASSWORD, DEMO_USERS, ensure_demo_queues, ensure_demo_users
from .live_plans import seed_live_plans
from .strategies import ensure_demo_strategy_test
from .portfolio import _Builder
from .rows import _Format, _Writers, _reserve_ids, _write_chunk
from .common import _Clock


DEFAULT_CASES = 2000
# Days simulated after the load (the portfolio is built that many days back, simulate ends today).
# None by default: measured here at 2,000 cases, a simulated day takes ~4-7 s (PostgreSQL, SQLite; more
# on a busy machine), so 90 days would make `make run` wait 6-10 minutes; the bulk load already writes
# months of history (contacts, promises, payments, month-end snapshots). `seed_demo --days 90`
# (`make run DAYS=90`) gives a simulated quarter.
DEFAULT_SIMULATED_DAYS = 0
# Cases per chunk (one transaction each). Measured on PostgreSQL here, 100k cases: 5,000 -> ~4,000
# cases/s and 0.2 GB resident; 20,000 -> ~3,150 cases/s and 0.6 GB (less overlap of build and write).
DEFAULT_CHUNK = 5_000
WRITERS = 2  # PostgreSQL connections writing chunks side by side


@dataclass
class SeedReport:
    users: list  # [(username, role)]
    password: str
    seed: int
    skipped: bool = False
    existing_cases: int = 0
    created: dict = field(default_factory=dict)  # model name -> rows inserted
    live_plans: dict = field(default_factory=dict)  # status -> plans made through the services
    cases_by_state: dict = field(default_factory=dict)
    seconds: float = 0.0
    simulation: object = None  # the simulated days' SimulationReport (simulation/day.py), if any

    @property
    def cases(self):
        return sum(self.cases_by_state.values())

    @property
    def rate(self):
        return self.cases / self.seconds if self.seconds else 0.0


def seed_demo(
    *,
    cases=DEFAULT_CASES,
    password=DEFAULT_PASSWORD,
    if_empty=False,
    seed=None,
    chunk_size=DEFAULT_CHUNK,
    progress=None,
    days=DEFAULT_SIMULATED_DAYS,
    day_progress=None,
):
    """Ensure the demo users and queues, then add `cases` cases (unless `if_empty` and some exist).

    With `days`, the portfolio is built as it stood `days` days ago and then simulated day by day up
    to today through the real services (collections_app/simulation/, with `seed`), so its recent
    history is what the sweep, reminders, collectors and borrowers did. `progress(done, total,
    seconds)` is called after each committed chunk, `day_progress(n, day, seconds)` after each day.
    """
    if days < 0:
        raise ValueError("the number of days cannot be negative")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 10**6)
    if not days or cases <= 0:
        return _seed_demo(cases, password, if_empty, seed, chunk_size, progress)
    from ..simulation import simulate
    from ..simulation.clock import simulated_clock

    started = time.monotonic()
    with simulated_clock() as clock:
        clock.set(clock.real_now() - timedelta(days=days))
        report = _seed_demo(cases, password, if_empty, seed, chunk_size, progress)
        if not report.skipped:
            start = lender_today() + timedelta(days=1)
            report.simulation = simulate(days=days, seed=seed, start=start, progress=day_progress, clock=clock)
    report.seconds = time.monotonic() - started
    return report


def _seed_demo(cases, password, if_empty, seed, chunk_size, progress):
    started = time.monotonic()
    if cases < 0:
        raise ValueError("the number of cases cannot be negative")
    users = ensure_demo_users(password)
    queues = ensure_demo_queues()
    ensure_demo_strategy_test()
    report = SeedReport(users=users, password=password, seed=seed)
    if if_empty:
        existing = Case.objects.count() if Case.objects.exists() else 0
        if existing:
            report.skipped, report.existing_cases = True, existing
            report.seconds = time.monotonic() - started
            return report
    if cases == 0:
        report.seconds = time.monotonic() - started
        return report

    connection.ensure_connection()
    clock = _Clock(timezone.now(), lender_today(), connection.vendor == "postgresql")
    fmt = _Format(connection.vendor, clock)
    user_ids = dict(
        get_user_model().objects.filter(username__in=[u for u, _ in DEMO_USERS]).values_list("username", "id")
    )
    builder = _Builder(
        seed=seed, cases=cases, fmt=fmt, clock=clock, users=user_ids, queues={name: q.pk for name, q in queues.items()}
    )
    builder.first_case_id = builder.next_id["case"]
    pg = fmt.pg
    done = 0

    def written(size):
        nonlocal done
        done += size
        if progress:
            progress(done, cases, time.monotonic() - started)

    if cases <= chunk_size:
        builder.build(cases)
        if pg:
            _reserve_ids(builder.t.values(), builder.last_ids())
        _write_chunk(builder.take(), pg)
        written(cases)
    else:
        # SQLite has one writer at a time; PostgreSQL takes two (this machine has two cores).
        writers = _Writers(WRITERS if pg else 1, pg, written)
        built = 0
        try:
            while built < cases and writers.error is None:
                size = min(chunk_size, cases - built)
                builder.build(size)
                built += size
                if pg:
                    _reserve_ids(builder.t.values(), builder.last_ids())
                writers.put(builder.take(), size)
        finally:
            writers.finish()
    # Plans the services make today (waiting, active, declined, cancelled, kept), on this run's cases.
    report.live_plans = seed_live_plans(first_case_id=builder.first_case_id, cases=cases, seed=seed)
    report.created = {
        table.model._meta.object_name if key != "visit_agent" else "Visit agents": table.total
        for key, table in builder.t.items()
    }
    report.cases_by_state = {k: v for k, v in builder.by_state.items()}
    report.seconds = time.monotonic() - started
    return report
