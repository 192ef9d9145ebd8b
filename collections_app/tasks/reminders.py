"""Tasks of the reminder outbox: plan (after the sweep), dispatch (beat, every minute) and put back
the claims of dead workers. Names as before the package: `collections_app.tasks.<name>`."""

from datetime import date

from celery import shared_task

from ..calendar import lender_today
from ..services import reminders


@shared_task(name="collections_app.tasks.reminders_plan_task", acks_late=True)
def reminders_plan_task(as_of=None):
    day = date.fromisoformat(as_of) if as_of else lender_today()
    planned = reminders.reminders_plan(as_of=day)
    return {"queued": planned.queued, "suppressed": planned.suppressed}


@shared_task(name="collections_app.tasks.reminders_dispatch_task", acks_late=True, soft_time_limit=50, time_limit=58)
def reminders_dispatch_task(max_batches=20):
    """Send what is due, a batch at a time, until nothing is due or the budget is spent. Beat runs it
    every minute: if Redis was down the rows simply wait in the outbox."""
    totals = {}
    for _ in range(max_batches):
        done = reminders.reminders_dispatch()
        for key, value in vars(done).items():
            totals[key] = totals.get(key, 0) + value
        if done.claimed == 0:
            break
    return totals


@shared_task(name="collections_app.tasks.reminders_requeue_stale_task", acks_late=True)
def reminders_requeue_stale_task():
    return reminders.reminders_requeue_stale()
