"""Every query of the portfolio dashboard. Each function is one aggregate query in the database (or
none) and returns plain rows (dicts of str, int, Decimal and date), so the page, its CSV downloads
and later the API and exports share them. The figures are portfolio-wide: they are for actors who
see every case (supervisors, auditors, admins, a client with `cases:read`); see
`require_portfolio_view`.

The period is a calendar month in the lender's calendar (settings.LENDER_TIME_ZONE): from the
first day's midnight to the next month's first midnight, excluded. "End of M" is the month's last
day, the day the sweep writes the month-end snapshot (`MonthEndSnapshot`: one row per case open
at the sweep of that day, with its state, DPD, bucket and amount overdue); the cases open at the
start of M are those of the snapshot of the end of M−1.

Definitions (DOMAIN.md, "Figures a dashboard shows"), exactly as computed here:

Portfolio by DPD bucket and stage (`portfolio_live`, `portfolio_at_month_end`)
    Open cases (reminder, call, visit, legal) counted and their `amount_overdue` summed per
    (stage, bucket). Live: DPD = as-of date − `oldest_unpaid_due_date` (0 when none or not yet
    past), mapped to the `Bucket` rows (data) by conditional aggregation: one filtered COUNT and
    SUM per bucket, built from the bucket rows, in one query; a case takes the first bucket (by
    `min_dpd`) that contains its DPD, and a case in none (DPD 0, or a gap) is shown under "no
    bucket" (""). For the current month the page shows it live as of the lender's today; for a past
    month, from that month's end snapshot (the bucket stored then), since today's cases say
    nothing about the past.

Stage funnel (`cases_finished`, `stage_funnel`)
    Open cases per stage (the portfolio's stage totals: live for the current month, at the month's
    end for a past one), then the cases resolved and the cases
    closed in the period: distinct cases with a `transition` event to `resolved` (or `closed`)
    whose time falls in the period (a case resolved, reopened and resolved again counts once).

Roll rate (`roll_rates`)
    For month M, from bucket A to bucket B: of the cases in A in the snapshot at the end of M−1,
    the share found in B in the snapshot at the end of M. By count: cases / cases in A. By
    amount: the end-of-(M−1) amount overdue of those cases / the end-of-(M−1) amount of all cases
    in A (so each row sums to 100% by count and by amount; the end-of-M amount is given too). A case
    absent from M's snapshot (resolved or closed by then) counts as "cured/closed" (`CURED`); a
    case still open at DPD 0 is in bucket "". Without both snapshots there is no matrix
    (`snapshots_present` tells which is missing).

PTP kept rate (`promises`)
    Made: promises created in the period (count, amount). Kept / broken / pending: promises whose
    due date falls in the period, by their status now. Kept rate = kept / (kept + broken) of the
    promises due in the period (pending ones are not yet judged; none judged: no rate).

Collected (`collected`)
    Payments not reversed (`reversed_at` empty) whose `paid_at` falls in the period, made while
    their loan had a collection case: the case opened at or before the payment and not resolved or
    closed before it. Each is attributed to the collector who held that case at the payment's
    moment (`paid_at`), read from the case's `assigned` events: the `to_user` of the last one at or
    before `paid_at`; with none before it, the `from_user` of the first one after it (who held the
    case until then); with no `assigned` event at all, the case's `assigned_to` now. A reassignment
    on the payment day therefore splits that day's payments at the reassignment's time. No holder:
    the collector is "" (unassigned). Grouped by collector and by ISO week (Monday) of the lender's
    calendar date of `paid_at`.

Contact rate (`contact_rate`)
    Cases with at least one right-party contact (a `ContactAttempt` whose outcome is in
    `ContactAttempt.CONVERSATION`) in the period / cases worked in the period (cases with any
    `ContactAttempt`, any channel or direction, whose `occurred_at` falls in the period).

Cure rate (`cure_rate`)
    Of the cases open at the start of the period (the snapshot at the end of M−1), the share whose
    state at the end of the period is `resolved`. For a past month that is the `to_state` of the
    case's last state-setting event (`to_state` not empty) before the month's end; for the current
    month, "by its end" is "by now", i.e. the case's state now. A case resolved and then reopened
    is not cured; closed cases are not cured. By count, and by the end-of-(M−1) amount overdue.

Money is Decimal with two places; a rate is an exact Decimal fraction (None when its denominator
is 0), rounded only for display (one decimal of a percent, half up, on the page and in the CSV).

Cost at scale (measured on PostgreSQL with the seeded 1,000,000-case portfolio, 5.1M payments,
7.9M events, 2M contacts; warm cache): buckets, snapshot presence, promises and a past month's
portfolio take under 60 ms; the live portfolio ~270 ms (it reads every open case); resolved/closed
~500 ms (no index on events by time: a partial index on CaseEvent(at) WHERE kind='transition' AND
to_state IN ('resolved','closed') makes it ~15 ms); roll matrix ~200-300 ms (a join of two
month-end snapshots); cure rate of a past month ~550 ms (one timeline lookup per case of the
snapshot; the current month's is a key join, ~200 ms); contact rate ~200-400 ms (COUNT DISTINCT over
a month of contacts); collected ~0.9-1.3 s (a month of payments, one timeline lookup per payment).
What cannot be read that fast is to be pre-aggregated: roll matrix and cure rate of a closed month
into a summary the sweep writes with the month-end snapshot (snapshots never change afterwards);
collected into per-(day, collector) totals kept by payment_record/payment_reverse (the payment's
case and holder fixed when it is recorded); worked/right-party cases into a per-(month, case) row
upserted by contact_log; the live portfolio into the sweep's daily (state, bucket) totals.
"""
import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import (
    CharField, Count, DateField, F, FilteredRelation, OuterRef, Q, Subquery, Sum, Value, When,
)
from django.db.models import Case as SqlCase
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat, Substr, TruncWeek
from django.utils.translation import gettext_lazy as _

