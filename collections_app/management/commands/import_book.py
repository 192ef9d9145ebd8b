"""manage.py import_book PATH --kind borrowers|loans|instalments|payments [--dry-run]

Imports a loan-book file (CSV or XLSX; docs/imports.md), prints the summary and the path of the
report of refused rows. Exit code 1 when the file itself is refused (unreadable, required columns
missing); refused rows alone do not fail the command (they are in the report)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collections_app.services.files.imports import KIND_NAMES, import_file


class Command(BaseCommand):
    help = "Import borrowers, loans, instalments or payments from a CSV or XLSX file (docs/imports.md)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--kind", required=True, choices=KIND_NAMES)
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument("--report", help="where to write the report CSV (default: under COLLECTIONS_FILES_DIR)")
        parser.add_argument(
            "--cases",
            choices=("inline", "tasks", "none"),
            default="inline",
            help="after instalments: sync the touched loans' cases here (default), "
            "enqueue Celery chunk tasks, or leave them to the next sweep",
        )

    def handle(self, *args, path, kind, dry_run, report=None, cases="inline", **options):
        if not Path(path).is_file():
            raise CommandError(f"no such file: {path}")
        result = import_file(
            path, kind, dry_run=dry_run, report_path=report, source_name=Path(path).name, follow_cases=cases
        )
        for line in result.lines():
            self.stdout.write(line)
        if result.file_refused:
            raise CommandError(f"file refused: {result.file_refused}")
