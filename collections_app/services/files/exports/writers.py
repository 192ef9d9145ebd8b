"""Write a header and an iterator of rows as CSV (streamed, UTF-8 with a byte-order mark so Excel
reads Chinese) or XLSX (openpyxl's write-only mode: rows go to a temporary file as they come, so
memory stays flat whatever the number of rows)."""

import csv
import tempfile

from .cells import csv_text, xlsx_cell, yes_no

BOM = "\ufeff"
SPOOL_MAX_BYTES = 8 * 1024 * 1024


class _Echo:
    def write(self, value):
        return value


def csv_lines(header, rows, *, progress=None):
    """The CSV text, line by line (a generator for StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    words = yes_no()
    yield BOM + writer.writerow([str(h) for h in header])
    for n, row in enumerate(rows, 1):
        yield writer.writerow([csv_text(v, words) for v in row])
        if progress is not None:
            progress(n)


def write_csv(fileobj, header, rows, *, progress=None):
    """Write to a text file opened with newline=""; returns the number of rows written."""
    count = 0

    def counted(n):
        nonlocal count
        count = n
        if progress is not None:
            progress(n)

    for line in csv_lines(header, rows, progress=counted):
        fileobj.write(line)
    return count


def write_xlsx(fileobj, header, rows, *, title="Export", progress=None):
    """Write a workbook of one sheet to a binary file object; returns the number of rows written."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    sheet.append([str(h) for h in header])
    count = 0
    words = yes_no()
    for count, row in enumerate(rows, 1):
        sheet.append([xlsx_cell(sheet, v, words) for v in row])
        if progress is not None:
            progress(count)
    book.save(fileobj)
    return count


def xlsx_spooled(header, rows, *, title="Export"):
    """The workbook in a spooled temporary file (memory up to 8 MB, then disk), rewound."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)
    write_xlsx(spool, header, rows, title=title)
    spool.seek(0)
    return spool


def _sheet_title(title):
    text = "".join(ch for ch in str(title) if ch not in "[]:*?/\\")
    return (text or "Export")[:31]
