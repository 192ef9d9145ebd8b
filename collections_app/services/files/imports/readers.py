"""Reading an import file as a stream of rows: CSV (UTF-8 with or without BOM, comma or tab,
sniffed from the header line) and XLSX (first sheet, openpyxl read-only). Never the whole file in
memory. Line numbers: the header is line 1; a CSV record's number is the line it ends on."""

import codecs
import csv
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from .columns import columns_of, normalise_header
from .errors import FileRefused

BOM = codecs.BOM_UTF8
XLSX_MAGIC = b"PK\x03\x04"
COUNT_CHUNK = 1 << 20


def file_format(path, name=None):
    """`xlsx` or `csv`, from the content first (a zip), then the name."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == XLSX_MAGIC:
        return "xlsx"
    suffix = Path(name or path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        raise FileRefused(_("The file is named .xlsx but is not an Excel workbook."))
    return "csv"


def sniff_delimiter(header_line):
    """Tab when the header line has more tabs than commas, else comma."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


@dataclass
class Layout:
    """Where each known column sits in the file's rows, and what the header held besides."""

    kind: str
    header: list
    positions: dict  # known column name -> index
    unknown: list = field(default_factory=list)  # names of ignored columns

    @property
    def width(self):
        return len(self.header)


def layout_of(kind, raw_header):
    header = [normalise_header(h) for h in raw_header]
    while header and header[-1] == "":
        header.pop()
    if not header:
        raise FileRefused(_("The file is empty: the first line must name the columns."))
    seen = set()
    for name in header:
        if name and name in seen:
            raise FileRefused(_("Column “%(name)s” appears twice in the header.") % {"name": name})
        seen.add(name)
    known = {c.name for c in columns_of(kind)}
    positions = {name: i for i, name in enumerate(header) if name in known}
    missing = [c.name for c in columns_of(kind) if c.required and c.name not in positions]
    if missing:
        raise FileRefused(
            _("Required columns missing for %(kind)s: %(missing)s. The header has: %(header)s.")
            % {"kind": kind, "missing": ", ".join(missing), "header": ", ".join(h or "(blank)" for h in header)}
        )
    unknown = [name or f"(column {i + 1})" for i, name in enumerate(header) if name not in known]
    return Layout(kind, header, positions, unknown)


class CsvSource:
    format = "csv"

    def __init__(self, path, kind):
        self.path, self.kind = path, kind
        with open(path, "rb") as f:
            first = f.readline()
        if first.startswith(BOM):
            first = first[len(BOM) :]
        try:
            header_line = first.decode("utf-8")
        except UnicodeDecodeError:
            raise FileRefused(_("The file is not UTF-8 text (line 1).")) from None
        self.delimiter = sniff_delimiter(header_line)
        raw = next(csv.reader([header_line.rstrip("\r\n")], delimiter=self.delimiter), [])
        self.layout = layout_of(kind, raw)

    def count_rows(self):
        """Data lines (newlines after the header; a last line without one counts too). The same pass
        checks the whole file is UTF-8, so a bad byte far down refuses the file before any row of
        it is applied (one path writes in batches as it reads)."""
        lines, last = 0, b"\n"
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(self.path, "rb") as f:
            while chunk := f.read(COUNT_CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    line = lines + chunk[: error.start].count(b"\n") + 1
                    raise FileRefused(_("The file is not UTF-8 text (near line %(line)d).") % {"line": line}) from None
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRefused(_("The file is not UTF-8 text (near line %(line)d).") % {"line": lines + 1}) from None
        if last != b"\n":
            lines += 1
        return max(lines - 1, 0)

    def open_body(self):
        """The raw bytes after the header line (for PostgreSQL's COPY)."""
        f = open(self.path, "rb")
        f.readline()
        return f

    def rows(self):
        """(line, [cells]) for each non-blank record after the header. Bytes are decoded line by
        line (a newline byte is never part of a UTF-8 sequence), so a bad byte is placed exactly."""
        physical = [0]

        def lines(raw):
            for number, data in enumerate(raw, start=1):
                physical[0] = number
                if number == 1 and data.startswith(BOM):
                    data = data[len(BOM) :]
                try:
                    yield data.decode("utf-8")
                except UnicodeDecodeError:
                    raise FileRefused(
                        _("The file is not UTF-8 text (near line %(line)d).") % {"line": number}
                    ) from None

        with open(self.path, "rb") as raw:
            reader = csv.reader(lines(raw), delimiter=self.delimiter)
            try:
                next(reader, None)
                for record in reader:
                    if not record or all(not c.strip() for c in record):
                        continue
                    yield reader.line_num, record
            except csv.Error as error:
                raise FileRefused(
                    _("The CSV cannot be read near line %(line)d: %(error)s.") % {"line": physical[0], "error": error}
                ) from None


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?"')
_SHEET = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\br:id="([^"]+)"')
_SHEET_ANY_ID = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\b\w+:id="([^"]+)"')
DIMENSION_PEEK = 64 * 1024  # the dimension sits near the top of a sheet's XML


