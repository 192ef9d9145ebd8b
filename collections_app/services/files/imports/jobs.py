"""The upload page's imports as file jobs (services/files): the job created with its upload stored,
run by a worker through the same `import_file` as `manage.py import_book`, and its report opened."""

import logging
import time

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from ....actors import actor_for_user
from ....models import FileJob
from .. import (
    file_job_claim,
    file_job_create,
    file_job_fail,
    file_job_finish,
    file_job_progress,
    file_job_report_open,
    file_store_upload,
    files_root,
)
from .run import import_file

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 0.5  # at most two progress writes a second


def _format_of(name):
    return "xlsx" if name.lower().endswith(".xlsx") else "csv"


def import_job_create(*, actor, kind, upload, dry_run=False):
    """Store the upload and queue its import (the task is enqueued when the request commits)."""
    return file_job_create(
        direction=FileJob.Direction.IMPORT,
        actor=actor,
        kind=kind,
        file_format=_format_of(upload.name),
        dry_run=dry_run,
        source_name=upload.name[:255],
        file_path=file_store_upload(upload),
        params={"dry_run": dry_run},
    )


def import_job_run(job_id):
    """Run the import of FileJob `job_id`. Safe to redeliver: a job already done or failed is left
    as it is, and the import itself upserts (a rerun changes nothing)."""
    job = file_job_claim(job_id, direction=FileJob.Direction.IMPORT)
    if job is None:
        log.info("import job %s: nothing to do", job_id)
        return None
    root = files_root()
    actor = actor_for_user(job.requested_by) if job.requested_by_id else None
    report_path = root / "imports" / f"job-{job.pk}-report.csv"
    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] < PROGRESS_SECONDS and done < total:
            return
        last[0] = now
        file_job_progress(job.pk, done, total)

    language = (job.summary or {}).get("language") or settings.LANGUAGE_CODE
    try:
        with translation.override(language):
            result = import_file(
                root / job.file_path,
                job.kind,
                dry_run=job.dry_run,
                actor=actor,
                report_path=report_path,
                source_name=job.source_name,
                on_progress=progress,
                follow_cases="tasks",
            )
    except Exception:  # the worker log has the traceback; the page a sentence
        log.exception("import job %s failed", job_id)
        with translation.override(language):
            file_job_fail(job.pk, _("The import failed unexpectedly; it has been logged for the operators."))
        return None
    finally:
        # The upload holds the book's personal data: once read, it is not kept (the report stays).
        (root / job.file_path).unlink(missing_ok=True)
    summary = result.as_summary()
    file_job_finish(
        job.pk,
        error=result.file_refused,
        summary=summary,
        processed_rows=result.rows,
        total_rows=result.rows,
        report_path=str(report_path.relative_to(root)),
    )
    return summary


def import_job_report(*, actor, job):
    """The path of an import job's report of refused rows, its download audited (or not_found)."""
    return file_job_report_open(actor=actor, job=job)
