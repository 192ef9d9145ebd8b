"""The staff's day, through the real services, as the demo users: the supervisor files new cases
into their stage's queue and deals them out (case_assign, case_distribute_evenly) and plans a few
home visits; field agents record the visits due; each collector works the top of their worklist
(selectors.worklist.case_worklist): asks the contact rules first (contact_check, as a dialler does)
and moves on when refused, so no contact breaking a rule is ever recorded; logs each call
(contact_log); a conversation may end in a promise (promise_record) or, for a borrower in hardship,
a repayment plan (plan_propose, within a collector's authority)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef

from ..demo.people import COLLECTORS, STAGE_QUEUE
from ..errors import DomainError
from ..models import Case, ContactAttempt, Hold, PlanStatus, PromiseToPay, Queue, RepaymentPlan, Visit
from ..selectors.worklist import case_worklist
from ..services import case_assign, contact_check, contact_log, promise_record, visit_record, visit_schedule
from ..services.assignment import case_distribute_evenly
from ..services.plans import plan_propose
from ..workflow import OPEN_STATES
from . import constants as k
from .propensity import p_answer, p_promise, wants_plan
from .traits import stable_uniform, traits_for

SUPERVISOR = "supervisor"
FIELD_AGENTS = ("field_agent", "field_agent2")
FOLLOW_UP_AFTER_DAYS = 3  # a collector skips a borrower they spoke with in the last days


@dataclass
class Staff:
    supervisor: object
    collectors: list
    agents: list

    @classmethod
    def load(cls):
        users = {u.username: u for u in get_user_model().objects.filter(is_active=True)}
        return cls(
            supervisor=users.get(SUPERVISOR),
            collectors=[users[name] for name in COLLECTORS if name in users],
            agents=[users[name] for name in FIELD_AGENTS if name in users],
        )


def supervisor_morning(*, day, clock, staff, report):
    """New cases into their stage's queue, then each queue dealt out evenly; visits planned."""
    if staff.supervisor is None:
        return
    clock.at(day, 8)
    queues = {q.name: q for q in Queue.objects.filter(name__in=STAGE_QUEUE.values())}
    new = Case.objects.filter(state__in=OPEN_STATES, queue__isnull=True, assigned_to__isnull=True)
    for state, name in STAGE_QUEUE.items():
        ids = list(new.filter(state=state).values_list("pk", flat=True))
        if ids and name in queues:
            case_assign(case_ids=ids, actor=staff.supervisor, queue=queues[name])
            report.counts["cases_queued"] += len(ids)
    for queue in queues.values():
        try:
            dealt = case_distribute_evenly(queue=queue, actor=staff.supervisor)
        except DomainError:  # a queue without collectors (legal review) is worked by hand
            continue
        report.counts["cases_distributed"] += sum(dealt.shares.values())
    if len(staff.agents) >= 2:
        _plan_visits(day=day, clock=clock, staff=staff, report=report)


def _plan_visits(*, day, clock, staff, report):
    held = Hold.objects.filter(borrower=OuterRef("borrower"), lifted_at__isnull=True)
    visited = Visit.objects.filter(case=OuterRef("pk"), status=Visit.Status.PLANNED)
    on_plan = RepaymentPlan.objects.filter(case=OuterRef("pk"), status=PlanStatus.ACTIVE)
    cases = (
        Case.objects.filter(state="visit")
        .filter(~Exists(held), ~Exists(visited), ~Exists(on_plan))
        .select_related("borrower")
        .order_by("-priority", "oldest_unpaid_due_date", "pk")[: k.VISITS_PER_DAY]
    )
    for n, case in enumerate(cases):
        # Tomorrow, from 10:00 in the borrower's own zone, an hour apart.
        when = datetime.combine(day + timedelta(days=1), time(10 + n), tzinfo=ZoneInfo(case.borrower.time_zone))
        try:
            visit_schedule(case_id=case.pk, actor=staff.supervisor, scheduled_for=when, agents=staff.agents[:2])
        except DomainError as refusal:
            report.refused[f"visit_schedule:{refusal.code}"] += 1
            continue
        report.counts["visits_planned"] += 1


def agents_record_visits(*, seed, clock, staff, report):
    """Visits whose hour has passed (by an hour) are recorded by their first agent, if the contact
    rules allow a visit now; otherwise they wait for a later round."""
    if not staff.agents:
        return
    now = clock.now()
    due = Visit.objects.filter(status=Visit.Status.PLANNED, scheduled_for__lte=now - timedelta(hours=1))
    for visit in due.select_related("case__borrower", "case__loan").order_by("scheduled_for", "pk"):
        case = visit.case
        if contact_check(case=case, channel="visit").allowed is False:
            report.refused["visit:not_now"] += 1
            continue
        met = stable_uniform(seed, "visit", visit.scheduled_for.isoformat(), case.loan.external_id)
        outcome = Visit.Outcome.MET_BORROWER if met < k.VISIT_MEET_CHANCE else Visit.Outcome.NOT_HOME
        agent = visit.agents.order_by("username").first() or staff.agents[0]
        try:
            visit_record(visit_id=visit.pk, actor=agent, outcome=outcome)
        except DomainError as refusal:
            report.refused[f"visit_record:{refusal.code}"] += 1
            continue
        report.counts[f"visits_{outcome}"] += 1


