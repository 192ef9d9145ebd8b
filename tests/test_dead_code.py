"""Issue 10, point 6: code nobody calls is gone and stays gone, and HTMX requests are recognised by
django-htmx's middleware (`request.htmx`), not by reading the header by hand."""

import importlib
import pathlib

import pytest

APP = pathlib.Path(__file__).resolve().parent.parent / "collections_app"


@pytest.mark.parametrize(
    "module, name",
    [
        ("collections_app.services.webhooks", "webhook_emit"),  # events not on a timeline: none exist
        ("collections_app.services.webhooks.outbox", "webhook_emit"),
        ("collections_app.web.common", "back_with_refusal"),
        ("collections_app.web.common", "is_htmx"),  # request.htmx (django-htmx's middleware)
        ("collections_app.workflow", "FINAL_STATES"),
        ("collections_app.strategy", "ESCALATION_ORDER"),
        ("collections_app.web.supervisor.forms", "UNASSIGNED"),  # one constant: selectors.supervisor.UNASSIGNED
        ("collections_app.services.events", "case_events_committed"),  # sent, never received
    ],
)
def test_dead_names_are_gone(module, name):
    assert not hasattr(importlib.import_module(module), name)


def test_the_event_signal_module_is_gone():
    assert not (APP / "signals.py").exists()


@pytest.mark.parametrize(
    "cls, attribute",
    [
        ("collections_app.models.ContactAttempt", "is_right_party"),
        ("collections_app.models.ContactAttempt", "connected"),
    ],
)
def test_unused_properties_are_gone(cls, attribute):
    module, name = cls.rsplit(".", 1)
    assert not hasattr(getattr(importlib.import_module(module), name), attribute)


def test_no_code_reads_the_htmx_header_by_hand():
    readers = [
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if "HX-Request" in path.read_text() or "HTTP_HX_REQUEST" in path.read_text()
    ]
    assert readers == []


def test_the_assignment_filter_and_its_form_share_one_unassigned_value():
    from collections_app.selectors import supervisor as supervisor_reads

    source = (APP / "selectors" / "supervisor.py").read_text()
    assert supervisor_reads.UNASSIGNED == "unassigned"
    assert source.count('UNASSIGNED = "unassigned"') == 1
    assert 'assigned_to == "unassigned"' not in source and "assigned_to == UNASSIGNED" in source


def test_htmx_middleware_is_installed(settings):
    assert "django_htmx.middleware.HtmxMiddleware" in settings.MIDDLEWARE


@pytest.mark.django_db
def test_an_htmx_request_for_a_large_export_is_redirected_by_htmx(client, collector, supervisor, settings, tmp_path):
    from django.urls import reverse

    from collections_app.models import FileJob

    from .factories import assigned_case

    settings.COLLECTIONS_EXPORT_INLINE_MAX_ROWS = 1
    settings.COLLECTIONS_FILES_DIR = tmp_path
    for _ in range(2):
        assigned_case(to=collector, by=supervisor)
    client.force_login(collector)

    by_htmx = client.get(reverse("collections:export-worklist", args=["csv"]), HTTP_HX_REQUEST="true")
    plain = client.get(reverse("collections:export-worklist", args=["csv"]))

    first, second = FileJob.objects.order_by("pk")
    assert by_htmx.status_code == 204
    assert by_htmx["HX-Redirect"] == reverse("collections:export-job", args=[first.pk])
    assert plain.status_code == 302 and plain["Location"] == reverse("collections:export-job", args=[second.pk])
    # The job page: its status box alone for HTMX, the whole page otherwise.
    box = client.get(reverse("collections:export-job", args=[first.pk]), HTTP_HX_REQUEST="true").content.decode()
    page = client.get(reverse("collections:export-job", args=[first.pk])).content.decode()
    assert "<html" not in box and "<html" in page
