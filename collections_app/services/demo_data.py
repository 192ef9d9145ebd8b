"""Demo data: the demo users and queues, and a synthetic portfolio loaded set-based.

The portfolio is not built through the one-row services (they run ~500 cases/s here, PITFALLS.md):
rows are generated as tuples in chunks, with primary keys assigned here (from each table's current
maximum), and inserted with PostgreSQL COPY (``executemany`` on SQLite), one transaction per chunk.
The data is nevertheless what the services would have written, as if the system had been running:

* each case opens on the sweep of its first day past due (one ``opened`` event, to ``reminder``),
  escalates on the sweep at DPD 8 (``start_calls``) and 31 (``schedule_visit``), reaches ``legal`` only
  through an approved ``LegalReferral``; ``resolve`` follows the payment that clears the arrears (with
  that payment's actor), ``close`` is a supervisor's with reason ``settled`` or ``written_off``;
* payments are allocated oldest instalment first (``PaymentAllocation`` rows add up to each
  instalment's ``amount_paid``), so the instalments before the oldest unpaid one are paid;
* ``Case.oldest_unpaid_due_date`` / ``amount_overdue`` are what ``selectors.loan_arrears`` answers
  today (instalments due before ``lender_today()``); resolved cases have nothing past due; the loans
  of closed cases matured before the close, so their amounts stay true as days pass;
* contacts happen 09:00-20:00 in the borrower's zone, one a day at most (eight days apart for US
  borrowers, Regulation F), never under a hold, so none breaks a rule (``breach`` empty);
* a hold stops escalation: a case whose borrower went on hold stays at the stage it had then;
* each past month's last day has the month-end snapshot the sweep of that day would have written
  (``MonthEndSnapshot``: one row per case open at that sweep, with its stage then and the DPD, bucket
  and amount overdue of that day), so the dashboard's roll and cure rates show on a fresh demo.

Columns the generator does not know (a field added later) are filled with the field's default, or
left to the database when it has a ``db_default``; a required field with neither stops the load.
"""
from __future__ import annotations

import csv
from bisect import bisect_left
import io
import json
import random
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import NOT_PROVIDED, Max
from django.utils import timezone

from .. import roles as r
from ..calendar import lender_today
from ..models import (
    Borrower, BorrowerContact, Bucket, Case, CaseEvent, ContactAttempt, Hold, Instalment, LegalReferral, Loan,
    MonthEndSnapshot, Payment, PaymentAllocation, PromiseToPay, Queue, Visit,
)

DEFAULT_PASSWORD = "demo12345"
DEFAULT_CASES = 2000
# Cases per chunk (one transaction each). Measured on PostgreSQL here, 100k cases: 5,000 -> ~4,000
# cases/s and 0.2 GB resident; 20,000 -> ~3,150 cases/s and 0.6 GB (less overlap of build and write).
DEFAULT_CHUNK = 5_000
WRITERS = 2  # PostgreSQL connections writing chunks side by side

# (username, role): one per role named after it, plus extra staff to spread the work.
DEMO_USERS = (
    ("collector", r.COLLECTOR),
    ("field_agent", r.FIELD_AGENT),
    ("supervisor", r.SUPERVISOR),
    ("legal_officer", r.LEGAL_OFFICER),
    ("auditor", r.AUDITOR),
    ("admin", r.ADMIN),
    ("collector2", r.COLLECTOR),
    ("collector3", r.COLLECTOR),
    ("collector4", r.COLLECTOR),
    ("collector5", r.COLLECTOR),
    ("field_agent2", r.FIELD_AGENT),
)
COLLECTORS = ("collector", "collector2", "collector3", "collector4", "collector5")

Q_REMINDER, Q_CALLS, Q_VISITS, Q_LEGAL = "Early reminders", "M1 calls", "M2 visits", "Legal review"
DEMO_QUEUES = (
    (Q_REMINDER, "DPD 1-7: automated reminders; collectors pick up what needs a person.",
     ("collector", "collector2", "supervisor")),
    (Q_CALLS, "DPD 8-30 (M1): phone collection.", COLLECTORS + ("supervisor",)),
    (Q_VISITS, "DPD 31-60 (M2): calls and home visits by two field agents.",
     ("collector3", "collector4", "collector5", "field_agent", "field_agent2", "supervisor")),
    (Q_LEGAL, "Cases referred to legal after an approved referral.", ("legal_officer", "supervisor")),
)
STAGE_QUEUE = {"reminder": Q_REMINDER, "call": Q_CALLS, "visit": Q_VISITS, "legal": Q_LEGAL}

# Target states of the cases and their shares.
STATE_WEIGHTS = (("reminder", 25), ("call", 30), ("visit", 15), ("legal", 5), ("resolved", 15), ("closed", 10))
OPEN = ("reminder", "call", "visit", "legal")
STAGE_RANK = {"reminder": 0, "call": 1, "visit": 2, "legal": 3}
CALL_DAY, VISIT_DAY, LEGAL_DAY = 8, 31, 61
# Past month ends given a snapshot: more than the oldest case's life (opened up to ~390 days ago).
SNAPSHOT_MONTHS = 14

PRODUCTS = (("consumer", 40), ("cash_loan", 30), ("phone_instalment", 20), ("education", 10))
PAY_CHANNELS = (("bank_transfer", 60), ("alipay", 25), ("wechat_pay", 15))
OUTCOMES = (
    ("no_answer", 40), ("busy", 10), ("right_party_contact", 22), ("third_party", 8), ("wrong_number", 5),
    ("refused", 10),
)
RELATIONS = ("spouse", "parent", "sibling", "friend", "colleague")
ZH_MOBILE = tuple(range(130, 140)) + (150, 151, 152, 153, 155, 156, 157, 158, 159, 176, 177, 178) + tuple(
    range(180, 190)
)
US_ZONES = (("America/New_York", ("212", "646", "718"), 60), ("America/Chicago", ("312", "773"), 25),
            ("America/Los_Angeles", ("213", "310", "415"), 15))
