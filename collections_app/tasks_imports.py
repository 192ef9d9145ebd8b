"""Celery tasks of file imports (issue 6): the upload page's FileJob runs here, through the same
import as `manage.py import_book`."""
import logging
import time
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

__all__ = ["import_file_task"]

PROGRESS_SECONDS = 0.5  # at most two progress writes a second


# Under the broker's visibility timeout (an hour): a task still running is never handed to a second
# worker; one whose worker died is, and its job (RUNNING, started longer ago than this) is claimed again.
TIME_LIMIT = 3400


@shared_task(acks_late=True, soft_time_limit=TIME_LIMIT - 100, time_limit=TIME_LIMIT)
def import_file_task(job_id):
    """Run the import of FileJob `job_id`. Safe to redeliver: a job already done or failed is left
    as it is, and the import itself upserts (a rerun changes nothing)."""
    from .actors import actor_for_user
    from .models import FileJob
    from .services.imports import import_file

    from django.db.models import Q

    abandoned = timezone.now() - timezone.timedelta(seconds=TIME_LIMIT)
    claimed = FileJob.objects.filter(
        Q(status=FileJob.Status.QUEUED) | Q(status=FileJob.Status.RUNNING, started_at__lt=abandoned),
        pk=job_id, direction=FileJob.Direction.IMPORT,
    ).update(status=FileJob.Status.RUNNING, started_at=timezone.now(), processed_rows=0)
    if not claimed:
        log.info("import job %s: nothing to do", job_id)
        return None
    job = FileJob.objects.select_related("requested_by").get(pk=job_id)
    root = Path(settings.COLLECTIONS_FILES_DIR)
    actor = actor_for_user(job.requested_by) if job.requested_by_id else None
    report_path = root / "imports" / f"job-{job.pk}-report.csv"
    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] < PROGRESS_SECONDS and done < total:
            return
        last[0] = now
        FileJob.objects.filter(pk=job.pk).update(processed_rows=done, total_rows=total)

    language = (job.summary or {}).get("language") or settings.LANGUAGE_CODE
    try:
        with translation.override(language):
            result = import_file(root / job.file_path, job.kind, dry_run=job.dry_run, actor=actor,
                                 report_path=report_path, source_name=job.source_name, on_progress=progress,
                                 follow_cases="tasks")
    except Exception:  # the worker log has the traceback; the page a sentence
        log.exception("import job %s failed", job_id)
        with translation.override(language):
            shown = str(_("The import failed unexpectedly; it has been logged for the operators."))
        FileJob.objects.filter(pk=job.pk).update(status=FileJob.Status.FAILED, error=shown,
                                                 finished_at=timezone.now())
        return None
    finally:
        # The upload holds the book's personal data: once read, it is not kept (the report stays).
        (root / job.file_path).unlink(missing_ok=True)
    summary = result.as_summary()
    FileJob.objects.filter(pk=job.pk).update(
        status=FileJob.Status.FAILED if result.file_refused else FileJob.Status.DONE,
        error=result.file_refused, summary=summary, processed_rows=result.rows,
        total_rows=result.rows, report_path=str(report_path.relative_to(root)), finished_at=timezone.now(),
    )
    return summary
