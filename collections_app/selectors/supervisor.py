"""Supervisors' reads for /queues/, /queues/assign/, /approvals/, /holds/ and the visit queue. Each
is one query (plus the prefetches named), whatever the number of rows, and applies the actor's row
scope."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from ..actors import as_actor
from ..calendar import lender_today
from ..errors import DomainError
from ..models import Case, ContactAttempt, Hold, Queue
from ..permissions import ASSIGNEE_ROLES, DISTRIBUTION_ROLES, visible_cases
from ..workflow import OPEN_STATES
from .cases import case_queryset, filter_given, newest_first_page


def cases_awaiting_visit_plan(actor):
    """The visit queue: cases in `visit` with no planned visit yet, oldest arrears first. A case on
    an active repayment plan is not waiting for a visit (CONTRACT.md: activation takes it out)."""
    from ..models import RepaymentPlan, Visit

    planned = Visit.objects.filter(case=OuterRef("pk"), status=Visit.Status.PLANNED)
    on_plan = RepaymentPlan.objects.filter(case=OuterRef("pk"), status="active")
    return (
        case_queryset(actor)
        .filter(state="visit")
        .exclude(Exists(planned))
        .exclude(Exists(on_plan))
        .order_by(F("oldest_unpaid_due_date").asc(nulls_last=True), "id")
    )


def queue_summary(actor):
    """Each queue with its open cases, amount overdue and unassigned count, in one query.

    The scoped open cases are grouped by queue in a subquery and joined to the queues; filtering the
    queues' reverse relation by `cases__in=<scoped cases>` instead made PostgreSQL re-scan the case
    table per row at a million cases (see queue_floor)."""
    scoped = visible_cases(actor, Case.objects.filter(state__in=OPEN_STATES)).filter(queue_id=OuterRef("pk")).order_by()
    per_queue = scoped.values("queue_id")
    return Queue.objects.annotate(
        open_cases=Coalesce(Subquery(per_queue.annotate(n=Count("pk")).values("n")[:1]), 0),
        amount_overdue=Coalesce(
            Subquery(per_queue.annotate(a=Sum("amount_overdue")).values("a")[:1]),
            Value(Decimal("0.00")),
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
        unassigned=Coalesce(
            Subquery(per_queue.filter(assigned_to__isnull=True).annotate(n=Count("pk")).values("n")[:1]), 0
        ),
    ).order_by("name")


# --- supervisors' pages ---
# Reads for /queues/, /queues/assign/, /approvals/ and /holds/. Each is one query (plus the
# prefetches named), whatever the number of rows, and applies the actor's row scope.


def _users_in_roles(*names):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    in_role = User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name__in=names)
    return User.objects.filter(Exists(in_role), is_active=True)


def queue_floor(actor):
    """What /queues/ shows, from ONE aggregate over the open cases grouped by (queue, assignee):
    each queue's open cases, amount overdue and unassigned count, each person's load (open cases
    assigned and their amount) overall and per queue. Then the queues with their collectors (two
    queries) and the people (collectors, plus anyone else holding open cases) with their queues (two).

    Not `queue_summary`: on PostgreSQL, once the planner knows the table is large, its
    `cases__in=<open cases>` filter becomes a re-scan per row (measured on the 1,000,000-case demo
    portfolio: this takes about 0.1 s, that one did not finish in 15 minutes). Here the row scope
    filters the grouped cases directly, which costs nothing for those who see everything.

    Returns {"queues", "unqueued", "people", "totals"}; "unqueued" sums open cases in no queue (None
    when there are none)."""
    from django.contrib.auth import get_user_model

    zero = Decimal("0.00")
    groups = (
        visible_cases(actor, Case.objects.filter(state__in=OPEN_STATES))
        .order_by()
        .values_list("queue_id", "assigned_to_id")
        .annotate(n=Count("pk"), amount=Sum("amount_overdue"))
    )
    per_queue, per_user, per_queue_user = {}, {}, {}
    totals = {"open_cases": 0, "amount_overdue": zero, "unassigned": 0}
    for queue_id, user_id, n, amount in groups:
        amount = amount or zero
        for key, bucket in ((queue_id, per_queue), (user_id, per_user)):
            row = bucket.setdefault(key, {"open_cases": 0, "amount_overdue": zero, "unassigned": 0})
            row["open_cases"] += n
            row["amount_overdue"] += amount
            if user_id is None:
                row["unassigned"] += n
        per_queue_user[(queue_id, user_id)] = n
        totals["open_cases"] += n
        totals["amount_overdue"] += amount
        totals["unassigned"] += n if user_id is None else 0
    empty = {"open_cases": 0, "amount_overdue": zero, "unassigned": 0}

    collectors = _users_in_roles(*DISTRIBUTION_ROLES).order_by("username")
    queues = list(
        Queue.objects.order_by("name").prefetch_related(Prefetch("members", queryset=collectors, to_attr="collectors"))
    )
    for queue in queues:
        for field, value in per_queue.get(queue.pk, empty).items():
            setattr(queue, field, value)
        queue.collector_loads = [(u.username, per_queue_user.get((queue.pk, u.pk), 0)) for u in queue.collectors]

    User = get_user_model()
    is_collector = Exists(
        User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name__in=DISTRIBUTION_ROLES)
    )
    holders = [pk for pk in per_user if pk is not None]
    people = list(
        User.objects.filter((Q(is_active=True) & is_collector) | Q(pk__in=holders))
        .prefetch_related(Prefetch("collection_queues", queryset=Queue.objects.order_by("name")))
        .order_by("username")
    )
    for person in people:
        row = per_user.get(person.pk, empty)
        person.open_cases, person.amount_overdue = row["open_cases"], row["amount_overdue"]
    people.sort(key=lambda p: -p.open_cases)  # stable: ties stay in username order
    return {"queues": queues, "unqueued": per_queue.get(None), "people": people, "totals": totals}


def assign_candidates(queue_id=None):
    """People cases can be assigned to (services.case_assign accepts these roles); for one queue,
    only that queue's collectors (its active members in the collector group). One query."""
    if queue_id:
        return _users_in_roles(*DISTRIBUTION_ROLES).filter(collection_queues=queue_id).order_by("username")
    return _users_in_roles(*sorted(ASSIGNEE_ROLES)).order_by("username")


