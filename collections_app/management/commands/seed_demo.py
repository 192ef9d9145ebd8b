"""`manage.py seed_demo [--cases N] [--password P] [--if-empty] [--seed S]`: demo users, queues and a
synthetic portfolio (collections_app/demo/ does the work; this only parses and prints)."""

from django.core.management.base import BaseCommand, CommandError

from collections_app.demo.people import DEFAULT_PASSWORD
from collections_app.demo.seed import DEFAULT_CASES, DEFAULT_CHUNK, seed_demo


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

    def handle(self, *args, cases, password, if_empty, seed, chunk_size, verbosity, **options):
        if cases < 0:
            raise CommandError("--cases cannot be negative")
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if not password:
            raise CommandError("--password cannot be empty")

        shown = {"at": 0.0}

        def progress(done, total, seconds):
            # Large runs only, about every ten seconds, on stderr (stdout keeps the summary).
            if verbosity >= 1 and total > chunk_size and (seconds - shown["at"] >= 10 or done == total):
                shown["at"] = seconds
                self.stderr.write(f"  {done:,}/{total:,} cases, {seconds:.0f}s, {done / seconds:,.0f} cases/s")

        report = seed_demo(
            cases=cases, password=password, if_empty=if_empty, seed=seed, chunk_size=chunk_size, progress=progress
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
        out.write(self.style.SUCCESS(f"Done in {report.seconds:.1f}s ({report.rate:,.0f} cases/s)."))
