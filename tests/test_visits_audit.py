"""/visits/ shows a field agent the address of each visit assigned to them: one audit entry per page
view, listing what was shown (issue 9, point 6: it was one row per visit, ~56 per load)."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import AuditLog

from .factories import overdue_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(supervisor, field_agent, field_agent2):
    visits = []
    for hours in range(1, 7):
        case = overdue_case(days_overdue=40)
        visits.append(
            services.visit_schedule(
                case_id=case.pk,
                actor=supervisor,
                scheduled_for=timezone.now() + timedelta(hours=hours),
                agents=[field_agent, field_agent2],
            )
        )
    return visits


def test_one_audit_entry_per_page_view_listing_what_was_shown(client, field_agent, planned):
    client.force_login(field_agent)
    response = client.get(reverse("collections:visits"))
    assert response.status_code == 200
    body = response.content.decode()
    for visit in planned:
        assert visit.case.borrower.address in body
    assert AuditLog.objects.count() == 1
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.fields) == ("user:field_agent", "reveal", ["address"])
    shown = json.loads(entry.reason)["shown"]
    assert sorted(s["visit"] for s in shown) == sorted(v.pk for v in planned)
    assert sorted(s["case"] for s in shown) == sorted(v.case_id for v in planned)
    assert sorted(s["borrower"] for s in shown) == sorted(v.case.borrower_id for v in planned)

    client.get(reverse("collections:visits"))
    assert AuditLog.objects.count() == 2  # one more per page view, not per visit


def test_a_page_with_one_visit_names_its_borrower_and_case(client, field_agent, supervisor, field_agent2):
    case = overdue_case(days_overdue=40)
    services.visit_schedule(
        case_id=case.pk,
        actor=supervisor,
        scheduled_for=timezone.now() + timedelta(hours=1),
        agents=[field_agent, field_agent2],
    )
    client.force_login(field_agent)
    client.get(reverse("collections:visits"))
    entry = AuditLog.objects.get()
    assert (entry.borrower_id, entry.case_id) == (case.borrower_id, case.pk)


def test_an_empty_visit_list_writes_nothing(client, field_agent):
    client.force_login(field_agent)
    client.get(reverse("collections:visits"))
    assert not AuditLog.objects.exists()
