"""Score every open case (p_cure) and every loan due in the next 7 days (p_pay) for a date, in this
process, and print what the run did (services/risk/score.py)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from collections_app.calendar import lender_today


class Command(BaseCommand):
    help = "Risk-score open cases and loans due in the next 7 days with the active scorers (set-based)."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="as-of date YYYY-MM-DD (default: today in the lender's calendar)")

    def handle(self, *args, **options):
        try:
            as_of = date.fromisoformat(options["date"]) if options["date"] else lender_today()
        except ValueError:
            raise CommandError(f"--date {options['date']!r} is not a date (YYYY-MM-DD)") from None
        # numpy is imported with the scoring service, not at Django's start.
        from collections_app.services.risk.score import risk_score

        run = risk_score(as_of=as_of)
        counts = run.counts
        if run.status != "ok":
            raise CommandError(f"risk scoring for {as_of} failed; the previous scores stay in place.\n{run.error}")
        self.stdout.write(f"risk_score {as_of}: run {run.pk} ok")
        self.stdout.write(
            f"  cases scored: {counts.get('cases', 0)} (band changed: {counts.get('bands_changed', 0)}),"
            f" model {counts.get('cure_model') or 'none active'}"
        )
        self.stdout.write(
            f"  loans due soon scored: {counts.get('loans', 0)} (cleared: {counts.get('loans_cleared', 0)}),"
            f" model {counts.get('pay_model') or 'none active'}"
        )
        strategies = counts.get("strategies", {})
        self.stdout.write(
            f"  strategies chosen: {strategies.get('chosen', 0)} (first {strategies.get('first', 0)},"
            f" strategy in force changed {strategies.get('changed', 0)})"
        )
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in counts.get("timings", {}).items())
        self.stdout.write(f"  took {counts.get('seconds', 0):.2f}s ({timings})")
