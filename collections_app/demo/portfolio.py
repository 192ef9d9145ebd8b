"""The synthetic portfolio's generator: a chunk of cases with their borrowers and loans, as rows
per table (the parts: people.py, history.py, activity.py; the writing: rows.py)."""

from __future__ import annotations

import random
from datetime import date

from django.conf import settings
from django.db.models import Max

from ..models import (
    Borrower,
    BorrowerContact,
    Bucket,
    Case,
    CaseEvent,
    ContactAttempt,
    Hold,
    Instalment,
    LegalReferral,
    Loan,
    MonthEndSnapshot,
    Payment,
    PaymentAllocation,
    PromiseToPay,
    Visit,
)
from .activity import _CaseActivity
from .care import _CaseCare, care_tables
from .common import (
    OUTCOMES,
    PAY_CHANNELS,
    PRODUCTS,
    SNAPSHOT_MONTHS,
    STATE_WEIGHTS,
    _cumulative,
    _pick,
    add_months,
    money,
)
from .history import _CaseHistory
from .people import COLLECTORS, US_ZONES, _BorrowerParts, _Pools
from .rows import _Table


# --- The portfolio ---------------------------------------------------------------------------


class _Builder(_BorrowerParts, _CaseHistory, _CaseActivity, _CaseCare):
    """One chunk of the portfolio at a time: `build(count)` generates, `take()` hands the rows over."""

    def __init__(self, *, seed, cases, fmt, clock, users, queues):
        self.rnd = random.Random(seed)
        self.pools = _Pools(seed, min(4000, max(200, cases)))
        self.fmt = fmt
        self.clock = clock
        self.uid = users  # username -> id
        self.qid = queues  # name -> id
        self.labels = {name: f"user:{name}" for name in users}
        self.user_of_label = {f"user:{name}": uid for name, uid in users.items()}
        self.user_of_label["system"] = fmt.null
        self.rr = 0
        self.made = 0
        self.state_table = _cumulative(STATE_WEIGHTS)
        self.products = _cumulative(PRODUCTS)
        self.channels = _cumulative(PAY_CHANNELS)
        self.outcomes = _cumulative(OUTCOMES)
        self.us_zones = _cumulative([((z, areas), w) for z, areas, w in US_ZONES])
        self.by_state = dict.fromkeys(("reminder", "call", "visit", "legal", "resolved", "closed"), 0)
        f = fmt
        agents = Visit._meta.get_field("agents")
        self.t = {
            "borrower": _Table(
                Borrower,
                [
                    "id",
                    "external_id",
                    "name",
                    "national_id",
                    "phones",
                    "email",
                    "address",
                    "city",
                    "time_zone",
                    "language",
                    "consent_after_hours",
                    "consent_sms",
                    "consent_email",
                    "created_at",
                    "updated_at",
                ],
                f,
            ),
            "contact_person": _Table(BorrowerContact, ["id", "borrower", "name", "relation", "phone"], f),
            "hold": _Table(
                Hold,
                [
                    "id",
                    "borrower",
                    "code",
                    "reason",
                    "starts_at",
                    "ends_at",
                    "source",
                    "placed_by",
                    "placed_by_label",
                    "placed_at",
                    "lifted_at",
                    "lifted_by_label",
                    "lift_reason",
                ],
                f,
            ),
            "loan": _Table(
                Loan,
                [
                    "id",
                    "external_id",
                    "borrower",
                    "product",
                    "principal",
                    "currency",
                    "disbursed_on",
                    "created_at",
                    "updated_at",
                ],
                f,
            ),
            "instalment": _Table(Instalment, ["id", "loan", "number", "due_date", "amount_due", "amount_paid"], f),
            "payment": _Table(
                Payment,
                [
                    "id",
                    "external_id",
                    "loan",
                    "amount",
                    "paid_at",
                    "channel",
                    "recorded_by_label",
                    "created_at",
                    "unapplied_amount",
                ],
                f,
            ),
            "allocation": _Table(PaymentAllocation, ["id", "payment", "instalment", "amount"], f),
            "case": _Table(
                Case,
                [
                    "id",
                    "state",
                    "loan",
                    "borrower",
                    "oldest_unpaid_due_date",
                    "amount_overdue",
                    "assigned_to",
                    "queue",
                    "priority",
                    "next_action_at",
                    "opened_at",
                    "resolved_at",
                    "closed_at",
                    "close_reason",
                    "updated_at",
                ],
                f,
            ),
            "contact": _Table(
                ContactAttempt,
                [
                    "id",
                    "case",
                    "borrower",
                    "channel",
                    "direction",
                    "phone",
                    "outcome",
                    "notes",
                    "breach",
                    "actor",
                    "actor_user",
                    "occurred_at",
                    "recorded_at",
                ],
                f,
            ),
            "promise": _Table(
                PromiseToPay,
                [
                    "id",
                    "case",
                    "amount",
                    "due_date",
                    "status",
                    "contact",
                    "actor",
                    "actor_user",
                    "created_at",
                    "settled_at",
                ],
                f,
            ),
            "visit": _Table(
                Visit,
                [
                    "id",
                    "case",
                    "scheduled_for",
                    "status",
                    "outcome",
                    "notes",
                    "planned_by",
                    "created_at",
                    "recorded_at",
                ],
                f,
            ),
            "visit_agent": _Table(
                agents.remote_field.through, ["id", agents.m2m_field_name(), agents.m2m_reverse_field_name()], f
            ),
            "referral": _Table(
                LegalReferral,
                [
                    "id",
                    "case",
                    "status",
                    "reason",
                    "requested_by",
                    "requested_by_user",
                    "requested_at",
                    "decided_by",
                    "decided_by_user",
                    "decided_at",
                    "decision_reason",
                ],
                f,
            ),
            "event": _Table(
                CaseEvent,
                ["id", "case", "kind", "actor", "actor_user", "from_state", "to_state", "reason", "payload", "at"],
                f,
            ),
            "snapshot": _Table(
                MonthEndSnapshot, ["id", "month_end", "case", "state", "dpd", "bucket", "amount_overdue"], f
            ),
            **care_tables(f),
        }
        self._care_init()
        # Month-end snapshots: the last days of the past months the portfolio's history reaches (the
        # oldest case opens about 13 months ago), and the buckets (data) as the sweep maps DPD to them.
        first_of_month = date.fromordinal(clock.today).replace(day=1).toordinal()
        self.month_ends = sorted(add_months(first_of_month, -j) - 1 for j in range(SNAPSHOT_MONTHS))
        self.buckets = [(bk.min_dpd, bk.max_dpd, bk.name) for bk in Bucket.objects.order_by("min_dpd")]
        self.next_id = {}
        for key, table in self.t.items():
            top = table.model._default_manager.aggregate(m=Max("pk"))["m"] or 0
            self.next_id[key] = top + 1

    def _ids(self, key, count=1):
        first = self.next_id[key]
        self.next_id[key] = first + count
        return first

    # -- helpers ------------------------------------------------------------------------------

    def _lender_at(self, o, lo, hi):
        """A moment on lender day `o` between `lo` and `hi` o'clock."""
        return self.clock.midnight(None, o) + self.rnd.randint(lo * 3600, hi * 3600)

    def _collector(self, stage):
        """The stage's collector, round-robin, or None (some call cases wait unassigned in the queue)."""
        if stage == "reminder" or (stage == "call" and self.rnd.random() < 0.2):
            return None
        self.rr += 1
        return COLLECTORS[self.rr % len(COLLECTORS)]

    def _contact_days(self, b, start, end, count, taken):
        """Up to `count` moments in (start, end), 09:00-20:00 borrower time, on days not in `taken`
        (US borrowers: at least eight days from any other contact)."""
        rnd, clock = self.rnd, self.clock
        if end - start < 3600 or count <= 0:
            return []
        gap = 8 if b.en else 1
        o0, o1 = clock.lender_day(start) - 1, clock.lender_day(end) + 1
        out = []
        for _ in range(count * 4):
            if len(out) >= count:
                break
            o = rnd.randint(o0, o1)
            if any(abs(o - x) < gap for x in taken):
                continue
            t = clock.midnight(b.tz, o) + rnd.randint(9 * 3600, 20 * 3600)
            if start < t < end:
                taken.append(o)
                out.append(t)
        return out

    # -- loans --------------------------------------------------------------------------------

    def _loan(self, b, n, anchor, index=0):
        """A loan with `n` monthly instalments, the `index`-th due on `anchor` (a day ordinal).
        Returns (loan_id, due dates, instalment amount in cents, first instalment id)."""
        rnd, clock = self.rnd, self.clock
        loan_id = self._ids("loan")
        principal = max(10, min(2000, int(rnd.lognormvariate(2.9, 0.7)))) * 100  # yuan, hundreds
        amt = principal * 100 * (1000 + 12 * n) // (1000 * n)  # cents, flat fee 1.2%/month
        disbursed = add_months(anchor, -index - 1)
        dues = [add_months(anchor, i - index) for i in range(n)]
        created = clock.ts(clock.midnight(None, disbursed) + rnd.randint(9 * 3600, 18 * 3600))
        self.t["loan"].rows.append(
            (
                loan_id,
                f"DL{loan_id:07d}",
                b.id,
                _pick(rnd, self.products),
                f"{principal}.00",
                settings.COLLECTIONS_CURRENCY,
                clock.ds(disbursed),
                created,
                created,
            )
        )
        inst0 = self._ids("instalment", n)
        if b.first_day is None or disbursed < b.first_day:
            b.first_day = disbursed
        return loan_id, dues, amt, inst0

    def _pay(self, loan_id, t, amount, actor, allocations):
        """A payment row with its allocations [(instalment_id, cents)]."""
        pid = self._ids("payment")
        ts = self.clock.ts(t)
        channel = _pick(self.rnd, self.channels)
        self.t["payment"].rows.append((pid, f"DP{pid:07d}", loan_id, money(amount), ts, channel, actor, ts, "0.00"))
        rows = self.t["allocation"].rows
        for inst_id, cents in allocations:
            rows.append((self._ids("allocation"), pid, inst_id, money(cents)))
        self.last_channel = channel
        return pid

    def _on_time_payments(self, loan_id, dues, amt, inst0, upto):
        """Instalments [0, upto) paid in full on or a little before their due dates (one payment each)."""
        clock, rnd = self.clock, self.rnd
        for i in range(upto):
            t = clock.midnight(None, dues[i] - rnd.randint(0, 3)) + rnd.randint(9 * 3600, 20 * 3600)
            self._pay(loan_id, t, amt, "system", [(inst0 + i, amt)])

    def _instalments(self, loan_id, dues, amt, inst0, paid):
        rows, ds = self.t["instalment"].rows, self.clock.ds
        a = money(amt)
        for i, o in enumerate(dues):
            p = paid[i]
            rows.append((inst0 + i, loan_id, i + 1, ds(o), a, a if p == amt else money(p)))

    def current_loan(self, b):
        """A performing loan: everything due before today paid on time, no case."""
        rnd, today = self.rnd, self.clock.today
        n = 12 if rnd.random() < 0.4 else 6
        first_due = add_months(today - rnd.randint(5, 30 * n), 1)
        loan_id, dues, amt, inst0 = self._loan(b, n, first_due)
        due = sum(1 for o in dues if o < today)
        self._on_time_payments(loan_id, dues, amt, inst0, due)
        self._instalments(loan_id, dues, amt, inst0, [amt if i < due else 0 for i in range(n)])

    # -- a chunk ------------------------------------------------------------------------------

    def build(self, count):
        """Generate `count` cases, their borrowers and loans, plus performing loans (~20% extra)."""
        rnd = self.rnd
        made = 0
        while made < count:
            b, fields = self._borrower()
            if self.made < len(STATE_WEIGHTS):
                b.single = True
                self.case(b, STATE_WEIGHTS[self.made][0])
                loans = 1
            else:
                if rnd.random() < 0.02:
                    self._hold(b)
                loans = 2 if (rnd.random() < 0.08 and count - made >= 2) else 1
                b.single = loans == 1  # a vulnerability marker goes on a borrower with one case
                for _ in range(loans):
                    self.case(b)
            made += loans
            self.made += loans
            if rnd.random() < 0.1:
                self.current_loan(b)
            self._finish_borrower(b, fields)
            if rnd.random() < 0.1 * loans:  # a performing borrower without a case
                p, pf = self._borrower()
                self.current_loan(p)
                self._finish_borrower(p, pf)

    def take(self):
        """The chunk just built, as [(table, rows)] in an order that satisfies the foreign keys."""
        pg = self.fmt.pg
        return [(table, table.encode(table.take(), pg)) for table in self.t.values()]

    def last_ids(self):
        return {table.table: self.next_id[key] - 1 for key, table in self.t.items()}
