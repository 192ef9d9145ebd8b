"""`manage.py seed_demo`: demo log-ins, and a bulk-loaded portfolio that is what the services would
have written (amounts match the instalments, one open case per loan, a coherent timeline)."""

from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum

from collections_app import roles as r
from collections_app.calendar import lender_today
from collections_app.models import (
    Borrower,
    Case,
    CaseEvent,
    ContactAttempt,
    Instalment,
    LegalReferral,
    Loan,
    Payment,
    PaymentAllocation,
    PlanInstalment,
    PromiseToPay,
    Queue,
    RepaymentPlan,
    Visit,
    VulnerabilityMarker,
)
from collections_app.demo.people import DEMO_USERS
from collections_app.workflow import OPEN_STATES, State

pytestmark = pytest.mark.django_db

CASES = 60
ROLE_USERS = ("collector", "field_agent", "supervisor", "legal_officer", "auditor", "admin")


def seed(*args):
    """The bulk load alone (no simulated days: tests/test_simulate.py covers those)."""
    out = StringIO()
    if "--days" not in args:
        args = (*args, "--days", "0")
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def seeded(db):
    output = seed("--cases", str(CASES), "--seed", "7")
    return output


def test_role_users_can_log_in_with_the_password(seeded):
    User = get_user_model()
    for username in ROLE_USERS:
        user = User.objects.get(username=username)
        assert user.check_password("demo12345"), username
        assert user.is_active and user.is_staff == (username == "admin")  # /admin/ is for operators only
        assert list(user.groups.values_list("name", flat=True)) == [username]
        assert f"{username}" in seeded
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="collector").is_superuser
    for username, role in DEMO_USERS:
        assert User.objects.get(username=username).groups.filter(name=role).exists()
    assert "demo12345" in seeded and "cases/s" in seeded


def test_queues_have_members(seeded):
    members = {q.name: set(q.members.values_list("username", flat=True)) for q in Queue.objects.all()}
    assert "collector" in members["M1 calls"]
    assert {"field_agent", "field_agent2"} <= members["M2 visits"]
    assert "legal_officer" in members["Legal review"]
    assert members["Early reminders"]


def test_running_twice_does_not_duplicate_users(seeded):
    output = seed("--cases", "10", "--password", "another-pass1", "--seed", "8")
    User = get_user_model()
    names = [u for u, _ in DEMO_USERS]
    assert User.objects.filter(username__in=names).count() == len(names)
    assert all(u.check_password("another-pass1") for u in User.objects.filter(username__in=names))
    assert all(u.groups.count() == 1 for u in User.objects.filter(username__in=names))
    # The second run adds to the portfolio with fresh keys.
    assert Case.objects.count() == CASES + 10
    assert Borrower.objects.values("external_id").distinct().count() == Borrower.objects.count()
    assert Loan.objects.values("external_id").distinct().count() == Loan.objects.count()
    assert Payment.objects.values("external_id").distinct().count() == Payment.objects.count()
    assert "another-pass1" in output


def test_if_empty_leaves_a_seeded_portfolio_alone_but_ensures_users(seeded):
    User = get_user_model()
    collector = User.objects.get(username="collector")
    collector.set_password("changed-1234")
    collector.groups.clear()
    collector.save()
    before = (Case.objects.count(), CaseEvent.objects.count(), Loan.objects.count())
    output = seed("--cases", "50", "--if-empty")
    assert (Case.objects.count(), CaseEvent.objects.count(), Loan.objects.count()) == before
    collector.refresh_from_db()
    assert collector.check_password("demo12345")
    assert collector.groups.filter(name=r.COLLECTOR).exists()
    assert "already exist" in output


def test_if_empty_seeds_an_empty_database(db):
    seed("--cases", "12", "--if-empty", "--seed", "3")
    assert Case.objects.count() == 12


def test_cases_exist_in_every_state(seeded):
    states = Counter(Case.objects.values_list("state", flat=True))
    assert sum(states.values()) == CASES
    assert set(states) == {s.value for s in State}, states


def _settled_by_a_kept_settlement():
    return set(
        RepaymentPlan.objects.filter(kind="settlement", status="kept", case__state="closed").values_list(
            "case_id", flat=True
        )
    )


