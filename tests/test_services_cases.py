"""Opening cases for overdue loans, the one-open-case rule, assignment, and the actor on every event."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from collections_app import roles as r
from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import Case, CaseEvent

from .factories import (
    BorrowerFactory,
    QueueFactory,
    UserFactory,
    assigned_case,
    case_in_state,
    fresh,
    loan_with_schedule,
    overdue_case,
)
from .helpers import refused

pytestmark = pytest.mark.django_db


# --- case_open_for_loan ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (1, "reminder"),
        (3, "reminder"),
        (7, "reminder"),
        (8, "call"),
        (10, "call"),
        (30, "call"),
        (31, "visit"),
        (40, "visit"),
        (60, "visit"),
        (61, "visit"),
        (70, "visit"),
        (200, "visit"),
    ],
)
def test_case_opens_at_the_stage_its_dpd_maps_to_capped_at_visit(days, stage):
    loan = loan_with_schedule(days_overdue=days)

    case = services.case_open_for_loan(loan_id=loan.pk)

    assert case.state == stage
    assert case.state != "legal"
    assert case.dpd(lender_today()) == days
    assert case.oldest_unpaid_due_date == lender_today() - timedelta(days=days)


def test_case_opens_with_the_amount_overdue_of_past_due_instalments_only():
    loan = loan_with_schedule(days_overdue=40, instalments=3)  # due -40, -10, +20

    case = services.case_open_for_loan(loan_id=loan.pk)

    assert str(case.amount_overdue) == "2000.00"
    assert case.borrower_id == loan.borrower_id
    assert case.assigned_to is None and case.queue is None


@pytest.mark.parametrize("days", [10, 40, 70])
def test_case_opens_at_reminder_while_a_hold_is_active(days, supervisor):
    borrower = BorrowerFactory()
    services.hold_place(borrower_id=borrower.pk, code="dispute", actor=supervisor, reason="disputes the debt")
    loan = loan_with_schedule(days_overdue=days, borrower=borrower)

    case = services.case_open_for_loan(loan_id=loan.pk)

    assert case.state == "reminder"


def test_case_opens_at_its_stage_once_the_hold_is_lifted(supervisor):
    borrower = BorrowerFactory()
    hold = services.hold_place(borrower_id=borrower.pk, code="dispute", actor=supervisor, reason="disputes")
    services.hold_lift(hold_id=hold.pk, actor=supervisor, reason="resolved")
    loan = loan_with_schedule(days_overdue=40, borrower=borrower)

    assert services.case_open_for_loan(loan_id=loan.pk).state == "visit"


def test_opening_writes_one_opened_event_by_the_system_and_no_transitions():
    loan = loan_with_schedule(days_overdue=70)

    case = services.case_open_for_loan(loan_id=loan.pk)

    events = list(CaseEvent.objects.filter(case=case))
    assert len(events) == 1
    [event] = events
    assert (event.kind, event.actor, event.actor_user_id) == ("opened", "system", None)
    assert (event.from_state, event.to_state) == ("", "visit")
    assert event.payload["dpd"] == 70
    assert event.payload["amount_overdue"] == "3000.00"


def test_opening_by_a_person_records_that_person():
    loan = loan_with_schedule(days_overdue=3)
    user = UserFactory(username="ops", roles=[r.SUPERVISOR])
    case = services.case_open_for_loan(loan_id=loan.pk, actor=user)
    assert CaseEvent.objects.get(case=case).actor == "user:ops"


def test_second_open_returns_the_existing_case_without_a_duplicate():
    loan = loan_with_schedule(days_overdue=10)
    first = services.case_open_for_loan(loan_id=loan.pk)

    second = services.case_open_for_loan(loan_id=loan.pk)

    assert second.pk == first.pk
    assert Case.objects.filter(loan=loan).count() == 1
    assert CaseEvent.objects.filter(case=first, kind="opened").count() == 1
    assert CaseEvent.objects.filter(case=first).count() == 1  # nothing changed, nothing written


def test_nothing_overdue_opens_no_case():
    loan = loan_with_schedule(days_overdue=-5)  # first instalment still to come
    assert services.case_open_for_loan(loan_id=loan.pk) is None
    assert not Case.objects.exists()
    assert not CaseEvent.objects.exists()


def test_an_instalment_due_today_is_not_overdue():
    loan = loan_with_schedule(days_overdue=0)
    assert services.case_open_for_loan(loan_id=loan.pk) is None
    assert not Case.objects.exists()


def test_an_instalment_due_today_opens_a_case_tomorrow():
    loan = loan_with_schedule(days_overdue=0)
    case = services.case_open_for_loan(loan_id=loan.pk, as_of=lender_today() + timedelta(days=1))
    assert case is not None and case.state == "reminder"


def test_a_fully_paid_overdue_instalment_is_not_overdue():
    loan = loan_with_schedule(days_overdue=10, instalments=1)
    services.payment_record(external_id="P-early", loan=loan, amount="1000.00", paid_at=timezone.now())
    assert services.case_open_for_loan(loan_id=loan.pk) is None


# --- the database rule: one open case per loan ----------------------------------------------------


def test_a_second_open_case_for_the_same_loan_violates_the_database_constraint():
    case = overdue_case(days_overdue=10)

    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(loan=case.loan, borrower=case.borrower, state="reminder")

    assert Case.objects.filter(loan=case.loan).count() == 1


def test_a_closed_case_does_not_block_a_new_open_case_for_the_loan(supervisor):
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="written_off")

    with transaction.atomic():
        Case.objects.create(loan=case.loan, borrower=case.borrower, state="reminder")

    assert Case.objects.filter(loan=case.loan).count() == 2


def test_opening_after_close_does_not_reopen_the_written_off_arrears(supervisor):
    case = overdue_case(days_overdue=10)
    services.case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="written_off")

    assert services.case_open_for_loan(loan_id=case.loan_id) is None
    assert fresh(case).state == "closed"
    assert Case.objects.filter(loan=case.loan).count() == 1


# --- case_assign --------------------------------------------------------------------------------------


def test_supervisor_assigns_fifty_cases_with_one_event_each(collector, supervisor):
    cases = [overdue_case(days_overdue=3, instalments=1) for _ in range(50)]
    ids = [c.pk for c in cases]
    before = {c.pk: c.updated_at for c in cases}

    changed = services.case_assign(case_ids=ids, actor=supervisor, assignee=collector, reason="new month")

    assert changed == 50
    rows = list(Case.objects.filter(pk__in=ids))
    assert {c.assigned_to_id for c in rows} == {collector.pk}
    assert all(c.updated_at > before[c.pk] for c in rows)
    events = CaseEvent.objects.filter(case_id__in=ids, kind="assigned")
    assert events.count() == 50
    assert set(events.values_list("case_id", flat=True)) == set(ids)
    event = events.first()
    assert event.actor == "user:supervisor"
    assert event.actor_user_id == supervisor.pk
    assert event.reason == "new month"
    assert event.payload == {"from_user": None, "to_user": "collector", "from_queue": None, "to_queue": None}


def test_assigning_again_to_the_same_collector_changes_nothing(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)
    updated = case.updated_at

    assert services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector) == 0

    assert CaseEvent.objects.filter(case=case, kind="assigned").count() == 1
    assert fresh(case).updated_at == updated


def test_reassignment_and_queue_are_recorded_in_the_event(collector, other_collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)
    q = QueueFactory(name="M1")

    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=other_collector, queue=q)

    case = fresh(case)
    assert (case.assigned_to, case.queue) == (other_collector, q)
    last = CaseEvent.objects.filter(case=case, kind="assigned").latest("id")
    assert last.payload == {"from_user": "collector", "to_user": "collector2", "from_queue": None, "to_queue": "M1"}


def test_queue_only_assignment_keeps_the_collector(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)
    q = QueueFactory(name="M2")
    services.case_assign(case_ids=[case.pk], actor=supervisor, queue=q.name)
    case = fresh(case)
    assert case.assigned_to == collector and case.queue == q


def test_empty_string_unassigns(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor)
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee="")
    assert fresh(case).assigned_to is None


def test_collector_may_not_assign(collector, other_collector):
    case = overdue_case()
    with refused("permission_denied"):
        services.case_assign(case_ids=[case.pk], actor=collector, assignee=other_collector)
    assert fresh(case).assigned_to is None
    assert not CaseEvent.objects.filter(kind="assigned").exists()


def test_client_with_cases_manage_assigns_as_the_client(api_client_manager, collector):
    case = overdue_case()
    services.case_assign(case_ids=[case.pk], actor=api_client_manager, assignee="collector")
    event = CaseEvent.objects.get(case=case, kind="assigned")
    assert (event.actor, event.actor_user_id) == ("client:loan-system", None)


def test_assigning_an_unknown_case_is_not_found_and_assigns_nothing(collector, supervisor):
    case = overdue_case()
    with refused("not_found", field="cases") as info:
        services.case_assign(case_ids=[case.pk, 999999], actor=supervisor, assignee=collector)
    assert "999999" in info.value.fields["cases"][0]
    assert fresh(case).assigned_to is None


def test_assigning_a_closed_case_is_a_validation_error_and_assigns_nothing(collector, supervisor):
    open_case = overdue_case()
    closed = case_in_state("closed", supervisor=supervisor)
    with refused("validation_error", field="cases"):
        services.case_assign(case_ids=[open_case.pk, closed.pk], actor=supervisor, assignee=collector)
    assert fresh(open_case).assigned_to is None
    assert fresh(closed).assigned_to is None


def test_assigning_a_resolved_case_is_a_validation_error(collector, supervisor):
    resolved = case_in_state("resolved", supervisor=supervisor)
    with refused("validation_error", field="cases"):
        services.case_assign(case_ids=[resolved.pk], actor=supervisor, assignee=collector)


@pytest.mark.parametrize("role", [None, r.AUDITOR, r.LEGAL_OFFICER, r.ADMIN])
def test_assigning_to_a_user_without_a_working_role_is_a_validation_error(role, supervisor):
    user = UserFactory(username=f"u-{role}", roles=[role] if role else [])
    case = overdue_case()
    with refused("validation_error", field="assignee"):
        services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=user)
    assert fresh(case).assigned_to is None


@pytest.mark.parametrize("role", [r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR])
def test_cases_may_be_assigned_to_collectors_field_agents_and_supervisors(role, supervisor):
    user = UserFactory(username=f"w-{role}", roles=[role])
    case = overdue_case()
    assert services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=user.username) == 1
    assert fresh(case).assigned_to == user


def test_assigning_to_an_unknown_or_inactive_user_is_a_validation_error(supervisor):
    UserFactory(username="gone", roles=[r.COLLECTOR], is_active=False)
    case = overdue_case()
    for name in ("nobody", "gone"):
        with refused("validation_error", field="assignee"):
            services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=name)


def test_assigning_to_an_unknown_queue_is_a_validation_error(supervisor):
    case = overdue_case()
    with refused("validation_error", field="queue"):
        services.case_assign(case_ids=[case.pk], actor=supervisor, queue="no such queue")


def test_assign_needs_cases_and_a_target(supervisor, collector):
    case = overdue_case()
    with refused("validation_error", field="cases"):
        services.case_assign(case_ids=[], actor=supervisor, assignee=collector)
    with refused("validation_error", field="cases"):
        services.case_assign(case_ids=["x"], actor=supervisor, assignee=collector)
    with refused("validation_error", field="assignee"):
        services.case_assign(case_ids=[case.pk], actor=supervisor)


# --- every change leaves an event with its actor label --------------------------------------------


def test_every_change_writes_an_event_with_its_actor_label(collector, supervisor, api_client_manager):
    loan = loan_with_schedule(days_overdue=3)
    case = services.case_open_for_loan(loan_id=loan.pk)  # system
    services.case_assign(case_ids=[case.pk], actor=supervisor, assignee=collector)  # user:supervisor
    services.case_transition(case_id=case.pk, transition="start_calls", actor=collector)  # user:collector
    services.note_add(case_id=case.pk, actor=collector, text="called")  # user:collector
    hold = services.hold_place(
        borrower_id=case.borrower_id, code="complaint", actor=api_client_manager, reason="complaint"
    )  # client
    services.hold_lift(hold_id=hold.pk, actor=supervisor, reason="answered")  # user:supervisor
    services.case_transition(case_id=case.pk, transition="de_escalate", actor=api_client_manager)  # client
    services.payment_record(external_id="P-1", loan=loan, amount="1000.00", paid_at=timezone.now())  # system

    got = list(CaseEvent.objects.filter(case=case).order_by("id").values_list("kind", "actor"))
    assert got == [
        ("opened", "system"),
        ("assigned", "user:supervisor"),
        ("transition", "user:collector"),
        ("note_added", "user:collector"),
        ("hold_placed", "client:loan-system"),
        ("hold_lifted", "user:supervisor"),
        ("transition", "client:loan-system"),
        ("payment_recorded", "system"),
        ("transition", "system"),
    ]
    resolve = CaseEvent.objects.filter(case=case).latest("id")
    assert resolve.payload["transition"] == "resolve"
    assert fresh(case).state == "resolved"


def test_person_events_keep_the_user_link(collector, supervisor):
    case = assigned_case(to=collector, by=supervisor, days_overdue=3)
    services.note_add(case_id=case.pk, actor=collector, text="x")
    note = CaseEvent.objects.get(case=case, kind="note_added")
    assert (note.actor, note.actor_user_id) == ("user:collector", collector.pk)


def test_case_events_are_append_only():
    case = overdue_case()
    event = CaseEvent.objects.get(case=case)
    event.reason = "rewritten"
    with pytest.raises(ValueError):
        event.save()


# --- holds from the loan system -------------------------------------------------------------------


def test_loan_system_hold_upsert_sets_its_own_holds_and_leaves_staff_holds(supervisor):
    from collections_app.models import Hold

    case = overdue_case(days_overdue=10)
    services.hold_place(borrower_id=case.borrower_id, code="complaint", actor=supervisor, reason="staff")
    services.holds_set_from_loan_system(borrower_id=case.borrower_id, codes=["dispute", "bankruptcy"])
    services.holds_set_from_loan_system(borrower_id=case.borrower_id, codes=["bankruptcy", "complaint"])

    active = set(Hold.objects.active().filter(borrower=case.borrower).values_list("source", "code"))
    assert active == {("staff", "complaint"), ("loan_system", "bankruptcy"), ("loan_system", "complaint")}
    with refused("validation_error", field="holds"):
        services.holds_set_from_loan_system(borrower_id=case.borrower_id, codes=["holiday"])


def test_a_closed_case_is_not_reopened_for_the_arrears_it_covered_but_a_new_miss_opens_a_case(supervisor):
    from datetime import timedelta

    from collections_app.calendar import lender_today
    from collections_app.models import Instalment
    from collections_app.services import case_sync_with_loan, case_transition
    from collections_app.services.sweep import sweep_run

    case = overdue_case(days_overdue=40, instalments=3)  # due 40 and 10 days ago, and in 20 days
    case_transition(case_id=case.pk, transition="close", reason="written_off", actor=supervisor)

    assert case_sync_with_loan(loan_id=case.loan_id).action == "closed"
    assert sweep_run(as_of=lender_today(), plan_reminders=False).counts["opened"] == 0

    third = Instalment.objects.get(loan=case.loan, number=3)
    later = third.due_date + timedelta(days=2)
    assert sweep_run(as_of=later, plan_reminders=False).counts["opened"] == 1
    assert Case.objects.filter(loan=case.loan, state__in=["reminder", "call", "visit", "legal"]).count() == 1