def _column_number(letters):
    number = 0
    for ch in letters.decode():
        number = number * 26 + (ord(ch) - 64)
    return number


def _first_sheet_path(book):
    """The zip member of the workbook's first sheet (what openpyxl reads as worksheets[0])."""
    try:
        workbook = book.read("xl/workbook.xml")
        rels = book.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return None
    found = _SHEET.search(workbook) or _SHEET_ANY_ID.search(workbook)
    if not found:
        return None
    rel_id = re.escape(found.group(1))
    for rel in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        tag = rel.group(0)
        if re.search(rb'\bId="' + rel_id + rb'"', tag):
            target = re.search(rb'\bTarget="([^"]+)"', tag)
            if target:
                name = target.group(1).decode()
                return name.lstrip("/") if name.startswith("/") else posixpath.normpath(posixpath.join("xl", name))
    return None


def xlsx_limits_check(path):
    """Refuse a workbook before parsing it when its zip directory says it unpacks to more than
    COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB, or its first sheet's dimension spans more than
    COLLECTIONS_IMPORT_MAX_XLSX_CELLS cells (a zip bomb: small upload, huge XML). The declared sizes
    bind: Python's zipfile never inflates a member past its declared size. A damaged zip is left to
    openpyxl to refuse."""
    max_mb = settings.COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB
    max_cells = settings.COLLECTIONS_IMPORT_MAX_XLSX_CELLS
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with book:
        unpacked = sum(info.file_size for info in book.infolist())
        if unpacked > max_mb * 1024 * 1024:
            raise FileRefused(
                _(
                    "The Excel workbook unpacks to %(size)s MB, more than the %(limit)s MB allowed: split it, or "
                    "save it as CSV."
                )
                % {"size": f"{unpacked / 1048576:,.0f}", "limit": f"{max_mb:,}"}
            )
        sheet = _first_sheet_path(book)
        if sheet is None or sheet not in book.namelist():
            return
        with book.open(sheet) as xml:
            head = xml.read(DIMENSION_PEEK)
    found = _DIMENSION.search(head)
    if not found:
        return  # no dimension: the rows are counted as they are read (XlsxSource.rows)
    first_col, first_row, last_col, last_row = found.groups()
    last_col, last_row = last_col or first_col, last_row or first_row
    cells = (abs(int(last_row) - int(first_row)) + 1) * (abs(_column_number(last_col) - _column_number(first_col)) + 1)
    if cells > max_cells:
        raise FileRefused(too_many_cells(cells, max_cells))


def too_many_cells(cells, max_cells):
    return _(
        "The Excel workbook's first sheet spans %(cells)s cells, more than the %(limit)s allowed: split it, "
        "or save it as CSV."
    ) % {"cells": f"{cells:,}", "limit": f"{max_cells:,}"}


class XlsxSource:
    format = "xlsx"
    delimiter = None

    def __init__(self, path, kind):
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        self.path, self.kind = path, kind
        xlsx_limits_check(path)
        try:
            self.book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (InvalidFileException, KeyError, OSError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile) as error:
            raise FileRefused(_("The Excel workbook cannot be read: %(error)s") % {"error": error}) from None
        self.sheet = self.book.worksheets[0]
        first = next(self.sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
        self.layout = layout_of(kind, ["" if v is None else str(v) for v in first])
        cells = {c.name: c.cell for c in columns_of(kind)}
        self.cell_kinds = [cells.get(name, "text") for name in self.layout.header]

    def count_rows(self):
        return max((self.sheet.max_row or 1) - 1, 0)

    def rows(self):
        from .values import cell_text

        kinds = self.cell_kinds
        max_cells = settings.COLLECTIONS_IMPORT_MAX_XLSX_CELLS
        cells = len(self.layout.header)
        for line, values in enumerate(self.sheet.iter_rows(min_row=2, values_only=True), start=2):
            cells += len(values or ())
            if cells > max_cells:  # a sheet without a (true) dimension: stopped as it is read
                raise FileRefused(too_many_cells(cells, max_cells))
            if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            values = list(values)
            while len(values) > len(kinds) and values[-1] is None:
                values.pop()
            values += [None] * (len(kinds) - len(values))
            yield line, [cell_text(v, kinds[i] if i < len(kinds) else "text") for i, v in enumerate(values)]

    def close(self):
        self.book.close()


def open_source(path, kind, name=None):
    if file_format(path, name) == "xlsx":
        return XlsxSource(path, kind)
    return CsvSource(path, kind)


def pick(layout, record):
    """The known columns of one record as {name: text}; None when the field count is wrong."""
    if len(record) != layout.width and not (
        len(record) > layout.width and not any(c.strip() for c in record[layout.width :])
    ):
        return None
    return {name: record[i] if i < len(record) else "" for name, i in layout.positions.items()}