def test_every_case_matches_its_instalments(seeded):
    today = lender_today()
    instalments = defaultdict(list)
    for i in Instalment.objects.order_by("number"):
        instalments[i.loan_id].append(i)
    # A case closed by a kept settlement is checked by its own test below.
    settled = _settled_by_a_kept_settlement()
    for case in Case.objects.select_related("loan").exclude(pk__in=settled):
        assert case.borrower_id == case.loan.borrower_id
        past_due = [i for i in instalments[case.loan_id] if i.due_date < today]
        unpaid = [i for i in past_due if i.amount_paid < i.amount_due]
        amount = sum((i.amount_due - i.amount_paid for i in past_due), Decimal("0"))
        if case.state == State.RESOLVED:
            assert amount == 0 and case.amount_overdue == 0, case
            assert case.oldest_unpaid_due_date is None and case.resolved_at is not None, case
            continue
        assert case.amount_overdue == amount, case
        assert case.oldest_unpaid_due_date == (unpaid[0].due_date if unpaid else None), case
        if case.state in OPEN_STATES:
            assert amount > 0 and case.dpd(today) >= 1, case
        if case.state == State.CLOSED:
            assert case.closed_at and case.close_reason in ("settled", "written_off"), case
        # Everything before the oldest unpaid instalment is paid.
        first_unpaid = unpaid[0].number
        assert all(i.amount_paid == i.amount_due for i in instalments[case.loan_id] if i.number < first_unpaid)


def test_payments_are_allocated_exactly(seeded):
    paid = dict(Instalment.objects.values_list("id", "amount_paid"))
    allocated = defaultdict(Decimal)
    for instalment_id, amount in PaymentAllocation.objects.values_list("instalment_id", "amount"):
        allocated[instalment_id] += amount
    assert all(allocated[i] == amount for i, amount in paid.items())
    for payment in Payment.objects.annotate(total=Sum("allocations__amount")):
        assert payment.total == payment.amount


def test_at_most_one_open_case_per_loan(seeded):
    open_loans = Counter(Case.objects.filter(state__in=OPEN_STATES).values_list("loan_id", flat=True))
    assert open_loans and max(open_loans.values()) == 1


def test_each_case_has_an_opened_event_and_a_coherent_timeline(seeded):
    settled = _settled_by_a_kept_settlement()
    events = defaultdict(list)
    for event in CaseEvent.objects.order_by("at", "id"):
        events[event.case_id].append(event)
    for case in Case.objects.all():
        timeline = events[case.pk]
        assert [e.kind for e in timeline].count("opened") == 1, case
        assert timeline[0].kind == "opened" and timeline[0].to_state == State.REMINDER, case
        assert timeline[0].at == case.opened_at
        state = None
        for event in timeline:
            if event.to_state:
                assert state is None or event.from_state == state, (case, event.kind, state, event.from_state)
                state = event.to_state
        assert state == case.state, case
        transitions = [e for e in timeline if e.kind == "transition"]
        assert all(e.payload.get("transition") for e in transitions)
        if case.state == State.LEGAL:
            assert LegalReferral.objects.filter(case=case, status="approved").exists()
            assert {"legal_referral_requested", "legal_referral_approved"} <= {e.kind for e in timeline}
        if case.state == State.CLOSED and case.pk in settled:  # a kept settlement closes it (system)
            close = transitions[-1]
            assert close.payload["transition"] == "close" and close.actor == "system"
            assert close.reason == "settled" and Decimal(close.payload["forgiven"]) > 0
        elif case.state == State.CLOSED:
            close = transitions[-1]
            assert close.payload["transition"] == "close" and close.actor == "user:supervisor"
            assert close.actor_user.username == "supervisor"


def test_work_records_are_consistent(seeded):
    for contact in ContactAttempt.objects.select_related("case"):
        assert contact.breach == ""
        assert contact.borrower_id == contact.case.borrower_id
        assert contact.actor.startswith("user:collector") and contact.actor_user_id
    assert ContactAttempt.objects.exists()
    assert CaseEvent.objects.filter(kind="contact_logged").count() == ContactAttempt.objects.count()
    assert CaseEvent.objects.filter(kind="promise_recorded").count() == PromiseToPay.objects.count()
    assert (
        PromiseToPay.objects.filter(status="pending").values("case").distinct().count()
        == PromiseToPay.objects.filter(status="pending").count()
    )
    for visit in Visit.objects.all():
        assert sorted(visit.agents.values_list("username", flat=True)) == ["field_agent", "field_agent2"]
        # Live plans are made on call and visit cases (demo/live_plans.py): a kept one resolves its case.
        assert visit.case.state == State.VISIT or visit.case.plans.exists()
    for case in Case.objects.filter(state__in=("call", "visit", "legal")):
        assert case.queue is not None
    reminder = Case.objects.filter(state=State.REMINDER)
    assert all(c.assigned_to_id is None and c.queue.name == "Early reminders" for c in reminder)
    # JSON columns hold real JSON.
    assert all(isinstance(b.phones, list) and b.phones for b in Borrower.objects.all())


