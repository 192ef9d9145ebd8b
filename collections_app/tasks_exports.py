"""Celery tasks of exports (issue 6): write a large export's file (services.exports.jobs)."""
from celery import shared_task

__all__ = ["export_run_task"]


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3400)  # under the broker's hour (jobs.py)
def export_run_task(job_id):
    """Write the file of an export FileJob. Takes the id; safe to rerun (a finished job is skipped,
    an interrupted one is written again)."""
    from .services.exports import export_job_run

    return export_job_run(job_id)
