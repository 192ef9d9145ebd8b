"""File jobs are a service (issue 10, point 3): services/files holds a FileJob's life (create, the one
claim-or-abandon query, progress, finish), the inside-the-files-folder check and the audited report;
pages and tasks only call services."""

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from collections_app.actors import actor_for_user
from collections_app.errors import DomainError
from collections_app.models import AuditLog, FileJob
from collections_app.services import files

APP = Path(__file__).resolve().parent.parent / "collections_app"
WRITES = {"create", "update", "delete", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "save"}
JOB_MODELS = {"FileJob", "AuditLog", "SweepRun", "SweepChunk"}


def _door_modules():
    yield from (APP / "web").rglob("*.py")
    yield from APP.glob("tasks*.py")


def _writes_of_job_models(path):
    """`FileJob.objects....create(...)`, `AuditLog(...).save()` and the like, by line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES):
            continue
        names = {n.id for n in ast.walk(node.func.value) if isinstance(n, ast.Name)}
        if names & JOB_MODELS:
            found.append(f"{path.relative_to(APP)}:{node.lineno}")
    return found


def test_no_view_or_task_writes_file_jobs_audit_rows_or_sweep_runs():
    assert [hit for path in _door_modules() for hit in _writes_of_job_models(path)] == []


def test_no_view_or_task_reads_sweep_runs_either():
    offenders = [str(path.relative_to(APP)) for path in APP.glob("tasks*.py") if "SweepRun" in path.read_text()]
    assert offenders == []


def test_the_claim_or_abandon_query_is_written_once():
    hits = sorted(
        str(p.relative_to(APP))
        for p in APP.rglob("*.py")
        if "status=FileJob.Status.RUNNING, started_at__lt=" in p.read_text(encoding="utf-8")
    )
    assert hits == ["services/files/jobs.py"]


@pytest.fixture
def root(settings, tmp_path):
    settings.COLLECTIONS_FILES_DIR = tmp_path / "files"
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def _job(user, **kwargs):
    return FileJob.objects.create(direction="export", kind="worklist", requested_by=user, **kwargs)


def test_a_job_is_claimed_once_and_again_only_when_abandoned(collector):
    job = _job(collector)
    claimed = files.file_job_claim(job.pk, direction="export")
    assert claimed.pk == job.pk and claimed.status == "running" and claimed.requested_by == collector
    assert files.file_job_claim(job.pk, direction="export") is None  # a redelivered task: nothing to do
    assert files.file_job_claim(job.pk, direction="import") is None  # never another direction's job
    later = timezone.now() + timedelta(seconds=files.JOB_TIME_LIMIT + 1)
    assert files.file_job_claim(job.pk, direction="export", now=later).pk == job.pk  # its worker died

    files.file_job_progress(job.pk, 5, 10)
    job.refresh_from_db()
    assert (job.processed_rows, job.total_rows) == (5, 10)
    files.file_job_finish(job.pk, processed_rows=10)
    job.refresh_from_db()
    assert job.status == "done" and job.finished_at is not None and job.error == ""
    assert files.file_job_claim(job.pk, direction="export", now=later) is None  # done stays done


def test_a_failed_job_keeps_its_sentence(collector):
    job = _job(collector)
    files.file_job_fail(job.pk, "x" * 3000)
    job.refresh_from_db()
    assert job.status == "failed" and len(job.error) == 2000


def test_paths_outside_the_files_folder_are_refused(root, tmp_path):
    (root / "exports").mkdir()
    (root / "exports" / "a.csv").write_text("a")
    (tmp_path / "outside.csv").write_text("secret")
    assert files.file_stored("exports/a.csv") == (root / "exports" / "a.csv").resolve()
    for bad in ("../outside.csv", str(tmp_path / "outside.csv"), "exports/missing.csv", ""):
        with pytest.raises(DomainError) as refused:
            files.file_stored(bad)
        assert refused.value.code == "not_found"
    assert files.file_inside("../outside.csv") is None


def test_opening_an_import_report_is_audited_and_only_inside_the_folder(root, supervisor):
    (root / "imports").mkdir()
    (root / "imports" / "job-1-report.csv").write_text("line,status\n")
    actor = actor_for_user(supervisor)
    job = FileJob.objects.create(
        direction="import", kind="loans", status="done", report_path="imports/job-1-report.csv"
    )
    assert files.file_job_report_open(actor=actor, job=job) == (root / "imports" / "job-1-report.csv").resolve()
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.fields) == ("user:supervisor", "export", ["import report"])
    job.report_path = "../../etc/passwd"
    with pytest.raises(DomainError):
        files.file_job_report_open(actor=actor, job=job)
    assert AuditLog.objects.count() == 1  # nothing taken, nothing logged


def test_a_finished_sweep_says_its_date(db):
    from collections_app.calendar import lender_today
    from collections_app.services import sweep

    run = sweep.sweep_start(as_of=lender_today())
    outcome = None
    for _ in range(run.chunks_total + 2):
        outcome = sweep.sweep_chunk_next(run_id=run.pk)
        if outcome.outcome == "finished":
            break
    assert outcome.outcome == "finished" and outcome.as_of == lender_today()
