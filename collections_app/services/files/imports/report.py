"""The report of an import: counts, and a CSV of every refused row (line, column, value, reason)
and every warning, written as the import goes (never held in memory)."""

import csv
import re
from dataclasses import dataclass, field

REPORT_HEADER = ["line", "level", "column", "value", "reason"]
MAX_VALUE = 200  # a value is quoted in the report up to this many characters


@dataclass
class ImportResult:
    kind: str
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    rows: int = 0
    warnings: list = field(default_factory=list)
    report_path: str = ""
    file_refused: str = ""  # the reason the whole file was refused, if it was
    cases: dict = field(default_factory=dict)  # what the case follow-up did (or "queued": n loans)

    def add(self, status, n=1):
        setattr(self, status, getattr(self, status) + n)

    def as_summary(self):
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": self.refused,
            "warnings": list(self.warnings),
            "file_refused": self.file_refused,
            "cases": dict(self.cases),
        }

    def lines(self):
        head = "dry run: nothing written. " if self.dry_run else ""
        out = [
            f"{head}{self.kind}: {self.rows} rows",
            f"  created: {self.created}  updated: {self.updated}  unchanged: {self.unchanged}  refused: {self.refused}",
        ]
        out += [f"  warning: {w}" for w in self.warnings]
        if self.file_refused:
            out.append(f"  file refused: {self.file_refused}")
        if self.cases:
            out.append("  cases: " + ", ".join(f"{k} {v}" for k, v in sorted(self.cases.items())))
        if self.report_path:
            out.append(f"  report: {self.report_path}")
        return out


def _masked(column, value):
    """A refused cell of personal data goes into the report masked, as the pages show it: the report
    is for finding the row, and any supervisor may download it."""
    from ....masking import mask_address, mask_email, mask_name, mask_national_id, mask_phone

    field = re.sub(r"\[\d+\]", "", column or "").split(".")[-1]  # contacts[0].phone -> phone
    if field in ("phones", "phone"):
        return ";".join(mask_phone(part) for part in value.split(";"))
    maskers = {"name": mask_name, "national_id": mask_national_id, "email": mask_email, "address": mask_address}
    masker = maskers.get(field)
    return masker(value) if masker and value else value


def _inert(text):
    """The report echoes cells of an uploaded file: one a spreadsheet would run as a formula
    (=, +, -, @ ...) is kept text, as in the exports (services/exports/cells.py)."""
    from ..exports.cells import csv_text

    return csv_text(text)


class ReportWriter:
    """Appends report lines to a CSV file opened once; `close()` flushes it."""

    def __init__(self, path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # A byte-order mark, so spreadsheet programs read the (translated) reasons as UTF-8.
        self.file = open(path, "w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(REPORT_HEADER)

    def error(self, line, column, value, reason):
        value = _masked(column, "" if value is None else str(value))
        self.writer.writerow([line, "error", _inert(column), _inert(value[:MAX_VALUE]), _inert(str(reason))])

    def warning(self, line, column, reason):
        self.writer.writerow([line, "warning", _inert(column), "", _inert(str(reason))])

    def row_refused(self, line, problems):
        for column, value, reason in problems:
            self.error(line, column, value, reason)

    def close(self):
        if not self.file.closed:
            self.file.close()
