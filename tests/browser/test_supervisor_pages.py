"""Issue 9, point 20 in a real browser: compact approvals decided several at once, and "Distribute
evenly" with its preview and undo."""

import pytest
from playwright.sync_api import expect

from collections_app.models import Case, LegalReferral
from collections_app.services import legal_referral_request

from ..factories import QueueFactory, assigned_case, overdue_case

pytestmark = pytest.mark.django_db(transaction=True)


def test_approvals_rows_are_compact_and_several_are_approved_at_once(page, live_server, login, shot, supervisor):
    referrals = []
    for i in range(6):
        case = overdue_case(days_overdue=40)
        referrals.append(
            legal_referral_request(
                case_id=case.pk,
                actor=supervisor,
                reason="no contact after two visits, the borrower moved away " * (i % 2 + 1),
            )
        )
    login("supervisor")
    page.goto(f"{live_server.url}/approvals/")
    rows = page.get_by_test_id("pending").locator("tbody tr")
    expect(rows).to_have_count(6)
    heights = [rows.nth(i).bounding_box()["height"] for i in range(6)]
    assert max(heights) <= 60, heights
    shot("approvals-compact")
    for referral in referrals[:3]:
        page.locator(f'input[name="referrals"][value="{referral.pk}"]').check()
    page.get_by_test_id("approve-selected").click()
    expect(page.get_by_text("3 referrals approved", exact=False)).to_be_visible()
    assert [LegalReferral.objects.get(pk=r.pk).status for r in referrals] == ["approved"] * 3 + ["requested"] * 3


def test_distribute_evenly_previews_then_can_be_undone(
    page, live_server, login, shot, supervisor, collector, other_collector
):
    queue = QueueFactory(name="M1 calls")
    queue.members.add(collector, other_collector)
    waiting = [assigned_case(to=None, by=supervisor, queue=queue) for _ in range(4)]
    login("supervisor")
    page.goto(f"{live_server.url}/queues/")
    page.get_by_test_id("distribute").click()
    preview = page.get_by_test_id("distribute-preview")
    expect(preview).to_contain_text("4 unassigned cases will be assigned")
    expect(preview.locator('[data-collector="collector"]')).to_contain_text("+2")
    shot("distribute-preview")
    assert Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).count() == 4
    page.get_by_test_id("confirm-distribute").click()
    expect(page.get_by_text("4 cases of “M1 calls” distributed", exact=False)).to_be_visible()
    assert Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).count() == 0
    page.get_by_test_id("undo-distribution").get_by_role("button").click()
    expect(page.get_by_text("4 cases are unassigned again", exact=False)).to_be_visible()
    assert Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).count() == 4
