"""Spreading a queue's unassigned work across its collectors.

Import it from here (`from collections_app.services.assignment import case_distribute_evenly`); it
writes only through `case_assign`, which checks permission, locks the cases and writes one
`assigned` event per case.
"""

import heapq
from dataclasses import dataclass, field

from django.core import signing
from django.db import transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Subquery
from django.utils.translation import gettext as _

from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import Case, CaseEvent, Queue
from ..workflow import OPEN_STATES
from .cases import case_assign


# Cases dealt per press of the button: one transaction stays short, and a queue of a quarter of a
# million new cases is spread in rounds (the most urgent first) rather than in one giant lock.
DISTRIBUTE_LIMIT = 2000


@dataclass(frozen=True)
class Distribution:
    shares: dict = field(default_factory=dict)  # username -> cases assigned, in username order
    more_left: bool = False  # unassigned open cases remain (past the limit): distribute again
    undo_token: str = ""  # signed; case_distribution_undo takes it for UNDO_SECONDS

    @property
    def total(self):
        return sum(self.shares.values())


# Stored on each event, so in one language whoever pressed the button (pages translate event kinds).
DISTRIBUTED_REASON = "Distributed evenly across the queue %s."


def _resolve_queue(queue):
    if isinstance(queue, Queue):
        return queue
    lookup = (
        {"pk": queue} if isinstance(queue, int) or (str(queue).isascii() and str(queue).isdigit()) else {"name": queue}
    )
    found = Queue.objects.filter(**lookup).first()
    if found is None:
        raise DomainError("not_found", fields={"queue": [_("No such queue.")]})
    return found


def _deal(queue, actor, limit, *, lock):
    """The dealing of case_distribute_evenly: (collectors, {user pk: [case ids]}, more_left).
    With `lock`, the unassigned cases are locked (inside the caller's transaction)."""
    collectors = list(
        queue.members.filter(is_active=True, groups__name__in=perms.DISTRIBUTION_ROLES).distinct().order_by("username")
    )
    if not collectors:
        raise invalid("queue", _("The queue “%s” has no collectors to distribute cases to.") % queue.name)
    base = Case.objects.select_for_update(of=("self",)) if lock else Case.objects.all()
    unassigned = perms.visible_cases(actor, base).filter(queue=queue, state__in=OPEN_STATES, assigned_to__isnull=True)
    case_ids = list(
        unassigned.order_by("-priority", F("oldest_unpaid_due_date").asc(nulls_last=True), "pk").values_list(
            "pk", flat=True
        )[: limit + 1]
    )
    more_left = len(case_ids) > limit
    case_ids = case_ids[:limit]
    if not case_ids:
        return collectors, {}, False
    loads = dict(
        Case.objects.filter(assigned_to__in=collectors, state__in=OPEN_STATES)
        .order_by()
        .values_list("assigned_to")
        .annotate(n=Count("pk"))
        .values_list("assigned_to", "n")
    )
    heap = [(loads.get(u.pk, 0), u.username, u.pk) for u in collectors]
    heapq.heapify(heap)
    shares = {}
    for case_id in case_ids:
        load, username, user_pk = heapq.heappop(heap)
        shares.setdefault(user_pk, []).append(case_id)
        heapq.heappush(heap, (load + 1, username, user_pk))
    return collectors, shares, more_left


def case_distribution_preview(*, queue, actor=None, limit=DISTRIBUTE_LIMIT):
    """What "Distribute evenly" would do now, without doing it (nothing locked, nothing written):
    a Distribution with {username: cases} and whether more would remain. Refuses as the real one."""
    actor = as_actor(actor)
    if not perms.may_assign(actor):
        raise DomainError("permission_denied")
    queue = _resolve_queue(queue)
    collectors, shares, more_left = _deal(queue, actor, limit, lock=False)
    return Distribution(
        shares={u.username: len(shares[u.pk]) for u in collectors if shares.get(u.pk)}, more_left=more_left
    )


