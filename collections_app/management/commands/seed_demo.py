"""`manage.py seed_demo [--cases N] [--password P] [--if-empty] [--seed S]`: demo users, queues and a
synthetic portfolio (collections_app/demo/ does the work; this only parses and prints)."""

from django.core.management.base import BaseCommand, CommandError

from collections_app.demo.people import DEFAULT_PASSWORD
from collections_app.demo.seed import DEFAULT_CASES, DEFAULT_CHUNK, DEFAULT_SIMULATED_DAYS, seed_demo


class Command(BaseCommand):
    help = "Create the demo users (one per role) and queues, and load a synthetic collections portfolio."

    def add_arguments(self, parser):
        parser.add_argument(
            "--cases",
            type=int,
            default=DEFAULT_CASES,
            help="cases to add (default %(default)s; 1000000 is practical on PostgreSQL)",
        )
        parser.add_argument(
            "--password", default=DEFAULT_PASSWORD, help="password of every demo user (default %(default)s)"
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="leave the portfolio alone if any case exists (users are still ensured)",
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible portfolio")
        parser.add_argument(
            "--chunk-size", type=int, default=DEFAULT_CHUNK, help="cases per transaction (default %(default)s)"
        )
        parser.add_argument(
            "--days",
            type=int,
            default=DEFAULT_SIMULATED_DAYS,
            help="build the portfolio this many days back and simulate each day up to today through the "
            "real services (`simulate`, docs/risk.md); 0 builds it as of today (default %(default)s; "
            "90 gives a quarter of history, a few minutes at 2,000 cases)",
        )
        parser.add_argument("--no-simulation", action="store_true", help="same as --days 0")

    def handle(self, *args, cases, password, if_empty, seed, chunk_size, verbosity, days, no_simulation, **options):
        if cases < 0:
            raise CommandError("--cases cannot be negative")
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if not password:
            raise CommandError("--password cannot be empty")
        if days < 0:
            raise CommandError("--days cannot be negative")

        shown = {"at": 0.0}

        def progress(done, total, seconds):
            # Large runs only, about every ten seconds, on stderr (stdout keeps the summary).
            if verbosity >= 1 and total > chunk_size and (seconds - shown["at"] >= 10 or done == total):
                shown["at"] = seconds
                self.stderr.write(f"  {done:,}/{total:,} cases, {seconds:.0f}s, {done / seconds:,.0f} cases/s")

        def day_progress(n, day, seconds):
            if verbosity >= 1 and (n % 10 == 0 or n == days):
                self.stderr.write(f"  simulated day {n}/{days} ({day}), {seconds:.0f}s")

        report = seed_demo(
            cases=cases,
            password=password,
            if_empty=if_empty,
            seed=seed,
            chunk_size=chunk_size,
            progress=progress,
            days=0 if no_simulation else days,
            day_progress=day_progress,
        )
        out = self.stdout
        out.write("Demo log-ins (username / password / role):")
        for username, role in report.users:
            out.write(f"  {username:<14} {report.password:<12} {role}")
        if report.skipped:
            out.write(f"Portfolio left as it is: {report.existing_cases:,} cases already exist (--if-empty).")
            out.write(f"Done in {report.seconds:.1f}s.")
            return
        if not report.cases:
            out.write(f"No cases requested. Done in {report.seconds:.1f}s.")
            return
        created = report.created
        out.write(f"Portfolio added (seed {report.seed}):")
        out.write(
            f"  borrowers {created['Borrower']:,} (contact persons {created['BorrowerContact']:,}, "
            f"holds {created['Hold']:,})"
        )
        out.write(
            f"  loans {created['Loan']:,}, instalments {created['Instalment']:,}, payments {created['Payment']:,}"
        )
        out.write(
            f"  cases {report.cases:,}: "
            + ", ".join(f"{state} {count:,}" for state, count in report.cases_by_state.items())
        )
        out.write(
            f"  contacts {created['ContactAttempt']:,}, promises {created['PromiseToPay']:,}, "
            f"visits {created['Visit']:,}, legal referrals {created['LegalReferral']:,}"
        )
        live = sum(report.live_plans.values())
        out.write(
            f"  repayment plans {created['RepaymentPlan'] + live:,} ({live:,} through the services), "
            f"vulnerable borrowers {created['VulnerabilityMarker']:,}"
        )
        out.write(f"  events {created['CaseEvent']:,}")
        if report.simulation is not None:
            for line in report.simulation.lines():
                out.write(line)
        out.write(self.style.SUCCESS(f"Done in {report.seconds:.1f}s ({report.rate:,.0f} cases/s)."))