from .calendar import lender_today
from .errors import DomainError
from .permissions import sees_all_cases
from .models import Bucket, Case, CaseEvent, ContactAttempt, MonthEndSnapshot, Payment, PromiseToPay
from .workflow import OPEN_STATES, State

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
NO_BUCKET = ""  # open, but in no bucket (DPD 0 or a gap between buckets)
CURED = "cured/closed"  # roll-rate target: absent from the month-end snapshot
STAGES = tuple(str(s) for s in OPEN_STATES)
EARLIEST_MONTH = date(2000, 1, 1)


def money(value):
    return (value or ZERO).quantize(CENT)


def ratio(part, whole):
    """part / whole as an exact Decimal fraction, None when whole is 0 (no rate, not 0%)."""
    if not whole:
        return None
    return Decimal(part) / Decimal(whole)


def require_portfolio_view(actor):
    """The dashboard's figures cover the whole portfolio: only for actors who see every case."""
    if not sees_all_cases(actor):
        raise DomainError("not_found")


# --- The period -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar month in the lender's calendar."""

    first_day: date

    @classmethod
    def of(cls, day):
        return cls(day.replace(day=1))

    @property
    def last_day(self):
        return self.first_day.replace(day=month_calendar.monthrange(self.first_day.year, self.first_day.month)[1])

    @property
    def start(self):
        return datetime.combine(self.first_day, time(0), tzinfo=settings.LENDER_TIME_ZONE)

    @property
    def end(self):
        """The first moment after the period (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE)

    @property
    def month_end(self):
        return self.last_day

    @property
    def previous_month_end(self):
        return self.first_day - timedelta(days=1)

    @property
    def previous(self):
        return Period.of(self.previous_month_end)

    @property
    def next(self):
        return Period.of(self.last_day + timedelta(days=1))

    @property
    def key(self):
        return self.first_day.strftime("%Y-%m")

    def is_current(self, today=None):
        return self.first_day == (today or lender_today()).replace(day=1)

    def contains(self, day):
        return self.first_day <= day <= self.last_day


def period_for(month=None, *, today=None):
    """The period a `?month=YYYY-MM` asks for (the current month when empty). A malformed month, a
    month before 2000 or after the current one is refused as `validation_error` naming `month`."""
    today = today or lender_today()
    if month is None or str(month).strip() == "":
        return Period.of(today)
    text = str(month).strip()
    try:
        if len(text) != 7 or text[4] != "-":
            raise ValueError
        first = date(int(text[:4]), int(text[5:]), 1)
    except ValueError:
        raise DomainError("validation_error", fields={"month": [
            _("Enter a month as YYYY-MM, for example %(example)s.") % {"example": today.strftime("%Y-%m")}
        ]}) from None
    if first < EARLIEST_MONTH:
        raise DomainError("validation_error", fields={"month": [_("Choose a month from 2000-01 on.")]})
    if first > today.replace(day=1):
        raise DomainError("validation_error", fields={"month": [
            _("%(month)s has not started yet: choose %(current)s or an earlier month.")
            % {"month": text, "current": today.strftime("%Y-%m")}
        ]})
    return Period(first)


def _in_period(field, period):
    return Q(**{f"{field}__gte": period.start, f"{field}__lt": period.end})


# --- Buckets --------------------------------------------------------------------------------------


def buckets():
    """The DPD buckets, lowest first: [{name, min_dpd, max_dpd}]. One query."""
    return list(Bucket.objects.order_by("min_dpd", "name").values("name", "min_dpd", "max_dpd"))


def bucket_condition(bucket, as_of):
    """The `Case` filter for "DPD as of `as_of` is in this bucket", on the stored oldest unpaid due
    date (DPD = as_of − date, 0 when there is none or it is not past)."""
    due = "oldest_unpaid_due_date"
    q = Q()
    if bucket["min_dpd"] > 0:
        q &= Q(**{f"{due}__lte": as_of - timedelta(days=bucket["min_dpd"])})
    if bucket["max_dpd"] is not None:
        q &= Q(**{f"{due}__isnull": True}) | Q(**{f"{due}__gte": as_of - timedelta(days=bucket["max_dpd"])})
    return q


def _exclusive_conditions(bucket_rows, as_of):
    """[(name, Q)] with each case in exactly one: the first bucket that contains it, else NO_BUCKET."""
    out, taken = [], Q(pk__in=[])
    for bucket in bucket_rows:
        q = bucket_condition(bucket, as_of)
        out.append((bucket["name"], q & ~taken))
        taken |= q
    out.append((NO_BUCKET, ~taken))
    return out


# --- 1. Portfolio by bucket and stage -------------------------------------------------------------


def portfolio_live(bucket_rows, as_of):
    """Open cases per (stage, bucket) as of a date: [{stage, bucket, cases, amount}], every stage ×
    (each bucket, then NO_BUCKET). One query: GROUP BY state with a filtered COUNT and SUM per
    bucket (conditional aggregation built from the bucket rows)."""
    conditions = _exclusive_conditions(bucket_rows, as_of)
    aggregates = {}
    for i, (_name, q) in enumerate(conditions):
        aggregates[f"n{i}"] = Count("pk", filter=q)
        aggregates[f"a{i}"] = Sum("amount_overdue", filter=q)
    found = {
        row["state"]: row
        for row in Case.objects.filter(state__in=STAGES).order_by().values("state").annotate(**aggregates)
    }
    rows = []
    for stage in STAGES:
        got = found.get(stage, {})
        for i, (name, _q) in enumerate(conditions):
            rows.append({"stage": stage, "bucket": name, "cases": got.get(f"n{i}", 0),
                         "amount": money(got.get(f"a{i}"))})
    return rows


def portfolio_at_month_end(bucket_rows, month_end):
    """Open cases per (stage, bucket) in the month-end snapshot, same shape as `portfolio_live`
    (buckets named in the snapshot but no longer defined come after the current ones). One query."""
    found = {
        (row["state"], row["bucket"]): row
        for row in MonthEndSnapshot.objects.filter(month_end=month_end).order_by()
        .values("state", "bucket").annotate(cases=Count("pk"), amount=Sum("amount_overdue"))
    }
    names = _bucket_order(bucket_rows, {b for _s, b in found})
    return [
        {"stage": stage, "bucket": name, "cases": found.get((stage, name), {}).get("cases", 0),
         "amount": money(found.get((stage, name), {}).get("amount"))}
        for stage in STAGES for name in names
    ]


def _bucket_order(bucket_rows, seen=()):
    names = [b["name"] for b in bucket_rows]
    extra = sorted(n for n in seen if n not in names and n != NO_BUCKET)
    return names + extra + [NO_BUCKET]


def portfolio_totals(rows):
    """Fold portfolio rows (no query): per stage, per bucket and overall {cases, amount}."""
    by_stage, by_bucket = {}, {}
    total = {"cases": 0, "amount": ZERO}
    for row in rows:
        for key, into in ((row["stage"], by_stage), (row["bucket"], by_bucket)):
            slot = into.setdefault(key, {"cases": 0, "amount": ZERO})
            slot["cases"] += row["cases"]
            slot["amount"] += row["amount"]
        total["cases"] += row["cases"]
        total["amount"] += row["amount"]
    return {"by_stage": by_stage, "by_bucket": by_bucket, "total": total}


# --- 2. Stage funnel ------------------------------------------------------------------------------


def cases_finished(period):
    """Distinct cases resolved / closed in the period (their `transition` events): {resolved,
    closed}. One query."""
    to_resolved, to_closed = Q(to_state=State.RESOLVED), Q(to_state=State.CLOSED)
    row = CaseEvent.objects.filter(
        _in_period("at", period), kind="transition", to_state__in=[State.RESOLVED, State.CLOSED]
    ).aggregate(
        resolved=Count("case", distinct=True, filter=to_resolved),
        closed=Count("case", distinct=True, filter=to_closed),
    )
    return {"resolved": row["resolved"] or 0, "closed": row["closed"] or 0}


def stage_funnel(portfolio_rows, finished):
    """The funnel rows (no query): [{step, cases}] for each open stage, then resolved and closed."""
    by_stage = portfolio_totals(portfolio_rows)["by_stage"]
    rows = [{"step": stage, "cases": by_stage.get(stage, {}).get("cases", 0)} for stage in STAGES]
    rows.append({"step": str(State.RESOLVED), "cases": finished["resolved"]})
    rows.append({"step": str(State.CLOSED), "cases": finished["closed"]})
    return rows


# --- 3. Roll rates --------------------------------------------------------------------------------


def snapshots_present(month_ends):
    """{month_end: bool}: whether the sweep wrote any snapshot row for each date. One query (an
    EXISTS per date on the (month_end, bucket) index)."""
    month_ends = list(month_ends)
    if not month_ends:
        return {}
    table = connection.ops.quote_name(MonthEndSnapshot._meta.db_table)
    column = connection.ops.quote_name("month_end")
    sql = "SELECT " + ", ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE {column} = %s)" for _ in month_ends
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, month_ends)
        flags = cursor.fetchone()
    return {day: bool(flag) for day, flag in zip(month_ends, flags)}


def roll_rates(period, bucket_rows):
    """The roll matrix for the period's month: [{from_bucket, to_bucket, cases, amount_start,
    amount_end, share_cases, share_amount}] for every from-bucket with cases at the end of M−1 and
    every target (each bucket, NO_BUCKET, then CURED), zeros included. One query: the end-of-(M−1)
    snapshot LEFT JOINed (by case) to the end-of-M one, grouped by both buckets."""
    start_end = period.previous_month_end
    found = (
        MonthEndSnapshot.objects.filter(month_end=start_end)
        .annotate(later=FilteredRelation("case__snapshots", condition=Q(case__snapshots__month_end=period.month_end)))
        .order_by()
        .values("bucket", to_bucket=Coalesce(F("later__bucket"), Value(CURED)))
        .annotate(cases=Count("pk"), amount_start=Sum("amount_overdue"), amount_end=Sum("later__amount_overdue"))
    )
    cells, seen = {}, set()
    for row in found:
        cells[(row["bucket"], row["to_bucket"])] = row
        seen.update({row["bucket"], row["to_bucket"]})
    names = _bucket_order(bucket_rows, seen - {CURED})
    rows = []
    for source in names:
        here = [cells.get((source, target)) for target in names + [CURED]]
        total_cases = sum(c["cases"] for c in here if c)
        total_amount = sum((c["amount_start"] for c in here if c), ZERO)
        if not total_cases:
            continue
        for target, cell in zip(names + [CURED], here):
            cases = cell["cases"] if cell else 0
            amount_start = money(cell["amount_start"]) if cell else ZERO
            rows.append({
                "from_bucket": source, "to_bucket": target, "cases": cases,
                "amount_start": amount_start,
                "amount_end": money(cell["amount_end"]) if cell else ZERO,
                "from_cases": total_cases, "from_amount": money(total_amount),
                "share_cases": ratio(cases, total_cases),
                "share_amount": ratio(amount_start, total_amount),
            })
    return rows


# --- 4. Promises to pay ---------------------------------------------------------------------------


def promises(period):
    """{made, made_amount, due, kept, kept_amount, broken, broken_amount, pending, pending_amount,
    kept_rate}. One query."""
    made = _in_period("created_at", period)
    due = Q(due_date__gte=period.first_day, due_date__lte=period.last_day)
    status = PromiseToPay.Status
    parts = {"made": made, "due": due, "kept": due & Q(status=status.KEPT),
             "broken": due & Q(status=status.BROKEN), "pending": due & Q(status=status.PENDING)}
    aggregates = {}
    for name, q in parts.items():
        aggregates[name] = Count("pk", filter=q)
        aggregates[f"{name}_amount"] = Sum("amount", filter=q)
    row = PromiseToPay.objects.filter(made | due).aggregate(**aggregates)
    out = {}
    for name in parts:
        out[name] = row[name] or 0
        out[f"{name}_amount"] = money(row[f"{name}_amount"])
    out["kept_rate"] = ratio(out["kept"], out["kept"] + out["broken"])
    return out


# --- 5. Collected ---------------------------------------------------------------------------------


def _holder_at_payment():
    """The username holding the payment's case at `paid_at` ("" for nobody), from `assigned` events.

    Each lookup yields "=" + username ("=" alone for nobody), NULL when there is no such event, so
    one COALESCE picks the first that applies (two index lookups at most per payment, on the
    case's timeline index); the "=" is cut off at the end."""
    assigned = CaseEvent.objects.filter(case_id=OuterRef("case_id"), kind="assigned")
    before = assigned.filter(at__lte=OuterRef("paid_at")).order_by("-at", "-id")
    after = assigned.filter(at__gt=OuterRef("paid_at")).order_by("at", "id")

    def marked(key):  # JSON null (nobody) and a missing key both read as "="
        name = SqlCase(When(Q(**{f"payload__{key}": None}), then=Value("")),
                       default=Coalesce(KT(f"payload__{key}"), Value("")), output_field=CharField())
        return Concat(Value("="), name, output_field=CharField())

    holder = Coalesce(
        Subquery(before.values(u=marked("to_user"))[:1]),
        Subquery(after.values(u=marked("from_user"))[:1]),
        Concat(Value("="), Coalesce(F("case_username"), Value("")), output_field=CharField()),
        output_field=CharField(),
    )
    return Substr(holder, 2)


def collected(period):
    """Payments collected in the period: [{collector, week, payments, amount}] per collector ("" for
    unassigned) and ISO week (the Monday, lender's calendar). One query."""
    case_open_then = (
        Q(loan__cases__opened_at__lte=F("paid_at"))
        & (Q(loan__cases__resolved_at__isnull=True) | Q(loan__cases__resolved_at__gte=F("paid_at")))
        & (Q(loan__cases__closed_at__isnull=True) | Q(loan__cases__closed_at__gte=F("paid_at")))
    )
    qs = (
        Payment.objects.filter(_in_period("paid_at", period), reversed_at__isnull=True)
        .annotate(coll_case=FilteredRelation("loan__cases", condition=case_open_then))
        .filter(coll_case__isnull=False)
        .annotate(case_id=F("coll_case__id"), case_username=F("coll_case__assigned_to__username"))
        .annotate(collector=_holder_at_payment(),
                  week=TruncWeek("paid_at", tzinfo=settings.LENDER_TIME_ZONE, output_field=DateField()))
        .order_by()
        .values("collector", "week")
        .annotate(payments=Count("pk"), amount=Sum("amount"))
    )
    rows = [{"collector": r["collector"], "week": _as_date(r["week"]), "payments": r["payments"],
             "amount": money(r["amount"])} for r in qs]
    rows.sort(key=lambda r: (r["week"], r["collector"]))
    return rows


def _as_date(value):
    return value.date() if isinstance(value, datetime) else value


def weeks_of(period):
    """The Mondays of the ISO weeks that overlap the period, with the part of each inside it:
    [(monday, first day in period, last day in period)]."""
    monday = period.first_day - timedelta(days=period.first_day.weekday())
    out = []
    while monday <= period.last_day:
        out.append((monday, max(monday, period.first_day), min(monday + timedelta(days=6), period.last_day)))
        monday += timedelta(days=7)
    return out


def collected_by_collector(rows):
    """Fold `collected` rows per collector (no query): [{collector, payments, amount}], most first."""
    out = {}
    for row in rows:
        slot = out.setdefault(row["collector"], {"collector": row["collector"], "payments": 0, "amount": ZERO})
        slot["payments"] += row["payments"]
        slot["amount"] += row["amount"]
    return sorted(out.values(), key=lambda r: (-r["amount"], r["collector"] == "", r["collector"]))


def collected_by_week(rows, period):
    """Fold `collected` rows per week of the period, empty weeks included (no query):
    [{week, first_day, last_day, payments, amount}]."""
    got = {}
    for row in rows:
        slot = got.setdefault(row["week"], {"payments": 0, "amount": ZERO})
        slot["payments"] += row["payments"]
        slot["amount"] += row["amount"]
    return [
        {"week": monday, "first_day": first, "last_day": last,
         "payments": got.get(monday, {}).get("payments", 0), "amount": got.get(monday, {}).get("amount", ZERO)}
        for monday, first, last in weeks_of(period)
    ]


# --- 6. Contact rate ------------------------------------------------------------------------------


def contact_rate(period):
    """{worked, right_party, rate}: cases with any contact attempt in the period, those with a
    right-party contact among them, and their ratio. One query."""
    row = ContactAttempt.objects.filter(_in_period("occurred_at", period)).aggregate(
        worked=Count("case", distinct=True),
        right_party=Count("case", distinct=True, filter=Q(outcome__in=ContactAttempt.CONVERSATION)),
    )
    worked, rpc = row["worked"] or 0, row["right_party"] or 0
    return {"worked": worked, "right_party": rpc, "rate": ratio(rpc, worked)}


# --- 7. Cure rate ---------------------------------------------------------------------------------


def cure_rate(period, *, today=None):
    """{open_at_start, amount_at_start, cured, cured_amount, rate, rate_amount}: the cases in the
    end-of-(M−1) snapshot and those whose state at the period's end is `resolved`. One query.

    For the current month the state at its end (so far) is the case's state now: a join on the
    primary key. For a past month it is the `to_state` of the case's last state-setting event
    before the month's end (a correlated lookup on the event timeline index per case)."""
    if period.is_current(today):
        state_at_end = F("case__state")
    else:
        state_at_end = Subquery(
            CaseEvent.objects.filter(case_id=OuterRef("case_id"), at__lt=period.end).exclude(to_state="")
            .order_by("-at", "-id").values("to_state")[:1]
        )
    cured = Q(state_at_end=State.RESOLVED)
    row = (
        MonthEndSnapshot.objects.filter(month_end=period.previous_month_end)
        .annotate(state_at_end=state_at_end)
        .aggregate(open_at_start=Count("pk"), amount_at_start=Sum("amount_overdue"),
                   cured=Count("pk", filter=cured), cured_amount=Sum("amount_overdue", filter=cured))
    )
    out = {"open_at_start": row["open_at_start"] or 0, "amount_at_start": money(row["amount_at_start"]),
           "cured": row["cured"] or 0, "cured_amount": money(row["cured_amount"])}
    out["rate"] = ratio(out["cured"], out["open_at_start"])
    out["rate_amount"] = ratio(out["cured_amount"], out["amount_at_start"])
    return out
