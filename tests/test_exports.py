"""Exports (issue 6): the worklist as filtered, a queue, the dashboard's tables, a case's timeline and
the audit log, as CSV and XLSX; masked, scoped, audited; large ones through a FileJob task."""

import csv
import io
import json
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from collections_app.calendar import lender_today
from collections_app.masking import mask_name
from collections_app.models import AuditLog, FileJob
from collections_app.services import contact_log, pii_reveal

from .factories import BorrowerFactory, QueueFactory, UserFactory, assigned_case, overdue_case

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def url(name, *args):
    return reverse(f"collections:{name}", args=args)


def body(response):
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def read_csv(response):
    raw = body(response)
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def read_xlsx(response):
    book = load_workbook(io.BytesIO(body(response)), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def read_file(response, fmt):
    return read_csv(response) if fmt == "csv" else read_xlsx(response)


def exports_logged(user):
    return list(AuditLog.objects.filter(action=AuditLog.Action.EXPORT, actor_user=user).order_by("pk"))


@pytest.fixture
def named_borrower():
    return BorrowerFactory(name="张三丰")


@pytest.fixture
def my_cases(collector, supervisor, queue, named_borrower):
    """Two cases of the collector (a call case of 张三丰 and a reminder case), one of another collector."""
    other = UserFactory(username="someone_else", roles=["collector"])
    mine_call = assigned_case(to=collector, by=supervisor, days_overdue=10, queue=queue, borrower=named_borrower)
    mine_reminder = assigned_case(to=collector, by=supervisor, days_overdue=3, queue=queue)
    theirs = assigned_case(to=other, by=supervisor, days_overdue=10, queue=queue)
    return mine_call, mine_reminder, theirs


# --- The worklist ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_worklist_export_has_my_cases_masked_with_header(client, collector, my_cases, fmt):
    mine_call, mine_reminder, theirs = my_cases
    client.force_login(collector)
    response = client.get(url("export-worklist", fmt))
    assert response.status_code == 200
    assert f'.{fmt}"' in response["Content-Disposition"]
    rows = read_file(response, fmt)
    assert rows[0][:3] == ["Case", "Borrower", "Loan"]
    ids = [int(row[0]) for row in rows[1:]]
    assert sorted(ids) == sorted([mine_call.pk, mine_reminder.pk])
    line = next(row for row in rows[1:] if int(row[0]) == mine_call.pk)
    assert line[1] == mask_name("张三丰") == "张**"
    assert "张三丰" not in json.dumps(rows, ensure_ascii=False, default=str)
    amount = line[rows[0].index("Amount overdue")]
    if fmt == "csv":
        assert amount == f"{mine_call.amount_overdue:.2f}"
    else:
        assert isinstance(amount, (int, float)) and Decimal(str(amount)) == mine_call.amount_overdue


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_worklist_export_respects_the_screen_filters(client, collector, my_cases, fmt):
    mine_call, mine_reminder, _ = my_cases
    client.force_login(collector)
    rows = read_file(client.get(url("export-worklist", fmt), {"stage": "call"}), fmt)
    assert [int(r[0]) for r in rows[1:]] == [mine_call.pk]
    # A name matches by its masked form only (docs/privacy.md): 张三丰 finds every 张** on the worklist.
    rows = read_file(client.get(url("export-worklist", fmt), {"q": "张三丰"}), fmt)
    same_mask = [c.pk for c in (mine_call, mine_reminder) if mask_name(c.borrower.name) == "张**"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(same_mask) and mine_call.pk in same_mask


def test_worklist_export_is_audited_with_its_filters(client, collector, my_cases):
    client.force_login(collector)
    read_csv(client.get(url("export-worklist", "csv"), {"stage": "call", "after": "junk"}))
    [entry] = exports_logged(collector)
    assert entry.actor == "user:collector"
    reason = json.loads(entry.reason)
    assert reason == {"export": "worklist", "format": "csv", "filters": {"stage": "call"}}
    assert entry.fields == ["name (masked)"]


def test_worklist_export_refuses_a_bad_filter(client, collector, my_cases):
    client.force_login(collector)
    assert client.get(url("export-worklist", "csv"), {"stage": "nope"}).status_code == 400
    assert exports_logged(collector) == []


def test_worklist_links_carry_the_filters(client, collector, my_cases):
    client.force_login(collector)
    page = client.get(url("worklist"), {"stage": "call"}).content.decode()
    assert url("export-worklist", "xlsx") + "?stage=call" in page


# --- A queue -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_queue_export_has_its_open_cases_only(client, supervisor, my_cases, queue, fmt):
    elsewhere = assigned_case(to=None, by=supervisor, queue=QueueFactory(name="M2 visits"))
    client.force_login(supervisor)
    rows = read_file(client.get(url("export-queue", queue.pk, fmt)), fmt)
    assert rows[0][0] == "Case" and rows[0][-1] == "Queue"
    ids = {int(r[0]) for r in rows[1:]}
    assert ids == {c.pk for c in my_cases} and elsewhere.pk not in ids
    assert {r[-1] for r in rows[1:]} == {"M1 calls"}
    filtered = read_file(client.get(url("export-queue", queue.pk, fmt), {"assigned_to": "collector"}), fmt)
    assert {int(r[0]) for r in filtered[1:]} == {my_cases[0].pk, my_cases[1].pk}


def test_queue_export_is_for_managers(client, collector, my_cases, queue):
    client.force_login(collector)
    assert client.get(url("export-queue", queue.pk, "csv")).status_code == 404
    assert exports_logged(collector) == [] and not FileJob.objects.exists()


def test_queue_export_of_an_unknown_queue_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get(url("export-queue", 999999, "csv")).status_code == 404


# --- A case's timeline -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_timeline_export_lists_the_events_in_shanghai_time(client, collector, my_cases, fmt):
    case = my_cases[0]
    at = datetime.combine(lender_today() - timedelta(days=1), time(10, 30), tzinfo=SHANGHAI)
    contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=at)
    client.force_login(collector)
    response = client.get(url("export-timeline", case.pk, fmt))
    assert response.status_code == 200
    rows = read_file(response, fmt)
    assert rows[0][:2] == ["At", "Event"]
    kinds = [r[4] for r in rows[1:]]
    assert "opened" in kinds and "assigned" in kinds and "contact_logged" in kinds
    opened = next(r for r in rows[1:] if r[4] == "opened")
    assert opened[6] in ("Reminder", "Call") and opened[1] == "Case opened"  # stage labels, not codes
    first_at = rows[1][0]
    if fmt == "csv":
        assert first_at.endswith("+08:00")
        datetime.fromisoformat(first_at)
    else:
        assert isinstance(first_at, datetime)
    [entry] = exports_logged(collector)
    assert entry.case_id == case.pk


def test_collector_cannot_export_another_collectors_timeline(client, collector, my_cases):
    client.force_login(collector)
    theirs = my_cases[2]
    assert client.get(url("export-timeline", theirs.pk, "csv")).status_code == 404
    assert client.get(url("export-timeline", theirs.pk, "xlsx")).status_code == 404
    assert exports_logged(collector) == []


def test_case_page_links_the_timeline_exports(client, collector, my_cases):
    client.force_login(collector)
    page = client.get(url("case", my_cases[0].pk)).content.decode()
    assert url("export-timeline", my_cases[0].pk, "xlsx") in page


# --- Dashboard tables --------------------------------------------------------------------------


def test_dashboard_table_as_xlsx_matches_the_csv(client, supervisor, my_cases):
    client.force_login(supervisor)
    csv_rows = read_csv(client.get(reverse("collections:dashboard-csv", args=["portfolio"])))
    response = client.get(url("dashboard-xlsx", "portfolio"))
    assert response.status_code == 200
    xlsx_rows = read_xlsx(response)
    assert xlsx_rows[0] == csv_rows[0]
    assert len(xlsx_rows) == len(csv_rows)
    total_csv, total_xlsx = csv_rows[-1], xlsx_rows[-1]
    assert Decimal(total_csv[-1]) == Decimal(str(total_xlsx[-1]))
    assert int(total_csv[-2]) == total_xlsx[-2] == 3
    assert exports_logged(supervisor)[0].fields == []
    page = client.get(url("dashboard")).content.decode()
    assert url("dashboard-xlsx", "portfolio") in page


def test_dashboard_exports_are_not_for_collectors(client, collector):
    client.force_login(collector)
    assert client.get(url("dashboard-xlsx", "portfolio")).status_code == 404
    assert client.get(url("export-dashboard", "funnel", "csv")).status_code == 404


def test_unknown_dashboard_table_is_404(client, supervisor):
    client.force_login(supervisor)
    assert client.get(url("export-dashboard", "nothing", "xlsx")).status_code == 404


# --- The audit log -----------------------------------------------------------------------------


@pytest.fixture
def reveals(supervisor, my_cases):
    """Two reveals: one today, one moved 40 days back."""
    pii_reveal(actor=supervisor, reason="call back", case_id=my_cases[0].pk, fields=["phones"])
    pii_reveal(actor=supervisor, reason="old look", case_id=my_cases[1].pk, fields=["name"])
    old = AuditLog.objects.get(reason="old look")
    AuditLog.objects.filter(pk=old.pk).update(at=old.at - timedelta(days=40))
    return AuditLog.objects.get(reason="call back"), old


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_auditor_exports_the_audit_log_of_a_date_range(client, auditor, reveals, fmt):
    recent, old = reveals
    client.force_login(auditor)
    today = lender_today()
    response = client.get(
        url("export-audit-log", fmt),
        {"date_from": (today - timedelta(days=7)).isoformat(), "date_to": today.isoformat()},
    )
    assert response.status_code == 200
    rows = read_file(response, fmt)
    assert rows[0] == ["At", "Actor", "Action", "Borrower", "Borrower name", "Case", "Fields", "Reason"]
    reasons = [r[-1] for r in rows[1:]]
    # The reveal in the range, then this very export (audited before its rows are read).
    assert reasons[0] == "call back" and len(reasons) == 2
    assert json.loads(reasons[1])["export"] == "audit-log"
    assert rows[1][4] == mask_name("张三丰")
    everything = read_file(
        client.get(url("export-audit-log", fmt), {"date_from": (today - timedelta(days=60)).isoformat()}), fmt
    )
    assert [r[-1] for r in everything[1:]][:2] == ["old look", "call back"]  # oldest first
    entry = exports_logged(auditor)[0]
    assert json.loads(entry.reason)["filters"]["date_from"] == (today - timedelta(days=7)).isoformat()


@pytest.mark.parametrize("who", ["collector", "supervisor", "legal_officer"])
def test_only_auditors_and_admins_get_the_audit_log(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(url("audit-log")).status_code == 403
    assert client.get(url("export-audit-log", "csv")).status_code == 403
    assert client.get(url("export-audit-log", "xlsx")).status_code == 403


def test_audit_log_page_lists_and_filters(client, admin_user, reveals):
    client.force_login(admin_user)
    page = client.get(url("audit-log"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "call back" in text and "old look" not in text  # the last 30 days by default
    assert url("export-audit-log", "xlsx") + "?" in text
    filtered = client.get(url("audit-log"), {"action": "export"}).content.decode()
    assert "call back" not in filtered
    assert client.get(url("audit-log"), {"date_from": "2026-02-01", "date_to": "2026-01-01"}).status_code == 400


# --- Large exports through a task --------------------------------------------------------------


@pytest.fixture
def small_threshold(settings, tmp_path):
    settings.COLLECTIONS_EXPORT_INLINE_MAX_ROWS = 1
    settings.COLLECTIONS_EXPORT_CHUNK_SIZE = 1
    settings.COLLECTIONS_FILES_DIR = tmp_path
    return tmp_path


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_large_export_runs_as_a_task_and_only_the_requester_downloads_it(
    client, collector, other_collector, my_cases, small_threshold, django_capture_on_commit_callbacks, fmt
):
    client.force_login(collector)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url("export-worklist", fmt))
    job = FileJob.objects.get()
    assert response.status_code == 302 and response["Location"] == url("export-job", job.pk)
    assert (job.direction, job.kind, job.file_format, job.requested_by) == ("export", "worklist", fmt, collector)
    assert job.status == "done" and job.processed_rows == 2
    assert (small_threshold / job.file_path).is_file()
    [entry] = exports_logged(collector)
    assert json.loads(entry.reason)["job"] == job.pk

    page = client.get(url("export-job", job.pk), HTTP_HX_REQUEST="true")
    assert 'data-status="done"' in page.content.decode() and "hx-trigger" not in page.content.decode()
    download = client.get(url("export-job-download", job.pk))
    assert download.status_code == 200
    rows = read_file(download, fmt)
    assert {int(r[0]) for r in rows[1:]} == {my_cases[0].pk, my_cases[1].pk}

    client.force_login(other_collector)
    assert client.get(url("export-job-download", job.pk)).status_code == 404
    assert client.get(url("export-job", job.pk)).status_code == 404


def test_a_job_page_polls_while_the_file_is_written(client, collector, my_cases, small_threshold):
    client.force_login(collector)
    client.get(url("export-worklist", "csv"))  # the on-commit enqueue is not run here
    job = FileJob.objects.get()
    assert job.status == "queued"
    partial = client.get(url("export-job", job.pk), HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in partial
    assert client.get(url("export-job-download", job.pk)).status_code == 404
    listing = client.get(url("exports")).content.decode()
    assert job.source_name in listing and "Queued" in listing
    assert url("export-job-download", job.pk) not in listing  # nothing to download yet


def test_large_audit_log_export_runs_as_a_task(
    client, auditor, reveals, small_threshold, django_capture_on_commit_callbacks
):
    client.force_login(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url("export-audit-log", "csv"), {"date_from": "2000-01-01"})
    assert response.status_code == 302
    job = FileJob.objects.get()
    assert job.status == "done"
    rows = read_csv(client.get(url("export-job-download", job.pk)))
    assert [r[-1] for r in rows[1:3]] == ["old look", "call back"]


# --- Streaming costs ---------------------------------------------------------------------------


def _streamed_queries(client, name, *args, **params):
    read_csv(client.get(url(name, *args), params))  # warm what is kept between requests (buckets, session)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(name, *args), params)
        read_csv(response)
    return len(queries)


def test_queries_of_a_streamed_export_do_not_grow_with_rows(client, supervisor, collector, queue, settings):
    settings.COLLECTIONS_EXPORT_CHUNK_SIZE = 100
    for _ in range(2):
        assigned_case(to=collector, by=supervisor, queue=queue)
    client.force_login(supervisor)
    few_queue = _streamed_queries(client, "export-queue", queue.pk, "csv")
    client.force_login(collector)
    few_worklist = _streamed_queries(client, "export-worklist", "csv")
    for _ in range(6):
        assigned_case(to=collector, by=supervisor, queue=queue)
    client.force_login(supervisor)
    assert _streamed_queries(client, "export-queue", queue.pk, "csv") == few_queue
    client.force_login(collector)
    assert _streamed_queries(client, "export-worklist", "csv") == few_worklist


def test_rows_are_read_in_chunks_of_a_fixed_query_count(client, supervisor, collector, queue, settings):
    """With two rows a chunk, each further chunk costs the same few queries (no per-row query)."""
    settings.COLLECTIONS_EXPORT_CHUNK_SIZE = 2
    for _ in range(4):
        assigned_case(to=collector, by=supervisor, queue=queue)
    client.force_login(supervisor)
    four = _streamed_queries(client, "export-queue", queue.pk, "csv")
    for _ in range(2):
        assigned_case(to=collector, by=supervisor, queue=queue)
    six = _streamed_queries(client, "export-queue", queue.pk, "csv")
    for _ in range(2):
        assigned_case(to=collector, by=supervisor, queue=queue)
    eight = _streamed_queries(client, "export-queue", queue.pk, "csv")
    assert six - four == eight - six <= 3


# --- Cells -------------------------------------------------------------------------------------


def test_text_a_spreadsheet_would_run_is_kept_text(client, supervisor):
    from collections_app.services.files.exports.cells import csv_text, xlsx_cell
    from openpyxl import Workbook

    assert csv_text("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_text(Decimal("-12.5")) == "-12.50"
    sheet = Workbook(write_only=True).create_sheet()
    assert xlsx_cell(sheet, "=1+1").data_type == "s"
    assert csv_text(datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo("UTC"))) == "2026-01-01T08:00:00+08:00"


def test_an_overdue_case_in_no_queue_is_not_in_a_queue_export(client, supervisor, queue):
    lone = overdue_case(days_overdue=10)
    client.force_login(supervisor)
    rows = read_csv(client.get(url("export-queue", queue.pk, "csv")))
    assert lone.pk not in {int(r[0]) for r in rows[1:]}


def test_xlsx_goes_to_a_worker_sooner_than_csv(client, collector, my_cases, settings, tmp_path):
    """An XLSX cannot be sent before it is complete: its inline limit is lower than the CSV's."""
    settings.COLLECTIONS_EXPORT_INLINE_MAX_ROWS_XLSX = 1
    settings.COLLECTIONS_FILES_DIR = tmp_path
    client.force_login(collector)
    assert client.get(url("export-worklist", "csv")).status_code == 200
    response = client.get(url("export-worklist", "xlsx"))
    assert response.status_code == 302
    assert FileJob.objects.get().file_format == "xlsx"


def test_a_job_of_someone_who_left_fails_without_a_file(collector, my_cases, small_threshold):
    from collections_app.services.files.exports import export_job_run

    job = FileJob.objects.create(
        direction="export",
        kind="worklist",
        file_format="csv",
        requested_by=collector,
        actor="user:collector",
        params={},
    )
    collector.is_active = False
    collector.save(update_fields=["is_active"])
    assert export_job_run(job.pk) is None
    job.refresh_from_db()
    assert job.status == "failed" and not job.file_path
    assert export_job_run(job.pk) is None  # a rerun leaves a finished job alone


def test_dashboard_csv_export_gives_the_same_rows_as_the_dashboard_csv(client, supervisor, my_cases):
    """So the dashboard's own CSV route could be pointed at the audited export without a change."""
    from collections_app.selectors.dashboard.board import Dashboard

    client.force_login(supervisor)
    for table in Dashboard.TABLES:
        ours = client.get(url("export-dashboard", table, "csv"))
        theirs = client.get(reverse("collections:dashboard-csv", args=[table]))
        assert read_csv(ours) == read_csv(theirs), table
        assert ours["Content-Disposition"] == theirs["Content-Disposition"]
    assert client.get(url("export-dashboard", "funnel", "csv"), {"month": "1999-13"}).status_code == 400


def test_queue_pages_link_their_exports(client, supervisor, my_cases, queue):
    client.force_login(supervisor)
    assert url("export-queue", queue.pk, "xlsx") in client.get(url("queues")).content.decode()
    page = client.get(url("assign"), {"queue": queue.pk, "assigned_to": "unassigned"}).content.decode()
    assert url("export-queue", queue.pk, "csv") + f"?queue={queue.pk}&amp;assigned_to=unassigned" in page


def test_a_note_with_a_control_character_does_not_break_the_xlsx(client, collector, my_cases):
    case = my_cases[0]
    contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer", notes="dial\x0bled twice")
    client.force_login(collector)
    response = client.get(url("export-timeline", case.pk, "xlsx"))
    rows = read_file(response, "xlsx")
    assert response.status_code == 200 and rows[0][:2] == ["At", "Event"]
    assert any("dial\ufffdled twice" in str(cell) for row in rows[1:] for cell in row)  # kept, made legal


def test_the_audit_log_service_refuses_who_is_not_an_auditor(supervisor, auditor):
    from collections_app.actors import actor_for_user
    from collections_app.errors import DomainError
    from collections_app.services.files.exports.registry import kind_named

    kind = kind_named("audit-log")
    kind.check(actor_for_user(auditor), {})
    with pytest.raises(DomainError) as refused:
        kind.check(actor_for_user(supervisor), {})
    assert refused.value.code == "permission_denied"


def test_old_import_reports_and_export_files_go_with_their_jobs(settings, tmp_path, supervisor):
    from datetime import timedelta as td

    from django.utils import timezone as tz
    from django_celery_beat.models import PeriodicTask

    from collections_app.models import FileJob
    from collections_app.tasks.files import file_jobs_purge_task

    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    settings.COLLECTIONS_FILES_RETENTION_DAYS = 30
    (tmp_path / "files" / "exports").mkdir(parents=True)
    outside = tmp_path / "outside.csv"
    for name in ("old.csv", "new.csv"):
        (tmp_path / "files" / "exports" / name).write_text("x")
    outside.write_text("keep me")
    long_ago = tz.now() - td(days=31)
    old = FileJob.objects.create(
        direction="export",
        kind="worklist",
        status="done",
        file_path="exports/old.csv",
        requested_by=supervisor,
        finished_at=long_ago,
    )
    FileJob.objects.filter(pk=old.pk).update(created_at=long_ago)
    odd = FileJob.objects.create(
        direction="import", kind="loans", status="done", report_path="../outside.csv", finished_at=long_ago
    )
    new = FileJob.objects.create(
        direction="export",
        kind="worklist",
        status="done",
        file_path="exports/new.csv",
        requested_by=supervisor,
        finished_at=tz.now(),
    )

    assert file_jobs_purge_task() == 2
    assert list(FileJob.objects.values_list("pk", flat=True)) == [new.pk]
    assert not (tmp_path / "files" / "exports" / "old.csv").exists()
    assert (tmp_path / "files" / "exports" / "new.csv").exists() and outside.exists()
    assert odd.pk not in FileJob.objects.values_list("pk", flat=True)
    assert PeriodicTask.objects.get(task="collections_app.tasks.file_jobs_purge_task").enabled


def test_a_search_term_goes_into_the_audit_log_masked(client, collector, my_cases):
    client.force_login(collector)
    read_csv(client.get(url("export-worklist", "csv"), {"q": "张三"}))
    [entry] = exports_logged(collector)
    assert json.loads(entry.reason)["filters"] == {"q": "张*"} and "张三" not in entry.reason


@pytest.mark.parametrize("query", [{"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}])
def test_far_dates_on_the_audit_log_are_refused_not_a_500(client, auditor, query):
    client.force_login(auditor)
    page = client.get(url("audit-log"), query)
    assert page.status_code == 400 and "Choose a day from 2000-01-01 to today." in page.content.decode()
    export = client.get(url("export-audit-log", "csv"), query)
    assert export.status_code == 400 and not exports_logged(auditor)
