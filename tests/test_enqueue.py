"""Services never import tasks (issue 10, point 4): work is enqueued by task name on commit, and an
enqueue never fails the request whose work committed: with the broker down the row waits for a
periodic re-queue."""

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from collections_app.models import FileJob, OutboundMessage, WebhookDelivery
from collections_app.services import webhooks

from .factories import BorrowerFactory, overdue_case

APP = Path(__file__).resolve().parent.parent / "collections_app"
TASK_MODULES = {"tasks", "tasks_imports", "tasks_exports"}


def _imported_modules(path):
    """Every module a file imports, spelled relative to collections_app where it can be."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            yield base
            for alias in node.names:  # `from .. import tasks`
                yield f"{base}.{alias.name}" if base else alias.name


def _is_tasks_module(name):
    return any(part in TASK_MODULES for part in name.split("."))


@pytest.mark.parametrize("folder", ["services", "web", "api"])
def test_no_service_view_or_api_module_imports_a_tasks_module(folder):
    offenders = sorted(
        f"{path.relative_to(APP)}: {name}"
        for path in (APP / folder).rglob("*.py")
        for name in _imported_modules(path)
        if _is_tasks_module(name)
    )
    assert offenders == []


def test_the_check_would_see_a_tasks_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from ...tasks import sweep_task\nfrom .. import tasks_exports\nimport collections_app.tasks\n")
    assert [n for n in _imported_modules(sample) if _is_tasks_module(n)] == [
        "tasks",
        "tasks.sweep_task",
        "tasks_exports",
        "collections_app.tasks",
    ]


# --- the broker is down --------------------------------------------------------------------------


@pytest.fixture
def broker_down(monkeypatch):
    """Celery as in production (not eager), its broker unreachable: every publish raises."""
    sent = []

    def refuse(name, args=None, kwargs=None, **options):
        sent.append((name, tuple(args or ()), dict(kwargs or {})))
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setitem(current_app.conf, "task_always_eager", False)
    monkeypatch.setattr(current_app, "send_task", refuse)
    return sent


def _warnings(caplog):
    return [r for r in caplog.records if r.name == "collections_app.services.enqueue" and r.levelno == logging.WARNING]


@pytest.fixture
def files(settings, tmp_path):
    settings.COLLECTIONS_FILES_DIR = tmp_path
    return tmp_path


def test_an_upload_with_the_broker_down_is_queued_and_requeued_later(
    client, supervisor, files, broker_down, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from collections_app.tasks.files import file_jobs_requeue_task

    client.force_login(supervisor)
    upload = SimpleUploadedFile(
        "book.csv", b"loan,number,due_date,amount_due\nL9,1,2026-01-01,5\n", content_type="text/csv"
    )
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("collections:imports"), {"kind": "instalments", "file": upload})
    job = FileJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("collections:import-job", args=[job.pk])
    assert job.status == "queued" and (files / job.file_path).is_file()
    assert broker_down == [("collections_app.tasks_imports.import_file_task", (job.pk,), {})]
    assert len(_warnings(caplog)) == 1

    assert file_jobs_requeue_task() == []  # too early: its message may still be on its way
    FileJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)  # the broker is back (eager: runs it)
    assert file_jobs_requeue_task() == [job.pk]
    job.refresh_from_db()
    assert job.status == "done" and job.summary["refused"] == 1
    assert file_jobs_requeue_task() == []


def test_an_export_with_the_broker_down_is_queued_and_requeued_later(
    client,
    collector,
    supervisor,
    queue,
    files,
    broker_down,
    caplog,
    monkeypatch,
    settings,
    django_capture_on_commit_callbacks,
):
    from collections_app.services.files import file_jobs_requeue

    from .factories import assigned_case

    settings.COLLECTIONS_EXPORT_INLINE_MAX_ROWS = 1
    assigned_case(to=collector, by=supervisor, days_overdue=10, queue=queue)
    assigned_case(to=collector, by=supervisor, days_overdue=3, queue=queue)
    client.force_login(collector)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("collections:export-worklist", args=["csv"]))
    job = FileJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("collections:export-job", args=[job.pk])
    assert job.status == "queued" and job.direction == "export"
    assert broker_down == [("collections_app.tasks_exports.export_run_task", (job.pk,), {})]
    assert len(_warnings(caplog)) == 1

    monkeypatch.setattr(
        current_app,
        "send_task",
        lambda name, args=None, kwargs=None, **o: broker_down.append((name, tuple(args), dict(kwargs or {}))),
    )  # the broker is back
    assert file_jobs_requeue(now=timezone.now() + timedelta(minutes=10)) == [job.pk]
    assert broker_down[-1] == ("collections_app.tasks_exports.export_run_task", (job.pk,), {})


def test_an_api_message_and_transition_with_the_broker_down_answer_as_usual(
    db, api, broker_down, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from collections_app.tasks.reminders import reminders_dispatch_task

    from .test_api_actions import zone_at_local_hour

    dialler = api("cases:read", "cases:write", name="dialler")
    # Noon where the borrower lives, whatever the hour this runs: the message may go out at once.
    case = overdue_case(days_overdue=3, borrower=BorrowerFactory(time_zone=zone_at_local_hour(12)))
    subscription, _secret = webhooks.webhook_subscription_create(
        url="https://hooks.example.com/in", event_types=["case.state_changed"], is_active=True
    )
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        moved = dialler.post(f"/api/v1/cases/{case.pk}/transitions/", {"transition": "start_calls"})
    assert moved.status_code == 200 and moved.json()["state"] == "call"
    assert WebhookDelivery.objects.filter(subscription=subscription, status="queued").count() == 1
    assert broker_down == [("collections_app.tasks.webhooks_dispatch_task", (), {})]
    assert len(_warnings(caplog)) == 1
    assert webhooks.webhooks_lanes_due() == [subscription.pk]  # beat's dispatcher finds it

    with django_capture_on_commit_callbacks(execute=True):
        sent = dialler.post(
            f"/api/v1/cases/{case.pk}/messages/", {"channel": "sms", "template": "overdue", "schedule": "next_allowed"}
        )
    assert sent.status_code == 202
    message = OutboundMessage.objects.get(case=case)
    assert message.status == "queued"
    OutboundMessage.objects.filter(pk=message.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)
    reminders_dispatch_task()  # beat, every minute: the outbox row goes out
    message.refresh_from_db()
    assert message.status != "queued"


def test_enqueue_waits_for_the_commit_and_runs_eagerly_in_tests(db, django_capture_on_commit_callbacks):
    from unittest import mock

    from collections_app.services.enqueue import enqueue

    with mock.patch("collections_app.tasks.files.file_jobs_requeue_task.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            enqueue("collections_app.tasks.file_jobs_requeue_task")
        delay.assert_not_called()
        for callback in callbacks:
            callback()
    delay.assert_called_once_with()


def test_the_file_job_requeue_runs_from_beat(db):
    from django_celery_beat.models import PeriodicTask

    row = PeriodicTask.objects.get(task="collections_app.tasks.file_jobs_requeue_task")
    assert row.enabled and row.interval.every * {"seconds": 1, "minutes": 60}[row.interval.period] <= 300
    dispatch = PeriodicTask.objects.get(task="collections_app.tasks.webhooks_dispatch_task")
    assert dispatch.enabled  # webhooks' deliveries left by a failed nudge: beat's dispatcher covers them