def _month_ends_before(today, count):
    first = today.replace(day=1)
    ends = []
    for _ in range(count):
        end = first - timedelta(days=1)
        ends.append(end)
        first = end.replace(day=1)
    return ends


def test_past_month_end_snapshots_are_what_the_sweep_would_have_written(seeded):
    """Each past month's last day holds one row per case open at that day's sweep, with the stage the
    timeline gives then, and DPD, bucket and amount from the instalments and payments of that day."""
    from collections_app.models import Bucket, MonthEndSnapshot

    today = lender_today()
    buckets = list(Bucket.objects.order_by("min_dpd"))
    checked = 0
    for month_end in _month_ends_before(today, 4):
        cut = datetime.combine(month_end, time(0, 15), tzinfo=settings.LENDER_TIME_ZONE)  # after the sweep
        rows = {s.case_id: s for s in MonthEndSnapshot.objects.filter(month_end=month_end)}
        for case in Case.objects.prefetch_related("events").select_related("loan"):
            opened = case.opened_at <= cut
            ended = any(e.to_state in ("resolved", "closed") and e.at <= cut for e in case.events.all())
            if not opened or ended:
                assert case.pk not in rows, (month_end, case.pk)
                continue
            snap = rows.pop(case.pk, None)
            assert snap is not None, (month_end, case.pk)
            states = [e for e in sorted(case.events.all(), key=lambda e: (e.at, e.pk)) if e.to_state and e.at <= cut]
            assert snap.state == states[-1].to_state, (month_end, case.pk)
            dues = list(Instalment.objects.filter(loan=case.loan_id, due_date__lt=month_end).order_by("number"))
            paid = {}
            for alloc in PaymentAllocation.objects.filter(payment__loan=case.loan_id, payment__paid_at__lte=cut):
                paid[alloc.instalment_id] = paid.get(alloc.instalment_id, Decimal(0)) + alloc.amount
            unpaid = [i for i in dues if paid.get(i.pk, Decimal(0)) < i.amount_due]
            assert snap.amount_overdue == sum(i.amount_due - paid.get(i.pk, Decimal(0)) for i in unpaid)
            assert snap.dpd == ((month_end - unpaid[0].due_date).days if unpaid else 0)
            assert snap.bucket == next((b.name for b in buckets if b.contains(snap.dpd)), "")
            checked += 1
        assert not rows, (month_end, sorted(rows))
    assert checked > CASES // 2


def test_a_fresh_demo_dashboard_shows_roll_and_cure_rates(seeded, client):
    from collections_app.selectors.dashboard.board import Dashboard
    from collections_app.selectors.dashboard.period import period_for

    today = lender_today()
    current = Dashboard(period_for("", today=today), today)
    assert current.has_start_snapshot
    cure = current.figure_cure()
    assert not cure.missing and cure.tables[0].rows
    previous = Dashboard(period_for("", today=today).previous, today)
    assert previous.has_start_snapshot and previous.has_end_snapshot
    roll = previous.figure_roll()
    assert not roll.missing and roll.tables[0].rows
    client.login(username="supervisor", password="demo12345")
    page = client.get("/dashboard/").content.decode()
    assert 'data-testid="missing-cure-rate"' not in page and 'data-testid="missing-roll-rates"' not in page
    assert "There is no month-end snapshot" not in page and 'class="check no"' not in page
    # This month's roll rates come on its last day; until then the page links the latest whole month.
    assert "is not written yet" in page and f'href="?month={previous.period.key}#roll-rates"' in page


# --- Repayment plans and vulnerable borrowers (issue 11) -------------------------------------------


def test_plans_exist_in_every_status_with_settlements_at_a_discount(seeded):
    from collections_app.models import PlanStatus

    plans = list(RepaymentPlan.objects.select_related("case"))
    assert {p.status for p in plans} == set(PlanStatus.values)
    waiting = {p.needs_authority for p in plans if p.status == PlanStatus.PROPOSED}
    assert {"supervisor", "legal_officer"} <= waiting
    assert any(p.kind == "settlement" and p.discount > 0 for p in plans if p.status == PlanStatus.ACTIVE)
    met = [list(p.instalments.values_list("met", flat=True)) for p in plans if p.status == PlanStatus.ACTIVE]
    assert any(any(flags) and not all(flags) for flags in met), "an active plan with some instalments met"
    kept_settlements = [p for p in plans if p.kind == "settlement" and p.status == PlanStatus.KEPT]
    assert any(p.case.state == State.CLOSED and p.case.close_reason == "settled" for p in kept_settlements)
    for plan in plans:
        amounts = list(plan.instalments.values_list("amount", flat=True))
        assert amounts and sum(amounts) == plan.total, plan
        if plan.kind == "plan":
            assert plan.discount == 0, plan


