"""The parts of a demo case's history that care for a borrower in difficulty: a repayment plan that
expired undecided or broke, and a vulnerability marker (mixed into `_Builder`, portfolio.py).

Written as the services and the sweep would have written them (services/plans/, the sweep's plan
steps, services/vulnerability): the plan row, its instalments and its events agree (the events carry
services/plans/payload.py's keys, with the plan's status at that moment), and the case's timeline
stays true to the rules: an active plan stops escalation, so a broken plan's life lies after the
case's last stage entry; activation withdraws a pending promise and referral, so such cases get none;
no payment came after the plan began, so none of its instalments is met. Plans the services can
make today (waiting, active, declined, kept, cancelled) are made through them after the load
(`live_plans.py`).
"""

from __future__ import annotations

import json
from datetime import date

from ..models import PlanInstalment, RepaymentPlan, VulnerabilityMarker
from ..services.sweep.plan_steps import BROKEN_REASON, EXPIRED_REASON
from .common import add_money_parts, add_months, money
from .rows import _Table

# The default policy (migration 0018): days to decide a proposal, grace days, authorities.
EXPIRY_DAYS, GRACE_DAYS = 7, 5
HARDSHIP = ("income_loss", "income_loss", "illness", "family", "disaster", "other")
PLAN_NOTES = {
    "zh-hans": ("", "客户失业，正在找工作", "家人住院，收入减少", "收入不稳定，希望分期"),
    "en": ("", "Lost a job, looking for work", "Family member in hospital", "Irregular income"),
}
CARE_CODES = ("illness", "bereavement", "disability", "elderly", "hardship")
CARE_NOTES = {
    "zh-hans": (
        "客户住院治疗中",
        "近期家中有丧事",
        "行动不便，需上门以外的方式沟通",
        "年事已高，需家人协助沟通",
        "收入中断",
    ),
    "en": (
        "In hospital for treatment",
        "Recent death in the family",
        "Finds calls hard",
        "Needs a relative's help",
        "No income",
    ),
}


def plan_payload(plan_id, kind, status, total, discount, schedule):
    """services/plans/payload.py's shape, from cents and day ordinals (`schedule`: [(day, cents)])."""
    return json.dumps(
        {
            "plan_id": plan_id,
            "kind": kind,
            "status": status,
            "total": money(total),
            "discount": money(discount),
            "instalments": len(schedule),
            "first_due_date": date.fromordinal(schedule[0][0]).isoformat(),
            "last_due_date": date.fromordinal(schedule[-1][0]).isoformat(),
        }
    )


def care_tables(f):
    """The tables of plans, their instalments and vulnerability markers (`_Builder.t`; after the
    case and borrower tables, so the foreign keys hold when a chunk is written)."""
    return {
        "plan": _Table(
            RepaymentPlan,
            [
                "id",
                "case",
                "kind",
                "status",
                "reason",
                "notes",
                "total",
                "discount",
                "balance",
                "needs_authority",
                "proposed_by",
                "proposed_by_user",
                "decided_by",
                "decided_by_user",
                "decision_reason",
                "created_at",
                "decided_at",
                "expires_on",
                "ended_at",
                "ended_by",
                "end_reason",
            ],
            f,
        ),
        "plan_instalment": _Table(PlanInstalment, ["id", "plan", "number", "due_date", "amount", "met", "met_at"], f),
        "marker": _Table(
            VulnerabilityMarker,
            [
                "id",
                "borrower",
                "code",
                "note",
                "source",
                "set_by",
                "set_by_user",
                "set_at",
                "review_on",
                "confirmed",
            ],
            f,
        ),
    }