def case_distribute_evenly(*, queue, actor=None, reason="", limit=DISTRIBUTE_LIMIT):
    """Assign a queue's unassigned open cases to the queue's collectors, fewest open cases first.

    The collectors are the queue's active members in the `collector` group. A collector's load is
    every open case assigned to them (in any queue). Cases are dealt out one at a time, highest
    priority and oldest arrears first, each to whoever has the lowest load at that moment (ties by
    username), so the loads end as even as the numbers allow: a collector already above the others'
    final load gets nothing. One `case_assign` call per collector that receives cases, all in one
    transaction; the unassigned cases are locked first, so two supervisors pressing the button at
    once do not hand the same case out twice. At most `limit` cases per call (the most urgent).

    Returns a Distribution: {username: cases assigned} (only those who got some, in username order),
    whether unassigned cases remain beyond the limit, and `undo_token`: for UNDO_SECONDS, the same
    person may undo it (case_distribution_undo).
    """
    actor = as_actor(actor)
    if not perms.may_assign(actor):
        raise DomainError("permission_denied")
    queue = _resolve_queue(queue)
    with transaction.atomic():
        collectors, shares, more_left = _deal(queue, actor, limit, lock=True)
        if not shares:
            return Distribution()
        mark = CaseEvent.objects.aggregate(m=Max("pk"))["m"] or 0
        reason = reason or DISTRIBUTED_REASON % queue.name
        result = {}
        for user in collectors:
            ids = shares.get(user.pk)
            if ids:
                case_assign(case_ids=ids, actor=actor, assignee=user, reason=reason)
                result[user.username] = len(ids)
        span = CaseEvent.objects.filter(pk__gt=mark, kind="assigned", actor=actor.label, reason=reason).aggregate(
            first=Min("pk"), last=Max("pk")
        )
    token = signing.dumps(
        {"q": queue.pk, "a": actor.label, "r": reason, "f": span["first"], "l": span["last"]}, salt=UNDO_SALT
    )
    return Distribution(shares=result, more_left=more_left, undo_token=token)


# A distribution can be undone this long after it was made, by the person who made it.
UNDO_SECONDS = 60
UNDO_SALT = "collections.distribution-undo"
UNDONE_REASON = "Distribution undone."


@dataclass(frozen=True)
class Undo:
    undone: int = 0  # cases back to unassigned
    kept: int = 0  # cases touched since (assignment, state, amounts, any event): left as they are


def case_distribution_undo(*, token, actor=None):
    """Undo a distribution within UNDO_SECONDS: each case it assigned goes back to unassigned through
    `case_assign` (one `assigned` event each), but only cases nobody touched since: still assigned to
    whom the distribution gave them, in that queue, open, no event and no change after it."""
    actor = as_actor(actor)
    if not perms.may_assign(actor):
        raise DomainError("permission_denied")
    try:
        data = signing.loads(token, salt=UNDO_SALT, max_age=UNDO_SECONDS)
    except signing.SignatureExpired:
        raise invalid("undo", _("Too late to undo: a distribution can be undone within a minute.")) from None
    except signing.BadSignature:
        raise invalid("undo", _("This undo is not valid.")) from None
    if data["a"] != actor.label:
        raise DomainError("permission_denied")
    with transaction.atomic():
        given = {
            case_id: payload.get("to_user")
            for case_id, payload in CaseEvent.objects.filter(
                pk__gte=data["f"],
                pk__lte=data["l"],
                kind="assigned",
                actor=data["a"],
                reason=data["r"],
            ).values_list("case_id", "payload")
        }
        later = CaseEvent.objects.filter(case_id=OuterRef("pk"), pk__gt=data["l"])
        last_given = CaseEvent.objects.filter(pk__gte=data["f"], pk__lte=data["l"], case_id=OuterRef("pk")).values(
            "at"
        )[:1]
        cases = list(
            perms.visible_cases(actor, Case.objects.select_for_update(of=("self",)))
            .filter(pk__in=list(given), queue_id=data["q"], state__in=OPEN_STATES)
            .exclude(Exists(later))
            .filter(updated_at__lte=Subquery(last_given))
            .select_related("assigned_to")
            .order_by("pk")
        )
        untouched = [c.pk for c in cases if c.assigned_to is not None and c.assigned_to.get_username() == given[c.pk]]
        if untouched:
            case_assign(case_ids=untouched, actor=actor, assignee="", reason=UNDONE_REASON)
    return Undo(undone=len(untouched), kept=len(given) - len(untouched))
