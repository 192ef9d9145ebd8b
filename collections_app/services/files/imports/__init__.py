"""Imports of the loan book from files (issue 6): borrowers, loans, instalments, payments.

- columns.py: the columns of each kind; readers.py: CSV/XLSX streamed, header checked;
- values.py: cell parsers and the reasons for people; rows.py: borrowers, loans, payments per row
  through the book and payment services; instalments_pg.py: COPY + SQL, set-based;
  instalments_orm.py: the same on SQLite; report.py: counts and the report CSV; run.py: one import;
  jobs.py: the upload page's imports as file jobs (services/files).
docs/imports.md is the reference for the people who prepare files.
"""

from .columns import KINDS
from .errors import FileRefused, RowRefused
from .report import REPORT_HEADER, ImportResult
from .jobs import import_job_create, import_job_report, import_job_run
from .run import KIND_NAMES, import_file

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "REPORT_HEADER",
    "FileRefused",
    "ImportResult",
    "RowRefused",
    "import_file",
    "import_job_create",
    "import_job_report",
    "import_job_run",
]
