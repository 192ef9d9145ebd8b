"""Tasks of the daily sweep (a run of chunks, claimed one after the other) and of the cases'
follow-up after loan changes. Names as before the package: `collections_app.tasks.<name>`."""

from datetime import date

from celery import shared_task

from .. import services
from ..calendar import lender_today
from ..services import sweep
from .risk import risk_score_task


def _retried_task(name, *, soft_time_limit, time_limit):
    """A task acknowledged late and retried with backoff (five times at most) when the broker or the
    database connection fails."""
    return shared_task(
        name=name,
        acks_late=True,
        autoretry_for=(ConnectionError,),
        retry_backoff=True,
        max_retries=5,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )


@_retried_task("collections_app.tasks.cases_sync_with_loans_task", soft_time_limit=300, time_limit=330)
def cases_sync_with_loans_task(loan_ids, as_of=None):
    """Bring the cases of a chunk of loans in step with their instalments (after an import, say).
    Safe to rerun: a loan already in step changes nothing."""
    return services.cases_sync_with_loans(loan_ids, as_of=date.fromisoformat(as_of) if as_of else None)


@shared_task(name="collections_app.tasks.sweep_task", acks_late=True)
def sweep_task(as_of=None, chunk_size=sweep.DEFAULT_CHUNK, full_refresh=False):
    """The daily job: records a run and its chunks, then chunk tasks claim them one after the other
    (openings first, then the cases), and the last plans the reminders. A chunk is claimed with a
    lease: a worker that dies leaves it to `sweep_requeue_task`, which hands it on within minutes."""
    day = date.fromisoformat(as_of) if as_of else lender_today()
    run = sweep.sweep_start(as_of=day, chunk_size=chunk_size, full_refresh=full_refresh)
    sweep_chunk_task.delay(run.pk)
    return {"as_of": day.isoformat(), "chunks": run.chunks_total}


@_retried_task("collections_app.tasks.sweep_chunk_task", soft_time_limit=600, time_limit=660)
def sweep_chunk_task(run_id):
    """Claim and run the run's next chunk, then pass the baton: the next chunk task, or after the last
    the risk scoring, which hands on to the reminder plan (CONTRACT.md: scoring runs after the sweep
    and before reminder planning). A redelivered message finds its chunk done (or claimed) and
    repeats nothing."""
    done = sweep.sweep_chunk_next(run_id=run_id)
    if done.outcome == "ran":
        sweep_chunk_task.delay(run_id)
    elif done.outcome == "finished":
        risk_score_task.delay(done.as_of.isoformat())
    return {"outcome": done.outcome, "chunk": done.chunk_id, "counts": done.counts}


@shared_task(name="collections_app.tasks.sweep_requeue_task", acks_late=True)
def sweep_requeue_task():
    """Beat, every minute: hand the runs whose worker died (lease expired) or whose next message was
    lost to a new chunk task."""
    run_ids = sweep.sweep_requeue()
    for run_id in run_ids:
        sweep_chunk_task.delay(run_id)
    return run_ids
