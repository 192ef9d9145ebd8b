"""The row fragments rendered by Jinja2 (collections_app/web/jinja.py): escaped as the Django
templates are, in the person's language and time zone, and the older-events link works."""

from datetime import datetime, timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from collections_app import services
from collections_app.web.jinja import render_rows

from .factories import BorrowerFactory, assigned_case

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script> & <b>bold</b>'


@pytest.fixture
def my_case(collector, supervisor):
    return assigned_case(to=collector, by=supervisor, days_overdue=12, borrower=BorrowerFactory())


def test_a_note_with_markup_is_shown_as_text_on_the_timeline(client, collector, my_case):
    client.force_login(collector)
    response = client.post(
        reverse("collections:case-log-contact", args=[my_case.pk]),
        {"channel": "call", "direction": "outbound", "outcome": "no_answer", "notes": HOSTILE},
    )
    assert response.status_code == 302
    body = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert "<script>alert" not in body and "<b>bold</b>" not in body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in body or (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in body
    )


def test_the_older_events_button_loads_the_next_fifty(client, collector, my_case):
    for n in range(55):
        services.contact_log(case_id=my_case.pk, actor=collector, channel="call", outcome="no_answer", notes=f"n{n}")
    client.force_login(collector)
    body = client.get(reverse("collections:case", args=[my_case.pk])).content.decode()
    assert body.count("<li data-kind=") == 50
    start = body.index('hx-get="') + len('hx-get="')
    older_url = body[start : body.index('"', start)].replace("&amp;", "&")
    assert older_url.startswith(reverse("collections:case-timeline", args=[my_case.pk]) + "?before=")
    older = client.get(older_url)
    assert older.status_code == 200
    assert older.content.decode().count("<li data-kind=") >= 6  # the rest: 55 contacts + the case's own events


def test_rows_follow_the_language_and_the_time_zone():
    class Event:
        kind, title, detail, actor = "note_added", "Note", "", "system"
        at = datetime(2026, 12, 3, 16, 30, tzinfo=dt_timezone.utc)

    context = {"events": [Event()], "older": 7, "case_id": 3}
    with translation.override("zh-hans"), timezone.override("Asia/Shanghai"):
        html = render_rows("collections_app/rows/timeline.html", context)
    assert "2026-12-04 00:30" in html and "更早" in html and "系统" in html
    with translation.override("en"), timezone.override("UTC"):
        html = render_rows("collections_app/rows/timeline.html", context)
    assert "2026-12-03 16:30" in html and ">Older<" in html and "System" in html
    assert 'datetime="2026-12-03T16:30:00+00:00"' in html
