"""An auditor reviews who looked at personal data and takes the range away as a spreadsheet."""

import io

import openpyxl
import pytest
from playwright.sync_api import expect

from collections_app import services

from ..factories import overdue_case

pytestmark = pytest.mark.django_db(transaction=True)


def test_auditor_sees_a_reveal_in_the_audit_log_and_downloads_it(page, live_server, login, shot, auditor, supervisor):
    case = overdue_case(days_overdue=12)
    services.pii_reveal(case_id=case.pk, actor=supervisor, fields=["phones"], reason="borrower called back")
    login("auditor")
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Audit log").click()
    log = page.get_by_test_id("audit-log")
    expect(log).to_contain_text("borrower called back")
    expect(log).to_contain_text("supervisor")
    shot("audit-log")
    with page.expect_download() as download:
        page.get_by_test_id("export-xlsx").click()
    sheet = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).active
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any("borrower called back" in c for c in cells)