# The `assigned_to` filter value meaning "nobody" (the assignment page and the queue export).
UNASSIGNED = "unassigned"


def case_assign_list(
    actor, *, queue_id=None, state=None, assigned_to=None, bucket=None, loan=None, after=None, limit=50, as_of=None
):
    """Open cases for the assignment page, in id order, `limit` at a time (keyset: pass the last id
    seen as `after`). Returns (cases, next_after); next_after is None on the last page. No COUNT.

    `assigned_to` is a username or UNASSIGNED; `bucket` a Bucket (its DPD range becomes a range on
    the stored oldest unpaid due date); `loan` an exact loan external id."""
    as_of = as_of or lender_today()
    qs = case_queryset(actor).filter(state__in=[state] if state else OPEN_STATES)
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    if assigned_to == UNASSIGNED:
        qs = qs.filter(assigned_to__isnull=True)
    elif assigned_to:
        qs = qs.filter(assigned_to__username=assigned_to)
    if bucket is not None:
        if bucket.min_dpd > 0:
            qs = qs.filter(oldest_unpaid_due_date__lte=as_of - timedelta(days=bucket.min_dpd))
        if bucket.max_dpd is not None:
            qs = qs.filter(oldest_unpaid_due_date__gte=as_of - timedelta(days=bucket.max_dpd))
    if loan:
        qs = qs.filter(loan__external_id=loan)
    if after:
        qs = qs.filter(pk__gt=after)
    rows = list(qs.order_by("pk")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def _referrals_in_scope(actor):
    from ..models import LegalReferral

    actor = as_actor(actor)
    qs = LegalReferral.objects.select_related(
        "case", "case__loan", "case__borrower", "requested_by_user", "decided_by_user"
    )
    if actor.sees_everything:
        return qs.annotate(case_visible=Value(True))
    # A referral this person decided stays in their list after its case leaves their scope (an approved
    # case moved on, a rejected one went back): `case_visible` says whether to link the case.
    visible = visible_cases(actor)
    scope = Q(case__in=visible.values("pk"))
    if actor.user is not None:
        scope |= Q(decided_by_user=actor.user)
    return qs.filter(scope).annotate(case_visible=Exists(visible.filter(pk=OuterRef("case_id"))))


def legal_referrals_pending(actor, *, limit=100):
    """Referrals waiting for a decision, oldest request first (one query)."""
    from ..models import LegalReferral

    return list(
        _referrals_in_scope(actor).filter(status=LegalReferral.Status.REQUESTED).order_by("requested_at", "pk")[:limit]
    )


def legal_referrals_decided(actor, *, limit=20):
    """The latest decisions, newest first (one query)."""
    from ..models import LegalReferral

    return list(
        _referrals_in_scope(actor)
        .exclude(status=LegalReferral.Status.REQUESTED)
        .filter(decided_at__isnull=False)  # every decision has its time; the index holds these
        .order_by("-decided_at", "-pk")[:limit]
    )


def _holds_in_scope(actor, qs):
    actor = as_actor(actor)
    if actor.sees_everything:
        return qs
    return qs.filter(Exists(visible_cases(actor).filter(borrower_id=OuterRef("borrower_id"))))


def disputes_to_review(actor, *, limit=100, code="", source=""):
    """Active dispute holds a person placed by logging a `dispute_raised` contact (services.contact_log),
    oldest first: they wait for a supervisor to look at them. One query."""
    raised = ContactAttempt.objects.filter(
        borrower_id=OuterRef("borrower_id"),
        outcome=ContactAttempt.Outcome.DISPUTE_RAISED,
        actor=OuterRef("placed_by_label"),
    )
    qs = (
        Hold.objects.active()
        .filter(
            code=Hold.Code.DISPUTE,
            source=Hold.Source.STAFF,
            placed_by_label__startswith="user:",
        )
        .filter(Exists(raised))
    )
    qs = filter_given(qs, code=code, source=source)
    return list(_holds_in_scope(actor, qs).select_related("borrower", "placed_by").order_by("placed_at", "pk")[:limit])


def holds_active(actor, *, exclude_ids=(), before=None, limit=100, code="", source=""):
    """Active holds, newest first, `limit` at a time (keyset on id: pass the last id as `before`),
    optionally of one `code` and/or `source`. Returns (holds, next_before). One query."""
    qs = filter_given(Hold.objects.active().exclude(pk__in=list(exclude_ids)), code=code, source=source)
    return newest_first_page(
        _holds_in_scope(actor, qs).select_related("borrower", "placed_by"), before=before, limit=limit
    )


def contact_breaches(actor, *, days=30, limit=100, now=None, before=None):
    """Contacts recorded in the last `days` days that broke a contact rule, newest first (one query).
    `before` (a BreachCursor) pages on: with it, the answer is (rows, next cursor or None)."""
    from django.utils import timezone

    since = (now or timezone.now()) - timedelta(days=days)
    qs = ContactAttempt.objects.filter(occurred_at__gte=since).exclude(breach="")
    if not as_actor(actor).sees_everything:
        qs = qs.filter(case__in=visible_cases(actor).values("pk"))
    if before is not None and before is not BreachCursor.FIRST:
        qs = qs.filter(
            Q(occurred_at__lt=before.occurred_at) | Q(occurred_at=before.occurred_at, pk__lt=before.id),
            occurred_at__lte=before.occurred_at,
        )
    qs = qs.select_related("case", "borrower", "actor_user").order_by("-occurred_at", "-pk")
    rows = list(qs[: limit + (before is not None)])
    if before is None:
        return rows
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, BreachCursor(rows[-1].occurred_at, rows[-1].pk)
    return rows, None


@dataclass(frozen=True)
class BreachCursor:
    """Keyset position in the breaches list (occurred at desc, id desc); BreachCursor.FIRST starts it."""

    occurred_at: datetime | None
    id: int

    def encode(self):
        return f"{self.occurred_at.isoformat()}|{self.id}"

    @classmethod
    def decode(cls, text):
        try:
            stamp, pk = text.split("|")
            at = datetime.fromisoformat(stamp)
            if at.tzinfo is None:
                raise ValueError(stamp)
            return cls(at, int(pk))
        except (ValueError, AttributeError):
            raise DomainError(
                "validation_error", fields={"breaches_before": [_("Bad position in the list.")]}
            ) from None


BreachCursor.FIRST = BreachCursor(None, 0)


# --- plans waiting for a decision (/approvals/) ---


# What a row of /approvals/ shows (a borrower row is wide: reading 200 whole ones was a fifth of the page).
PLANS_WAITING_FIELDS = (
    *("id", "case_id", "kind", "reason", "total", "discount", "balance", "proposed_by", "created_at"),
    "needs_authority",
    *("case__id", "case__state", "case__oldest_unpaid_due_date", "case__loan", "case__borrower"),
    *("case__loan__external_id", "case__loan__currency", "case__borrower__name"),
)


def plans_waiting(actor, authorities, *, limit=200):
    """Proposed plans the actor may see whose needed authority is one of `authorities` (those the
    actor's own covers: permissions.plan_authority_to_decide + services.plans.policy.authority_covers),
    oldest proposal first, with their case, loan and borrower, instalment count and last due date.
    One query, whatever the number of plans."""
    from django.db.models import Max

    from ..models import PlanInstalment, PlanStatus, RepaymentPlan

    if not authorities:
        return []
    instalments = PlanInstalment.objects.filter(plan_id=OuterRef("pk")).order_by().values("plan_id")
    qs = (
        RepaymentPlan.objects.filter(status=PlanStatus.PROPOSED, needs_authority__in=list(authorities))
        .select_related("case", "case__loan", "case__borrower")
        .only(*PLANS_WAITING_FIELDS)
        .annotate(
            instalment_count=Subquery(instalments.annotate(n=Count("pk")).values("n")[:1]),
            last_due=Subquery(instalments.annotate(d=Max("due_date")).values("d")[:1]),
        )
    )
    if not as_actor(actor).sees_everything:
        qs = qs.filter(case__in=visible_cases(actor).values("pk"))
    return list(qs.order_by("created_at", "pk")[:limit])
