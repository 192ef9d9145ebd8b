"""Issue 10, point 5: the Celery tasks live in the package collections_app/tasks/ by capability, and
every task keeps the NAME it had before (beat rows, queued messages and services/enqueue.py send by
name)."""

import importlib
import sys

import pytest
from celery import current_app

from collections_app.services.enqueue import _registered

OLD_NAMES = {  # name -> the capability module that holds it now
    "collections_app.tasks.cases_sync_with_loans_task": "sweep",
    "collections_app.tasks.sweep_task": "sweep",
    "collections_app.tasks.sweep_chunk_task": "sweep",
    "collections_app.tasks.sweep_requeue_task": "sweep",
    "collections_app.tasks.reminders_plan_task": "reminders",
    "collections_app.tasks.reminders_dispatch_task": "reminders",
    "collections_app.tasks.reminders_requeue_stale_task": "reminders",
    "collections_app.tasks.risk_score_task": "risk",
    "collections_app.tasks.webhooks_dispatch_task": "webhooks",
    "collections_app.tasks.webhook_lane_task": "webhooks",
    "collections_app.tasks.dashboard_warm_task": "dashboard",
    "collections_app.tasks.file_jobs_requeue_task": "files",
    "collections_app.tasks.file_jobs_purge_task": "files",
    "collections_app.tasks_imports.import_file_task": "files",
    "collections_app.tasks_exports.export_run_task": "files",
}


@pytest.mark.parametrize("name, module", sorted(OLD_NAMES.items()))
def test_each_task_keeps_its_old_name_in_its_capability_module(name, module):
    task = getattr(importlib.import_module(f"collections_app.tasks.{module}"), name.rsplit(".", 1)[1])
    assert task.name == name
    assert current_app.tasks[name] is task._get_current_object()


def test_the_package_registers_every_task_for_the_workers_autodiscovery():
    import collections_app.tasks

    registered = {n for n in current_app.tasks if n.startswith("collections_app.")}
    assert registered == set(OLD_NAMES)
    assert collections_app.tasks.__file__.endswith("__init__.py")


@pytest.mark.parametrize("old", ["collections_app.tasks_imports", "collections_app.tasks_exports"])
def test_the_old_task_modules_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_enqueue_by_name_finds_a_task_whose_name_is_not_its_module(monkeypatch):
    """`collections_app.tasks_imports` is no module any more: the name still resolves."""
    for module in [m for m in sys.modules if m == "collections_app.tasks" or m.startswith("collections_app.tasks.")]:
        monkeypatch.delitem(sys.modules, module)
    for name in [n for n in current_app.tasks if n.startswith("collections_app.")]:
        monkeypatch.delitem(current_app.tasks, name)
    task = _registered("collections_app.tasks_imports.import_file_task")
    assert task.name == "collections_app.tasks_imports.import_file_task"


@pytest.mark.django_db
def test_every_beat_row_names_a_registered_task():
    from django_celery_beat.models import PeriodicTask

    names = set(PeriodicTask.objects.values_list("task", flat=True))
    assert names and names <= set(OLD_NAMES)
