"""The dashboard's figures read from the period's activity: promises to pay, money collected and
contacts. Definitions (DOMAIN.md, "Figures a dashboard shows"), exactly as computed here (the
period: `period.py`):

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
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, Count, DateField, F, FilteredRelation, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models import Case as SqlCase
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Concat, Substr, TruncWeek

from ...models import CaseEvent, ContactAttempt, Payment, PromiseToPay
from .period import ZERO, in_period, kept_and_broken, money, ratio


# --- 4. Promises to pay ---------------------------------------------------------------------------


def promises(period):
    """{made, made_amount, due, kept, kept_amount, broken, broken_amount, pending, pending_amount,
    kept_rate}. One query."""
    made = in_period("created_at", period)
    due = Q(due_date__gte=period.first_day, due_date__lte=period.last_day)
    status = PromiseToPay.Status
    parts = {
        "made": made,
        "due": due,
        "kept": due & Q(status=status.KEPT),
        "broken": due & Q(status=status.BROKEN),
        "pending": due & Q(status=status.PENDING),
    }
    return kept_and_broken(PromiseToPay.objects.filter(made | due), parts, "amount")


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
        name = SqlCase(
            When(Q(**{f"payload__{key}": None}), then=Value("")),
            default=Coalesce(KT(f"payload__{key}"), Value("")),
            output_field=CharField(),
        )
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
        Payment.objects.filter(in_period("paid_at", period), reversed_at__isnull=True)
        .annotate(coll_case=FilteredRelation("loan__cases", condition=case_open_then))
        .filter(coll_case__isnull=False)
        .annotate(case_id=F("coll_case__id"), case_username=F("coll_case__assigned_to__username"))
        .annotate(
            collector=_holder_at_payment(),
            week=TruncWeek("paid_at", tzinfo=settings.LENDER_TIME_ZONE, output_field=DateField()),
        )
        .order_by()
        .values("collector", "week")
        .annotate(payments=Count("pk"), amount=Sum("amount"))
    )
    rows = [
        {
            "collector": r["collector"],
            "week": _as_date(r["week"]),
            "payments": r["payments"],
            "amount": money(r["amount"]),
        }
        for r in qs
    ]
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
        {
            "week": monday,
            "first_day": first,
            "last_day": last,
            "payments": got.get(monday, {}).get("payments", 0),
            "amount": got.get(monday, {}).get("amount", ZERO),
        }
        for monday, first, last in weeks_of(period)
    ]


# --- 6. Contact rate ------------------------------------------------------------------------------


def contact_rate(period):
    """{worked, right_party, rate}: cases with any contact attempt in the period, those with a
    right-party contact among them, and their ratio. One query."""
    row = ContactAttempt.objects.filter(in_period("occurred_at", period)).aggregate(
        worked=Count("case", distinct=True),
        right_party=Count("case", distinct=True, filter=Q(outcome__in=ContactAttempt.CONVERSATION)),
    )
    worked, rpc = row["worked"] or 0, row["right_party"] or 0
    return {"worked": worked, "right_party": rpc, "rate": ratio(rpc, worked)}