class _CaseCare:
    """Rows of a plan's history and of a vulnerability marker (history.py calls these)."""

    def _care_init(self):
        self.plans_made = {"expired": 0, "broken": 0}
        self.markers_made = 0

    def _wants_history_plan(self):
        """The first eligible cases get one of each; then a few in a hundred."""
        return min(self.plans_made.values()) == 0 or self.rnd.random() < 0.05

    def _history_plan(self, ev, b, case_id, entries, assigned_at, dues, k, amt, paid, sweep):
        """An expired or a broken plan on an open case worked by a collector (see the module's rules)."""
        status = min(self.plans_made, key=self.plans_made.get)
        made = (self._expired_plan if status == "expired" else self._broken_plan)(
            ev, b, case_id, entries, assigned_at, dues, k, amt, paid, sweep
        )
        if made:
            self.plans_made[status] += 1

    def _schedule(self, first_due, parts, total):
        return [(add_months(first_due, i), cents) for i, cents in enumerate(add_money_parts(total, parts))]

    def _plan_terms(self, kind, first_due, months, dues, k, amt, paid, discount_share=0):
        """(total, discount, balance) in cents: a plan covers what falls due by its last date; a
        settlement, the whole balance less the discount."""
        n = len(dues)
        balance = sum(amt - paid[i] for i in range(k, n))
        if kind == "settlement":
            discount = balance * discount_share // 100 // 100 * 100
            return balance - discount, discount, balance
        last = add_months(first_due, months - 1)
        return sum(amt - paid[i] for i in range(k, n) if dues[i] <= last), 0, balance

    def _plan_rows(self, row, schedule):
        pid = row[0]
        self.t["plan"].rows.append(row)
        rows = self.t["plan_instalment"].rows
        f = self.fmt
        for number, (day, cents) in enumerate(schedule, start=1):
            rows.append((self._ids("plan_instalment"), pid, number, self.clock.ds(day), money(cents), f.false, f.null))

    def _expired_plan(self, ev, b, case_id, entries, assigned_at, dues, k, amt, paid, sweep):
        """A proposal beyond its proposer's authority that nobody decided within the policy's days."""
        rnd, clock = self.rnd, self.clock
        lo, hi = entries[1][0] + 3600, clock.now - (EXPIRY_DAYS + 2) * 86400
        if hi <= lo:
            return False
        t0 = rnd.randint(lo, hi)
        o0 = clock.lender_day(t0)
        expires_on = o0 + EXPIRY_DAYS
        ended = sweep(expires_on)
        if ended >= clock.now - 600:
            return False
        if rnd.random() < 0.5:  # a collector's twelve months: a supervisor's to decide
            offer = ("plan", f"user:{self._who(t0, assigned_at)}", 12, 0, "supervisor")
        else:  # a supervisor's settlement at 30 % off: a legal officer's to decide
            offer = ("settlement", "user:supervisor", rnd.randint(1, 3), 30, "legal_officer")
        first_due = o0 + rnd.randint(5, 14)
        return self._plan_the_sweep_ended(ev, b, case_id, "expired", offer, t0, first_due, ended, (dues, k, amt, paid))

    def _broken_plan(self, ev, b, case_id, entries, assigned_at, dues, k, amt, paid, sweep):
        """A plan active at once (within its proposer's authority) whose first instalment was missed
        beyond the grace days: the sweep broke it, and escalation resumed."""
        rnd, clock = self.rnd, self.clock
        to_first = rnd.randint(3, 7)
        lo = entries[-1][0] + 86400
        hi = clock.midnight(None, clock.today - to_first - GRACE_DAYS - 2) + 18 * 3600
        if hi <= lo:
            return False
        t0 = rnd.randint(lo, hi)
        o0 = clock.lender_day(t0)
        first_due = o0 + to_first
        ended = sweep(first_due + GRACE_DAYS + 1)
        if ended >= clock.now - 600:
            return False
        if rnd.random() < 0.7:  # within a collector's authority
            offer = ("plan", f"user:{self._who(t0, assigned_at)}", rnd.randint(3, 6), 0, "collector")
        else:
            offer = ("settlement", "user:supervisor", 2, rnd.choice((10, 15, 20)), "supervisor")
        return self._plan_the_sweep_ended(ev, b, case_id, "broken", offer, t0, first_due, ended, (dues, k, amt, paid))

    def _plan_the_sweep_ended(self, ev, b, case_id, status, offer, t0, first_due, ended, loan):
        """The row, instalments and events of a plan proposed at `t0` and ended by the sweep at `ended`:
        `expired` (never decided) or `broken` (active at once, within its proposer's authority).
        `offer`: (kind, proposer, months, discount share in %, the authority it needs); `loan`: (due
        days, first unpaid instalment, instalment cents, cents paid of each). False when nothing is
        left for a plan to cover."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        kind, proposer, months, share, needs = offer
        active = status == "broken"
        total, discount, balance = self._plan_terms(kind, first_due, months, *loan, share)
        if total <= 0:
            return False
        schedule = self._schedule(first_due, months, total)
        pid, reason = self._ids("plan"), rnd.choice(HARDSHIP)
        who, at = self.user_of_label, clock.ts(t0)
        decided_by, decided_by_user, decided_at = (proposer, who[proposer], at) if active else ("", f.null, f.null)
        end_reason = BROKEN_REASON if active else EXPIRED_REASON  # as the sweep writes them
        self._plan_rows(
            (
                pid,
                case_id,
                kind,
                status,
                reason,
                rnd.choice(PLAN_NOTES[b.lang]),
                money(total),
                money(discount),
                money(balance),
                needs,
                proposer,
                who[proposer],
                decided_by,
                decided_by_user,
                "",
                at,
                decided_at,
                clock.ds(clock.lender_day(t0) + EXPIRY_DAYS),
                clock.ts(ended),
                "system",
                end_reason,
            ),  # fmt: skip
            schedule,
        )

        def payload(plan_status):
            return plan_payload(pid, kind, plan_status, total, discount, schedule)

        ev.append((t0, "plan_proposed", proposer, "", "", reason, payload("proposed")))
        if active:
            ev.append((t0, "plan_activated", proposer, "", "", "", payload("active")))
            ev.append((ended, "plan_broken", "system", "", "", end_reason, payload("broken")))
        else:
            ev.append((ended, "plan_expired", "system", "", "", end_reason, payload("expired")))
        return True

    # -- vulnerability ------------------------------------------------------------------------

    def _wants_marker(self):
        """The first eligible borrowers show each kind of marker; then about three in a hundred."""
        return self.markers_made < 3 or self.rnd.random() < 0.03

    def _marker(self, ev, b, case_id, assigned_at):
        """An active marker set after everything else on the case's timeline (so nothing the sweep
        did since contradicts it): the first with its review date passed, the second the borrower's
        own unconfirmed word, then staff markers of every code."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        last = max(e[0] for e in ev) + 60
        nth = self.markers_made
        if nth == 0:
            hi = clock.midnight(None, clock.today - 3) + 12 * 3600
        else:
            hi = clock.now - 3600
        if hi <= last:
            return False
        at = rnd.randint(last, hi)
        day = clock.lender_day(at)
        if nth == 1:
            code, source, actor, confirmed = "hardship", "borrower", f"borrower:DB{b.id:07d}", f.false
            review = day + 90
            self.user_of_label.setdefault(actor, f.null)
        else:
            code = CARE_CODES[nth % len(CARE_CODES)] if nth else "illness"
            holder = next((who for since, who, _stage in reversed(assigned_at) if since <= at), None)
            actor = f"user:{holder}" if holder and rnd.random() < 0.5 else "user:supervisor"
            source, confirmed = "staff", f.true
            review = rnd.randint(day + 1, clock.today - 1) if nth == 0 else day + rnd.randint(30, 180)
        mid = self._ids("marker")
        note = CARE_NOTES[b.lang][CARE_CODES.index(code)] if rnd.random() < 0.7 else ""
        self.t["marker"].rows.append(
            (mid, b.id, code, note, source, actor, self.user_of_label[actor], clock.ts(at), clock.ds(review), confirmed)
        )
        payload = json.dumps({"code": code, "marker_id": mid, "review_on": clock.ds(review)})
        ev.append((at, "vulnerability_set", actor, "", "", "", payload))
        self.markers_made += 1
        return True
