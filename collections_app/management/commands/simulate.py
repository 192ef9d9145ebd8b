"""`manage.py simulate --days N [--seed S] [--start YYYY-MM-DD]`: move the portfolio forward day by
day through the real services (collections_app/simulation/ does the work; this parses and prints)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from collections_app.simulation import simulate

DEFAULT_SEED = 1


class Command(BaseCommand):
    help = (
        "Simulate N days of the portfolio: borrowers pay, promise, answer or ignore by hidden traits "
        "(docs/risk.md), and the sweep, reminders and collectors run each day through the real services. "
        "The days covered start the day after the last sweep (so a second run carries on from the first) "
        "or, when no sweep ever ran, today; days after the real today are simulated too (their history "
        "then lies ahead of the clock), so to end on today build the portfolio N days back: "
        "`seed_demo --days N` does that."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="days to simulate")
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help="seed of the borrowers' hidden traits and draws (default %(default)s; use seed_demo's seed "
            "to keep the same borrowers as the demo's own simulated days)",
        )
        parser.add_argument("--start", help="first day YYYY-MM-DD (default: the day after the last sweep)")

    def handle(self, *args, days, seed, start, verbosity, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        try:
            first = date.fromisoformat(start) if start else None
        except ValueError:
            raise CommandError(f"--start {start!r} is not a date (YYYY-MM-DD)") from None

        def progress(n, day, seconds):
            if verbosity >= 1 and (n % 10 == 0 or n == days):
                self.stderr.write(f"  day {n}/{days} ({day}), {seconds:.0f}s")

        report = simulate(days=days, seed=seed, start=first, progress=progress)
        for line in report.lines():
            self.stdout.write(line)
