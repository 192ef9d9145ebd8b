"""The nightly risk scoring: after the sweep's last chunk, before reminder planning (so a pre-due
reminder can read tonight's p_pay band). Name: `collections_app.tasks.risk_score_task`."""

from datetime import date

from celery import shared_task

from ..calendar import lender_today
from .reminders import reminders_plan_task


@shared_task(name="collections_app.tasks.risk_score_task", acks_late=True, soft_time_limit=1800, time_limit=1860)
def risk_score_task(as_of=None, plan_reminders=True):
    """Score for the day, then hand on to the reminder plan, whatever the scoring's outcome: a failed
    scoring is recorded (ScoringRun) and leaves yesterday's scores, and reminders still go out."""
    from ..services.risk.score import risk_score  # numpy loads with the scoring, not with the worker

    day = date.fromisoformat(as_of) if as_of else lender_today()
    try:
        run = risk_score(as_of=day)
        outcome = {"run": run.pk, "status": run.status, "counts": run.counts}
    finally:
        if plan_reminders:
            reminders_plan_task.delay(day.isoformat())
    return outcome