def _worklist_top(collector, day, limit):
    """The top `limit` of the collector's worklist, skipping borrowers spoken with in the last
    FOLLOW_UP_AFTER_DAYS days and cases waiting on a promise not yet due."""
    since = datetime.combine(day - timedelta(days=FOLLOW_UP_AFTER_DAYS - 1), time(0), tzinfo=settings.LENDER_TIME_ZONE)
    spoken = ContactAttempt.objects.filter(
        borrower=OuterRef("borrower"), outcome__in=ContactAttempt.CONVERSATION, occurred_at__gte=since
    )
    waiting = PromiseToPay.objects.filter(case=OuterRef("pk"), status=PromiseToPay.Status.PENDING, due_date__gte=day)
    ids = list(case_worklist(collector).filter(~Exists(spoken), ~Exists(waiting)).values_list("pk", flat=True)[:limit])
    order = {pk: n for n, pk in enumerate(ids)}
    cases = Case.objects.filter(pk__in=ids).select_related("borrower", "loan")
    return sorted(cases, key=lambda c: order[c.pk])


def collectors_call(*, day, seed, clock, staff, report, before=None):
    """Each collector calls down their worklist, the calls spread over the shift (interleaved).
    `before(seconds)`, when given, is called first with each call's time of day (the day loop runs
    what falls due before it: reminder dispatch, visits)."""
    shift = (k.SHIFT_END_HOUR - k.SHIFT_START_HOUR) * 3600
    step = shift // max(1, k.CALLS_PER_COLLECTOR)
    lists = [(collector, _worklist_top(collector, day, k.CALLS_PER_COLLECTOR)) for collector in staff.collectors]
    for slot in range(k.CALLS_PER_COLLECTOR):
        for n, (collector, cases) in enumerate(lists):
            if slot >= len(cases):
                continue
            seconds = k.SHIFT_START_HOUR * 3600 + slot * step + n * 37
            if before:
                before(seconds)
            clock.at(day, seconds // 3600, seconds // 60 % 60, seconds % 60)
            _call(cases[slot], collector, day=day, seed=seed, report=report)


def _call(case, collector, *, day, seed, report):
    decision = contact_check(case=case, channel="call")
    if not decision.allowed:
        report.refused[f"call:{decision.code}"] += 1
        return
    traits = traits_for(seed, case.borrower.external_id)
    draw = stable_uniform(seed, "answer", day.isoformat(), case.loan.external_id)
    if draw >= p_answer(traits, day):
        outcome = (
            ContactAttempt.Outcome.BUSY if draw < p_answer(traits, day) + 0.1 else ContactAttempt.Outcome.NO_ANSWER
        )
        contact_log(case_id=case.pk, actor=collector, channel="call", outcome=outcome)
        report.counts["calls_unanswered"] += 1
        return
    dpd = (day - case.oldest_unpaid_due_date).days if case.oldest_unpaid_due_date else 0
    if wants_plan(traits, day, dpd) and _propose_plan(case, collector, day=day, traits=traits, report=report):
        contact_log(case_id=case.pk, actor=collector, channel="call", outcome="right_party_contact", notes="plan")
        report.counts["calls_plan"] += 1
        return
    promises = stable_uniform(seed, "promise", day.isoformat(), case.loan.external_id) < p_promise(traits)
    outcome = ContactAttempt.Outcome.PROMISE_MADE if promises else ContactAttempt.Outcome.RIGHT_PARTY_CONTACT
    contact = contact_log(case_id=case.pk, actor=collector, channel="call", outcome=outcome)
    report.counts["calls_conversation"] += 1
    if promises and case.amount_overdue > 0:
        lo, hi = k.PROMISE_DAYS
        days = lo + int(stable_uniform(seed, "promise-days", day.isoformat(), case.loan.external_id) * (hi - lo + 1))
        try:
            promise_record(
                case_id=case.pk,
                actor=collector,
                amount=case.amount_overdue,
                due_date=day + timedelta(days=days),
                contact_id=contact.pk,
            )
        except DomainError as refusal:
            report.refused[f"promise:{refusal.code}"] += 1
            return
        report.counts["promises_made"] += 1


def _propose_plan(case, collector, *, day, traits, report):
    if RepaymentPlan.objects.filter(case=case, status__in=[PlanStatus.PROPOSED, PlanStatus.ACTIVE]).exists():
        return False
    try:
        plan = plan_propose(
            case_id=case.pk,
            actor=collector,
            kind="plan",
            reason="income_loss" if traits.life_event_on(day) else "other",
            months=k.PLAN_MONTHS,
            first_due_date=(day + timedelta(days=k.PLAN_FIRST_DUE_DAYS)).isoformat(),
        )
    except DomainError as refusal:
        report.refused[f"plan:{refusal.code}"] += 1
        return False
    report.counts[f"plans_{plan.status}"] += 1
    return True
