"""Train a new scorer version from this portfolio's history and print its metrics
(services/risk/train.py). The new version is saved inactive unless --activate."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError


def _day(text, flag):
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise CommandError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Train a risk scorer (scorecard or gradient-boosted model) on the portfolio's own history."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=["scorecard", "model"], required=True)
        parser.add_argument("--target", choices=["cure", "pay"], default="cure")
        parser.add_argument("--from", dest="start", help="first snapshot day YYYY-MM-DD (default: --days before --to)")
        parser.add_argument("--to", dest="end", help="last snapshot day (default and latest: 30 days ago for cure)")
        parser.add_argument("--days", type=int, default=90, help="window length when --from is not given")
        parser.add_argument("--step", type=int, default=7, help="days between snapshot days")
        parser.add_argument("--name", default="", help="scorer name (default: <target>-<kind>)")
        parser.add_argument("--activate", action="store_true", help="make the new version the active one")

    def handle(self, *args, **options):
        # numpy and scikit-learn load with the training service, not at Django's start.
        from collections_app.actors import SYSTEM
        from collections_app.errors import DomainError
        from collections_app.services.risk import scorer_activate
        from collections_app.services.risk.train import TrainingRefused, risk_train

        if options["step"] < 1 or options["days"] < 1:
            raise CommandError("--days and --step must be at least 1")
        try:
            trained = risk_train(
                kind=options["kind"],
                target=options["target"],
                start=_day(options["start"], "--from"),
                end=_day(options["end"], "--to"),
                days=options["days"],
                step=options["step"],
                name=options["name"],
            )
        except TrainingRefused as refusal:
            raise CommandError(f"training refused: {refusal} The active scorer is unchanged.") from None
        scorer, metrics = trained.scorer, trained.metrics
        self.stdout.write(
            f"risk_train: {scorer.label} ({scorer.kind}, target {scorer.target}) on {scorer.train_from} .. "
            f"{scorer.train_to}: {trained.examples} examples of {trained.distinct} rows, "
            f"outcome rate {metrics['cure_rate']}"
        )
        self.stdout.write(
            f"  held out from {metrics['holdout_from']}: AUC {metrics['auc']}, KS {metrics['ks']}, "
            f"largest calibration gap by decile {metrics.get('max_calibration_gap')}"
        )
        if options["activate"]:
            try:
                scorer_activate(actor=SYSTEM, scorer_id=scorer.pk)
            except DomainError as refusal:
                raise CommandError(f"{scorer.label} saved but not activated: {refusal}") from None
            self.stdout.write(f"  {scorer.label} is now the active {scorer.target} scorer")
        else:
            self.stdout.write("  saved inactive: make it active in the admin (Scorers) or rerun with --activate")
