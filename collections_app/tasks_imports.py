"""Celery tasks of file imports (issue 6): the upload page's FileJob runs here, through the same
import as `manage.py import_book` (services.imports.jobs)."""
from celery import shared_task

from .services.files import JOB_TIME_LIMIT

__all__ = ["import_file_task"]

# Under the broker's visibility timeout (an hour): see services/files/jobs.py.
TIME_LIMIT = JOB_TIME_LIMIT


@shared_task(acks_late=True, soft_time_limit=TIME_LIMIT - 100, time_limit=TIME_LIMIT)
def import_file_task(job_id):
    """Run the import of FileJob `job_id`. Safe to redeliver: a job already done or failed is left
    as it is, and the import itself upserts (a rerun changes nothing)."""
    from .services.imports import import_job_run

    return import_job_run(job_id)
