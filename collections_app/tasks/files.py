"""Tasks of file jobs (issue 6): an upload's import and a large export's file, each run through its
service (services/files/); the re-queue of jobs whose message was lost, and the retention purge.
Names as before the package: `collections_app.tasks_imports.import_file_task`,
`collections_app.tasks_exports.export_run_task`, `collections_app.tasks.file_jobs_*_task`."""

from celery import shared_task

from ..services.files import JOB_TIME_LIMIT

# Under the broker's visibility timeout (an hour): see services/files/jobs.py.
TIME_LIMIT = JOB_TIME_LIMIT


def _file_job_task(name):
    """The task of a file job: acknowledged late, stopped softly 100 seconds before the hard limit."""
    return shared_task(name=name, acks_late=True, soft_time_limit=TIME_LIMIT - 100, time_limit=TIME_LIMIT)


@_file_job_task("collections_app.tasks_imports.import_file_task")
def import_file_task(job_id):
    """Run the import of FileJob `job_id`. Safe to redeliver: a job already done or failed is left
    as it is, and the import itself upserts (a rerun changes nothing)."""
    from ..services.files.imports import import_job_run

    return import_job_run(job_id)


@_file_job_task("collections_app.tasks_exports.export_run_task")
def export_run_task(job_id):
    """Write the file of an export FileJob. Takes the id; safe to rerun (a finished job is skipped,
    an interrupted one is written again)."""
    from ..services.files.exports import export_job_run

    return export_job_run(job_id)


@shared_task(name="collections_app.tasks.file_jobs_requeue_task", acks_late=True)
def file_jobs_requeue_task():
    """Beat, every few minutes: send the task again for the import and export jobs still queued
    (their message was lost: the broker was down when they committed) or abandoned by a dead worker."""
    from ..services.files import file_jobs_requeue

    return file_jobs_requeue()


@shared_task(name="collections_app.tasks.file_jobs_purge_task", acks_late=True)
def file_jobs_purge_task():
    """Delete the import reports and export files older than the retention, with their jobs."""
    from ..services.file_retention import file_jobs_purge

    return file_jobs_purge()
