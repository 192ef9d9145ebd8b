import os

import pytest
from django.db import transaction

from collections_app.models import Case
from collections_app.tasks.sweep import cases_sync_with_loans_task

from .factories import loan_with_schedule


@pytest.mark.django_db
def test_sync_task_opens_cases_for_overdue_loans_and_a_rerun_changes_nothing():
    overdue = loan_with_schedule(days_overdue=12)
    current = loan_with_schedule(days_overdue=-5)

    first = cases_sync_with_loans_task.delay([overdue.pk, current.pk]).get()
    second = cases_sync_with_loans_task.delay([overdue.pk, current.pk]).get()

    assert first == {"opened": 1, "none": 1}
    assert second == {"unchanged": 1, "none": 1}
    assert Case.objects.filter(loan=overdue, state="call").count() == 1
    assert not Case.objects.filter(loan=current).exists()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_task_travels_through_the_real_redis_broker_to_a_worker(settings):
    """CI runs with REDIS_URL: a task enqueued after commit reaches a real worker through Redis."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL not set: no real broker to talk to")
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    loan = loan_with_schedule(days_overdue=40)
    app.conf.task_always_eager = False
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", concurrency=1, shutdown_timeout=10):
            with transaction.atomic():
                transaction.on_commit(lambda: cases_sync_with_loans_task.delay([loan.pk]))
            for _ in range(100):
                if Case.objects.filter(loan=loan).exists():
                    break
                import time

                time.sleep(0.1)
    finally:
        app.conf.task_always_eager = True
    case = Case.objects.get(loan=loan)
    assert case.state == "visit"
    assert case.events.get().kind == "opened"
