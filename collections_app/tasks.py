"""Celery tasks: ids or dates in, a service call, retries here and business rules in the services."""
import logging
from datetime import date

from celery import shared_task

from . import services
from .calendar import lender_today
from .services import reminders, sweep

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5,
             soft_time_limit=300, time_limit=330)
def cases_sync_with_loans_task(loan_ids, as_of=None):
    """Bring the cases of a chunk of loans in step with their instalments (after an import, say).
    Safe to rerun: a loan already in step changes nothing."""
    return services.cases_sync_with_loans(loan_ids, as_of=date.fromisoformat(as_of) if as_of else None)


@shared_task(acks_late=True)
def sweep_task(as_of=None, chunk_size=sweep.DEFAULT_CHUNK, full_refresh=False):
    """The daily job: records a run and its chunks, then chunk tasks claim them one after the other
    (openings first, then the cases), and the last plans the reminders. A chunk is claimed with a
    lease: a worker that dies leaves it to `sweep_requeue_task`, which hands it on within minutes."""
    day = date.fromisoformat(as_of) if as_of else lender_today()
    run = sweep.sweep_start(as_of=day, chunk_size=chunk_size, full_refresh=full_refresh)
    sweep_chunk_task.delay(run.pk)
    return {"as_of": day.isoformat(), "chunks": run.chunks_total}


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5,
             soft_time_limit=600, time_limit=660)
def sweep_chunk_task(run_id):
    """Claim and run the run's next chunk, then pass the baton: the next chunk task, or the reminder
    plan after the last. A redelivered message finds its chunk done (or claimed) and repeats nothing."""
    done = sweep.sweep_chunk_next(run_id=run_id)
    if done.outcome == "ran":
        sweep_chunk_task.delay(run_id)
    elif done.outcome == "finished":
        reminders_plan_task.delay(done.as_of.isoformat())
    return {"outcome": done.outcome, "chunk": done.chunk_id, "counts": done.counts}


@shared_task(acks_late=True)
def sweep_requeue_task():
    """Beat, every minute: hand the runs whose worker died (lease expired) or whose next message was
    lost to a new chunk task."""
    run_ids = sweep.sweep_requeue()
    for run_id in run_ids:
        sweep_chunk_task.delay(run_id)
    return run_ids


@shared_task(acks_late=True)
def reminders_plan_task(as_of=None):
    day = date.fromisoformat(as_of) if as_of else lender_today()
    planned = reminders.reminders_plan(as_of=day)
    return {"queued": planned.queued, "suppressed": planned.suppressed}


@shared_task(acks_late=True, soft_time_limit=50, time_limit=58)
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


@shared_task(acks_late=True)
def reminders_requeue_stale_task():
    return reminders.reminders_requeue_stale()


# --- webhooks -------------------------------------------------------------------------------


@shared_task(acks_late=True, soft_time_limit=60, time_limit=70)
def webhooks_dispatch_task():
    """Beat (every minute) and a commit that queued deliveries run it: puts back the claims of
    workers that died, then starts one lane task per subscription with deliveries due, so a receiver
    that hangs delays only its own lane."""
    from .services import webhooks

    requeued = webhooks.webhooks_requeue_stale()
    lanes = webhooks.webhooks_lanes_due()
    for subscription_id in lanes:
        webhook_lane_task.delay(subscription_id)
    return {"requeued": requeued, "lanes": lanes}


@shared_task(acks_late=True, soft_time_limit=150, time_limit=160)
def webhook_lane_task(subscription_id, max_batches=200, budget_seconds=45):
    """Send one subscription's due deliveries a batch at a time, in order, until nothing is due, the
    budget is spent, or its receiver stops answering (the rest wait for a later round). One lane
    task per subscription at a time: another finds the lane held and leaves."""
    import time

    from .services import webhooks

    hold = budget_seconds + 3 * webhooks.webhook_timeout() + 30
    if not webhooks.webhook_lane_claim(subscription_id=subscription_id, seconds=hold):
        return {"busy": True}
    started = time.monotonic()
    totals = {}
    try:
        for _ in range(max_batches):
            done = webhooks.webhooks_dispatch(subscription_id=subscription_id)
            for key, value in vars(done).items():
                totals[key] = totals.get(key, 0) + value
            if done.claimed == 0 or done.stopped or time.monotonic() - started > budget_seconds:
                break
    finally:
        webhooks.webhook_lane_release(subscription_id=subscription_id)
    return totals


@shared_task(acks_late=True)
def file_jobs_requeue_task():
    """Beat, every few minutes: send the task again for the import and export jobs still queued
    (their message was lost: the broker was down when they committed) or abandoned by a dead worker."""
    from .services.files import file_jobs_requeue

    return file_jobs_requeue()


@shared_task(acks_late=True)
def file_jobs_purge_task():
    """Delete the import reports and export files older than the retention, with their jobs."""
    from .services.file_retention import file_jobs_purge

    return file_jobs_purge()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=630)
def dashboard_warm_task():
    """Recompute the current month's dashboard figures into the cache (beat, every few minutes)."""
    from .selectors.dashboard.board import Dashboard

    return str(Dashboard.warm().computed_at)


# Tasks of file imports and exports live in their own modules; imported here so that the worker's
# autodiscovery (which reads tasks.py) registers them.
from .tasks_exports import *  # noqa: E402,F401,F403
from .tasks_imports import *  # noqa: E402,F401,F403
