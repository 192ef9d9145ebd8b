"""Reads: fixed query counts, worklist ordering, filters, timeline paging, queue figures, masking."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app import masking, services
from collections_app.selectors import book as book_reads
from collections_app.selectors import cases as case_reads
from collections_app.selectors import supervisor as supervisor_reads
from collections_app.selectors import worklist as worklist_reads
from collections_app.actors import actor_for_user
from collections_app.calendar import lender_today
from collections_app.models import Case

from .factories import QueueFactory, assigned_case, case_in_state, fresh, overdue_case
from .helpers import refused

pytestmark = pytest.mark.django_db

# One query for the cases (with loan, borrower, assignee, queue and the hold flag joined in) and one
# for the active holds of their borrowers, whatever the number of rows.
CASE_LIST_QUERIES = 2


def touch_every_row(rows, actor):
    """What a list page or the API representation reads from each case."""
    out = []
    for case in rows:
        out.append(
            (
                case.loan.external_id,
                case.borrower.name,
                case.assigned_to and case.assigned_to.username,
                case.queue and case.queue.name,
                case.borrower_on_hold,
                [h.code for h in case.borrower.active_holds],
                case.allowed_transitions(actor),
                case.state,
            )
        )
    return out


@pytest.fixture
def portfolio(collector, supervisor, queue):
    """Build n cases assigned to the collector in the queue, in varied stages, a third on hold."""

    def build(n):
        cases = []
        for i in range(n):
            days = (3, 10, 40)[i % 3]
            case = assigned_case(to=collector, by=supervisor, days_overdue=days, queue=queue, instalments=1)
            if i % 3 == 0:
                services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="x")
            cases.append(case)
        return cases

    return build


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize("who", ["supervisor", "collector"])
def test_case_list_runs_a_fixed_number_of_queries(n, who, portfolio, actor_named, django_assert_num_queries):
    portfolio(n)
    actor = actor_for_user(actor_named(who))

    with django_assert_num_queries(CASE_LIST_QUERIES):
        rows = case_reads.attach_active_holds(list(case_reads.case_list(actor)))
        seen = touch_every_row(rows, actor)

    assert len(rows) == n
    on_hold = [row for row in seen if row[4]]
    assert len(on_hold) == len(range(0, n, 3))
    assert all(row[5] == ["complaint"] for row in on_hold)
    assert all(row[5] == [] for row in seen if not row[4])


@pytest.mark.parametrize("n", [3, 30])
def test_case_worklist_runs_a_fixed_number_of_queries(n, portfolio, collector, django_assert_num_queries):
    portfolio(n)
    actor = actor_for_user(collector)

    with django_assert_num_queries(CASE_LIST_QUERIES):
        rows = list(worklist_reads.case_worklist(actor))
        seen = touch_every_row(rows, actor)

    assert len(rows) == n
    # A held reminder case has nothing to escalate; an unheld one may start calls.
    for row in seen:
        if row[7] == "reminder":
            assert row[6] == ([] if row[4] else ["start_calls"])


def test_case_list_with_a_user_object_asks_for_roles_at_most_once(portfolio, collector, django_assert_num_queries):
    portfolio(6)
    collector = type(collector).objects.get(pk=collector.pk)  # no roles cached on this instance
    with django_assert_num_queries(CASE_LIST_QUERIES + 1):
        touch_every_row(case_reads.attach_active_holds(list(case_reads.case_list(collector))), collector)


def test_case_detail_runs_a_fixed_number_of_queries(portfolio, supervisor, django_assert_num_queries):
    [case, *_] = portfolio(3)
    actor = actor_for_user(supervisor)
    with django_assert_num_queries(CASE_LIST_QUERIES):
        touch_every_row([case_reads.case_detail(actor, case.pk)], actor)


def test_case_detail_of_an_invisible_or_unknown_case_is_not_found(collector, other_collector, supervisor):
    case = assigned_case(to=other_collector, by=supervisor)
    for case_id in (case.pk, 999999, "x", None):
        with refused("not_found"):
            case_reads.case_detail(collector, case_id)


# --- worklist -------------------------------------------------------------------------------------


def test_worklist_orders_by_priority_then_next_action_with_none_first(collector, other_collector, supervisor):
    now = timezone.now().replace(microsecond=0)
    spec = {  # name: (priority, next_action_at)
        "low_soon": (0, now + timedelta(hours=1)),
        "high_late": (5, now + timedelta(days=2)),
        "high_none": (5, None),
        "high_soon": (5, now + timedelta(hours=1)),
        "mid_none": (2, None),
        "low_none": (0, None),
    }
    ids = {}
    for name, (priority, next_at) in spec.items():
        case = assigned_case(to=collector, by=supervisor)
        # No service sets priority yet: the ordering is the subject, so set the fields directly.
        Case.objects.filter(pk=case.pk).update(priority=priority, next_action_at=next_at)
        ids[case.pk] = name
    assigned_case(to=other_collector, by=supervisor)  # someone else's
    closed = case_in_state("closed", supervisor=supervisor)
    Case.objects.filter(pk=closed.pk).update(assigned_to=collector, priority=99)

    got = [ids.get(c.pk, c.pk) for c in worklist_reads.case_worklist(collector)]

    assert got == ["high_none", "high_soon", "high_late", "mid_none", "low_none", "low_soon"]


def test_worklist_ties_break_by_id(collector, supervisor):
    cases = [assigned_case(to=collector, by=supervisor) for _ in range(3)]
    assert [c.pk for c in worklist_reads.case_worklist(collector)] == sorted(c.pk for c in cases)


def test_promise_puts_the_case_behind_cases_without_a_next_action(collector, supervisor):
    promised = assigned_case(to=collector, by=supervisor)
    other = assigned_case(to=collector, by=supervisor)
    services.promise_record(
        case_id=promised.pk, actor=collector, amount="10.00", due_date=lender_today() + timedelta(days=2)
    )
    assert [c.pk for c in worklist_reads.case_worklist(collector)] == [other.pk, promised.pk]


# --- case_list filters ----------------------------------------------------------------------------


@pytest.fixture
def aged(supervisor):
    """Cases 3, 10, 40 and 70 days past due, and a resolved one (no unpaid due date)."""
    cases = {days: overdue_case(days_overdue=days) for days in (3, 10, 40, 70)}
    cases["resolved"] = case_in_state("resolved", supervisor=supervisor)
    return cases


def listed(actor, **filters):
    return {c.pk for c in case_reads.case_list(actor, **filters)}


def test_case_list_dpd_min_keeps_cases_at_least_that_late(aged, supervisor):
    assert listed(supervisor, dpd_min=8) == {aged[10].pk, aged[40].pk, aged[70].pk}
    assert listed(supervisor, dpd_min=10) == {aged[10].pk, aged[40].pk, aged[70].pk}
    assert listed(supervisor, dpd_min=11) == {aged[40].pk, aged[70].pk}


def test_case_list_dpd_max_keeps_cases_at_most_that_late(aged, supervisor):
    assert listed(supervisor, dpd_max=30) == {aged[3].pk, aged[10].pk, aged["resolved"].pk}
    assert listed(supervisor, dpd_max=9) == {aged[3].pk, aged["resolved"].pk}
    assert listed(supervisor, dpd_max=10) == {aged[3].pk, aged[10].pk, aged["resolved"].pk}


def test_case_list_dpd_range(aged, supervisor):
    assert listed(supervisor, dpd_min=8, dpd_max=60) == {aged[10].pk, aged[40].pk}
    assert listed(supervisor, dpd_min=61, dpd_max=90) == {aged[70].pk}
    assert listed(supervisor, dpd_min=91) == set()


def test_case_list_dpd_is_counted_as_of_the_given_date(aged, supervisor):
    in_five_days = lender_today() + timedelta(days=5)
    assert listed(supervisor, dpd_min=8, dpd_max=30, as_of=in_five_days) == {aged[3].pk, aged[10].pk}


def test_case_list_filters_by_state_loan_borrower_assignee_and_queue(collector, supervisor, queue):
    mine = assigned_case(to=collector, by=supervisor, days_overdue=40, queue=queue)
    other = overdue_case(days_overdue=3)
    assert listed(supervisor, state="visit") == {mine.pk}
    assert listed(supervisor, loan=other.loan.external_id) == {other.pk}
    assert listed(supervisor, borrower=mine.borrower.external_id) == {mine.pk}
    assert listed(supervisor, assigned_to="collector") == {mine.pk}
    assert listed(supervisor, queue=queue.name) == {mine.pk}
    assert listed(supervisor, state="legal") == set()


def test_case_list_is_newest_change_first_and_scoped(collector, other_collector, supervisor):
    first = assigned_case(to=collector, by=supervisor)
    second = assigned_case(to=collector, by=supervisor)
    hidden = assigned_case(to=other_collector, by=supervisor)
    services.note_add(case_id=first.pk, actor=collector, text="notes do not move updated_at")
    assert [c.pk for c in case_reads.case_list(collector)] == [second.pk, first.pk]
    services.case_assign(case_ids=[first.pk], actor=supervisor, queue=QueueFactory(name="Q"))
    assert [c.pk for c in case_reads.case_list(collector)] == [first.pk, second.pk]
    assert hidden.pk not in listed(collector)


# --- timeline ---------------------------------------------------------------------------------------


def test_case_timeline_is_newest_first_and_pages_with_before_id(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)  # opened, assigned
    for i in range(5):
        services.note_add(case_id=case.pk, actor=collector, text=f"note {i}")

    page1 = case_reads.case_timeline(collector, case.pk, limit=3)
    page2 = case_reads.case_timeline(collector, case.pk, limit=3, before_id=page1[-1].pk)
    page3 = case_reads.case_timeline(collector, case.pk, limit=3, before_id=page2[-1].pk)

    assert [e.reason for e in page1] == ["note 4", "note 3", "note 2"]
    assert [e.reason for e in page2] == ["note 1", "note 0", ""]
    assert [e.kind for e in page3] == ["opened"]
    assert [e.kind for e in page2][-1] == "assigned"
    everything = page1 + page2 + page3
    assert len({e.pk for e in everything}) == 7
    assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)


def test_case_timeline_orders_by_when_it_happened_not_when_it_was_written(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)
    services.note_add(case_id=case.pk, actor=collector, text="written first")
    services.contact_log(
        case_id=case.pk,
        actor=collector,
        channel="call",
        outcome="no_answer",
        occurred_at=timezone.now() - timedelta(days=3),
    )
    kinds = [e.kind for e in case_reads.case_timeline(collector, case.pk)]
    assert kinds == ["note_added", "assigned", "opened", "contact_logged"]


def test_case_timeline_ties_on_time_break_by_id(supervisor, collector):
    case = overdue_case()
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)
    services.note_add(case_id=case.pk, actor=supervisor, text="n")
    events = list(case.events.order_by("id"))
    same_at = events[0].at
    from collections_app.models import CaseEvent

    CaseEvent.objects.filter(case=case).update(at=same_at)  # timeline ordering is the subject
    page1 = case_reads.case_timeline(supervisor, case.pk, limit=2)
    page2 = case_reads.case_timeline(supervisor, case.pk, limit=2, before_id=page1[-1].pk)
    assert [e.pk for e in page1 + page2] == sorted((e.pk for e in events), reverse=True)


def test_case_timeline_with_an_unknown_before_id_is_a_validation_error(supervisor):
    case = overdue_case()
    other = overdue_case()
    with refused("validation_error", field="before"):
        case_reads.case_timeline(supervisor, case.pk, before_id=999999)
    with refused("validation_error", field="before"):  # an event of another case
        case_reads.case_timeline(supervisor, case.pk, before_id=other.events.get().pk)


def test_case_timeline_query_count_is_fixed(supervisor, collector, django_assert_num_queries):
    case = assigned_case(to=collector, by=supervisor)
    for i in range(10):
        services.note_add(case_id=case.pk, actor=collector, text=str(i))
    actor = actor_for_user(supervisor)
    anchor = case.events.latest("id").pk
    # The row scope (one EXISTS), the anchor event, the page (with the users joined in).
    with django_assert_num_queries(3):
        events = case_reads.case_timeline(actor, case.pk, before_id=anchor)
        labels = [(e.actor, e.actor_user and e.actor_user.username) for e in events]
    assert len(labels) == 11


# --- queue_summary ------------------------------------------------------------------------------


def test_queue_summary_figures(collector, other_collector, supervisor, queue):
    other_queue = QueueFactory(name="M2 visits")
    QueueFactory(name="Z empty")
    assigned_case(to=collector, by=supervisor, days_overdue=10, queue=queue)  # 1000.00
    assigned_case(to="", by=supervisor, days_overdue=40, queue=queue)  # 2000.00, unassigned
    assigned_case(to=other_collector, by=supervisor, days_overdue=70, queue=queue)  # 3000.00
    closed = assigned_case(to="", by=supervisor, days_overdue=10, queue=queue)
    services.case_transition(case_id=closed.pk, transition="close", actor=supervisor, reason="settled")
    assigned_case(to="", by=supervisor, days_overdue=3, queue=other_queue)  # 1000.00

    rows = {q.name: (q.open_cases, q.amount_overdue, q.unassigned) for q in supervisor_reads.queue_summary(supervisor)}

    assert rows == {
        "M1 calls": (3, Decimal("6000.00"), 1),
        "M2 visits": (1, Decimal("1000.00"), 1),
        "Z empty": (0, Decimal("0"), 0),
    }
    assert [q.name for q in supervisor_reads.queue_summary(supervisor)] == ["M1 calls", "M2 visits", "Z empty"]


def test_queue_summary_counts_only_what_the_actor_sees(collector, other_collector, supervisor, queue):
    assigned_case(to=collector, by=supervisor, days_overdue=10, queue=queue)  # sees: own
    assigned_case(to="", by=supervisor, days_overdue=40, queue=queue)  # sees: unassigned, member
    assigned_case(to=other_collector, by=supervisor, days_overdue=70, queue=queue)  # hidden

    [row] = [q for q in supervisor_reads.queue_summary(collector) if q.name == queue.name]

    assert (row.open_cases, row.amount_overdue, row.unassigned) == (2, Decimal("3000.00"), 1)


def test_queue_summary_is_one_query(supervisor, collector, queue, django_assert_num_queries):
    for _ in range(3):
        assigned_case(to=collector, by=supervisor, queue=queue)
    actor = actor_for_user(supervisor)
    with django_assert_num_queries(1):
        assert [q.open_cases for q in supervisor_reads.queue_summary(actor)] == [3]


# --- small reads ---------------------------------------------------------------------------------------


def test_loan_arrears_counts_only_instalments_past_their_due_date():
    case = overdue_case(days_overdue=30, instalments=2)  # due -30 and today
    oldest, amount = book_reads.loan_arrears(case.loan_id, lender_today())
    assert (oldest, amount) == (lender_today() - timedelta(days=30), Decimal("1000.00"))
    oldest, amount = book_reads.loan_arrears(case.loan_id, lender_today() + timedelta(days=1))
    assert amount == Decimal("2000.00")


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, None),
        (1, "1-7"),
        (7, "1-7"),
        (8, "8-30"),
        (30, "8-30"),
        (31, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91+"),
        (400, "91+"),
    ],
)
def test_buckets_are_the_contract_ranges(dpd, bucket):
    assert case_reads.bucket_for(dpd, case_reads.bucket_list()) == bucket


def test_case_dpd_is_derived_and_zero_when_nothing_is_overdue(supervisor):
    case = overdue_case(days_overdue=12)
    assert case.dpd(lender_today()) == 12
    assert case.dpd(lender_today() + timedelta(days=3)) == 15
    resolved = fresh(case_in_state("resolved", supervisor=supervisor))
    assert resolved.dpd(lender_today()) == 0


# --- masking ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [("张三", "张*"), ("张", "张*"), ("欧阳娜娜", "欧***"), ("", ""), ("  ", ""), (None, ""), ("Li Wei", "L* W**")],
)
def test_mask_name(value, masked):
    assert masking.mask_name(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812348000", "138****8000"),
        ("+8613812348000", "+86*******8000"),
        ("12345678", "****5678"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_phone(value, masked):
    assert masking.mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110101199001011234", "1101**********1234"),
        ("11010119900101123X", "1101**********123X"),
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_mask_national_id(value, masked):
    assert masking.mask_national_id(value) == masked


def test_mask_email_and_address_hide_the_middle():
    assert masking.mask_email("zhang.san@example.cn") == "z***@example.cn"
    assert masking.mask_email("broken") == "******"
    assert masking.mask_address("北京市朝阳区建国路88号") == "北京市朝****"
    assert "88" not in masking.mask_address("北京市朝阳区建国路88号")


def test_case_list_dpd_min_zero_keeps_every_case(aged, supervisor):
    assert listed(supervisor, dpd_min=0) == {c.pk for c in aged.values()}


def test_visit_queue_lists_visit_cases_until_a_visit_is_planned(supervisor, field_agent, field_agent2):
    from django.utils import timezone

    from collections_app import services
    from collections_app.selectors.supervisor import cases_awaiting_visit_plan

    from .factories import overdue_case as _overdue

    waiting = _overdue(days_overdue=45)
    planned = _overdue(days_overdue=35)
    _overdue(days_overdue=10)  # a call case: not in the visit queue
    services.visit_schedule(
        case_id=planned.pk,
        actor=supervisor,
        scheduled_for=timezone.now() + timezone.timedelta(days=1),
        agents=[field_agent.username, field_agent2.username],
    )

    assert [c.pk for c in cases_awaiting_visit_plan(supervisor)] == [waiting.pk]


def test_the_prepared_api_detail_reads_what_the_scoped_path_reads(collector, supervisor, queue):
    """API clients get the case detail from a query compiled once per process; a collector gets it
    through the row scope. Both must load the same case."""
    from collections_app.actors import actor_for_client

    case = assigned_case(to=collector, by=supervisor, days_overdue=12, queue=queue)
    services.promise_record(
        case_id=case.pk, actor=collector, amount="99.9", due_date=(lender_today() + timedelta(days=2)).isoformat()
    )
    services.contact_log(case_id=case.pk, actor=collector, channel="call", outcome="promise_made")
    services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="complaint")
    client = actor_for_client("bi", ["cases:read"])

    def seen(actor):
        c = case_reads.case_api_detail(actor, case.pk)
        return (
            {f.attname: getattr(c, f.attname) for f in Case._meta.concrete_fields},
            c.loan.external_id,
            c.loan.currency,
            c.borrower.external_id,
            c.borrower.name,
            c.assigned_to.username,
            c.queue.name,
            c.borrower_on_hold,
            c.active_hold_codes,
            c.x_promise,
            c.x_contact,
        )

    prepared, scoped = seen(client), seen(actor_for_user(collector))
    assert prepared == scoped
    assert prepared[-2]["amount"] in ("99.90", "99.9") and prepared[-1]["outcome"] == "promise_made"
    assert prepared[-4] is True and prepared[-3] == ["complaint"]
    with pytest.raises(Exception) as refused_:
        case_reads.case_api_detail(client, case.pk + 1000)
    assert getattr(refused_.value, "code", None) == "not_found"
