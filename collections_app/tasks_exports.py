"""Celery tasks of exports (issue 6): write a large export's file (services.exports.jobs)."""
from celery import shared_task

from .services.exports import export_job_run
from .services.files import JOB_TIME_LIMIT

__all__ = ["export_run_task"]


@shared_task(acks_late=True, soft_time_limit=JOB_TIME_LIMIT - 100, time_limit=JOB_TIME_LIMIT)
def export_run_task(job_id):
    """Write the file of an export FileJob. Takes the id; safe to rerun (a finished job is skipped,
    an interrupted one is written again)."""
    return export_job_run(job_id)
