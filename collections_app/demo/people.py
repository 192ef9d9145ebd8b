"""Demo people: the demo users (one per role, plus extra staff) and queues, and the borrowers of the
synthetic portfolio (names, phones, ids, zones, contact persons, holds)."""

from __future__ import annotations

import json
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from .. import roles as r
from ..models import Queue
from .common import _pick


DEFAULT_PASSWORD = "demo12345"


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
    (
        Q_REMINDER,
        "DPD 1-7: automated reminders; collectors pick up what needs a person.",
        ("collector", "collector2", "supervisor"),
    ),
    (Q_CALLS, "DPD 8-30 (M1): phone collection.", COLLECTORS + ("supervisor",)),
    (
        Q_VISITS,
        "DPD 31-60 (M2): calls and home visits by two field agents.",
        ("collector3", "collector4", "collector5", "field_agent", "field_agent2", "supervisor"),
    ),
    (Q_LEGAL, "Cases referred to legal after an approved referral.", ("legal_officer", "supervisor")),
)
STAGE_QUEUE = {"reminder": Q_REMINDER, "call": Q_CALLS, "visit": Q_VISITS, "legal": Q_LEGAL}


RELATIONS = ("spouse", "parent", "sibling", "friend", "colleague")
ZH_MOBILE = (
    tuple(range(130, 140)) + (150, 151, 152, 153, 155, 156, 157, 158, 159, 176, 177, 178) + tuple(range(180, 190))
)
US_ZONES = (
    ("America/New_York", ("212", "646", "718"), 60),
    ("America/Chicago", ("312", "773"), 25),
    ("America/Los_Angeles", ("213", "310", "415"), 15),
)


HOLD_REASONS = {
    "dispute": ("客户对欠款金额有异议", "Borrower disputes the amount owed"),
    "complaint": ("客户已向监管部门投诉", "Complaint filed with the regulator"),
}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


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
    __slots__ = ("id", "en", "tz", "phones", "lang", "hold_at", "hold_id", "hold_code", "first_day", "single")

    def __init__(self, bid):
        self.id = bid
        self.first_day = None
        self.hold_at = None
        self.hold_id = None
        self.single = False


class _BorrowerParts:
    """The borrower rows of `_Builder` (portfolio.py): a borrower, its contact persons and a hold."""

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
            b.phones = [f"{rnd.choice(ZH_MOBILE)}{rnd.randrange(10**8):08d}" for _ in range(1 + (rnd.random() < 0.3))]
            name = rnd.choice(pools.zh_names)
            national_id = self._zh_national_id()
            local, domain = rnd.choice(pools.zh_emails)
            address, city = rnd.choice(pools.zh_addresses), rnd.choice(pools.zh_cities)
        # The row is written once its loans are known (it is created before the first one).
        return b, (
            f"DB{bid:07d}",
            name,
            national_id,
            json.dumps(b.phones),
            f"{local}{bid % 10000}@{domain}",
            address,
            city,
            b.tz,
            b.lang,
        )

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
        self.t["borrower"].rows.append(
            (b.id,)
            + fields
            + (
                f.true if rnd.random() < 0.05 else f.false,
                f.false if rnd.random() < 0.03 else f.true,
                f.false if rnd.random() < 0.02 else f.true,
                ts,
                ts,
            )
        )
        if rnd.random() < 0.15:
            for _ in range(1 + (rnd.random() < 0.3)):
                name = rnd.choice(self.pools.en_names if b.en else self.pools.zh_names)
                phone = (
                    f"+1{rnd.randint(201, 989)}5550{rnd.randint(100, 199)}"
                    if b.en
                    else f"{rnd.choice(ZH_MOBILE)}{rnd.randrange(10**8):08d}"
                )
                self.t["contact_person"].rows.append(
                    (self._ids("contact_person"), b.id, name, rnd.choice(RELATIONS), phone)
                )

    def _hold(self, b):
        rnd, clock, f = self.rnd, self.clock, self.fmt
        b.hold_at = clock.now - rnd.randint(2 * 3600, 10 * 86400)
        b.hold_code = "dispute" if rnd.random() < 0.6 else "complaint"
        b.hold_id = self._ids("hold")
        ts = clock.ts(b.hold_at)
        self.t["hold"].rows.append(
            (
                b.hold_id,
                b.id,
                b.hold_code,
                HOLD_REASONS[b.hold_code][b.en],
                ts,
                f.null,
                "staff",
                self.uid["supervisor"],
                "user:supervisor",
                ts,
                f.null,
                "",
                "",
            )
        )
