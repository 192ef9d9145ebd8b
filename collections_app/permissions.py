"""Who may do what, and which cases they may see: pure predicates over an `Actor`.

The transition predicates are django-fsm `permission=` callables: (case, actor) -> bool.
Visibility is separate (`visible_cases`): a service first finds the case through the actor's
scope (404 otherwise), then asks whether the actor may act on it.
"""
from django.db.models import Exists, OuterRef, Q

from . import roles as r
from .actors import as_actor


def _writer(actor):
    return not actor.is_read_only


def may_escalate(case, actor):
    actor = as_actor(actor)
    if actor.is_system or actor.is_superuser:
        return True
    if actor.is_client:
        return actor.has_scope(r.SCOPE_CASES_WRITE)
    return _writer(actor) and actor.has_role(r.COLLECTOR, r.SUPERVISOR, r.ADMIN)


def may_refer_to_legal(case, actor):
    actor = as_actor(actor)
    if actor.is_superuser:
        return True
    return actor.is_person and actor.has_role(r.SUPERVISOR, r.LEGAL_OFFICER, r.ADMIN)


def may_manage(case, actor):
    actor = as_actor(actor)
    if actor.is_superuser:
        return True
    if actor.is_client:
        return actor.has_scope(r.SCOPE_CASES_MANAGE)
    return actor.has_role(*r.MANAGER_ROLES)


def system_only(case, actor):
    return as_actor(actor).is_system


def may_work_case(actor):
    """Log contacts, record promises, add notes, request a legal referral."""
    actor = as_actor(actor)
    if actor.is_system or actor.is_superuser:
        return True
    if actor.is_client:
        return actor.has_scope(r.SCOPE_CASES_WRITE)
    return _writer(actor) and actor.has_role(r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR, r.ADMIN)


def may_decide_legal_referral(actor):
    actor = as_actor(actor)
    return actor.is_superuser or (actor.is_person and actor.has_role(r.SUPERVISOR, r.LEGAL_OFFICER, r.ADMIN))


def may_place_hold(actor):
    actor = as_actor(actor)
    if actor.is_system or actor.is_superuser:
        return True
    if actor.is_client:
        return actor.has_scope(r.SCOPE_LOANS_WRITE) or actor.has_scope(r.SCOPE_CASES_MANAGE)
    return actor.has_role(*r.MANAGER_ROLES)


def may_assign(actor, queue=None):
    """Assigning work is a supervisor's job (or a client with cases:manage)."""
    return may_manage(None, actor)


def may_record_payment(actor):
    actor = as_actor(actor)
    if actor.is_system or actor.is_superuser:
        return True
    if actor.is_client:
        return actor.has_scope(r.SCOPE_PAYMENTS_WRITE)
    return actor.has_role(*r.MANAGER_ROLES)


def may_reveal_pii(actor):
    actor = as_actor(actor)
    if actor.is_client:
        return actor.has_scope(r.SCOPE_PII_READ)
    return actor.is_system or actor.is_superuser or bool(actor.roles)


def visible_cases(actor, queryset=None, *, assigned_to_me=False):
    """The one row-scope rule of CONTRACT.md, applied by every list, page and service.

    `assigned_to_me`: only the cases assigned to the actor (the worklist). The rule grants a
    collector every case assigned to them, so for a collector that filter is the whole condition:
    written alone it lets PostgreSQL estimate the collector's cases, where the rule's OR beside the
    same `assigned_to` made it guess one row and AND in an index of 250,000 cases."""
    from .models import Case, LegalReferral, Queue, Visit

    actor = as_actor(actor)
    qs = queryset if queryset is not None else Case.objects.all()
    if assigned_to_me:
        if actor.user is None:
            return qs.none()
        qs = qs.filter(assigned_to=actor.user)
        if actor.has_role(r.COLLECTOR):
            return qs
    if actor.sees_everything:
        return qs
    if actor.is_client:
        return qs.none()
    user = actor.user
    scope = Q(pk__in=[])
    if actor.has_role(r.COLLECTOR):
        member_of_queue = Exists(Queue.members.through.objects.filter(queue_id=OuterRef("queue_id"), user=user))
        scope |= Q(assigned_to=user) | (Q(assigned_to__isnull=True) & Q(member_of_queue))
    if actor.has_role(r.FIELD_AGENT):
        scope |= Q(Exists(Visit.objects.filter(case=OuterRef("pk"), agents=user)))
    if actor.has_role(r.LEGAL_OFFICER):
        scope |= Q(state="legal") | Q(
            Exists(LegalReferral.objects.filter(case=OuterRef("pk"), status=LegalReferral.Status.REQUESTED))
        )
    return qs.filter(scope)
