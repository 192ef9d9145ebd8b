"""Exports of what people see as CSV and XLSX (issue 6).

- `service.export_start`: check, audit, then stream inline or hand to a worker (FileJob).
- one module per kind: `worklist`, `queue`, `timeline`, `audit_log`, `dashboard` (registered in
  `registry.KINDS`), reading through the selectors (row scope, masking as on screen) by keyset pages.
- `cells` and `writers`: CSV (BOM, streamed) and XLSX (openpyxl write-only) spelling of values.
- `jobs`: the background path and the requester-only download.
"""

from . import audit_log, dashboard, queue, strategy_tests, timeline, worklist  # noqa: F401  (register the kinds)
from .audit import export_audit_write
from .audit_log import audit_log_page, audit_log_queryset
from .jobs import export_job_file, export_job_for, export_job_run
from .registry import FORMATS, KINDS, kind_named
from .service import BackgroundExport, InlineExport, export_start
from .writers import csv_lines, xlsx_spooled

__all__ = [
    "FORMATS",
    "KINDS",
    "BackgroundExport",
    "InlineExport",
    "audit_log_page",
    "audit_log_queryset",
    "csv_lines",
    "export_audit_write",
    "export_job_file",
    "export_job_for",
    "export_job_run",
    "export_start",
    "kind_named",
    "xlsx_spooled",
]