NOTES = {
    "zh-hans": ("", "", "", "客户表示本周内还款", "电话无人接听", "已提醒逾期后果", "客户称工资延迟发放", "要求稍后回电"),
    "en": ("", "", "", "Says salary is late this month", "Left no message", "Asked to call back later",
           "Explained the overdue amount"),
}
HOLD_REASONS = {
    "dispute": ("客户对欠款金额有异议", "Borrower disputes the amount owed"),
    "complaint": ("客户已向监管部门投诉", "Complaint filed with the regulator"),
}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
EPOCH_ORD = date(1970, 1, 1).toordinal()


@dataclass
class SeedReport:
    users: list  # [(username, role)]
    password: str
    seed: int
    skipped: bool = False
    existing_cases: int = 0
    created: dict = field(default_factory=dict)  # model name -> rows inserted
    cases_by_state: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def cases(self):
        return sum(self.cases_by_state.values())

    @property
    def rate(self):
        return self.cases / self.seconds if self.seconds else 0.0


# --- Users and queues -------------------------------------------------------------------------

def ensure_demo_users(password=DEFAULT_PASSWORD):
    """Create or update the demo users (never duplicated): in their role's group, with this password;
    `admin` alone is staff and a superuser. Returns [(username, role)]."""
    if not password:
        raise ValueError("the demo password cannot be empty")
    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in r.ALL_ROLES}
    hashed = make_password(password)  # one hash for all: the slow hasher runs once
    with transaction.atomic():
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first() or User(username=username)
            user.password = hashed
            # Only operators reach /admin/ (CONTRACT.md): only the admin user is staff.
            user.is_staff, user.is_active, user.is_superuser = role == r.ADMIN, True, role == r.ADMIN
            if not user.email:
                user.email = f"{username}@example.com"
            if not user.first_name:
                user.first_name = username.replace("_", " ").title()
            user.save()
            other_roles = [g for name, g in groups.items() if name != role]
            user.groups.remove(*other_roles)
            user.groups.add(groups[role])
    return list(DEMO_USERS)


def ensure_demo_queues():
    """The four work queues with their members (idempotent)."""
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[n for n, _ in DEMO_USERS])}
    queues = {}
    for name, description, members in DEMO_QUEUES:
        queue, _ = Queue.objects.get_or_create(name=name, defaults={"description": description})
        queue.members.add(*[users[m] for m in members if m in users])
        queues[name] = queue
    return queues


# --- Writing rows -----------------------------------------------------------------------------

class _Format:
    """How values are written for this backend (COPY csv text on PostgreSQL, parameters on SQLite)."""

    def __init__(self, vendor, clock):
        self.pg = vendor == "postgresql"
        self.null = "\\N" if self.pg else None
        self.true, self.false = ("t", "f") if self.pg else (1, 0)
        self.clock = clock

    def value(self, v):
        """A constant of any type, for fields the generator leaves to their defaults."""
        if v is None:
            return self.null
        if isinstance(v, bool):
            return self.true if v else self.false
        if isinstance(v, datetime):
            return self.clock.ts(int(v.timestamp()))
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, Decimal):
            return str(v)
        return v


class _Table:
    """Rows of one table for the current chunk, and how to insert them."""

    def __init__(self, model, names, fmt):
        meta = model._meta
        self.model = model
        self.table = meta.db_table
        fields = [meta.get_field(n) for n in names]
        self.columns = [f.column for f in fields]
        given = {f.name for f in fields}
        fill = []
        for f in meta.concrete_fields:
            if f.name in given:
                continue
            if getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
                continue  # the database fills it
            if f.has_default():
                value = f.get_default()
            elif f.null:
                value = None
            elif f.empty_strings_allowed and f.blank:
                value = ""
            else:
                raise ImproperlyConfigured(f"seed_demo does not know how to fill {meta.label}.{f.name}")
            self.columns.append(f.column)
            fill.append(fmt.value(value))
        self.fill = tuple(fill)
        self.rows = []
        self.total = 0

    def take(self):
        """This chunk's rows (the table starts collecting the next chunk)."""
        rows, self.rows = self.rows, []
        self.total += len(rows)
        return rows

    def encode(self, rows, pg):
        """What the writer sends: CSV bytes for COPY (far smaller than the tuples), or the tuples."""
        if self.fill:
            fill = self.fill
            rows = [row + fill for row in rows]
        if not pg or not rows:
            return rows
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode()

    def write(self, cursor, pg, data):
        if not data:
            return
        qn = connection.ops.quote_name
        cols = ", ".join(qn(c) for c in self.columns)
        if pg:
            sql = f"COPY {qn(self.table)} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            cursor.copy_expert(sql, io.BytesIO(data), size=1 << 20)
        else:
            rows = data
            marks = ", ".join("?" * len(self.columns))
            cursor.executemany(f"INSERT INTO {qn(self.table)} ({cols}) VALUES ({marks})", rows)


# --- Time -------------------------------------------------------------------------------------

class _Clock:
    """Whole seconds since the epoch (UTC) for every moment, formatted once when written."""

    def __init__(self, now, today, pg):
        self.now = int(now.timestamp())
        self.today = today.toordinal()
        self.lender = settings.LENDER_TIME_ZONE
        self.zones = {}
        self._mid = {}
        self._dayp = {}
        self._dates = {}
        suffix = "+00" if pg else ""
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(86400)]

    def midnight(self, tzname, o):
        """The UTC second at which local day `o` (an ordinal) starts in zone `tzname` (None: the lender's)."""
        key = (tzname, o)
        v = self._mid.get(key)
        if v is None:
            zone = self.lender if tzname is None else self.zones.get(tzname)
            if zone is None:
                zone = self.zones[tzname] = ZoneInfo(tzname)
            d = date.fromordinal(o)
            v = self._mid[key] = int(datetime(d.year, d.month, d.day, tzinfo=zone).timestamp())
        return v

    def lender_day(self, s):
        """The lender's calendar date (ordinal) of moment `s`."""
        o = EPOCH_ORD + (s + 8 * 3600) // 86400
        while self.midnight(None, o) > s:
            o -= 1
        while self.midnight(None, o + 1) <= s:
            o += 1
        return o

    def ts(self, s):
        day, sec = divmod(s, 86400)
        p = self._dayp.get(day)
        if p is None:
            p = self._dayp[day] = date.fromordinal(EPOCH_ORD + day).isoformat() + " "
        return p + self.hms[sec]

    def iso(self, s):
        """ISO 8601 with offset, as the services put moments in event payloads."""
        return datetime.fromtimestamp(s, UTC).isoformat()

    def ds(self, o):
        v = self._dates.get(o)
        if v is None:
            v = self._dates[o] = date.fromordinal(o).isoformat()
        return v


