"""Spreading a queue's unassigned work across its collectors.

Import it from here (`from collections_app.services.assignment import case_distribute_evenly`); it
writes only through `case_assign`, which checks permission, locks the cases and writes one
`assigned` event per case.
"""
import heapq
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F
from django.utils.translation import gettext as _

from .. import permissions as perms
from .. import roles as r
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import Case, Queue
from ..workflow import OPEN_STATES
from .cases import case_assign


# Cases dealt per press of the button: one transaction stays short, and a queue of a quarter of a
# million new cases is spread in rounds (the most urgent first) rather than in one giant lock.
DISTRIBUTE_LIMIT = 2000


@dataclass(frozen=True)
class Distribution:
    shares: dict = field(default_factory=dict)  # username -> cases assigned, in username order
    more_left: bool = False  # unassigned open cases remain (past the limit): distribute again

    @property
    def total(self):
        return sum(self.shares.values())


# Stored on each event, so in one language whoever pressed the button (pages translate event kinds).
DISTRIBUTED_REASON = "Distributed evenly across the queue %s."


def _resolve_queue(queue):
    if isinstance(queue, Queue):
        return queue
    lookup = {"pk": queue} if isinstance(queue, int) or (str(queue).isascii() and str(queue).isdigit()) else {"name": queue}
    found = Queue.objects.filter(**lookup).first()
    if found is None:
        raise DomainError("not_found", fields={"queue": [_("No such queue.")]})
    return found


def case_distribute_evenly(*, queue, actor=None, reason="", limit=DISTRIBUTE_LIMIT):
    """Assign a queue's unassigned open cases to the queue's collectors, fewest open cases first.

    The collectors are the queue's active members in the `collector` group. A collector's load is
    every open case assigned to them (in any queue). Cases are dealt out one at a time, highest
    priority and oldest arrears first, each to whoever has the lowest load at that moment (ties by
    username), so the loads end as even as the numbers allow: a collector already above the others'
    final load gets nothing. One `case_assign` call per collector that receives cases, all in one
    transaction; the unassigned cases are locked first, so two supervisors pressing the button at
    once do not hand the same case out twice. At most `limit` cases per call (the most urgent).

    Returns a Distribution: {username: cases assigned} (only those who got some, in username order)
    and whether unassigned cases remain beyond the limit.
    """
    actor = as_actor(actor)
    if not perms.may_assign(actor):
        raise DomainError("permission_denied")
    queue = _resolve_queue(queue)
    with transaction.atomic():
        collectors = list(
            queue.members.filter(is_active=True, groups__name=r.COLLECTOR).distinct().order_by("username")
        )
        if not collectors:
            raise invalid("queue", _("The queue “%s” has no collectors to distribute cases to.") % queue.name)
        unassigned = perms.visible_cases(actor, Case.objects.select_for_update(of=("self",))).filter(
            queue=queue, state__in=OPEN_STATES, assigned_to__isnull=True,
        )
        case_ids = list(
            unassigned.order_by("-priority", F("oldest_unpaid_due_date").asc(nulls_last=True), "pk")
            .values_list("pk", flat=True)[: limit + 1]
        )
        more_left = len(case_ids) > limit
        case_ids = case_ids[:limit]
        if not case_ids:
            return Distribution()
        loads = dict(
            Case.objects.filter(assigned_to__in=collectors, state__in=OPEN_STATES).order_by()
            .values_list("assigned_to").annotate(n=Count("pk")).values_list("assigned_to", "n")
        )
        heap = [(loads.get(u.pk, 0), u.username, u.pk) for u in collectors]
        heapq.heapify(heap)
        shares = {}
        for case_id in case_ids:
            load, username, user_pk = heapq.heappop(heap)
            shares.setdefault(user_pk, []).append(case_id)
            heapq.heappush(heap, (load + 1, username, user_pk))
        result = {}
        for user in collectors:
            ids = shares.get(user.pk)
            if ids:
                case_assign(case_ids=ids, actor=actor, assignee=user, reason=reason or DISTRIBUTED_REASON % queue.name)
                result[user.username] = len(ids)
    return Distribution(shares=result, more_left=more_left)
