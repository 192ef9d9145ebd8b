"""Enqueue a Celery task by its NAME, so services and pages never import a tasks module.

`enqueue(name, *args, **kwargs)` sends when the current transaction commits (at once outside one);
`send_now` sends right away. In eager mode (CELERY_TASK_ALWAYS_EAGER, the tests) `send_task` would
ignore the setting and publish to the broker, so the registered task is run through `delay()` instead.

An enqueue never fails the request whose work committed: when the broker cannot be reached it logs
one warning and returns False; the work waits in its table for a periodic re-queue (reminders'
dispatch, webhooks' dispatch, `file_jobs_requeue_task`, `sweep_requeue_task`)."""

import logging

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)

BROKER_ERRORS = (OperationalError, ConnectionError, OSError)


def _registered(name):
    tasks = current_app.tasks
    if name not in tasks:  # not autodiscovered yet in this process (a web process, a test)
        # The worker's autodiscovery (the package collections_app.tasks): a task's name is not its
        # module's path (names outlive moves: `collections_app.tasks_imports.import_file_task`).
        current_app.loader.import_default_modules()
    return tasks[name]


def send_now(name, *args, **kwargs):
    """Send the task now. True if it was sent (or, eager, run); False (one warning logged) if not."""
    # Eager, only a broker error is caught (a test's failing task still fails the test); publishing,
    # any error is the broker's (kombu and redis-py raise several kinds).
    caught = BROKER_ERRORS if current_app.conf.task_always_eager else Exception
    try:
        if current_app.conf.task_always_eager:
            _registered(name).delay(*args, **kwargs)
        else:
            current_app.send_task(name, args=args, kwargs=kwargs)
    except caught:
        log.warning(
            "task %s not enqueued (broker unreachable); the periodic re-queue will pick its work up",
            name,
            exc_info=True,
        )
        return False
    return True


def enqueue(name, *args, **kwargs):
    """Send the task once the current transaction commits (a rolled-back request sends nothing)."""
    transaction.on_commit(lambda: send_now(name, *args, **kwargs))
