"""Plans made through the services after the load (services/plans/, services/payments.py), so the
demo shows every status the services write today: waiting for a supervisor, waiting for a legal
officer, active with an instalment met, an active settlement at a discount, declined, cancelled, a
kept plan (its case resolved) and a kept settlement (its case closed `settled`). Expired and broken
plans are history, written with the portfolio (care.py).

A handful per status (the services run one case at a time: 8 plans cost about half a second).
Cases are taken from this run's open call and visit cases that have a collector, no hold, no plan
and no vulnerability marker, lowest id first, so a seeded run is reproducible."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..actors import SYSTEM
from ..calendar import lender_today
from ..errors import DomainError
from ..models import Case, Hold, RepaymentPlan, VulnerabilityMarker
from ..services import payment_record
from ..services.plans import plan_cancel, plan_decide, plan_preview, plan_propose
from .care import HARDSHIP, PLAN_NOTES

STATUSES = (
    "waiting_supervisor",
    "waiting_legal_officer",
    "active_met",
    "active_settlement",
    "declined",
    "cancelled",
    "kept_plan",
    "kept_settlement",
)
MOST_PER_STATUS = 10
SUPERVISOR_USERNAME = "supervisor"  # the demo user (people.DEMO_USERS) who approves and declines
CENT = Decimal("0.01")


def per_status(cases):
    """Plans of each status for a run of `cases` cases: one per 2,000 cases, 1 to 10 (each costs
    ~70 ms of service calls; the history plans, written with the portfolio, grow with it)."""
    return max(1, min(MOST_PER_STATUS, cases // 2000))


def _candidates(first_case_id, limit):
    holds = Hold.objects.filter(borrower=OuterRef("borrower"), lifted_at__isnull=True)
    markers = VulnerabilityMarker.objects.active().filter(borrower=OuterRef("borrower"))
    plans = RepaymentPlan.objects.filter(case=OuterRef("pk"))
    return list(
        Case.objects.filter(pk__gte=first_case_id, state__in=("call", "visit"), assigned_to__isnull=False)
        .filter(~Exists(holds), ~Exists(markers), ~Exists(plans))
        .select_related("assigned_to", "loan", "borrower")
        .order_by("pk")[:limit]
    )


class _LivePlans:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.supervisor = get_user_model().objects.filter(username=SUPERVISOR_USERNAME).first()
        self.today = lender_today()
        self.made = dict.fromkeys(STATUSES, 0)

    def _propose(self, case, actor, kind, months, first_due=None, **extra):
        first_due = first_due or self.today + timedelta(days=self.rnd.randint(5, 14))
        lang = "en" if case.borrower.language == "en" else "zh-hans"
        return plan_propose(
            case_id=case.pk,
            actor=actor,
            kind=kind,
            reason=self.rnd.choice(HARDSHIP),
            notes=self.rnd.choice(PLAN_NOTES[lang]),
            months=months,
            first_due_date=first_due.isoformat(),
            **extra,
        )

    def _settlement(self, case, actor, parts, share):
        """A settlement of `parts` parts with `share` (a fraction) of the balance forgiven."""
        first_due = self.today + timedelta(days=self.rnd.randint(5, 14))
        draft = plan_preview(
            case_id=case.pk,
            actor=actor,
            kind="settlement",
            reason="income_loss",
            months=parts,
            first_due_date=first_due.isoformat(),
        )
        discount = (draft.balance * Decimal(share)).quantize(Decimal("1"), rounding=ROUND_DOWN)
        return self._propose(case, actor, "settlement", parts, first_due, discount=str(discount.quantize(CENT)))

    def _pay(self, plan, case, amount, n):
        payment_record(
            external_id=f"DPP{plan.pk:06d}-{n}",
            loan=case.loan,
            amount=Decimal(amount).quantize(CENT),
            paid_at=timezone.now(),
            actor=SYSTEM,
        )

    def make(self, status, case):
        """Make one plan of `status` on `case`; the plan, or None when the case turned out not to fit."""
        collector, supervisor = case.assigned_to, self.supervisor
        if status == "waiting_supervisor":  # twelve months: beyond a collector's six
            return self._propose(case, collector, "plan", 12)
        if status == "waiting_legal_officer":  # 30 % off: beyond a supervisor's 20 %
            return self._settlement(case, supervisor, self.rnd.randint(1, 3), "0.30")
        if status == "active_met":
            plan = self._propose(case, collector, "plan", 6)
            first = plan.instalments.order_by("number").first()
            if case.amount_overdue <= first.amount:  # paying it would resolve the case: not this one
                return None
            self._pay(plan, case, first.amount, 1)
            return plan
        if status == "active_settlement":
            return self._settlement(case, supervisor, 2, "0.15")
        if status == "declined":
            plan = self._propose(case, collector, "plan", 12)
            reason = "Income does not cover the instalments."
            plan_decide(plan_id=plan.pk, actor=supervisor, decision="decline", reason=reason)
            return plan
        if status == "cancelled":
            plan = self._propose(case, collector, "plan", 6)
            plan_cancel(plan_id=plan.pk, actor=collector, reason="Borrower asked to change the dates.")
            return plan
        if status == "kept_plan":
            plan = self._propose(case, collector, "plan", 2)
        else:  # kept_settlement: paid in one go, which closes the case as settled
            plan = self._settlement(case, supervisor, 2, "0.10")
        self._pay(plan, case, plan.total, 1)
        return plan


# What each status's plan is at the end, and its case (None: any state).
EXPECTED = {
    "waiting_supervisor": ("proposed", None),
    "waiting_legal_officer": ("proposed", None),
    "active_met": ("active", None),
    "active_settlement": ("active", None),
    "declined": ("declined", None),
    "cancelled": ("cancelled", None),
    "kept_plan": ("kept", "resolved"),
    "kept_settlement": ("kept", "closed"),
}


class _Misfit(Exception):
    """The case did not end as the status needs: its steps are rolled back."""


def seed_live_plans(*, first_case_id, cases, seed):
    """Make `per_status(cases)` plans of each status on this run's cases; {status: plans made}."""
    want = per_status(cases)
    live = _LivePlans(seed)
    if live.supervisor is None:  # the demo users are ensured first; never without them
        return live.made
    pending = [s for s in STATUSES for _ in range(want)]
    for case in _candidates(first_case_id, len(pending) * 3):
        if not pending:
            break
        status = pending[0]
        try:
            with transaction.atomic():  # all of one status's steps, or none
                plan = live.make(status, case)
                if plan is None:
                    raise _Misfit
                plan = RepaymentPlan.objects.select_related("case").get(pk=plan.pk)
                want_plan, want_case = EXPECTED[status]
                if plan.status != want_plan or (want_case and plan.case.state != want_case):
                    raise _Misfit
        except (DomainError, _Misfit):  # this case does not fit that plan (a policy limit): the next may
            continue
        live.made[pending.pop(0)] += 1
    return live.made
