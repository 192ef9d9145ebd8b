"""The dashboard's figures read from the cases and the month-end snapshots: portfolio, stage
funnel, roll rates and cure rate. Definitions (DOMAIN.md, "Figures a dashboard shows"), exactly as
computed here (the period: `period.py`):

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

Cure rate (`cure_rate`)
    Of the cases open at the start of the period (the snapshot at the end of M−1), the share whose
    state at the end of the period is `resolved`. For a past month that is the `to_state` of the
    case's last state-setting event (`to_state` not empty) before the month's end; for the current
    month, "by its end" is "by now", i.e. the case's state now. A case resolved and then reopened
    is not cured; closed cases are not cured. By count, and by the end-of-(M−1) amount overdue.
"""

from datetime import timedelta

from django.db import connection
from django.db.models import Count, F, FilteredRelation, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ...models import Bucket, Case, CaseEvent, MonthEndSnapshot
from ...workflow import State
from .period import CURED, NO_BUCKET, STAGES, ZERO, in_period, money, ratio


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
            rows.append(
                {"stage": stage, "bucket": name, "cases": got.get(f"n{i}", 0), "amount": money(got.get(f"a{i}"))}
            )
    return rows


def portfolio_at_month_end(bucket_rows, month_end):
    """Open cases per (stage, bucket) in the month-end snapshot, same shape as `portfolio_live`
    (buckets named in the snapshot but no longer defined come after the current ones). One query."""
    found = {
        (row["state"], row["bucket"]): row
        for row in MonthEndSnapshot.objects.filter(month_end=month_end)
        .order_by()
        .values("state", "bucket")
        .annotate(cases=Count("pk"), amount=Sum("amount_overdue"))
    }
    names = _bucket_order(bucket_rows, {b for _s, b in found})
    return [
        {
            "stage": stage,
            "bucket": name,
            "cases": found.get((stage, name), {}).get("cases", 0),
            "amount": money(found.get((stage, name), {}).get("amount")),
        }
        for stage in STAGES
        for name in names
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
        in_period("at", period), kind="transition", to_state__in=[State.RESOLVED, State.CLOSED]
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
    sql = "SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {table} WHERE {column} = %s)" for _ in month_ends)
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
            rows.append(
                {
                    "from_bucket": source,
                    "to_bucket": target,
                    "cases": cases,
                    "amount_start": amount_start,
                    "amount_end": money(cell["amount_end"]) if cell else ZERO,
                    "from_cases": total_cases,
                    "from_amount": money(total_amount),
                    "share_cases": ratio(cases, total_cases),
                    "share_amount": ratio(amount_start, total_amount),
                }
            )
    return rows


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
            CaseEvent.objects.filter(case_id=OuterRef("case_id"), at__lt=period.end)
            .exclude(to_state="")
            .order_by("-at", "-id")
            .values("to_state")[:1]
        )
    cured = Q(state_at_end=State.RESOLVED)
    row = (
        MonthEndSnapshot.objects.filter(month_end=period.previous_month_end)
        .annotate(state_at_end=state_at_end)
        .aggregate(
            open_at_start=Count("pk"),
            amount_at_start=Sum("amount_overdue"),
            cured=Count("pk", filter=cured),
            cured_amount=Sum("amount_overdue", filter=cured),
        )
    )
    out = {
        "open_at_start": row["open_at_start"] or 0,
        "amount_at_start": money(row["amount_at_start"]),
        "cured": row["cured"] or 0,
        "cured_amount": money(row["cured_amount"]),
    }
    out["rate"] = ratio(out["cured"], out["open_at_start"])
    out["rate_amount"] = ratio(out["cured_amount"], out["amount_at_start"])
    return out
