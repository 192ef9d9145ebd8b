"""Issue 9, point 20: supervisors' and legal officers' pages. Several referrals decided at once,
the holds page (breaches first, paging, filters), "Distribute evenly" with a preview and an undo,
and the assignee list of a queue offering only its collectors."""
import pytest
from django.urls import reverse

from collections_app.models import LegalReferral
from collections_app.services import hold_place, legal_referral_decide

from .factories import fresh
from .test_views_supervisor import flash, visit_case_with_referral

pytestmark = pytest.mark.django_db

DECIDE = "/approvals/decide/"


def url(name, *args):
    return reverse(name, args=args)


# --- Approvals: several at once --------------------------------------------------------------


def test_bulk_decide_url_is_post_only_and_for_deciders(client, collector, supervisor):
    assert reverse("collections:approvals-decide") == DECIDE
    client.force_login(collector)
    assert client.post(DECIDE, {"referrals": [1], "decision": "approve"}).status_code == 404
    client.force_login(supervisor)
    assert client.get(DECIDE).status_code == 405


@pytest.mark.parametrize("who", ["supervisor", "legal_officer"])
def test_several_referrals_approved_at_once(client, supervisor, legal_officer, who):
    pairs = [visit_case_with_referral(supervisor) for _ in range(3)]
    client.force_login({"supervisor": supervisor, "legal_officer": legal_officer}[who])
    response = client.post(DECIDE, {"referrals": [r.pk for _, r in pairs[:2]], "decision": "approve", "reason": "ok"})
    assert response.status_code == 302 and response["Location"] == url("collections:approvals")
    assert [fresh(c).state for c, _ in pairs] == ["legal", "legal", "visit"]
    assert [LegalReferral.objects.get(pk=r.pk).decided_by for _, r in pairs[:2]] == [f"user:{who}"] * 2
    assert "2 referrals approved" in flash(response)[0]


def test_bulk_reject_needs_a_reason_and_changes_nothing_without_one(client, supervisor):
    pairs = [visit_case_with_referral(supervisor) for _ in range(2)]
    client.force_login(supervisor)
    response = client.post(DECIDE, {"referrals": [r.pk for _, r in pairs], "decision": "reject", "reason": " "})
    assert response.status_code == 200
    assert "Give a reason to reject the referral." in response.content.decode()
    assert all(LegalReferral.objects.get(pk=r.pk).status == "requested" for _, r in pairs)
    # The boxes stay ticked for a second try.
    assert response.content.decode().count("checked") >= 2
    response = client.post(DECIDE, {"referrals": [r.pk for _, r in pairs], "decision": "reject", "reason": "visit again"})
    assert [LegalReferral.objects.get(pk=r.pk).status for _, r in pairs] == ["rejected", "rejected"]


def test_each_referral_is_decided_on_its_own_and_a_refusal_names_it(client, supervisor):
    (done_case, done), (held_case, held), (ok_case, ok) = [visit_case_with_referral(supervisor) for _ in range(3)]
    legal_referral_decide(referral_id=done.pk, actor=supervisor, approve=False, reason="no")
    hold_place(borrower_id=held_case.borrower_id, code="complaint", actor=supervisor, reason="complained")
    client.force_login(supervisor)
    response = client.post(DECIDE, {"referrals": [done.pk, held.pk, ok.pk], "decision": "approve"})
    texts = flash(response)
    assert fresh(ok_case).state == "legal"
    assert fresh(held_case).state == "visit" and LegalReferral.objects.get(pk=held.pk).status == "requested"
    assert any(f"Referral {done.pk} not decided" in t and "already decided" in t for t in texts)
    assert any(f"Referral {held.pk} not decided" in t and "active hold" in t for t in texts)
    assert any("1 referral approved" in t and f"#{ok_case.pk}" in t for t in texts)


def test_bulk_decide_refuses_nothing_selected(client, supervisor):
    client.force_login(supervisor)
    response = client.post(DECIDE, {"decision": "approve"})
    assert response.status_code == 200 and "Select at least one referral." in response.content.decode()


