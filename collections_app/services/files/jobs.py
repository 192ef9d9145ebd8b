"""A FileJob's life: queued (its task enqueued by name on commit) -> running (claimed) -> done or
failed. A task message can be lost (the broker was down at commit) or its worker can die: the claim
takes a queued job, or a running one whose run must have ended, and `file_jobs_requeue` (beat) sends
the task again for jobs left queued, so a job never stays queued for good."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation

from ..enqueue import enqueue, send_now
from ...models import FileJob

# Under the broker's visibility timeout (an hour): a task still running is never handed to a second
# worker; one whose worker died is, and its job (RUNNING, started longer ago than this) is claimed
# again. The tasks' hard time limit.
JOB_TIME_LIMIT = 3400

TASK_OF_DIRECTION = {
    FileJob.Direction.IMPORT: "collections_app.tasks_imports.import_file_task",
    FileJob.Direction.EXPORT: "collections_app.tasks_exports.export_run_task",
}
REQUEUE_BATCH = 500


def file_job_create(
    *, direction, actor, kind, file_format="csv", params=None, source_name="", file_path="", dry_run=False
):
    """The job row, in the caller's transaction; its task is enqueued when that commits. The worker
    writes in the language of whoever asked (headers, the report's reasons)."""
    job = FileJob.objects.create(
        direction=direction,
        kind=kind,
        file_format=file_format,
        dry_run=dry_run,
        requested_by=actor.user,
        actor=actor.label,
        params=params or {},
        source_name=source_name,
        file_path=file_path,
        summary={"language": translation.get_language() or settings.LANGUAGE_CODE},
    )
    enqueue(TASK_OF_DIRECTION[direction], job.pk)
    return job


def _abandoned(now):
    """A running job whose run must have ended by `now` (its worker died): it may be claimed again."""
    return Q(status=FileJob.Status.RUNNING, started_at__lt=now - timedelta(seconds=JOB_TIME_LIMIT))


def file_job_claim(job_id, *, direction, now=None):
    """Claim the job for this run by one conditional UPDATE: a queued job, or a running one whose run
    must have ended (its worker died). Returns the job, or None when there is nothing to do (done,
    failed, or running elsewhere): a redelivered task repeats nothing."""
    now = now or timezone.now()
    claimed = FileJob.objects.filter(
        Q(status=FileJob.Status.QUEUED) | _abandoned(now),
        pk=job_id,
        direction=direction,
    ).update(status=FileJob.Status.RUNNING, started_at=now, processed_rows=0, error="")
    if not claimed:
        return None
    return FileJob.objects.select_related("requested_by").get(pk=job_id)


def file_job_progress(job_id, processed, total=None):
    fields = {"processed_rows": processed}
    if total is not None:
        fields["total_rows"] = total
    FileJob.objects.filter(pk=job_id).update(**fields)


def file_job_finish(job_id, *, error="", **fields):
    """The job is over: done, or failed when `error` (a sentence for people) is given."""
    FileJob.objects.filter(pk=job_id).update(
        status=FileJob.Status.FAILED if error else FileJob.Status.DONE,
        error=error,
        finished_at=timezone.now(),
        **fields,
    )


def file_job_fail(job_id, error):
    file_job_finish(job_id, error=str(error)[:2000])


def file_jobs_requeue(*, now=None):
    """Beat: send the task again for the jobs still queued COLLECTIONS_FILE_JOB_REQUEUE_SECONDS after
    they were created (their message was lost) and the running ones abandoned by a dead worker.
    Sending twice is harmless: the claim is conditional. Returns the ids sent."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.COLLECTIONS_FILE_JOB_REQUEUE_SECONDS)
    jobs = list(
        FileJob.objects.filter(Q(status=FileJob.Status.QUEUED, created_at__lt=stale) | _abandoned(now))
        .order_by("pk")
        .values_list("pk", "direction")[:REQUEUE_BATCH]
    )
    sent = []
    for pk, direction in jobs:
        if send_now(TASK_OF_DIRECTION[direction], pk):
            sent.append(pk)
    return sent
