"""What the demo generator's parts share: the portfolio's shares and stages, the clock (days as
ordinals, moments as epoch seconds), months, money and weighted picks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings


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
    ("no_answer", 40),
    ("busy", 10),
    ("right_party_contact", 22),
    ("third_party", 8),
    ("wrong_number", 5),
    ("refused", 10),
)


NOTES = {
    "zh-hans": (
        "",
        "",
        "",
        "客户表示本周内还款",
        "电话无人接听",
        "已提醒逾期后果",
        "客户称工资延迟发放",
        "要求稍后回电",
    ),
    "en": (
        "",
        "",
        "",
        "Says salary is late this month",
        "Left no message",
        "Asked to call back later",
        "Explained the overdue amount",
    ),
}


EPOCH_ORD = date(1970, 1, 1).toordinal()


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
        last = date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1
        v = _MONTHS[key] = min(date(y, m, 1).toordinal() + d.day - 1, last)
    return v


def money(c):
    return f"{c // 100}.{c % 100:02d}"


def add_money_parts(total, parts):
    """`total` cents in `parts` amounts that sum to it exactly: equal whole yuan, the rest in the last."""
    each = total // parts // 100 * 100 or total // parts
    if each == 0:
        return [total]
    return [each] * (parts - 1) + [total - each * (parts - 1)]


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


# Event kinds whose time moves a case's `updated_at` (the latest of them is the case's `updated_at`).
_BUMPS = {
    "opened",
    "transition",
    "assigned",
    "amounts_changed",
    "hold_placed",
    "promise_recorded",
    "promise_kept",
    "promise_broken",
    "plan_proposed",
    "plan_activated",
    "plan_declined",
    "plan_expired",
    "plan_broken",
    "plan_kept",
    "plan_cancelled",
    "vulnerability_set",
}
