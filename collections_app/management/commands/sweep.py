"""Run the daily escalation sweep for a date, in this process, and print what it did."""

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from collections_app.calendar import lender_today
from collections_app.services.sweep import DEFAULT_CHUNK, sweep_run


class Command(BaseCommand):
    help = "Open, escalate and resolve cases for a date, settle promises, score risk, plan reminders (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="as-of date YYYY-MM-DD (default: today in the lender's calendar)")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)
        parser.add_argument("--no-reminders", action="store_true", help="do not plan reminders")
        parser.add_argument(
            "--no-risk", action="store_true", help="do not risk-score after the sweep (risk_score does it alone)"
        )
        parser.add_argument(
            "--full-refresh",
            action="store_true",
            help="re-read every open case's amounts, not only loans with instalments due this week",
        )

    def handle(self, *args, **options):
        try:
            as_of = date.fromisoformat(options["date"]) if options["date"] else lender_today()
        except ValueError:
            raise CommandError(f"--date {options['date']!r} is not a date (YYYY-MM-DD)") from None
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        started = time.monotonic()

        def progress(kind, lo, hi, counts):
            if options["verbosity"] > 1:
                self.stdout.write(f"  {kind} {lo}-{hi}: {dict(counts)}")

        report = sweep_run(
            as_of=as_of,
            chunk_size=options["chunk_size"],
            plan_reminders=not options["no_reminders"],
            on_chunk=progress,
            full_refresh=options["full_refresh"],
            score_risk=not options["no_risk"],
        )
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(f"  took {time.monotonic() - started:.2f}s")
