"""The dashboard's figures read from repayment plans and settlements. Definitions (docs/dashboard.md,
"Repayment plans"), exactly as computed here (the period: `period.py`; a plan's amount is its
`total`, what the borrower agreed to pay):

Plans (`plans`)
    Made: plans created (`created_at`) in the period, whatever became of them (count, amount).
    Active: plans active at the end of the period (for the current month: now): approved
    (`decided_at` set, status `active`, `kept`, `broken` or `cancelled`) before the period's end and
    not ended (`ended_at` empty or at or after it). Kept / broken: plans whose `ended_at` falls in the
    period with status `kept` / `broken` (count, amount). Kept rate = kept / (kept + broken) of the
    plans ended in the period (cancelled ones are not judged; none judged: no rate). Forgiven: the
    `discount` summed over settlements kept in the period.

Kept rate by collector and by kind (`plans_judged`)
    The kept and broken plans of the period, grouped by proposer (`proposed_by_user`: the person who
    proposed it; "" when no person did: the borrower's self-service or an API client) and by kind.
"""

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.db.models import Value

from ...models import PlanKind, PlanStatus, RepaymentPlan
from .period import ZERO, in_period, kept_and_broken, money, ratio


def _active_at(moment):
    approved = Q(decided_at__isnull=False, decided_at__lt=moment) & Q(
        status__in=[PlanStatus.ACTIVE, PlanStatus.KEPT, PlanStatus.BROKEN, PlanStatus.CANCELLED]
    )
    return approved & (Q(ended_at__isnull=True) | Q(ended_at__gte=moment))


def plans(period):
    """{made, made_amount, active, active_amount, kept, kept_amount, broken, broken_amount,
    kept_rate, forgiven}. One query."""
    ended = in_period("ended_at", period)
    parts = {
        "made": in_period("created_at", period),
        "active": _active_at(period.end),
        "kept": ended & Q(status=PlanStatus.KEPT),
        "broken": ended & Q(status=PlanStatus.BROKEN),
    }
    return kept_and_broken(
        RepaymentPlan.objects.filter(parts["made"] | parts["active"] | ended),
        parts,
        "total",
        forgiven=Sum("discount", filter=parts["kept"] & Q(kind=PlanKind.SETTLEMENT)),
    )


def plans_judged(period):
    """The plans kept or broken in the period: [{collector, kind, kept, kept_amount, broken,
    broken_amount}] per (proposer's username, "" for no person; kind). One query."""
    qs = (
        RepaymentPlan.objects.filter(in_period("ended_at", period), status__in=[PlanStatus.KEPT, PlanStatus.BROKEN])
        .annotate(collector=Coalesce("proposed_by_user__username", Value("")))
        .order_by()
        .values("collector", "kind")
        .annotate(
            kept=Count("pk", filter=Q(status=PlanStatus.KEPT)),
            kept_amount=Sum("total", filter=Q(status=PlanStatus.KEPT)),
            broken=Count("pk", filter=Q(status=PlanStatus.BROKEN)),
            broken_amount=Sum("total", filter=Q(status=PlanStatus.BROKEN)),
        )
    )
    return [
        {
            "collector": r["collector"],
            "kind": r["kind"],
            "kept": r["kept"],
            "kept_amount": money(r["kept_amount"]),
            "broken": r["broken"],
            "broken_amount": money(r["broken_amount"]),
        }
        for r in qs
    ]


def judged_by(rows, key):
    """Fold `plans_judged` rows by `key` ("collector" or "kind"; no query): [{key, kept, broken,
    kept_amount, broken_amount, kept_rate}], the most judged first."""
    out = {}
    for row in rows:
        slot = out.setdefault(
            row[key], {key: row[key], "kept": 0, "broken": 0, "kept_amount": ZERO, "broken_amount": ZERO}
        )
        for name in ("kept", "broken", "kept_amount", "broken_amount"):
            slot[name] += row[name]
    for slot in out.values():
        slot["kept_rate"] = ratio(slot["kept"], slot["kept"] + slot["broken"])
    return sorted(out.values(), key=lambda r: (-(r["kept"] + r["broken"]), r[key] == "", r[key]))
