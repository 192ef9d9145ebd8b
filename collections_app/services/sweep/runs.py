"""Runs of chunk tasks: a run and its chunks recorded, each chunk claimed with a lease by one
conditional UPDATE, run, and marked done with the run's counts in one transaction; stalled runs
handed on (`sweep_requeue`)."""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from .base import DEFAULT_CHUNK, _now
from .chunks import sweep_chunk, sweep_plan

log = logging.getLogger(__name__)

STALL_GRACE_SECONDS = 60  # a run with no live lease and no progress this long is handed on
MAX_CHUNK_ATTEMPTS = 3  # a chunk that raised this many times is marked failed and skipped


@dataclass
class ChunkOutcome:
    """What `sweep_chunk_next` did: `ran` a chunk (more may follow), found the next chunk `busy`
    (claimed by a live worker), `finished` the run (the caller plans the reminders), or found it
    already `over`."""

    outcome: str
    chunk_id: int | None = None
    counts: dict = field(default_factory=dict)
    as_of: date | None = None  # the run's date, when `finished` (the reminders to plan are that day's)


class _LeaseLost(Exception):
    """Our lease expired and another worker claimed the chunk: roll our work back, it runs there."""


def sweep_start(*, as_of, chunk_size=DEFAULT_CHUNK, full_refresh=False):
    """Record a run and its chunks (in the order they must run); workers then claim them one by one."""
    from ...models import SweepChunk, SweepRun

    chunks = sweep_plan(as_of, chunk_size)
    with transaction.atomic():
        run = SweepRun.objects.create(as_of=as_of, chunks_total=len(chunks), full_refresh=full_refresh)
        SweepChunk.objects.bulk_create(
            SweepChunk(run=run, seq=seq, kind=kind, lo=lo, hi=hi) for seq, (kind, lo, hi) in enumerate(chunks)
        )
    return run


def _lease():
    return timedelta(seconds=settings.COLLECTIONS_SWEEP_LEASE_SECONDS)


def sweep_chunk_claim(*, run_id, now=None):
    """Claim the run's next chunk, by one conditional UPDATE: the first chunk not done that is
    pending or whose lease has expired. Chunks run in order (openings before the cases), so while the
    next one is held by a live lease nothing is claimed. Returns (chunk or None, outcome)."""
    from ...models import SweepChunk

    now = now or _now()
    Status = SweepChunk.Status
    nxt = SweepChunk.objects.filter(run_id=run_id, status__in=[Status.PENDING, Status.RUNNING]).order_by("seq").first()
    if nxt is None:
        return None, "over"
    claimed = (
        SweepChunk.objects.filter(pk=nxt.pk, attempts=nxt.attempts)
        .filter(Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_until__lt=now))
        .update(status=Status.RUNNING, lease_until=now + _lease(), attempts=F("attempts") + 1)
    )
    if not claimed:
        return None, "busy"
    nxt.refresh_from_db()
    return nxt, "claimed"


def _finish_run(run, now):
    """Mark the run finished once (under its row lock); True if this call did it."""
    from ...models import SweepChunk

    if run.finished_at is not None:
        return False
    if SweepChunk.objects.filter(run_id=run.pk, status__in=["pending", "running"]).exists():
        return False
    run.finished_at = now
    return True


def sweep_chunk_next(*, run_id):
    """Claim the run's next chunk and run it. The chunk's work, its `done` mark and the run's counts
    commit in one transaction, so a chunk counts once per run however often it is redelivered; if
    our lease was lost to another worker meanwhile, our work rolls back."""
    from ...models import SweepChunk, SweepRun

    chunk, outcome = sweep_chunk_claim(run_id=run_id)
    if chunk is None:
        if outcome == "over":
            with transaction.atomic():
                run = SweepRun.objects.select_for_update().filter(pk=run_id).first()
                if run and _finish_run(run, _now()):
                    run.save(update_fields=["finished_at"])
                    return ChunkOutcome("finished", as_of=run.as_of)
        return ChunkOutcome(outcome)
    run = SweepRun.objects.get(pk=run_id)
    try:
        with transaction.atomic():
            timings = Counter()
            counts = sweep_chunk(
                as_of=run.as_of,
                kind=chunk.kind,
                lo=chunk.lo,
                hi=chunk.hi,
                full_refresh=run.full_refresh,
                timings=timings,
            )
            now = _now()
            marked = SweepChunk.objects.filter(pk=chunk.pk, status="running", attempts=chunk.attempts).update(
                status="done", lease_until=None, counts=dict(counts), finished_at=now
            )
            if not marked:
                raise _LeaseLost
            run = SweepRun.objects.select_for_update().get(pk=run_id)
            merged = dict(run.counts)
            for key, n in counts.items():
                merged[key] = merged.get(key, 0) + n
            if timings["plan_steps"]:  # timed apart (issue 11); milliseconds, summed over chunks
                merged["plan_steps_ms"] = merged.get("plan_steps_ms", 0) + round(timings["plan_steps"] * 1000)
            run.counts, run.chunks_done = merged, run.chunks_done + 1
            finished = _finish_run(run, now)
            run.save(update_fields=["counts", "chunks_done", "finished_at"])
    except _LeaseLost:
        log.warning("sweep chunk %s: lease lost to another worker; its work rolled back here", chunk.pk)
        return ChunkOutcome("busy", chunk.pk)
    except Exception as exc:
        give_up = chunk.attempts >= MAX_CHUNK_ATTEMPTS
        SweepChunk.objects.filter(pk=chunk.pk, status="running", attempts=chunk.attempts).update(
            status="failed" if give_up else "pending", lease_until=None, error=repr(exc)[:2000]
        )
        log.exception(
            "sweep chunk %s (%s %s-%s) failed, attempt %s%s",
            chunk.pk,
            chunk.kind,
            chunk.lo,
            chunk.hi,
            chunk.attempts,
            ": given up" if give_up else "",
        )
        raise
    return ChunkOutcome("finished" if finished else "ran", chunk.pk, dict(counts), run.as_of if finished else None)


def sweep_requeue(*, now=None):
    """Ids of the runs to hand on: unfinished, the newest for their date and not superseded by a
    later one, with no live lease and no progress for STALL_GRACE_SECONDS (a worker died holding a
    chunk, or the message for the next chunk was lost). Handing on twice is harmless: claims are
    conditional."""
    from django.db.models import Exists, OuterRef

    from ...models import SweepChunk, SweepRun

    now = now or _now()
    quiet_since = now - timedelta(seconds=STALL_GRACE_SECONDS)
    latest = SweepRun.objects.order_by("-as_of", "-started_at").first()
    if latest is None:
        return []
    live = SweepChunk.objects.filter(run_id=OuterRef("pk"), status="running", lease_until__gte=now)
    recent = SweepChunk.objects.filter(run_id=OuterRef("pk"), finished_at__gte=quiet_since)
    runs = (
        SweepRun.objects.filter(
            finished_at__isnull=True,
            as_of=latest.as_of,
            started_at__lt=quiet_since,
            started_at__gte=now - timedelta(days=1),
        )
        .exclude(Exists(live))
        .exclude(Exists(recent))
    )
    return list(runs.values_list("pk", flat=True))
