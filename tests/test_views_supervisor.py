"""The supervisors' pages: /queues/, /queues/assign/, /approvals/, /holds/ and their actions."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.masking import mask_name
from collections_app.models import Case, CaseEvent, Hold
from collections_app.services import contact_log, hold_place, legal_referral_decide, legal_referral_request
from collections_app.services.assignment import case_distribute_evenly

from .factories import BorrowerFactory, QueueFactory, assigned_case, case_in_state, fresh, overdue_case
from .helpers import refused

pytestmark = pytest.mark.django_db

PAGES = ["collections:queues", "collections:assign", "collections:approvals", "collections:holds"]


def url(name, *args):
    return reverse(name, args=args)


def flash(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def open_loads(*users):
    return [Case.objects.filter(assigned_to=u, state__in=["reminder", "call", "visit", "legal"]).count() for u in users]


def visit_case_with_referral(supervisor, reason="no contact after two visits"):
    case = overdue_case(days_overdue=40)
    assert case.state == "visit"
    referral = legal_referral_request(case_id=case.pk, actor=supervisor, reason=reason)
    return case, referral


def daytime(days_ago=1):
    """10:00 Shanghai time some days ago: inside contact hours whenever the test runs."""
    return datetime.combine(lender_today() - timedelta(days=days_ago), time(10), tzinfo=ZoneInfo("Asia/Shanghai"))


def breach_contact(collector, supervisor):
    """A call logged at 23:30 last night, Shanghai time: outside contact hours, so flagged."""
    case = assigned_case(to=collector, by=supervisor)
    night = datetime.combine(lender_today() - timedelta(days=1), time(23, 30), tzinfo=ZoneInfo("Asia/Shanghai"))
    return case, contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=night)


# --- Who may open what -----------------------------------------------------------------------

ACTIONS = [
    ("collections:distribute", lambda queue: (queue.pk,)),
    ("collections:approval-decide", lambda queue: (1,)),
    ("collections:hold-place", lambda queue: ()),
    ("collections:hold-lift", lambda queue: (1,)),
    ("collections:assign", lambda queue: ()),
]


@pytest.mark.parametrize("name", PAGES)
def test_collector_gets_404_on_every_supervisor_page(client, collector, queue, name):
    client.force_login(collector)
    assert client.get(url(name)).status_code == 404


@pytest.mark.parametrize("name,args", ACTIONS)
def test_collector_gets_404_on_every_supervisor_action(client, collector, queue, name, args):
    client.force_login(collector)
    assert client.post(url(name, *args(queue)), {"reason": "x"}).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_auditor_reads_the_dashboard_not_the_supervisors_desk(client, auditor, name):
    client.force_login(auditor)
    assert client.get(url(name)).status_code == 404


def test_legal_officer_sees_approvals_only(client, legal_officer):
    client.force_login(legal_officer)
    assert client.get(url("collections:approvals")).status_code == 200
    for name in ("collections:queues", "collections:assign", "collections:holds"):
        assert client.get(url(name)).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_admin_and_supervisor_open_every_page(client, supervisor, admin_user, name):
    for user in (supervisor, admin_user):
        client.force_login(user)
        assert client.get(url(name)).status_code == 200


@pytest.mark.parametrize("name", PAGES)
def test_pages_render_in_simplified_chinese(client, supervisor, queue, name):
    from django.conf import settings

    client.force_login(supervisor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.get(url(name))
    assert response.status_code == 200 and '<html lang="zh-hans">' in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_log_in(client, name):
    response = client.get(url(name))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name,args", [a for a in ACTIONS if a[0] != "collections:assign"])
def test_actions_are_post_only(client, supervisor, queue, name, args):
    client.force_login(supervisor)
    assert client.get(url(name, *args(queue))).status_code == 405


def test_actions_need_the_csrf_token(supervisor, queue):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(supervisor)
    assert strict.post(url("collections:distribute", queue.pk)).status_code == 403
    assert strict.post(url("collections:assign"), {"cases": [1], "assignee": "collector"}).status_code == 403


# --- Queues ----------------------------------------------------------------------------------


def test_queues_page_shows_open_cases_amount_unassigned_and_loads(
    client, supervisor, collector, other_collector, queue
):
    for _ in range(2):
        assigned_case(to=collector, by=supervisor, queue=queue)
    unassigned = assigned_case(to=None, by=supervisor, queue=queue)
    client.force_login(supervisor)
    response = client.get(url("collections:queues"))
    assert response.status_code == 200
    row = next(q for q in response.context["queues"] if q.pk == queue.pk)
    assert (row.open_cases, row.unassigned) == (3, 1)
    assert row.amount_overdue == 3 * unassigned.amount_overdue
    assert row.collector_loads == [("collector", 2)]
    loads = {u.username: (u.open_cases, u.amount_overdue) for u in response.context["people"]}
    assert loads == {"collector": (2, 2 * unassigned.amount_overdue), "collector2": (0, 0)}
    totals = response.context["totals"]
    assert (totals["open_cases"], totals["unassigned"]) == (3, 1) and response.context["unqueued"] is None
    html = response.content.decode()
    assert f"{3 * unassigned.amount_overdue:,.2f} CNY" in html
    assert f"{url('collections:assign')}?queue={queue.pk}" in html
    assert url("collections:distribute", queue.pk) in html


def _queue_page_rows(n, supervisor, queue, collectors):
    for i in range(n):
        assigned_case(to=collectors[i % len(collectors)] if i % 3 else None, by=supervisor, queue=queue)


@pytest.mark.parametrize("rows", [3, 20])
def test_queues_page_runs_a_fixed_number_of_queries(
    client, supervisor, collector, other_collector, queue, rows, django_assert_num_queries
):
    queue.members.add(other_collector)
    QueueFactory(name="M2 visits").members.add(other_collector)
    _queue_page_rows(rows, supervisor, queue, [collector, other_collector])
    client.force_login(supervisor)
    assigned_case(to=supervisor, by=supervisor)  # in no queue, held by a supervisor
    # session, user, roles; one aggregate; queues, their collectors; people, their queues
    with django_assert_num_queries(8):
        response = client.get(url("collections:queues"))
    assert response.context["totals"]["open_cases"] == rows + 1
    assert response.context["unqueued"]["open_cases"] == 1
    assert "supervisor" in {p.username for p in response.context["people"]}


# --- Distribute evenly -----------------------------------------------------------------------


def test_distribute_evenly_spreads_unassigned_cases_by_load(client, supervisor, collector, other_collector, queue):
    queue.members.add(other_collector, supervisor)  # a supervisor member is not a collector: gets nothing
    for _ in range(3):
        assigned_case(to=collector, by=supervisor, queue=queue)
    waiting = [assigned_case(to=None, by=supervisor, queue=queue) for _ in range(10)]
    elsewhere = assigned_case(to=None, by=supervisor, queue=QueueFactory(name="other"))
    before = CaseEvent.objects.filter(kind="assigned").count()
    client.force_login(supervisor)

    response = client.post(url("collections:distribute", queue.pk))

    assert response.status_code == 302 and response["Location"] == url("collections:queues")
    loads = open_loads(collector, other_collector)
    assert sum(loads) == 13 and max(loads) - min(loads) <= 1  # 3 + 10 cases, as even as they go
    assert open_loads(supervisor) == [0]
    assert Case.objects.filter(pk__in=[c.pk for c in waiting], assigned_to__isnull=True).count() == 0
    assert fresh(elsewhere).assigned_to is None
    events = CaseEvent.objects.filter(kind="assigned").order_by("pk")[before:]
    assert len(events) == 10 and {e.case_id for e in events} == {c.pk for c in waiting}
    assert all(e.actor == "user:supervisor" for e in events)
    assert "10 cases" in flash(response)[0]


def test_distribute_evenly_leaves_a_collector_above_the_rest_alone(supervisor, collector, other_collector, queue):
    queue.members.add(other_collector)
    for _ in range(8):
        assigned_case(to=collector, by=supervisor, queue=queue)
    for _ in range(4):
        assigned_case(to=None, by=supervisor, queue=queue)

    result = case_distribute_evenly(queue=queue, actor=supervisor)

    assert result.shares == {"collector2": 4} and not result.more_left
    assert open_loads(collector, other_collector) == [8, 4]


def test_distribute_evenly_one_case_assign_call_per_collector(
    monkeypatch, supervisor, collector, other_collector, queue
):
    from collections_app.services import assignment

    queue.members.add(other_collector)
    for _ in range(5):
        assigned_case(to=None, by=supervisor, queue=queue)
    calls = []
    real = assignment.case_assign
    monkeypatch.setattr(assignment, "case_assign", lambda **kw: calls.append(kw) or real(**kw))

    case_distribute_evenly(queue=queue, actor=supervisor)

    assert sorted((c["assignee"].username, len(c["case_ids"])) for c in calls) == [("collector", 3), ("collector2", 2)]


def test_distribute_evenly_deals_the_most_urgent_cases_first_up_to_a_limit(client, supervisor, collector, queue):
    older = [assigned_case(to=None, by=supervisor, queue=queue, days_overdue=25) for _ in range(2)]
    newer = [assigned_case(to=None, by=supervisor, queue=queue, days_overdue=12) for _ in range(3)]

    result = case_distribute_evenly(queue=queue, actor=supervisor, limit=3)

    assert (result.total, result.more_left) == (3, True)
    assert {c.pk for c in older} <= set(Case.objects.filter(assigned_to=collector).values_list("pk", flat=True))
    assert sum(fresh(c).assigned_to is None for c in newer) == 2


def test_distribute_evenly_refuses_without_collectors_and_for_collectors(client, supervisor, collector):
    empty = QueueFactory(name="empty")
    assigned_case(to=None, by=supervisor, queue=empty)
    with refused("validation_error", field="queue"):
        case_distribute_evenly(queue=empty, actor=supervisor)
    with refused("permission_denied"):
        case_distribute_evenly(queue=empty, actor=collector)
    client.force_login(supervisor)
    response = client.post(url("collections:distribute", empty.pk), follow=True)
    assert response.status_code == 200
    assert "has no collectors" in response.content.decode()
    assert client.post(url("collections:distribute", 999999)).status_code == 404


# --- Assign ----------------------------------------------------------------------------------


def test_supervisor_reassigns_fifty_cases_in_one_post(client, supervisor, collector, other_collector, queue):
    cases = [assigned_case(to=collector, by=supervisor, queue=queue) for _ in range(50)]
    before = CaseEvent.objects.filter(kind="assigned").count()
    client.force_login(supervisor)
    page = client.get(url("collections:assign"), {"assigned_to": "collector"})
    shown = [c.pk for c in page.context["cases"]]
    assert sorted(shown) == sorted(c.pk for c in cases)

    target = f"{url('collections:assign')}?assigned_to=collector"
    response = client.post(target, {"cases": shown, "assignee": "collector2"})

    assert response.status_code == 302 and response["Location"] == target
    assert flash(response) == ["50 cases assigned."]
    assert Case.objects.filter(pk__in=shown, assigned_to=other_collector).count() == 50
    events = CaseEvent.objects.filter(kind="assigned").order_by("pk")[before:]
    assert len(events) == 50
    assert {(e.payload["from_user"], e.payload["to_user"]) for e in events} == {("collector", "collector2")}
    assert client.get(target).context["cases"] == []


def test_assign_moves_cases_to_a_queue_and_can_unassign(client, supervisor, collector, queue):
    other = QueueFactory(name="M2 visits")
    cases = [assigned_case(to=collector, by=supervisor, queue=queue) for _ in range(2)]
    client.force_login(supervisor)
    response = client.post(
        url("collections:assign"), {"cases": [c.pk for c in cases], "queue": other.pk, "assignee": "__none__"}
    )
    assert response.status_code == 302
    assert {(c.queue_id, c.assigned_to_id) for c in map(fresh, cases)} == {(other.pk, None)}


def test_assign_refuses_more_than_a_hundred_cases(client, supervisor, collector, other_collector, queue):
    case = assigned_case(to=collector, by=supervisor, queue=queue)
    client.force_login(supervisor)
    response = client.post(
        url("collections:assign"), {"cases": [case.pk] + list(range(10**6, 10**6 + 100)), "assignee": "collector2"}
    )
    assert response.status_code == 200
    assert "at most 100 cases" in response.content.decode()
    assert response.context["action"].errors["cases"]
    assert fresh(case).assigned_to == collector


def test_assign_needs_a_person_or_a_queue(client, supervisor, collector):
    case = assigned_case(to=collector, by=supervisor)
    client.force_login(supervisor)
    response = client.post(url("collections:assign"), {"cases": [case.pk]})
    assert response.status_code == 200
    assert "assignee" in response.context["action"].errors
    assert "Assign to:" in response.content.decode()


def test_assign_refusal_is_shown_in_place_not_a_500(client, supervisor, collector, other_collector):
    open_case = assigned_case(to=collector, by=supervisor)
    closed = case_in_state("closed", supervisor=supervisor, to=collector)
    client.force_login(supervisor)
    response = client.post(
        url("collections:assign") + "?state=call", {"cases": [open_case.pk, closed.pk], "assignee": "collector2"}
    )
    assert response.status_code == 200
    assert response.context["refusal"]
    assert str(closed.pk) in response.context["refusal"]
    assert 'data-testid="refusal"' in response.content.decode()
    assert fresh(open_case).assigned_to == collector  # all or nothing
    # the ticked boxes stay ticked
    assert f'value="{open_case.pk}" form="assign-action" aria-label' in response.content.decode()
    assert str(open_case.pk) in response.context["selected"]


def test_assign_filters(client, supervisor, collector, other_collector, queue):
    other_queue = QueueFactory(name="M2 visits")
    early = assigned_case(to=collector, by=supervisor, queue=queue, days_overdue=3)  # reminder, 1-7
    mid = assigned_case(to=other_collector, by=supervisor, queue=queue, days_overdue=20)  # call, 8-30
    late = assigned_case(to=None, by=supervisor, queue=other_queue, days_overdue=45)  # visit, 31-60
    nobody = overdue_case(days_overdue=10)
    case_in_state("closed", supervisor=supervisor)  # closed: never listed
    client.force_login(supervisor)

    def listed(**params):
        response = client.get(url("collections:assign"), params)
        assert response.status_code == 200
        return {c.pk for c in response.context["cases"]}

    assert listed() == {early.pk, mid.pk, late.pk, nobody.pk}
    assert listed(queue=queue.pk) == {early.pk, mid.pk}
    assert listed(state="call") == {mid.pk, nobody.pk}
    assert listed(assigned_to="unassigned") == {late.pk, nobody.pk}
    assert listed(assigned_to="collector2") == {mid.pk}
    assert listed(bucket="1-7") == {early.pk}
    assert listed(bucket="8-30") == {mid.pk, nobody.pk}
    assert listed(bucket="31-60") == {late.pk}
    assert listed(bucket="91+") == set()
    assert listed(loan=late.loan.external_id) == {late.pk}
    assert listed(queue=queue.pk, assigned_to="collector") == {early.pk}
    bad = client.get(url("collections:assign"), {"bucket": "nope"})
    assert bad.status_code == 200 and bad.context["filters"].errors["bucket"]


def test_assign_pages_fifty_at_a_time_by_id(client, supervisor, queue):
    cases = [assigned_case(to=None, by=supervisor, queue=queue) for _ in range(53)]
    client.force_login(supervisor)
    first = client.get(url("collections:assign"), {"queue": queue.pk})
    assert [c.pk for c in first.context["cases"]] == [c.pk for c in cases[:50]]
    assert first.context["next_after"] == cases[49].pk
    assert f"after={cases[49].pk}" in first.content.decode()
    second = client.get(url("collections:assign"), {"queue": queue.pk, "after": cases[49].pk})
    assert [c.pk for c in second.context["cases"]] == [c.pk for c in cases[50:]]
    assert second.context["next_after"] is None


def test_assign_page_masks_names_and_offers_select_all(client, supervisor, collector):
    case = assigned_case(to=collector, by=supervisor)
    client.force_login(supervisor)
    html = client.get(url("collections:assign")).content.decode()
    assert mask_name(case.borrower.name) in html and case.borrower.name not in html
    assert "data-select-all" in html
    assert f"{case.amount_overdue:,.2f} CNY" in html


@pytest.mark.parametrize("rows", [3, 20])
def test_assign_page_runs_a_fixed_number_of_queries(
    client, supervisor, collector, queue, rows, django_assert_num_queries
):
    for i in range(rows):
        case = assigned_case(to=collector if i % 2 else None, by=supervisor, queue=queue)
        if i % 5 == 0:
            hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complained")
    client.force_login(supervisor)
    # session, user, roles; queues, buckets, people; cases, their active holds
    with django_assert_num_queries(8):
        response = client.get(url("collections:assign"), {"queue": queue.pk})
    assert len(response.context["cases"]) == rows


# --- Approvals -------------------------------------------------------------------------------


def test_approvals_lists_pending_referrals_masked(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    client.force_login(supervisor)
    response = client.get(url("collections:approvals"))
    [row] = response.context["pending"]
    assert row.pk == referral.pk
    html = response.content.decode()
    assert mask_name(case.borrower.name) in html and case.borrower.name not in html
    assert "no contact after two visits" in html and "supervisor <small" in html  # the actor as people read it
    assert f"{case.amount_overdue:,.2f} CNY" in html
    assert row.case.dpd_today == 40


def test_approve_moves_a_visit_case_to_legal(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    client.force_login(supervisor)
    response = client.post(url("collections:approval-decide", referral.pk), {"decision": "approve", "reason": ""})
    assert response.status_code == 302 and response["Location"] == url("collections:approvals")
    assert fresh(case).state == "legal"
    referral.refresh_from_db()
    assert referral.status == "approved" and referral.decided_by == "user:supervisor"
    page = client.get(url("collections:approvals"))
    assert page.context["pending"] == [] and [r.pk for r in page.context["decided"]] == [referral.pk]


def test_legal_officer_approves_too(client, supervisor, legal_officer):
    case, referral = visit_case_with_referral(supervisor)
    client.force_login(legal_officer)
    assert [r.pk for r in client.get(url("collections:approvals")).context["pending"]] == [referral.pk]
    client.post(url("collections:approval-decide", referral.pk), {"decision": "approve"})
    assert fresh(case).state == "legal"


def test_reject_without_reason_shows_the_field_error_and_changes_nothing(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    events = CaseEvent.objects.filter(case=case).count()
    client.force_login(supervisor)
    response = client.post(url("collections:approval-decide", referral.pk), {"decision": "reject", "reason": "  "})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Reason: Give a reason to reject the referral." in html
    [row] = response.context["pending"]
    assert row.form.errors["reason"]
    referral.refresh_from_db()
    assert referral.status == "requested" and fresh(case).state == "visit"
    assert CaseEvent.objects.filter(case=case).count() == events


def test_reject_with_reason(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    client.force_login(supervisor)
    response = client.post(
        url("collections:approval-decide", referral.pk), {"decision": "reject", "reason": "visit again first"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert (referral.status, referral.decision_reason) == ("rejected", "visit again first")
    assert fresh(case).state == "visit"


def test_decision_refused_by_the_service_is_shown_in_place(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=False, reason="not yet")
    client.force_login(supervisor)
    response = client.post(url("collections:approval-decide", referral.pk), {"decision": "approve"})
    assert response.status_code == 200
    assert "already decided" in response.context["refusal"]
    missing = client.post(url("collections:approval-decide", 999999), {"decision": "approve"})
    assert missing.status_code == 200 and "Not found" in missing.context["refusal"]


def test_approval_on_hold_is_refused_in_place(client, supervisor):
    case, referral = visit_case_with_referral(supervisor)
    hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complained")
    client.force_login(supervisor)
    response = client.post(url("collections:approval-decide", referral.pk), {"decision": "approve"})
    assert response.status_code == 200
    [row] = response.context["pending"]
    assert "active hold" in row.refusal
    assert fresh(case).state == "visit"


@pytest.mark.parametrize("rows", [3, 20])
def test_approvals_page_runs_a_fixed_number_of_queries(client, supervisor, rows, django_assert_num_queries):
    for i in range(rows):
        case, referral = visit_case_with_referral(supervisor)
        if i % 2:
            legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=bool(i % 4 == 1), reason="ok")
    client.force_login(supervisor)
    # session, user, roles; plans waiting (issue 11); pending; recently decided
    with django_assert_num_queries(6):
        response = client.get(url("collections:approvals"))
    assert len(response.context["pending"]) + len(response.context["decided"]) == rows


# --- Holds -----------------------------------------------------------------------------------


def test_place_and_lift_a_hold(client, supervisor, collector):
    case = assigned_case(to=collector, by=supervisor)
    borrower = case.borrower
    client.force_login(supervisor)
    last_day = lender_today() + timedelta(days=14)
    response = client.post(
        url("collections:hold-place"),
        {
            "borrower": borrower.external_id,
            "code": "complaint",
            "reason": "complaint to the regulator",
            "ends_at": last_day.isoformat(),
        },
    )
    assert response.status_code == 302 and response["Location"] == url("collections:holds")
    hold = Hold.objects.get(borrower=borrower)
    assert (hold.code, hold.source, hold.placed_by_label) == ("complaint", "staff", "user:supervisor")
    assert timezone.localtime(hold.ends_at, ZoneInfo("Asia/Shanghai")) == datetime.combine(
        last_day + timedelta(days=1), time(0), tzinfo=ZoneInfo("Asia/Shanghai")
    )
    assert CaseEvent.objects.filter(case=case, kind="hold_placed").count() == 1

    page = client.get(url("collections:holds"))
    assert [h.pk for h in page.context["holds"]] == [hold.pk]
    assert mask_name(borrower.name) in page.content.decode()

    response = client.post(url("collections:hold-lift", hold.pk), {"reason": "complaint withdrawn"})
    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.lifted_at is not None and hold.lift_reason == "complaint withdrawn"
    assert client.get(url("collections:holds")).context["holds"] == []


def test_lift_without_reason_shows_the_error_on_that_hold(client, supervisor):
    borrower = BorrowerFactory()
    hold = hold_place(borrower_id=borrower.pk, code="deceased", actor=supervisor, reason="death certificate")
    client.force_login(supervisor)
    response = client.post(url("collections:hold-lift", hold.pk), {"reason": ""})
    assert response.status_code == 200
    [row] = response.context["holds"]
    assert row.pk == hold.pk and row.form.errors["reason"]
    assert "Reason for lifting: This field is required." in response.content.decode()
    hold.refresh_from_db()
    assert hold.lifted_at is None


def test_place_hold_errors_name_the_field(client, supervisor):
    client.force_login(supervisor)
    response = client.post(url("collections:hold-place"), {"borrower": "NOPE", "code": "dispute", "reason": "x"})
    assert response.status_code == 200
    assert response.context["place_form"].errors["borrower"]
    borrower = BorrowerFactory()
    response = client.post(
        url("collections:hold-place"),
        {"borrower": borrower.external_id, "code": "sleeping", "reason": "", "ends_at": "2001-01-01"},
    )
    assert set(response.context["place_form"].errors) == {"code", "reason", "ends_at"}
    assert not Hold.objects.exists()


def test_placing_the_same_hold_twice_says_so(client, supervisor):
    borrower = BorrowerFactory()
    client.force_login(supervisor)
    data = {"borrower": borrower.external_id, "code": "bankruptcy", "reason": "court notice"}
    client.post(url("collections:hold-place"), data)
    response = client.post(url("collections:hold-place"), data)
    assert "already has an active" in flash(response)[-1]
    assert Hold.objects.filter(borrower=borrower).count() == 1


def test_disputes_raised_by_collectors_wait_for_review_first(client, supervisor, collector):
    case = assigned_case(to=collector, by=supervisor)
    contact_log(
        case_id=case.pk,
        actor=collector,
        channel="call",
        outcome="dispute_raised",
        notes="says the loan was repaid in cash",
        occurred_at=daytime(),
    )
    manual = hold_place(borrower_id=BorrowerFactory().pk, code="dispute", actor=supervisor, reason="letter")
    client.force_login(supervisor)
    response = client.get(url("collections:holds"))
    [dispute] = response.context["disputes"]
    assert dispute.borrower_id == case.borrower_id and dispute.placed_by_label == "user:collector"
    assert [h.pk for h in response.context["holds"]] == [manual.pk]
    html = response.content.decode()
    assert html.index("says the loan was repaid in cash") < html.index("letter")


def test_breaches_are_listed_with_their_message(client, supervisor, collector):
    case, contact = breach_contact(collector, supervisor)
    assert contact.breach == "outside_contact_hours"
    clean = assigned_case(to=collector, by=supervisor)  # a contact within the rules is not listed
    contact_log(case_id=clean.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=daytime())
    client.force_login(supervisor)
    response = client.get(url("collections:holds"))
    [row] = response.context["breaches"]
    assert row.pk == contact.pk
    html = response.content.decode()
    assert "outside_contact_hours" in html
    assert "It is outside the borrower&#x27;s permitted contact hours." in html
    assert url("collections:case", case.pk) in html and "<td>collector</td>" in html  # the actor as people read it


def test_breaches_older_than_thirty_days_are_not_listed(client, supervisor, collector):
    case = assigned_case(to=collector, by=supervisor)
    night = datetime.combine(lender_today() - timedelta(days=31), time(23, 30), tzinfo=ZoneInfo("Asia/Shanghai"))
    contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=night)
    client.force_login(supervisor)
    assert client.get(url("collections:holds")).context["breaches"] == []


@pytest.mark.parametrize("rows", [3, 20])
def test_holds_page_runs_a_fixed_number_of_queries(client, supervisor, collector, rows, django_assert_num_queries):
    for i in range(rows):
        case = assigned_case(to=collector, by=supervisor)
        if i % 3 == 0:
            contact_log(
                case_id=case.pk,
                actor=collector,
                channel="call",
                outcome="dispute_raised",
                notes="disputed",
                occurred_at=daytime(),
            )
        else:
            hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complained")
        breach_contact(collector, supervisor)
    client.force_login(supervisor)
    # session, user, roles; disputes to review; other active holds; breaches; vulnerability reviews due
    with django_assert_num_queries(7):
        response = client.get(url("collections:holds"))
    assert len(response.context["disputes"]) + len(response.context["holds"]) == rows
    assert len(response.context["breaches"]) == rows
