"""Links a role is shown lead to pages it may open (issue 9, point 16; the browser walk is
tests/browser/test_links.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from collections_app import services
from collections_app.web.context import may_open
from collections_app.workflow import State

from .factories import UserFactory, overdue_case

pytestmark = pytest.mark.django_db

ROLES = ("collector", "field_agent", "supervisor", "legal_officer", "auditor", "admin")


@pytest.mark.parametrize("role", ROLES)
def test_desk_and_every_nav_link_open_for_the_role(role, client):
    user = UserFactory(username=f"nav-{role}", roles=[role])
    client.force_login(user)
    desk = client.get("/")
    assert desk.status_code == 302
    landing = client.get(desk.url)
    assert landing.status_code == 200, (role, desk.url)
    nav = landing.context["nav_items"]
    assert nav
    for item in nav:
        assert client.get(item["url"]).status_code == 200, (role, item["url"])


@pytest.mark.parametrize("role", ("field_agent", "auditor", "legal_officer"))
def test_roles_without_a_worklist_get_a_back_link_to_their_desk(role, client, supervisor):
    user = UserFactory(username=f"nav-{role}", roles=[role])
    case = overdue_case(days_overdue=45)
    assert case.state == State.VISIT
    if role == "field_agent":
        other = UserFactory(username="nav-agent2", roles=["field_agent"])
        services.visit_schedule(
            case_id=case.pk,
            actor=supervisor,
            agents=[user.username, other.username],
            scheduled_for=timezone.now() + timedelta(days=1),
        )
    if role == "legal_officer":
        services.legal_referral_request(case_id=case.pk, actor=supervisor, reason="no contact")
    client.force_login(user)
    page = client.get(f"/cases/{case.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'href="/worklist/"' not in body and f"/cases/{case.pk}/next/" not in body
    assert 'data-testid="back-to-desk"' in body
    assert not may_open(user, "collections:worklist")
    # Asked for anyway, "next case" ends on the desk, never on a page that is 404 for the role.
    assert client.get(f"/cases/{case.pk}/next/", follow=True).status_code == 200


def test_collector_keeps_worklist_and_next_case(client, collector, supervisor):
    case = overdue_case(days_overdue=12)
    services.case_assign(case_ids=[case.pk], assignee=collector, actor=supervisor)
    client.force_login(collector)
    body = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'href="/worklist/"' in body and f"/cases/{case.pk}/next/" in body


def test_legal_officer_sees_no_link_to_a_decided_case_out_of_scope(client, legal_officer, supervisor):
    case = overdue_case(days_overdue=45)
    assert case.state == State.VISIT
    referral = services.legal_referral_request(case_id=case.pk, actor=supervisor, reason="no contact")
    services.legal_referral_decide(referral_id=referral.pk, actor=legal_officer, approve=False, reason="try visits")
    client.force_login(legal_officer)
    assert client.get(f"/cases/{case.pk}/").status_code == 404  # a rejected referral: no longer theirs
    body = client.get("/approvals/").content.decode()
    assert f"#{case.pk}" in body
    assert f'href="/cases/{case.pk}/"' not in body
    client.force_login(supervisor)
    assert f'href="/cases/{case.pk}/"' in client.get("/approvals/").content.decode()
