"""A sweep survives a worker killed mid-chunk (issue 9, point 12): chunks are rows claimed with a
lease; a dead chunk is handed on by `sweep_requeue_task`; a chunk runs and counts once per run."""

from collections import Counter
from datetime import timedelta
from unittest import mock

import pytest
from django.db.models import F
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import Case, CaseEvent, SweepChunk, SweepRun
from collections_app.services.sweep import runs as sweep
from collections_app.services.sweep import sweep_chunk_claim, sweep_chunk_next, sweep_requeue, sweep_start
from collections_app.tasks.sweep import sweep_chunk_task, sweep_requeue_task

from .factories import loan_with_schedule

pytestmark = pytest.mark.django_db

DPDS = (3, 10, 40, 45, 70)  # 5 loans: with chunk_size=2, three loan chunks and some case chunks


def loans_due(as_of):
    return [loan_with_schedule(days_overdue=dpd - (as_of - lender_today()).days, instalments=1) for dpd in DPDS]


def expire_lease(chunk):
    SweepChunk.objects.filter(pk=chunk.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_chunk_left_by_a_killed_worker_is_handed_on_by_the_requeue_and_runs_once(settings):
    settings.COLLECTIONS_SWEEP_LEASE_SECONDS = 600
    as_of = lender_today()
    loans_due(as_of)
    run = sweep_start(as_of=as_of, chunk_size=2)
    assert run.chunks.count() == run.chunks_total > 3

    # A worker claims the first chunk and is killed before its transaction commits.
    dead, outcome = sweep_chunk_claim(run_id=run.pk)
    assert outcome == "claimed" and dead.seq == 0 and dead.attempts == 1
    now = timezone.now()
    assert dead.lease_until == pytest.approx(now + timedelta(seconds=600), abs=timedelta(seconds=5))

    # While the lease lives, nobody else takes it (nor a later chunk: they run in order) ...
    assert sweep_chunk_task.delay(run.pk).get()["outcome"] == "busy"
    assert sweep_requeue(now=now + timedelta(seconds=120)) == []
    assert not Case.objects.exists()
    # ... and once it has expired, beat's requeue hands the run on within minutes.
    assert sweep_requeue(now=now + timedelta(seconds=601)) == [run.pk]
    # Ten minutes pass.
    expire_lease(dead)
    SweepRun.objects.filter(pk=run.pk).update(started_at=now - timedelta(seconds=601))

    handed_on = sweep_requeue_task.delay().get()

    assert handed_on == [run.pk]
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.chunks_done == run.chunks_total
    assert list(run.chunks.values_list("status", flat=True)) == ["done"] * run.chunks_total
    assert list(run.chunks.values_list("attempts", flat=True)) == [2] + [1] * (run.chunks_total - 1)
    # Counts are true: five cases opened, each once; escalations none (opened at their stage).
    assert Case.objects.count() == 5
    assert run.counts["opened"] == 5
    assert sum(Counter(c).get("opened", 0) for c in run.chunks.values_list("counts", flat=True)) == 5
    assert CaseEvent.objects.filter(kind="opened").count() == 5

    # The killed worker's message is redelivered (Redis' visibility timeout): nothing repeats.
    events, counts = CaseEvent.objects.count(), dict(run.counts)
    assert sweep_chunk_task.delay(run.pk).get()["outcome"] == "over"
    assert sweep_requeue(now=timezone.now() + timedelta(hours=2)) == []
    run.refresh_from_db()
    assert CaseEvent.objects.count() == events
    assert run.counts == counts and run.chunks_done == run.chunks_total


def test_a_worker_whose_lease_was_taken_over_rolls_its_chunk_back():
    as_of = lender_today()
    loans_due(as_of)
    run = sweep_start(as_of=as_of, chunk_size=10)
    real_chunk = sweep.sweep_chunk

    def slow_chunk(**kwargs):
        done = real_chunk(**kwargs)
        # Meanwhile our lease expired and another worker claimed the chunk (a new attempt).
        SweepChunk.objects.filter(run=run, seq=0).update(attempts=F("attempts") + 1)
        return done

    with mock.patch.object(sweep, "sweep_chunk", side_effect=slow_chunk):
        outcome = sweep_chunk_next(run_id=run.pk)

    assert outcome.outcome == "busy"
    assert not Case.objects.exists()  # our work rolled back: the other worker's counts
    run.refresh_from_db()
    assert run.chunks_done == 0 and run.counts == {}


def test_a_chunk_that_keeps_failing_is_retried_then_skipped_and_the_run_still_ends():
    as_of = lender_today()
    loans_due(as_of)
    run = sweep_start(as_of=as_of, chunk_size=10)
    first = run.chunks.get(seq=0)

    with mock.patch.object(sweep, "sweep_chunk", side_effect=RuntimeError("boom")):
        for attempt in range(1, sweep.MAX_CHUNK_ATTEMPTS + 1):
            with pytest.raises(RuntimeError):
                sweep_chunk_next(run_id=run.pk)
            first.refresh_from_db()
            assert first.attempts == attempt
            assert first.status == ("failed" if attempt == sweep.MAX_CHUNK_ATTEMPTS else "pending")
            assert "boom" in first.error

    while (outcome := sweep_chunk_next(run_id=run.pk).outcome) == "ran":
        pass
    assert outcome == "finished"
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.chunks_done == run.chunks_total - 1
    assert not Case.objects.exists()  # the loan chunk failed; the cases chunks had nothing to do


def test_the_requeue_leaves_superseded_and_finished_runs_alone():
    as_of = lender_today()
    old = sweep_start(as_of=as_of - timedelta(days=1), chunk_size=10)
    sweep_chunk_claim(run_id=old.pk)
    expire_lease(old.chunks.get(seq=0))
    later = timezone.now() + timedelta(minutes=5)
    assert sweep_requeue(now=later) == [old.pk]

    new = sweep_start(as_of=as_of, chunk_size=10)
    SweepRun.objects.filter(pk=new.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    assert sweep_requeue(now=later) == [new.pk]  # the older date is superseded: never resumed
    while sweep_chunk_next(run_id=new.pk).outcome == "ran":
        pass
    assert sweep_requeue(now=later) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_a_run_claim_one_chunk_between_them(reference_data):
    from django.db import connection

    from .helpers import race

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
    as_of = lender_today()
    loans_due(as_of)
    run = sweep_start(as_of=as_of, chunk_size=2)

    results = race(lambda _i: sweep_chunk_claim(run_id=run.pk)[1], threads=3)

    assert sorted(value for _kind, value in results) == ["busy", "busy", "claimed"]
    assert list(run.chunks.values_list("attempts", flat=True))[:2] == [1, 0]
    run.chunks.filter(seq=0).update(lease_until=timezone.now() - timedelta(seconds=1))  # its worker died
    while sweep_chunk_next(run_id=run.pk).outcome == "ran":
        pass
    run.refresh_from_db()
    assert run.chunks_done == run.chunks_total and run.counts["opened"] == 5
    assert CaseEvent.objects.filter(kind="opened").count() == 5


def test_beat_hands_on_dead_sweeps_every_minute():
    import importlib

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    importlib.import_module("collections_app.migrations.0014_sweep_chunks").forwards(django_apps, None)
    task = PeriodicTask.objects.get(task=sweep_requeue_task.name)
    assert task.enabled and (task.interval.every, task.interval.period) == (60, "seconds")