def test_each_plans_events_agree_with_its_row(seeded):
    events = defaultdict(list)
    for event in CaseEvent.objects.filter(kind__startswith="plan_").order_by("at", "id"):
        events[event.payload["plan_id"]].append(event)
    for plan in RepaymentPlan.objects.prefetch_related("instalments"):
        timeline = events[plan.pk]
        schedule = sorted(plan.instalments.all(), key=lambda i: i.number)
        assert timeline[0].kind == "plan_proposed", plan
        assert abs(timeline[0].at - plan.created_at) < timedelta(seconds=5), plan  # the services' clock ticks
        assert timeline[-1].payload["status"] == plan.status, plan
        assert all(e.case_id == plan.case_id for e in timeline)
        for event in timeline:
            p = event.payload
            assert (p["kind"], Decimal(p["total"]), Decimal(p["discount"])) == (plan.kind, plan.total, plan.discount)
            assert p["instalments"] == len(schedule)
            assert (p["first_due_date"], p["last_due_date"]) == (
                schedule[0].due_date.isoformat(),
                schedule[-1].due_date.isoformat(),
            )
        if plan.status in ("expired", "broken"):
            assert timeline[-1].kind == f"plan_{plan.status}" and timeline[-1].actor == "system"
            assert timeline[-1].at == plan.ended_at and plan.ended_by == "system"
        if plan.status == "expired":
            assert plan.decided_at is None and plan.expires_on < lender_today()
        if plan.status == "broken":
            # Active from its decision to its end: no escalation meanwhile, no instalment met.
            assert [e.kind for e in timeline] == ["plan_proposed", "plan_activated", "plan_broken"]
            moves = CaseEvent.objects.filter(
                case=plan.case_id, kind="transition", at__gt=plan.decided_at, at__lt=plan.ended_at
            )
            assert not moves.exists(), plan
            assert not PlanInstalment.objects.filter(plan=plan, met=True).exists()
            assert schedule[0].due_date < plan.ended_at.astimezone(settings.LENDER_TIME_ZONE).date()


def test_some_borrowers_are_vulnerable(seeded):
    today = lender_today()
    markers = list(VulnerabilityMarker.objects.active())
    assert len({m.code for m in markers}) >= 3
    assert any(m.review_on < today and m.source == "staff" for m in markers), "a review date already passed"
    own = [m for m in markers if m.source == "borrower"]
    assert own and all(not m.confirmed and m.code == "hardship" for m in own)
    assert all(m.confirmed for m in markers if m.source == "staff")
    for marker in markers:
        events = CaseEvent.objects.filter(kind="vulnerability_set", case__borrower=marker.borrower_id)
        assert [e.payload["marker_id"] for e in events] == [marker.pk], marker
        event = events.get()
        assert event.at == marker.set_at and event.payload["review_on"] == marker.review_on.isoformat()
        assert event.payload["code"] == marker.code and event.actor == marker.set_by
        # Set after everything else the case's timeline tells of (nothing since contradicts it).
        assert not CaseEvent.objects.filter(case=event.case_id, at__gt=event.at).exclude(kind__startswith="plan_")


def test_a_fresh_demo_dashboard_shows_plans(seeded, client):
    client.login(username="supervisor", password="demo12345")
    page = client.get("/dashboard/")
    figure = next(f for f in page.context["figures"] if f.key == "plans")
    made = figure.tables[0].rows[0]
    assert made[1] >= 8  # the plans the services made this month
    assert figure.tables[0].rows[2][1] >= 2  # kept: a plan and a settlement
    assert figure.tables[0].rows[5][2] > 0  # forgiven by the kept settlement


def test_a_case_closed_by_a_kept_settlement_shows_what_is_overdue(seeded):
    today = lender_today()
    for case in Case.objects.filter(pk__in=_settled_by_a_kept_settlement()):
        due = Instalment.objects.filter(loan=case.loan_id, due_date__lt=today)
        amount = sum((i.amount_due - i.amount_paid for i in due), Decimal("0"))
        assert case.amount_overdue == amount, case


def test_the_demo_runs_a_champion_challenger_test_on_the_default_strategy(seeded):
    from collections_app.models import Strategy

    default = Strategy.objects.get(product="")
    assert default.challenger.name == "Early calls" and default.challenger_share == 20
    assert default.challenger.product is None and default.challenger.call_at_dpd < default.call_at_dpd
    assert default.challenger.steps.count() == default.steps.count() > 0
