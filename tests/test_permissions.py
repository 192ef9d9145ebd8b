"""Who may do what (per role and API scope) and who sees which cases (row scope)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from collections_app import permissions as perms
from collections_app import roles as r
from collections_app import services
from collections_app.selectors import cases as case_reads
from collections_app.actors import actor_for_client, actor_for_user
from collections_app.calendar import lender_today
from collections_app.models import Case, CaseEvent, Hold, LegalReferral

from .factories import QueueFactory, UserFactory, assigned_case, case_in_state, fresh, legal_case, overdue_case
from .helpers import refused

pytestmark = pytest.mark.django_db


def visible_ids(actor):
    return set(perms.visible_cases(actor).values_list("pk", flat=True))


def selector_ids(actor):
    return {c.pk for c in case_reads.case_queryset(actor)}


def planned_visit(case, supervisor, agents):
    return services.visit_schedule(
        case_id=case.pk, actor=supervisor, scheduled_for=timezone.now() + timedelta(days=1), agents=agents
    )


def yesterday_at(hour):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    return datetime.combine(lender_today() - timedelta(days=1), time(hour), tzinfo=ZoneInfo("Asia/Shanghai"))


# --- the auditor reads everything and changes nothing ---------------------------------------------


@pytest.fixture
def world(collector, supervisor, field_agent, field_agent2):
    """One case per stage, all assigned to the collector, a visit and a pending referral."""
    reminder = case_in_state("reminder", supervisor=supervisor, to=collector)
    call = case_in_state("call", supervisor=supervisor, to=collector)
    visit = case_in_state("visit", supervisor=supervisor, to=collector)
    referred = case_in_state("visit", supervisor=supervisor, to=collector)
    referral = services.legal_referral_request(case_id=referred.pk, actor=collector, reason="refuses")
    planned = planned_visit(visit, supervisor, [field_agent, field_agent2])
    payment = services.payment_record(
        external_id="P-world", loan=call.loan, amount="10.00", paid_at=timezone.now(), actor=supervisor
    )
    hold = services.hold_place(borrower_id=reminder.borrower_id, code="complaint", actor=supervisor, reason="complaint")
    return {
        "reminder": reminder,
        "call": call,
        "visit": visit,
        "referred": referred,
        "referral": referral,
        "planned": planned,
        "payment": payment.payment,
        "hold": hold,
    }


def auditor_writes(world, collector):
    w = world
    return {
        "start_calls": lambda a: services.case_transition(case_id=w["call"].pk, transition="start_calls", actor=a),
        "schedule_visit": lambda a: services.case_transition(
            case_id=w["call"].pk, transition="schedule_visit", actor=a
        ),
        "refer_to_legal": lambda a: services.case_transition(
            case_id=w["visit"].pk, transition="refer_to_legal", actor=a
        ),
        "de_escalate": lambda a: services.case_transition(case_id=w["call"].pk, transition="de_escalate", actor=a),
        "close": lambda a: services.case_transition(
            case_id=w["call"].pk, transition="close", actor=a, reason="settled"
        ),
        "case_assign": lambda a: services.case_assign(case_ids=[w["call"].pk], actor=a, assignee=collector),
        "contact_log": lambda a: services.contact_log(
            case_id=w["call"].pk, actor=a, channel="call", outcome="no_answer", occurred_at=yesterday_at(10)
        ),
        "promise_record": lambda a: services.promise_record(
            case_id=w["call"].pk, actor=a, amount="100.00", due_date=lender_today() + timedelta(days=3)
        ),
        "note_add": lambda a: services.note_add(case_id=w["call"].pk, actor=a, text="hello"),
        "hold_place": lambda a: services.hold_place(
            borrower_id=w["call"].borrower_id, code="dispute", actor=a, reason="x"
        ),
        "hold_lift": lambda a: services.hold_lift(hold_id=w["hold"].pk, actor=a, reason="x"),
        "payment_record": lambda a: services.payment_record(
            external_id="P-aud", loan=w["call"].loan, amount="1.00", paid_at=timezone.now(), actor=a
        ),
        "payment_reverse": lambda a: services.payment_reverse(external_id="P-world", actor=a, reason="bounced"),
        "legal_referral_request": lambda a: services.legal_referral_request(case_id=w["visit"].pk, actor=a),
        "legal_referral_decide": lambda a: services.legal_referral_decide(
            referral_id=w["referral"].pk, actor=a, approve=True
        ),
        "visit_schedule": lambda a: services.visit_schedule(
            case_id=w["visit"].pk,
            actor=a,
            scheduled_for=timezone.now() + timedelta(days=2),
            agents=["field_agent", "field_agent2"],
        ),
        "visit_record": lambda a: services.visit_record(visit_id=w["planned"].pk, actor=a, outcome="not_home"),
    }


WRITES = [
    "start_calls",
    "schedule_visit",
    "refer_to_legal",
    "de_escalate",
    "close",
    "case_assign",
    "contact_log",
    "promise_record",
    "note_add",
    "hold_place",
    "hold_lift",
    "payment_record",
    "payment_reverse",
    "legal_referral_request",
    "legal_referral_decide",
    "visit_schedule",
    "visit_record",
]


@pytest.mark.parametrize("action", WRITES)
def test_auditor_every_write_is_permission_denied(action, world, collector, auditor):
    events_before = CaseEvent.objects.count()
    with refused("permission_denied"):
        auditor_writes(world, collector)[action](auditor)
    assert CaseEvent.objects.count() == events_before


def test_auditor_sees_every_case(world, auditor):
    assert visible_ids(auditor) == set(Case.objects.values_list("pk", flat=True))
    assert len(visible_ids(auditor)) == 4


def test_auditor_is_read_only_but_an_auditor_who_is_also_supervisor_is_not(supervisor):
    auditor_only = UserFactory(username="aud1", roles=[r.AUDITOR])
    both = UserFactory(username="aud2", roles=[r.AUDITOR, r.SUPERVISOR])
    assert actor_for_user(auditor_only).is_read_only
    assert not actor_for_user(both).is_read_only
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", actor=both, reason="settled")
    assert fresh(case).state == "closed"


# --- collector ----------------------------------------------------------------------------------


def test_collector_works_own_case(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)
    services.contact_log(
        case_id=case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=yesterday_at(10)
    )
    services.note_add(case_id=case.pk, actor=collector, text="will call back")
    services.promise_record(
        case_id=case.pk, actor=collector, amount="100.00", due_date=lender_today() + timedelta(days=2)
    )
    events = CaseEvent.objects.filter(case=case, actor="user:collector").order_by("id")
    kinds = list(events.values_list("kind", flat=True))
    assert kinds == ["transition", "contact_logged", "note_added", "promise_recorded"]


@pytest.mark.parametrize(
    "action",
    ["close", "de_escalate", "case_assign", "hold_place", "payment_record", "legal_referral_decide", "visit_schedule"],
)
def test_collector_may_not_manage(action, world, collector):
    with refused("permission_denied"):
        auditor_writes(world, collector)[action](collector)


def test_collector_sees_own_cases_and_unassigned_cases_of_own_queues(collector, other_collector, supervisor, queue):
    other_queue = QueueFactory(name="M2 calls")
    mine = assigned_case(to=collector, by=supervisor)
    mine_in_other_queue = assigned_case(to=collector, by=supervisor, queue=other_queue)
    unassigned_in_my_queue = assigned_case(to="", by=supervisor, queue=queue)
    unassigned_elsewhere = assigned_case(to="", by=supervisor, queue=other_queue)
    unassigned_no_queue = overdue_case()
    others = assigned_case(to=other_collector, by=supervisor)
    others_in_my_queue = assigned_case(to=other_collector, by=supervisor, queue=queue)

    expected = {mine.pk, mine_in_other_queue.pk, unassigned_in_my_queue.pk}
    assert visible_ids(collector) == expected
    assert selector_ids(collector) == expected
    hidden = {unassigned_elsewhere.pk, unassigned_no_queue.pk, others.pk, others_in_my_queue.pk}
    assert not hidden & visible_ids(collector)


def test_collector_cannot_see_other_collectors_cases(collector, other_collector, supervisor, queue):
    case = assigned_case(to=other_collector, by=supervisor, days_overdue=3, queue=queue)
    with refused("not_found"):
        case_reads.case_detail(collector, case.pk)
    with refused("not_found"):
        case_reads.case_timeline(collector, case.pk)


@pytest.mark.parametrize(
    "action", ["start_calls", "contact_log", "note_add", "promise_record", "pii_reveal", "legal_referral_request"]
)
def test_services_on_another_collectors_case_are_not_found(action, collector, other_collector, supervisor):
    case = assigned_case(to=other_collector, by=supervisor, days_overdue=3 if action == "start_calls" else 40)
    calls = {
        "start_calls": lambda: services.case_transition(case_id=case.pk, transition="start_calls", actor=collector),
        "contact_log": lambda: services.contact_log(
            case_id=case.pk, actor=collector, channel="call", outcome="no_answer", occurred_at=yesterday_at(10)
        ),
        "note_add": lambda: services.note_add(case_id=case.pk, actor=collector, text="x"),
        "promise_record": lambda: services.promise_record(
            case_id=case.pk, actor=collector, amount="10.00", due_date=lender_today() + timedelta(days=1)
        ),
        "pii_reveal": lambda: services.pii_reveal(case_id=case.pk, actor=collector, reason="calling"),
        "legal_referral_request": lambda: services.legal_referral_request(case_id=case.pk, actor=collector),
    }
    before = CaseEvent.objects.filter(case=case).count()
    with refused("not_found"):
        calls[action]()
    assert CaseEvent.objects.filter(case=case).count() == before


def test_collector_loses_sight_of_a_case_reassigned_to_another(collector, other_collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    assert case.pk in visible_ids(collector)
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=other_collector)
    assert case.pk not in visible_ids(collector)
    with refused("not_found"):
        services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)


def test_unknown_case_id_is_not_found(supervisor):
    with refused("not_found"):
        services.case_transition(case_id=987654, transition="start_calls", actor=supervisor)
    with refused("not_found"):
        services.case_transition(case_id="abc", transition="start_calls", actor=supervisor)


# --- field agent -----------------------------------------------------------------------------------


def test_field_agent_sees_only_cases_with_a_visit_assigned_to_them(supervisor, field_agent, field_agent2):
    third = UserFactory(username="field_agent3", roles=[r.FIELD_AGENT])
    mine = overdue_case(days_overdue=40)
    not_mine = overdue_case(days_overdue=40)
    no_visit = overdue_case(days_overdue=40)
    planned_visit(mine, supervisor, [field_agent, field_agent2])
    planned_visit(not_mine, supervisor, [field_agent2, third])

    assert visible_ids(field_agent) == {mine.pk}
    assert selector_ids(field_agent) == {mine.pk}
    assert visible_ids(field_agent2) == {mine.pk, not_mine.pk}
    assert no_visit.pk not in visible_ids(field_agent2)
    with refused("not_found"):
        services.note_add(case_id=not_mine.pk, actor=field_agent, text="x")


def test_field_agent_records_own_visit_but_may_not_escalate_or_close(supervisor, field_agent, field_agent2):
    case = overdue_case(days_overdue=40)
    visit = planned_visit(case, supervisor, [field_agent, field_agent2])

    services.visit_record(visit_id=visit.pk, actor=field_agent, outcome="met_borrower", notes="at home")
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="close", actor=field_agent, reason="settled")
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="de_escalate", actor=field_agent)
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="refer_to_legal", actor=field_agent)
    assert fresh(case).state == "visit"


def test_field_agent_may_not_escalate(supervisor, field_agent, field_agent2):
    case = overdue_case(days_overdue=40)
    planned_visit(case, supervisor, [field_agent, field_agent2])
    services.case_transition(case_id=case.pk, transition="de_escalate", actor=supervisor)  # back to call
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="schedule_visit", actor=field_agent)


# --- legal officer ---------------------------------------------------------------------------------


def test_legal_officer_sees_legal_cases_and_pending_referrals_only(collector, supervisor, legal_officer):
    in_legal = legal_case(by=supervisor)
    pending = assigned_case(to=collector, by=supervisor, days_overdue=40)
    services.legal_referral_request(case_id=pending.pk, actor=collector, reason="refuses")
    rejected = assigned_case(to=collector, by=supervisor, days_overdue=40)
    referral = services.legal_referral_request(case_id=rejected.pk, actor=collector)
    services.legal_referral_decide(referral_id=referral.pk, actor=supervisor, approve=False, reason="too early")
    plain_visit = overdue_case(days_overdue=40)
    de_escalated = legal_case(by=supervisor)
    services.case_transition(case_id=de_escalated.pk, transition="de_escalate", actor=supervisor)

    assert visible_ids(legal_officer) == {in_legal.pk, pending.pk}
    assert selector_ids(legal_officer) == {in_legal.pk, pending.pk}
    assert not {rejected.pk, plain_visit.pk, de_escalated.pk} & visible_ids(legal_officer)


def test_legal_officer_decides_referrals_but_may_not_close_or_escalate(collector, supervisor, legal_officer):
    case = assigned_case(to=collector, by=supervisor, days_overdue=40)
    referral = services.legal_referral_request(case_id=case.pk, actor=collector)

    services.legal_referral_decide(referral_id=referral.pk, actor=legal_officer, approve=True, reason="go")

    assert fresh(case).state == "legal"
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="close", actor=legal_officer, reason="settled")
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="de_escalate", actor=legal_officer)
    with refused("permission_denied"):
        services.case_assign(case_ids=[case.pk], actor=legal_officer, assignee=collector)


# --- supervisor, admin, superuser ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["supervisor", "auditor", "admin_user", "superuser"])
def test_see_all_roles_see_every_case(who, actor_named, collector, other_collector, supervisor):
    cases = [
        assigned_case(to=collector, by=supervisor),
        assigned_case(to=other_collector, by=supervisor),
        overdue_case(),
        case_in_state("closed", supervisor=supervisor),
    ]
    actor = actor_named(who)
    assert visible_ids(actor) == {c.pk for c in cases}
    assert selector_ids(actor) == {c.pk for c in cases}


@pytest.mark.parametrize("who", ["supervisor", "admin_user", "superuser"])
def test_managers_close_assign_hold_and_record_payments(who, actor_named, collector):
    actor = actor_named(who)
    case = overdue_case(days_overdue=10)
    label = actor_for_user(actor).label

    assert services.case_assign(case_ids=[case.pk], actor=actor, assignee=collector) == 1
    hold = services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=actor, reason="r")
    services.hold_lift(hold_id=hold.pk, actor=actor, reason="done")
    services.payment_record(
        external_id=f"P-{who}", loan=case.loan, amount="100.00", paid_at=timezone.now(), actor=actor
    )
    services.case_transition(case_id=case.pk, transition="close", actor=actor, reason="written_off")

    assert fresh(case).state == "closed"
    kinds = set(CaseEvent.objects.filter(case=case, actor=label).values_list("kind", flat=True))
    assert kinds >= {"assigned", "hold_placed", "hold_lifted", "payment_recorded", "transition"}


# --- API clients by scope ---------------------------------------------------------------------------


def test_client_with_cases_write_may_start_calls_but_not_close(api_client_writer):
    case = overdue_case(days_overdue=3)
    services.case_transition(case_id=case.pk, transition="start_calls", actor=api_client_writer)
    assert fresh(case).state == "call"
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="close", actor=api_client_writer, reason="settled")
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="de_escalate", actor=api_client_writer)
    assert fresh(case).state == "call"


def test_client_with_cases_write_may_log_contacts_but_not_record_payments(api_client_writer):
    case = overdue_case(days_overdue=10)
    contact = services.contact_log(
        case_id=case.pk, actor=api_client_writer, channel="call", outcome="no_answer", occurred_at=yesterday_at(10)
    )
    assert contact.actor == "client:dialler"
    with refused("permission_denied"):
        services.payment_record(
            external_id="P-w", loan=case.loan, amount="1.00", paid_at=timezone.now(), actor=api_client_writer
        )


def test_client_with_cases_manage_may_close_and_de_escalate(api_client_manager):
    call = overdue_case(days_overdue=10)
    services.case_transition(case_id=call.pk, transition="de_escalate", actor=api_client_manager)
    assert fresh(call).state == "reminder"
    with refused("permission_denied"):  # escalating needs cases:write
        services.case_transition(case_id=call.pk, transition="start_calls", actor=api_client_manager)
    services.case_transition(case_id=call.pk, transition="close", actor=api_client_manager, reason="settled")
    assert fresh(call).state == "closed"


def test_client_with_payments_write_records_payments(api_client_payments):
    case = overdue_case(days_overdue=10)
    result = services.payment_record(
        external_id="P-bank",
        loan=case.loan.external_id,
        amount="500.00",
        paid_at=timezone.now(),
        actor=api_client_payments,
    )
    assert result.created
    assert result.payment.recorded_by_label == "client:bank-feed"
    assert fresh(case).amount_overdue == case.amount_overdue - 500


def test_client_with_payments_write_only_may_not_transition(api_client_payments):
    case = overdue_case(days_overdue=3)
    # Without cases:read the client sees no case at all.
    with refused("not_found"):
        services.case_transition(case_id=case.pk, transition="start_calls", actor=api_client_payments)


def test_client_without_cases_read_sees_no_case_and_with_it_sees_all(api_client_readonly, api_client_payments):
    cases = {overdue_case().pk, overdue_case().pk}
    assert visible_ids(api_client_readonly) == cases
    assert visible_ids(api_client_payments) == set()
    assert visible_ids(actor_for_client("w", [r.SCOPE_CASES_WRITE])) == set()


def test_readonly_client_may_not_write(api_client_readonly):
    case = overdue_case(days_overdue=3)
    with refused("permission_denied"):
        services.case_transition(case_id=case.pk, transition="start_calls", actor=api_client_readonly)
    with refused("permission_denied"):
        services.note_add(case_id=case.pk, actor=api_client_readonly, text="x")
    with refused("permission_denied"):
        services.pii_reveal(case_id=case.pk, actor=api_client_readonly, reason="x")


def test_client_with_pii_read_may_reveal():
    client = actor_for_client("crm", [r.SCOPE_CASES_READ, r.SCOPE_PII_READ])
    case = overdue_case(days_overdue=3)
    values = services.pii_reveal(case_id=case.pk, actor=client, reason="court filing", fields=["phones"])
    assert values == {"phones": ["13812348000"]}


def test_predicates_for_holds_and_payments_by_scope():
    loans = actor_for_client("ls", [r.SCOPE_LOANS_WRITE])
    manage = actor_for_client("m", [r.SCOPE_CASES_MANAGE])
    write = actor_for_client("w", [r.SCOPE_CASES_WRITE])
    pay = actor_for_client("p", [r.SCOPE_PAYMENTS_WRITE])
    # CONTRACT.md's table: staff holds need cases:manage; loans:write sets the loan system's own
    # holds through the borrower upsert only.
    assert perms.may_place_hold(manage) and not perms.may_place_hold(loans)
    assert not perms.may_place_hold(write)
    assert perms.may_record_payment(pay)
    assert not perms.may_record_payment(manage)
    assert perms.may_assign(manage) and not perms.may_assign(write)
    assert perms.may_decide_legal_referral(manage) and not perms.may_decide_legal_referral(write)


def test_no_role_user_sees_nothing_and_may_not_work():
    nobody = UserFactory(username="nobody")
    case = overdue_case(days_overdue=3)
    assert visible_ids(nobody) == set()
    assert not perms.may_work_case(nobody)
    with refused("not_found"):
        services.note_add(case_id=case.pk, actor=nobody, text="x")


def test_hold_model_is_untouched_by_refused_hold_place(collector):
    case = overdue_case(days_overdue=3)
    with refused("permission_denied"):
        services.hold_place(borrower_id=case.borrower_id, code="dispute", actor=collector, reason="x")
    assert not Hold.objects.exists()
    assert not LegalReferral.objects.exists()


def test_my_assigned_cases_are_the_rule_narrowed_to_me(collector, other_collector, supervisor, field_agent):
    """`visible_cases(..., assigned_to_me=True)` (the worklist) is exactly the rule's cases that are
    assigned to me, for every role: the shortcut it takes for collectors changes no answer."""
    from collections_app.actors import actor_for_user
    from collections_app.permissions import visible_cases

    from .factories import assigned_case, overdue_case

    assigned_case(to=collector, by=supervisor)
    assigned_case(to=other_collector, by=supervisor)
    overdue_case(days_overdue=12)
    assigned_case(to=field_agent, by=supervisor)  # assigned to a field agent, who sees no such case
    for user in (collector, other_collector, supervisor, field_agent):
        actor = actor_for_user(user)
        narrowed = set(visible_cases(actor, assigned_to_me=True).values_list("pk", flat=True))
        expected = set(visible_cases(actor).filter(assigned_to=user).values_list("pk", flat=True))
        assert narrowed == expected, user.username
    assert visible_cases(actor_for_user(collector), assigned_to_me=True).count() == 1
