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
    response = client.post(
        DECIDE, {"referrals": [r.pk for _, r in pairs], "decision": "reject", "reason": "visit again"}
    )
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
    assert (
        html.index('data-testid="breaches"') < html.index('data-testid="disputes"') < html.index('data-testid="holds"')
    )


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
    assert len(ids(code="nonsense")) == 4  # an unknown code is ignored, not a 500


def test_holds_page_through_all_holds_keeping_the_filter(client, supervisor, monkeypatch):
    from collections_app.web.supervisor import holds as views

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
    from collections_app.web.supervisor import holds as views

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


# --- Distribute evenly: preview, confirm, undo ----------------------------------------------


@pytest.fixture
def waiting(supervisor, collector, other_collector, queue):
    from .factories import assigned_case

    queue.members.add(other_collector)
    assigned_case(to=collector, by=supervisor, queue=queue)  # collector starts one case ahead
    return [assigned_case(to=None, by=supervisor, queue=queue) for _ in range(5)]


def test_the_queues_page_asks_first_with_a_preview(client, supervisor, queue, waiting):
    from collections_app.models import Case

    client.force_login(supervisor)
    html = client.get(url("collections:queues")).content.decode()
    preview_url = url("collections:distribute-preview", queue.pk)
    assert f'href="{preview_url}"' in html
    assert f'action="{url("collections:distribute", queue.pk)}"' not in html  # no one-click distribution
    response = client.get(preview_url)
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.total == 5 and preview.shares == {"collector": 2, "collector2": 3}
    body = response.content.decode()
    assert "5 unassigned cases will be assigned" in body and 'data-collector="collector2"' in body
    assert Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).count() == 5  # nothing moved


def test_preview_is_for_managers_only_and_get_only(client, collector, supervisor, queue):
    client.force_login(collector)
    assert client.get(url("collections:distribute-preview", queue.pk)).status_code == 404
    client.force_login(supervisor)
    assert client.post(url("collections:distribute-preview", queue.pk)).status_code == 405
    assert client.post(url("collections:distribute-undo")).status_code != 405


def test_distribution_is_undone_within_the_minute_for_untouched_cases(client, supervisor, collector, queue, waiting):
    from collections_app.models import Case, CaseEvent
    from collections_app.services import case_assign, contact_log

    client.force_login(supervisor)
    client.post(url("collections:distribute", queue.pk))
    assert not Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).exists()
    page = client.get(url("collections:queues"))
    offer = page.context["undo_offer"]
    assert offer and 'data-testid="undo-distribution"' in page.content.decode()
    # Two cases are touched meanwhile: one reassigned by hand, one worked by its collector.
    moved, worked = waiting[0], next(c for c in waiting[1:] if fresh(c).assigned_to == collector)
    case_assign(
        case_ids=[moved.pk],
        actor=supervisor,
        assignee=collector if fresh(moved).assigned_to != collector else "collector2",
    )
    contact_log(case_id=worked.pk, actor=collector, channel="call", outcome="no_answer")
    before = CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    response = client.post(url("collections:distribute-undo"), {"token": offer["token"]})

    assert response.status_code == 302
    back = [c.pk for c in waiting[1:] if c.pk != worked.pk]
    assert Case.objects.filter(pk__in=back, assigned_to__isnull=True).count() == len(back) == 3
    assert fresh(moved).assigned_to is not None and fresh(worked).assigned_to == collector
    undo_events = CaseEvent.objects.filter(pk__gt=before, kind="assigned")
    assert sorted(e.case_id for e in undo_events) == sorted(back)
    assert all(e.payload["to_user"] is None and e.actor == "user:supervisor" for e in undo_events)
    assert "3 cases are unassigned again" in flash(response)[-1] and "2 cases were changed since" in flash(response)[-1]
    assert client.get(url("collections:queues")).context["undo_offer"] is None  # the offer is used up


def test_an_undo_after_the_minute_is_refused(client, supervisor, queue, waiting, monkeypatch):
    import time as clock
    from collections_app.models import Case
    from collections_app.services.assignment import case_distribute_evenly, case_distribution_undo
    from .helpers import refused

    result = case_distribute_evenly(queue=queue, actor=supervisor)
    real = clock.time
    monkeypatch.setattr(clock, "time", lambda: real() + 61)
    with refused("validation_error"):
        case_distribution_undo(token=result.undo_token, actor=supervisor)
    assert not Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).exists()


def test_only_who_distributed_may_undo_and_a_forged_token_is_refused(supervisor, admin_user, queue, waiting):
    from collections_app.services.assignment import case_distribute_evenly, case_distribution_undo
    from .helpers import refused

    result = case_distribute_evenly(queue=queue, actor=supervisor)
    with refused("permission_denied"):
        case_distribution_undo(token=result.undo_token, actor=admin_user)
    with refused("validation_error"):
        case_distribution_undo(token=result.undo_token + "x", actor=supervisor)
    assert case_distribution_undo(token=result.undo_token, actor=supervisor).undone == 5


# --- The assignee list of a queue ------------------------------------------------------------


def test_assignee_list_of_a_queue_offers_only_its_collectors(
    client, supervisor, collector, other_collector, queue, field_agent
):
    from .factories import assigned_case

    assigned_case(to=None, by=supervisor, queue=queue)
    queue.members.add(field_agent)  # a member who is not a collector
    client.force_login(supervisor)
    response = client.get(url("collections:assign"), {"queue": queue.pk})
    offered = [
        value for value, _ in response.context["action"].fields["assignee"].choices if value not in ("", "__none__")
    ]
    assert offered == ["collector"]
    # Without a queue, everyone cases can go to.
    everyone = client.get(url("collections:assign")).context["action"].fields["assignee"].choices
    assert {"collector", "collector2", "field_agent", "supervisor"} <= {v for v, _ in everyone}


def test_assigning_a_queues_case_to_a_collector_of_another_queue_is_refused_on_that_page(
    client, supervisor, collector, other_collector, queue
):
    from .factories import assigned_case

    case = assigned_case(to=None, by=supervisor, queue=queue)
    client.force_login(supervisor)
    response = client.post(
        url("collections:assign") + f"?queue={queue.pk}", {"cases": [case.pk], "assignee": "collector2"}
    )
    assert response.status_code == 200 and "assignee" in response.context["action"].errors
    assert fresh(case).assigned_to is None
