"""An XLSX zip bomb is refused before it is parsed (issue 9, point 15): the zip directory's unpacked
size and the first sheet's dimension are checked first; the worker recycles a child that grew."""

import re
import zipfile
from pathlib import Path
from unittest import mock

import pytest

from collections_app.models import FileJob, Instalment
from collections_app.services.files.imports import import_file
from collections_app.tasks.files import import_file_task

from .factories import BorrowerFactory, LoanFactory, UserFactory

pytestmark = pytest.mark.django_db

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def loans(db):
    borrower = BorrowerFactory(external_id="B1")
    return [LoanFactory(external_id=f"L{i}", borrower=borrower) for i in (1, 2)]


def workbook(path, rows):
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def rewrite_sheet(path, change):
    """The same workbook with its first sheet's XML changed by `change(bytes) -> bytes`."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in members:
            out.writestr(info.filename, change(data) if info.filename == SHEET else data)
    return path


ROWS = [["loan", "number", "due_date", "amount_due"], ["L1", 1, "2026-01-31", 1000], ["L2", 1, "2026-01-15", 5]]


def bomb(tmp_path, unpacked_mb):
    """A small file that unpacks to `unpacked_mb` MB: the sheet padded with whitespace (legal XML)."""
    path = workbook(tmp_path / "bomb.xlsx", ROWS)
    pad = b" " * (unpacked_mb * 1024 * 1024)
    rewrite_sheet(path, lambda xml: xml.replace(b"<sheetData>", b"<sheetData>" + pad, 1))
    return path


def run(path):
    return import_file(path, "instalments", follow_cases="inline", report_path=Path(path).with_suffix(".csv"))


def parsing_forbidden():
    return mock.patch("openpyxl.load_workbook", side_effect=AssertionError("parsed a refused workbook"))


def test_a_workbook_that_unpacks_past_the_limit_is_refused_before_parsing(tmp_path, loans, settings):
    settings.COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB = 2
    path = bomb(tmp_path, unpacked_mb=3)
    assert path.stat().st_size < 100 * 1024  # small upload, large unpacked

    with parsing_forbidden():
        result = run(path)

    assert "unpacks to 3 MB, more than the 2 MB allowed" in result.file_refused
    assert not Instalment.objects.exists()


def test_a_sheet_whose_dimension_spans_too_many_cells_is_refused_before_parsing(tmp_path, loans, settings):
    assert settings.COLLECTIONS_IMPORT_MAX_XLSX_CELLS == 10_000_000
    path = workbook(tmp_path / "wide.xlsx", ROWS)
    rewrite_sheet(path, lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:Z1000000"', xml))

    with parsing_forbidden():
        result = run(path)

    assert "spans 26,000,000 cells, more than the 10,000,000 allowed" in result.file_refused
    assert not Instalment.objects.exists()


def test_without_a_dimension_the_cells_are_counted_as_they_are_read(tmp_path, loans, settings):
    settings.COLLECTIONS_IMPORT_MAX_XLSX_CELLS = 10
    path = workbook(tmp_path / "nodim.xlsx", ROWS + [["L1", n, "2026-03-01", 1] for n in range(2, 5)])
    rewrite_sheet(path, lambda xml: re.sub(rb"<dimension [^>]*/>", b"", xml))

    result = run(path)

    assert "more than the 10 allowed" in result.file_refused


def test_a_workbook_within_the_limits_imports(tmp_path, loans, settings):
    settings.COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB = 1
    settings.COLLECTIONS_IMPORT_MAX_XLSX_CELLS = 12  # the header and two rows of four
    result = run(workbook(tmp_path / "ok.xlsx", ROWS))
    assert not result.file_refused and result.created == 2


def test_the_upload_job_fails_with_the_reason(tmp_path, loans, settings):
    settings.COLLECTIONS_FILES_DIR = tmp_path
    settings.COLLECTIONS_IMPORT_MAX_XLSX_UNPACKED_MB = 2
    (tmp_path / "uploads").mkdir()
    bomb(tmp_path / "uploads", unpacked_mb=3)
    job = FileJob.objects.create(
        direction="import",
        kind="instalments",
        status="queued",
        file_path="uploads/bomb.xlsx",
        source_name="book.xlsx",
        requested_by=UserFactory(),
    )

    with parsing_forbidden():
        import_file_task(job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert "unpacks to 3 MB, more than the 2 MB allowed" in job.error


def test_the_worker_recycles_a_child_that_grew_past_the_memory_limit(settings):
    from config.celery import app

    assert settings.COLLECTIONS_WORKER_MAX_MEMORY_MB == 400
    assert app.conf.worker_max_memory_per_child == 400 * 1024  # KiB