def test_approvals_rows_carry_checkboxes_of_the_bulk_form(client, supervisor):
    pairs = [visit_case_with_referral(supervisor) for _ in range(2)]
    client.force_login(supervisor)
    html = client.get(url("collections:approvals")).content.decode()
    for _, referral in pairs:
        assert f'name="referrals" value="{referral.pk}" form="bulk-decide"' in html
    assert 'action="/approvals/decide/"' in html


# --- Holds: breaches first, paging, filters -------------------------------------------------


def test_breaches_come_first_on_the_holds_page(client, supervisor, collector):
    from .test_views_supervisor import breach_contact
    from .factories import assigned_case
    breach_contact(collector, supervisor)
    held = assigned_case(to=collector, by=supervisor)
    hold_place(borrower_id=held.borrower_id, code="complaint", actor=supervisor, reason="complained")
    client.force_login(supervisor)
    html = client.get(url("collections:holds")).content.decode()
    assert html.index('data-testid="breaches"') < html.index('data-testid="disputes"') < html.index('data-testid="holds"')


def _holds(supervisor, n, code="complaint"):
    from .factories import BorrowerFactory
    return [hold_place(borrower_id=BorrowerFactory().pk, code=code, actor=supervisor, reason="r") for _ in range(n)]


def test_holds_are_filtered_by_code_and_source(client, supervisor):
    from collections_app.models import Hold
    complaints = _holds(supervisor, 2)
    bankrupt = _holds(supervisor, 1, code="bankruptcy")
    from_loans = _holds(supervisor, 1, code="deceased")
    Hold.objects.filter(pk=from_loans[0].pk).update(source="loan_system")
    client.force_login(supervisor)
    ids = lambda **q: sorted(h.pk for h in client.get(url("collections:holds"), q).context["holds"])  # noqa: E731
    assert ids(code="complaint") == sorted(h.pk for h in complaints)
    assert ids(code="bankruptcy") == [bankrupt[0].pk]
    assert ids(source="loan_system") == [from_loans[0].pk]
    assert ids(source="staff", code="deceased") == []
    assert len(ids()) == 4
    assert ids(code="nonsense") and True  # an unknown code is ignored, not a 500


def test_holds_page_through_all_holds_keeping_the_filter(client, supervisor, monkeypatch):
    from collections_app.views import supervisor as views
    monkeypatch.setattr(views, "HOLDS_PAGE", 2)
    holds = _holds(supervisor, 5)
    _holds(supervisor, 2, code="bankruptcy")
    client.force_login(supervisor)
    seen, query = [], {"code": "complaint"}
    for _ in range(5):
        response = client.get(url("collections:holds"), query)
        seen += [h.pk for h in response.context["holds"]]
        if not response.context["next_before"]:
            break
        assert 'href="?code=complaint&amp;before=' in response.content.decode()
        query = {"code": "complaint", "before": response.context["next_before"]}
    assert seen == sorted((h.pk for h in holds), reverse=True)


def test_breaches_page_through_every_breach_once(client, supervisor, collector, monkeypatch):
    from .test_views_supervisor import breach_contact
    from collections_app.views import supervisor as views
    monkeypatch.setattr(views, "BREACHES_PAGE", 2)
    contacts = [breach_contact(collector, supervisor)[1] for _ in range(5)]  # same minute: ties by id
    client.force_login(supervisor)
    seen, query = [], {}
    for _ in range(5):
        response = client.get(url("collections:holds"), query)
        seen += [c.pk for c in response.context["breaches"]]
        if not response.context["next_breaches"]:
            break
        query = {"breaches_before": response.context["next_breaches"]}
    assert seen == sorted((c.pk for c in contacts), reverse=True)


def test_a_bad_breaches_position_starts_again_not_a_500(client, supervisor):
    client.force_login(supervisor)
    assert client.get(url("collections:holds"), {"breaches_before": "junk"}).status_code == 200
