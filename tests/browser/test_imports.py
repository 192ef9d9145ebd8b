"""A supervisor imports a file in a real browser: upload, the job page, the progress partial that
HTMX polls until the job is done, the report download."""

import pytest
from playwright.sync_api import expect

from collections_app.models import FileJob, Instalment

from ..factories import LoanFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def files_dir(settings, tmp_path):
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"


def test_supervisor_uploads_a_file_and_downloads_the_report(page, live_server, login, shot, supervisor, tmp_path):
    LoanFactory(external_id="L1")
    path = tmp_path / "book.csv"
    path.write_text("loan,number,due_date,amount_due\nL1,1,2026-01-31,100\nL9,1,2026-01-31,100\n", encoding="utf-8")
    login("supervisor")
    page.goto(f"{live_server.url}/imports/")
    page.locator("#id_kind").select_option("instalments")
    page.locator("#id_file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and import").click()
    progress = page.get_by_test_id("import-progress")
    expect(progress).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("import-summary")).to_contain_text("Refused")
    shot("import-done")
    with page.expect_download() as download:
        page.get_by_test_id("report-link").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert "3,error,loan,L9,No loan with this external id." in text
    assert Instalment.objects.count() == 1


def test_progress_bar_follows_a_running_job(page, live_server, login, supervisor, settings):
    job = FileJob.objects.create(
        direction="import",
        kind="instalments",
        status="running",
        total_rows=10,
        processed_rows=3,
        requested_by=supervisor,
        source_name="big.csv",
    )
    login("supervisor")
    page.goto(f"{live_server.url}/imports/{job.pk}/")
    expect(page.locator("#import-progress progress")).to_have_attribute("value", "30")
    report = settings.COLLECTIONS_FILES_DIR / "imports" / "r.csv"
    report.parent.mkdir(parents=True)
    report.write_text("line,level,column,value,reason\n", encoding="utf-8")
    FileJob.objects.filter(pk=job.pk).update(
        status="done",
        processed_rows=10,
        report_path="imports/r.csv",
        summary={"rows": 10, "created": 10, "updated": 0, "unchanged": 0, "refused": 0, "warnings": []},
    )
    expect(page.get_by_test_id("report-link")).to_be_visible(timeout=5000)
    expect(page.locator("#import-progress progress")).to_have_attribute("value", "100")