_MONTHS = {}


def add_months(o, months):
    """Ordinal `o` moved by whole months (the day clamped to the month's length)."""
    key = (o, months)
    v = _MONTHS.get(key)
    if v is None:
        d = date.fromordinal(o)
        y, m = divmod(d.month - 1 + months, 12)
        y += d.year
        m += 1
        last = (date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1)
        v = _MONTHS[key] = min(date(y, m, 1).toordinal() + d.day - 1, last)
    return v


def money(c):
    return f"{c // 100}.{c % 100:02d}"


def _cumulative(pairs):
    total = sum(w for _, w in pairs)
    acc, out = 0, []
    for value, w in pairs:
        acc += w
        out.append((acc / total, value))
    return tuple(out)


def _pick(rnd, table):
    x = rnd.random()
    for limit, value in table:
        if x < limit:
            return value
    return table[-1][1]


# --- Names, addresses, ids -------------------------------------------------------------------

class _Pools:
    """Faker is slow: draw a few thousand of each once, then sample with the seeded generator."""

    def __init__(self, seed, size):
        from faker import Faker

        zh, en = Faker("zh_CN"), Faker("en_US")
        zh.seed_instance(seed)
        en.seed_instance(seed + 1)
        en_size = max(20, size // 8)
        self.zh_names = [zh.name() for _ in range(size)]
        self.zh_addresses = [zh.address().replace("\n", " ") for _ in range(size)]
        self.zh_cities = [zh.city() for _ in range(max(50, size // 10))]
        self.zh_areas = sorted({zh.ssn()[:6] for _ in range(max(50, size // 10))})
        self.zh_emails = [zh.email().split("@") for _ in range(size)]
        self.en_names = [en.name() for _ in range(en_size)]
        self.en_addresses = [en.street_address() for _ in range(en_size)]
        self.en_cities = [en.city() for _ in range(max(20, en_size // 4))]
        self.en_ssns = [en.ssn() for _ in range(en_size)]
        self.en_emails = [en.email().split("@") for _ in range(en_size)]


class _Borrower:
    __slots__ = ("id", "en", "tz", "phones", "lang", "hold_at", "hold_id", "hold_code", "first_day")

    def __init__(self, bid):
        self.id = bid
        self.first_day = None
        self.hold_at = None
        self.hold_id = None


# --- The portfolio ---------------------------------------------------------------------------

class _Builder:
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
            "borrower": _Table(Borrower, [
                "id", "external_id", "name", "national_id", "phones", "email", "address", "city", "time_zone",
                "language", "consent_after_hours", "consent_sms", "consent_email", "created_at", "updated_at"], f),
            "contact_person": _Table(BorrowerContact, ["id", "borrower", "name", "relation", "phone"], f),
            "hold": _Table(Hold, [
                "id", "borrower", "code", "reason", "starts_at", "ends_at", "source", "placed_by", "placed_by_label",
                "placed_at", "lifted_at", "lifted_by_label", "lift_reason"], f),
            "loan": _Table(Loan, [
                "id", "external_id", "borrower", "product", "principal", "currency", "disbursed_on", "created_at",
                "updated_at"], f),
            "instalment": _Table(Instalment, ["id", "loan", "number", "due_date", "amount_due", "amount_paid"], f),
            "payment": _Table(Payment, [
                "id", "external_id", "loan", "amount", "paid_at", "channel", "recorded_by_label", "created_at",
                "unapplied_amount"], f),
            "allocation": _Table(PaymentAllocation, ["id", "payment", "instalment", "amount"], f),
            "case": _Table(Case, [
                "id", "state", "loan", "borrower", "oldest_unpaid_due_date", "amount_overdue", "assigned_to", "queue",
                "priority", "next_action_at", "opened_at", "resolved_at", "closed_at", "close_reason", "updated_at"], f),
            "contact": _Table(ContactAttempt, [
                "id", "case", "borrower", "channel", "direction", "phone", "outcome", "notes", "breach", "actor",
                "actor_user", "occurred_at", "recorded_at"], f),
            "promise": _Table(PromiseToPay, [
                "id", "case", "amount", "due_date", "status", "contact", "actor", "actor_user", "created_at",
                "settled_at"], f),
            "visit": _Table(Visit, [
                "id", "case", "scheduled_for", "status", "outcome", "notes", "planned_by", "created_at",
                "recorded_at"], f),
            "visit_agent": _Table(agents.remote_field.through, [
                "id", agents.m2m_field_name(), agents.m2m_reverse_field_name()], f),
            "referral": _Table(LegalReferral, [
                "id", "case", "status", "reason", "requested_by", "requested_by_user", "requested_at", "decided_by",
                "decided_by_user", "decided_at", "decision_reason"], f),
            "event": _Table(CaseEvent, [
                "id", "case", "kind", "actor", "actor_user", "from_state", "to_state", "reason", "payload", "at"], f),
            "snapshot": _Table(MonthEndSnapshot, [
                "id", "month_end", "case", "state", "dpd", "bucket", "amount_overdue"], f),
        }
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

    # -- borrowers ----------------------------------------------------------------------------

    def _borrower(self):
        rnd, pools = self.rnd, self.pools
        bid = self._ids("borrower")
        b = _Borrower(bid)
        b.en = rnd.random() < 0.1
        if b.en:
            zone, areas = _pick(rnd, self.us_zones)
            b.tz, b.lang = zone, "en"
            b.phones = [f"+1{rnd.choice(areas)}5550{rnd.randint(100, 199)}" for _ in range(1 + (rnd.random() < 0.3))]
            name = rnd.choice(pools.en_names)
            national_id = rnd.choice(pools.en_ssns)
            local, domain = rnd.choice(pools.en_emails)
            address, city = rnd.choice(pools.en_addresses), rnd.choice(pools.en_cities)
        else:
            b.tz = "Asia/Urumqi" if rnd.random() < 0.05 else "Asia/Shanghai"
            b.lang = "zh-hans"
            b.phones = [f"{rnd.choice(ZH_MOBILE)}{rnd.randrange(10 ** 8):08d}" for _ in range(1 + (rnd.random() < 0.3))]
            name = rnd.choice(pools.zh_names)
            national_id = self._zh_national_id()
            local, domain = rnd.choice(pools.zh_emails)
            address, city = rnd.choice(pools.zh_addresses), rnd.choice(pools.zh_cities)
        # The row is written once its loans are known (it is created before the first one).
        return b, (f"DB{bid:07d}", name, national_id, json.dumps(b.phones), f"{local}{bid % 10000}@{domain}",
                   address, city, b.tz, b.lang)

    def _zh_national_id(self):
        rnd = self.rnd
        birth = date.fromordinal(rnd.randint(715_000, 731_000))  # born 1958-2002
        body = f"{rnd.choice(self.pools.zh_areas)}{birth:%Y%m%d}{rnd.randrange(1000):03d}"
        check = "10X98765432"[sum(int(c) * w for c, w in zip(body, ID_WEIGHTS)) % 11]
        return body + check

    def _finish_borrower(self, b, fields):
        rnd, f, clock = self.rnd, self.fmt, self.clock
        created = clock.midnight(None, b.first_day - rnd.randint(1, 60)) + rnd.randint(8 * 3600, 22 * 3600)
        ts = clock.ts(created)
        self.t["borrower"].rows.append((b.id,) + fields + (
            f.true if rnd.random() < 0.05 else f.false,
            f.false if rnd.random() < 0.03 else f.true,
            f.false if rnd.random() < 0.02 else f.true,
            ts, ts))
        if rnd.random() < 0.15:
            for _ in range(1 + (rnd.random() < 0.3)):
                name = rnd.choice(self.pools.en_names if b.en else self.pools.zh_names)
                phone = (f"+1{rnd.randint(201, 989)}5550{rnd.randint(100, 199)}" if b.en
                         else f"{rnd.choice(ZH_MOBILE)}{rnd.randrange(10 ** 8):08d}")
                self.t["contact_person"].rows.append(
                    (self._ids("contact_person"), b.id, name, rnd.choice(RELATIONS), phone))

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
        self.t["loan"].rows.append((
            loan_id, f"DL{loan_id:07d}", b.id, _pick(rnd, self.products), f"{principal}.00",
            settings.COLLECTIONS_CURRENCY, clock.ds(disbursed), created, created))
        inst0 = self._ids("instalment", n)
        if b.first_day is None or disbursed < b.first_day:
            b.first_day = disbursed
        return loan_id, dues, amt, inst0

    def _pay(self, loan_id, t, amount, actor, allocations):
        """A payment row with its allocations [(instalment_id, cents)]."""
        pid = self._ids("payment")
        ts = self.clock.ts(t)
        channel = _pick(self.rnd, self.channels)
        self.t["payment"].rows.append((
            pid, f"DP{pid:07d}", loan_id, money(amount), ts, channel, actor, ts, "0.00"))
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

    # -- cases --------------------------------------------------------------------------------

    def case(self, b, target=None):
        """One case and its loan. `target` forces the state (the first cases of a portfolio cover every
        state, away from the day boundaries, so even a tiny demo shows each)."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        now, today = clock.now, clock.today
        forced = target is not None
        if not forced:
            target = _pick(rnd, self.state_table)
        n = 12 if rnd.random() < 0.4 else 6
        sweep_off = rnd.randint(60, 900)
        pending_referral = False
        resolved_at = closed_at = None

        def sweep(o):
            return clock.midnight(None, o) + sweep_off

        # 1. Where the loan stands: the oldest unpaid instalment k fell due on D0.
        if target in OPEN:
            dpd = {"reminder": (1, 7), "call": (8, 30), "visit": (31, 60), "legal": (62, 150)}[target]
            if forced:
                dpd = {"reminder": (3, 6), "call": (10, 28), "visit": (33, 58), "legal": (70, 140)}[target]
            elif target == "visit" and rnd.random() < 0.1:
                dpd, pending_referral = (61, 90), not b.hold_at
            d = rnd.randint(*dpd)
            k = rnd.randrange(n)
            d0 = today - d
            end = b.hold_at or now  # escalation and work stop at a hold
            peak = STAGE_RANK[target]
        elif target == "resolved":
            peak = _pick(rnd, ((0.45, 0), (0.85, 1), (1.0, 2)))
            r_dpd = rnd.randint(*((1, 7), (8, 30), (31, 60))[peak])
            since = rnd.randint(12 if b.hold_at else 1, 120)
            k = rnd.randrange(n)
            d0 = today - since - r_dpd
            resolved_at = min(self._lender_at(d0 + r_dpd, 9, 20), now - 600)
            end = resolved_at
        else:  # closed: the loan matured, its last 1-3 instalments unpaid, closed long overdue
            m = min(n, rnd.randint(1, 3))
            k = n - m
            close_dpd = rnd.randint(max(91, (m - 1) * 31 + 3), 210)
            since = rnd.randint(12 if b.hold_at else 1, 180)
            d0 = today - since - close_dpd
            closed_at = self._lender_at(d0 + close_dpd, 10, 18)
            end = closed_at
            peak = 3 if (close_dpd >= 75 and rnd.random() < 0.5) else 2

        loan_id, dues, amt, inst0 = self._loan(b, n, d0, k)
        case_id = self._ids("case")
        paid = [amt] * k + [0] * (n - k)
        self._on_time_payments(loan_id, dues, amt, inst0, k)

        ev = []  # (at, kind, actor, from_state, to_state, reason, payload)
        opened_at = min(sweep(d0 + 1), now - 30)
        ev.append((opened_at, "opened", "system", "", "reminder", "overdue", (
            f'{{"dpd": 1, "amount_overdue": "{money(amt)}", "oldest_unpaid_due_date": "{clock.ds(dues[k])}"}}')))

        # 2. Stage entries: the sweep at DPD 8 and 31, legal after an approved referral.
        entries = [(opened_at, "reminder")]
        if peak >= 1:
            t = sweep(d0 + CALL_DAY)
            if t < end:
                ev.append((t, "transition", "system", "reminder", "call", "", '{"transition": "start_calls"}'))
                entries.append((t, "call"))
        if peak >= 2 and len(entries) == 2:
            t = sweep(d0 + VISIT_DAY)
            if t < end:
                ev.append((t, "transition", "system", "call", "visit", "", '{"transition": "schedule_visit"}'))
                entries.append((t, "visit"))
        if (peak >= 3 or pending_referral) and len(entries) == 3:
            self._referral(ev, entries, case_id, d0, end, approve=peak >= 3, sweep=sweep)

        # 3. Queue and collector on each stage entry (the strategy's distribution, by the system).
        assignee, queue = None, None
        assigned_at = []  # (since, collector or None, stage) per stage entry
        for t, stage in entries:
            who = self._collector(stage)
            q = STAGE_QUEUE[stage]
            ev.append((t, "assigned", "system", "", "", "", json.dumps({
                "from_user": assignee, "to_user": who, "from_queue": queue, "to_queue": q})))
            assignee, queue = who, q
            assigned_at.append((t, who, stage))
        state = entries[-1][1]

        # 4. Money while the case is open: instalments falling due, a part payment, a resolution.
        partial = None  # (t, cents, actor)
        promise = None  # dict
        taken_days = []
        call_start = entries[1][0] if len(entries) > 1 else None
        contacts_end = end
        if call_start is not None:
            promise = self._promise_plan(b, target, call_start, end, d0, dues, k, amt, taken_days,
                                         resolved_at if target == "resolved" else None)
            if promise and promise.get("paid_at"):
                if target != "resolved":
                    partial = (promise["paid_at"], promise["amount"], promise["pay_actor"])
        settlement = None
        if target == "closed" and rnd.random() < 0.4:
            lo = max(clock.midnight(None, dues[-1] + 1) + 3600, entries[-1][0] + 3600, closed_at - 5 * 86400)
            if lo < closed_at - 3600:
                settlement = (rnd.randint(lo, closed_at - 3600), "system" if rnd.random() < 0.8 else "user:supervisor")

        def overdue(t):
            o = clock.lender_day(t)
            due = sum(amt for i in range(k, n) if dues[i] < o)
            if partial and t >= partial[0]:
                due -= partial[1]
            return due

        money_end = resolved_at or (settlement[0] if settlement else closed_at) or now
        for i in range(k + 1, n):
            t = sweep(dues[i] + 1)
            if t >= money_end:
                break
            after = overdue(t)
            ev.append((t, "amounts_changed", "system", "", "", f"instalment {i + 1} due", (
                f'{{"amount_overdue_before": "{money(after - amt)}", "amount_overdue": "{money(after)}", '
                f'"oldest_unpaid_due_date": "{clock.ds(dues[k])}"}}')))

        pays = []  # (moment, {instalment index: cents}) of the payments made while the case is open
        if partial:
            t, cents, actor = partial
            pays.append((t, {k: cents}))
            before = overdue(t - 1)
            pid = self._pay(loan_id, t, cents, actor, [(inst0 + k, cents)])
            paid[k] = cents
            self._payment_events(ev, t, actor, pid, cents)
            ev.append((t, "promise_kept", actor, "", "", "", f'{{"promise_id": {promise["id"]}, '
                                                                  f'"amount": "{money(cents)}"}}'))
            ev.append((t, "amounts_changed", actor, "", "", f"payment DP{pid:07d}", (
                f'{{"amount_overdue_before": "{money(before)}", "amount_overdue": "{money(before - cents)}", '
                f'"oldest_unpaid_due_date": "{clock.ds(dues[k])}"}}')))

        resolved_ts = closed_ts = f.null
        close_reason = ""
        if target == "resolved":
            actor = "system" if rnd.random() < 0.9 else "user:supervisor"
            t = resolved_at
            o = clock.lender_day(t)
            allocs = [(inst0 + i, amt) for i in range(k, n) if dues[i] < o]
            cents = amt * len(allocs)
            pid = self._pay(loan_id, t, cents, actor, allocs)
            for i in range(k, k + len(allocs)):
                paid[i] = amt
            self._payment_events(ev, t, actor, pid, cents)
            if promise:
                ev.append((t, "promise_kept", actor, "", "", "", f'{{"promise_id": {promise["id"]}, '
                                                                      f'"amount": "{money(promise["amount"])}"}}'))
            ev.append((t, "transition", actor, state, "resolved", f"payment DP{pid:07d}",
                       '{"transition": "resolve", "amount_overdue": "0.00"}'))
            state, resolved_ts = "resolved", clock.ts(t)
            # Later instalments paid on time: nothing falls overdue again.
            upto = sum(1 for x in dues if x < today)
            for i in range(k + len(allocs), upto):
                pt = clock.midnight(None, dues[i] - rnd.randint(0, 3)) + rnd.randint(9 * 3600, 20 * 3600)
                if pt <= t:
                    pt = t + rnd.randint(600, 3600)
                self._pay(loan_id, pt, amt, "system", [(inst0 + i, amt)])
                paid[i] = amt
        elif target == "closed":
            if settlement:
                t, actor = settlement
                before = sum(amt - paid[i] for i in range(k, n))
                cents = max(100, (before * rnd.randint(30, 80) // 100) // 100 * 100)
                left, allocs = cents, []
                for i in range(k, n):
                    take = min(left, amt - paid[i])
                    if take > 0:
                        allocs.append((inst0 + i, take))
                        paid[i] += take
                        left -= take
                pid = self._pay(loan_id, t, cents, actor, allocs)
                pays.append((t, {a - inst0: c for a, c in allocs}))
                self._payment_events(ev, t, actor, pid, cents)
                oldest = next(i for i in range(k, n) if paid[i] < amt)
                ev.append((t, "amounts_changed", actor, "", "", f"payment DP{pid:07d}", (
                    f'{{"amount_overdue_before": "{money(before)}", "amount_overdue": "{money(before - cents)}", '
                    f'"oldest_unpaid_due_date": "{clock.ds(dues[oldest])}"}}')))
            close_reason = "settled" if settlement else "written_off"
            note = "和解结清" if close_reason == "settled" and not b.en else ""
            ev.append((closed_at, "transition", "user:supervisor", state, "closed", close_reason,
                       json.dumps({"transition": "close", **({"note": note} if note else {})}, ensure_ascii=False)))
            state, closed_ts = "closed", clock.ts(closed_at)
        self.by_state[state] += 1

        # 5. Contacts (and the promise's), before a hold and while the case is worked.
        if call_start is not None:
            if target not in OPEN:
                count = rnd.randint(1, 3)
            else:
                count = rnd.randint(1, 4) if state == "call" else rnd.randint(2, 6)
            count = min(count, (contacts_end - call_start) // 86400 + 1)
            moments = self._contact_days(b, call_start, contacts_end, count, taken_days)
            for t in moments:
                self._contact(ev, b, case_id, t, _pick(rnd, self.outcomes), assigned_at)
            if promise:
                self._promise_rows(ev, b, case_id, promise, assigned_at)

        # 6. Holds, visits.
        next_action = f.null
        if promise and promise["status"] == "pending":
            next_action = clock.ts(clock.midnight(None, promise["due"] + 1) + 9 * 3600)
        elif state in ("call", "visit", "legal") and rnd.random() < 0.35:
            next_action = clock.ts(now + rnd.randint(3600, 3 * 86400) // 900 * 900)
        if state in OPEN and b.hold_at and b.hold_at > opened_at:
            ev.append((b.hold_at, "hold_placed", "user:supervisor", "", "", HOLD_REASONS[b.hold_code][b.en], (
                f'{{"hold_id": {b.hold_id}, "code": "{b.hold_code}", "source": "staff", "ends_at": null}}')))
        if state == "visit" and not b.hold_at and rnd.random() < 0.3:
            self._visit(ev, b, case_id, entries[-1][0])

        # 7. The case row and its timeline in order.
        ev.sort(key=itemgetter(0))
        updated = max(e[0] for e in ev if e[1] in _BUMPS)
        oldest_ts, amount = f.null, 0
        if state not in ("resolved",):
            unpaid = [i for i in range(k, n) if paid[i] < amt and dues[i] < today]
            if unpaid:
                oldest_ts = clock.ds(dues[unpaid[0]])
                amount = sum(amt - paid[i] for i in unpaid)
        dpd_now = (today - dues[k]) if state in OPEN else 0
        if state in OPEN:
            priority = max(0, min(100, int(dpd_now * 0.45 + min(35, amount / 40000) + rnd.random() * 25)))
        else:
            priority = rnd.randint(0, 20)
        self.t["case"].rows.append((
            case_id, state, loan_id, b.id, oldest_ts, money(amount),
            self.uid[assignee] if assignee else f.null, self.qid[queue], priority, next_action,
            clock.ts(opened_at), resolved_ts, closed_ts, close_reason, clock.ts(updated)))
        self._instalments(loan_id, dues, amt, inst0, paid)
        self._snapshots(case_id, opened_at, resolved_at or closed_at, entries, dues, k, amt, pays, sweep)
        rows, first = self.t["event"].rows, self._ids("event", len(ev))
        who = self.user_of_label
        ts = clock.ts
        for j, (t, kind, actor, fs, tos, reason, payload) in enumerate(ev):
            rows.append((first + j, case_id, kind, actor, who[actor], fs, tos, reason, payload, ts(t)))

    def _snapshots(self, case_id, opened_at, ended_at, entries, dues, k, amt, pays, sweep):
        """The rows the sweep of each past month's last day wrote for this case while it was open: its
        stage at that sweep, and DPD, bucket and amount overdue as of that day (instalments due before
        it, less the payments made by then), as `_SqlSteps.snapshot` computes them."""
        clock, rows = self.clock, self.t["snapshot"].rows
        n = len(dues)
        for me in self.month_ends[bisect_left(self.month_ends, clock.lender_day(opened_at)):]:
            t = sweep(me)
            if t < opened_at:
                continue
            if ended_at is not None and t >= ended_at:
                break
            stage = entries[0][1]
            for at, entered in entries:
                if at <= t:
                    stage = entered
            paid = [0] * n
            for at, alloc in pays:
                if at <= t:
                    for i, cents in alloc.items():
                        paid[i] += cents
            unpaid = [i for i in range(k, n) if dues[i] < me and paid[i] < amt]
            dpd = me - dues[unpaid[0]] if unpaid else 0
            amount = sum(amt - paid[i] for i in unpaid)
            bucket = next((name for lo, hi, name in self.buckets if dpd >= lo and (hi is None or dpd <= hi)), "")
            rows.append((self._ids("snapshot"), clock.ds(me), case_id, stage, dpd, bucket, money(amount)))

    def _payment_events(self, ev, t, actor, pid, cents):
        ev.append((t, "payment_recorded", actor, "", "", "", (
            f'{{"external_id": "DP{pid:07d}", "amount": "{money(cents)}", "channel": "{self.last_channel}", '
            f'"paid_at": "{self.clock.iso(t)}", "unapplied": "0.00"}}')))

    def _referral(self, ev, entries, case_id, d0, end, *, approve, sweep):
        """A legal referral requested at DPD 61+ (by the sweep or the collector); approved (and the case
        referred to legal) a few days later when `approve`, else left pending."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        # An approved referral is decided by yesterday at the latest, so it is always in the past.
        last_day = clock.lender_day(end) - (1 if approve else 0)
        if last_day < d0 + LEGAL_DAY:
            return None
        day = min(d0 + LEGAL_DAY + rnd.randint(0, 4), last_day)
        by_system = rnd.random() < 0.5
        requester = "system" if by_system else f"user:{rnd.choice(COLLECTORS)}"
        asked = sweep(day) if by_system else self._lender_at(day, 9, 18)
        if asked >= end:
            return None
        rid = self._ids("referral")
        reason = "DPD 61+" if by_system else "多次联系无果，建议法律程序"
        row = [rid, case_id, "requested", reason, requester, self.user_of_label[requester], clock.ts(asked),
               "", f.null, f.null, ""]
        ev.append((asked, "legal_referral_requested", requester, "", "", reason, f'{{"referral_id": {rid}}}'))
        if approve:
            decided = self._lender_at(min(day + rnd.randint(0, 3), last_day), 9, 18)
            decided = max(decided, asked + 1800)
            if decided < end:
                decider = "user:legal_officer" if rnd.random() < 0.7 else "user:supervisor"
                row[2], row[7], row[8], row[9] = "approved", decider, self.user_of_label[decider], clock.ts(decided)
                ev.append((decided, "legal_referral_approved", decider, "", "", "", f'{{"referral_id": {rid}}}'))
                ev.append((decided, "transition", decider, "visit", "legal", "", (
                    f'{{"transition": "refer_to_legal", "referral_id": {rid}}}')))
                entries.append((decided, "legal"))
        self.t["referral"].rows.append(tuple(row))
        return rid

    def _promise_plan(self, b, target, call_start, end, d0, dues, k, amt, taken, resolved_at):
        """Maybe one promise to pay: kept (by a part payment, or by the resolving payment), broken, or
        still pending. Its contact's day is reserved in `taken`."""
        rnd, clock, now = self.rnd, self.clock, self.clock.now
        if target == "resolved":
            if rnd.random() >= 0.35:
                return None
            lo = max(call_start, resolved_at - 6 * 86400)
            moments = self._contact_days(b, lo, resolved_at - 7200, 1, taken)
            if not moments:
                return None
            c = moments[0]
            o = clock.lender_day(c)
            amount = sum(amt for i in range(k, len(dues)) if dues[i] < o)
            due = clock.lender_day(resolved_at) + rnd.randint(0, 3)
            return {"id": self._ids("promise"), "contact_at": c, "amount": amount, "due": due, "status": "kept",
                    "settled_at": resolved_at}
        if rnd.random() >= (0.3 if target == "closed" else 0.4):
            return None
        recent = target != "closed" and rnd.random() < 0.5
        lo = max(call_start, now - 5 * 86400) if recent else call_start
        # A closed case's promise falls due (and breaks) before any settlement, which comes in its last 5 days.
        hi = min(end, now - 3600) if target != "closed" else end - 14 * 86400
        moments = self._contact_days(b, lo, hi, 1, taken)
        if not moments:
            return None
        c = moments[0]
        o = clock.lender_day(c)
        due = o + rnd.randint(1, 7)
        plan = {"id": self._ids("promise"), "contact_at": c, "due": due, "status": "pending", "settled_at": None}
        if target != "closed" and not recent and rnd.random() < 0.5:
            # Kept by a part payment of the oldest instalment before the promised day ends.
            cents = max(100, (amt * rnd.randint(20, 80) // 100) // 100 * 100)
            pay_lo, pay_hi = c + 1800, min(clock.midnight(None, due + 1) - 60, end, now - 600)
            if cents < amt and pay_hi > pay_lo:
                t = rnd.randint(pay_lo, pay_hi)
                plan.update(amount=cents, status="kept", settled_at=t, paid_at=t,
                            pay_actor="system" if rnd.random() < 0.9 else "user:supervisor")
                return plan
        plan["amount"] = max(100, (amt * rnd.randint(30, 100) // 100) // 100 * 100)
        check = clock.midnight(None, due + 1) + 9 * 3600
        if check < (end if target == "closed" else now):
            plan.update(status="broken", settled_at=check)
        return plan

    def _who(self, t, assigned_at):
        """The collector working the case at moment t (a queue member when it was unassigned)."""
        who = None
        for since, collector, _stage in assigned_at:
            if since <= t:
                who = collector
        return who or self.rnd.choice(COLLECTORS)

    def _contact(self, ev, b, case_id, t, outcome, assigned_at, notes=None):
        rnd = self.rnd
        collector = self._who(t, assigned_at)
        label = self.labels[collector]
        inbound = outcome in ("right_party_contact", "promise_made") and rnd.random() < 0.15
        direction = "inbound" if inbound else "outbound"
        if notes is None:
            notes = rnd.choice(NOTES[b.lang])
        cid = self._ids("contact")
        phone = b.phones[1] if len(b.phones) > 1 and rnd.random() < 0.3 else b.phones[0]
        self.t["contact"].rows.append((
            cid, case_id, b.id, "call", direction, phone, outcome, notes, "", label, self.uid[collector],
            self.clock.ts(t), self.clock.ts(min(t + rnd.randint(30, 600), self.clock.now))))
        ev.append((t, "contact_logged", label, "", "", notes[:200], (
            f'{{"contact_id": {cid}, "channel": "call", "direction": "{direction}", "outcome": "{outcome}", '
            f'"breach": null}}')))
        return cid, collector

    def _promise_rows(self, ev, b, case_id, p, assigned_at):
        clock, f = self.clock, self.fmt
        c = p["contact_at"]
        cid, collector = self._contact(ev, b, case_id, c, "promise_made", assigned_at)
        label = self.labels[collector]
        created = c + self.rnd.randint(60, 300)
        self.t["promise"].rows.append((
            p["id"], case_id, money(p["amount"]), clock.ds(p["due"]), p["status"], cid, label, self.uid[collector],
            clock.ts(created), clock.ts(p["settled_at"]) if p["settled_at"] else f.null))
        ev.append((created, "promise_recorded", label, "", "", "", (
            f'{{"promise_id": {p["id"]}, "amount": "{money(p["amount"])}", "due_date": "{clock.ds(p["due"])}"}}')))
        if p["status"] == "broken":
            ev.append((p["settled_at"], "promise_broken", "system", "", "", "", (
                f'{{"promise_id": {p["id"]}, "amount": "{money(p["amount"])}"}}')))

    def _visit(self, ev, b, case_id, since):
        rnd, clock, f = self.rnd, self.clock, self.fmt
        now = clock.now
        lo = max(since + 3600, now - 5 * 86400)
        if lo >= now - 600:
            return
        planned = rnd.randint(lo, now - 600)
        when = clock.midnight(b.tz, clock.today + rnd.randint(1, 10)) + rnd.randint(10, 16) * 3600
        vid = self._ids("visit")
        self.t["visit"].rows.append((vid, case_id, clock.ts(when), "planned", "", "", "user:supervisor",
                                     clock.ts(planned), f.null))
        for agent in ("field_agent", "field_agent2"):
            self.t["visit_agent"].rows.append((self._ids("visit_agent"), vid, self.uid[agent]))
        ev.append((planned, "visit_scheduled", "user:supervisor", "", "", "", (
            f'{{"visit_id": {vid}, "scheduled_for": "{clock.iso(when)}", '
            f'"agents": ["field_agent", "field_agent2"]}}')))

    def _hold(self, b):
        rnd, clock, f = self.rnd, self.clock, self.fmt
        b.hold_at = clock.now - rnd.randint(2 * 3600, 10 * 86400)
        b.hold_code = "dispute" if rnd.random() < 0.6 else "complaint"
        b.hold_id = self._ids("hold")
        ts = clock.ts(b.hold_at)
        self.t["hold"].rows.append((
            b.hold_id, b.id, b.hold_code, HOLD_REASONS[b.hold_code][b.en], ts, f.null, "staff",
            self.uid["supervisor"], "user:supervisor", ts, f.null, "", ""))

    # -- a chunk ------------------------------------------------------------------------------

    def build(self, count):
        """Generate `count` cases, their borrowers and loans, plus performing loans (~20% extra)."""
        rnd = self.rnd
        made = 0
        while made < count:
            b, fields = self._borrower()
            if self.made < len(STATE_WEIGHTS):
                self.case(b, STATE_WEIGHTS[self.made][0])
                loans = 1
            else:
                if rnd.random() < 0.02:
                    self._hold(b)
                loans = 2 if (rnd.random() < 0.08 and count - made >= 2) else 1
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


def _write_chunk(chunk, pg):
    """One chunk in one transaction, on this thread's connection."""
    with transaction.atomic():
        if pg:
            with connection.cursor() as cursor:
                # Only this chunk is at stake if the server stops: no need to wait for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                for table, rows in chunk:
                    table.write(cursor.cursor, pg, rows)
        else:
            connection.ensure_connection()
            raw = connection.connection.cursor()
            try:
                for table, rows in chunk:
                    table.write(raw, pg, rows)
            finally:
                raw.close()


def _reserve_ids(tables, last_ids):
    """PostgreSQL: move each sequence (only ever forward) past the ids given out so far, before they
    are written, so the application's own inserts never collide with them whatever commits first."""
    sql = ("SELECT setval(seq, GREATEST(%s, coalesce(pg_sequence_last_value(seq), 1))) "
           "FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) AS s")
    with connection.cursor() as cursor:
        for table in tables:
            last = last_ids[table.table]
            if last:
                cursor.execute(sql, [last, connection.ops.quote_name(table.table), table.model._meta.pk.column])


class _Writers:
    """Threads that write chunks on their own connections while the caller builds the next ones: the
    database's work (COPY, indexes, foreign-key checks at commit) overlaps Python's, and on PostgreSQL
    two server processes share it."""

    def __init__(self, count, pg, on_written):
        self.pg, self.on_written = pg, on_written
        self.inbox = queue.Queue(maxsize=1)  # memory: at most writers + 2 chunks alive
        self.error = None
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, name=f"seed-demo-writer-{i}", daemon=True)
                        for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _run(self):
        try:
            while True:
                item = self.inbox.get()
                if item is None:
                    return
                if self.error is None:
                    chunk, size = item
                    try:
                        _write_chunk(chunk, self.pg)
                    except BaseException as exc:  # handed to the caller, which raises it
                        self.error = self.error or exc
                        continue
                    with self.lock:
                        self.on_written(size)
        finally:
            connection.close()

    def put(self, chunk, size):
        self.inbox.put((chunk, size))

    def finish(self):
        for _ in self.threads:
            self.inbox.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error


_BUMPS = {"opened", "transition", "assigned", "amounts_changed", "hold_placed", "promise_recorded", "promise_kept",
          "promise_broken"}


def seed_demo(*, cases=DEFAULT_CASES, password=DEFAULT_PASSWORD, if_empty=False, seed=None,
              chunk_size=DEFAULT_CHUNK, progress=None):
    """Ensure the demo users and queues, then add `cases` cases (unless `if_empty` and some exist).

    `progress(done, total, seconds)` is called after each committed chunk.
    """
    started = time.monotonic()
    if cases < 0:
        raise ValueError("the number of cases cannot be negative")
    if seed is None:
        seed = random.SystemRandom().randrange(1, 10 ** 6)
    users = ensure_demo_users(password)
    queues = ensure_demo_queues()
    report = SeedReport(users=users, password=password, seed=seed)
    if if_empty:
        existing = Case.objects.count() if Case.objects.exists() else 0
        if existing:
            report.skipped, report.existing_cases = True, existing
            report.seconds = time.monotonic() - started
            return report
    if cases == 0:
        report.seconds = time.monotonic() - started
        return report

    connection.ensure_connection()
    clock = _Clock(timezone.now(), lender_today(), connection.vendor == "postgresql")
    fmt = _Format(connection.vendor, clock)
    user_ids = dict(get_user_model().objects.filter(username__in=[u for u, _ in DEMO_USERS])
                    .values_list("username", "id"))
    builder = _Builder(seed=seed, cases=cases, fmt=fmt, clock=clock, users=user_ids,
                       queues={name: q.pk for name, q in queues.items()})
    pg = fmt.pg
    done = 0

    def written(size):
        nonlocal done
        done += size
        if progress:
            progress(done, cases, time.monotonic() - started)

    if cases <= chunk_size:
        builder.build(cases)
        if pg:
            _reserve_ids(builder.t.values(), builder.last_ids())
        _write_chunk(builder.take(), pg)
        written(cases)
    else:
        # SQLite has one writer at a time; PostgreSQL takes two (this machine has two cores).
        writers = _Writers(WRITERS if pg else 1, pg, written)
        built = 0
        try:
            while built < cases and writers.error is None:
                size = min(chunk_size, cases - built)
                builder.build(size)
                built += size
                if pg:
                    _reserve_ids(builder.t.values(), builder.last_ids())
                writers.put(builder.take(), size)
        finally:
            writers.finish()
    report.created = {table.model._meta.object_name if key != "visit_agent" else "Visit agents": table.total
                      for key, table in builder.t.items()}
    report.cases_by_state = {k: v for k, v in builder.by_state.items()}
    report.seconds = time.monotonic() - started
    return report
