"""The shared reads. Every list or page of cases goes through here, and here the actor's row scope
(permissions.visible_cases) is always applied. Each selector runs a fixed number of queries."""
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Prefetch, Q, Sum

from . import compliance
from .actors import as_actor
from .calendar import lender_today
from .errors import DomainError
from .models import Bucket, Case, CaseEvent, ContactAttempt, Hold, Instalment, Queue
from .permissions import visible_cases
from .workflow import OPEN_STATES


def _active_holds_prefetch():
    return Prefetch("borrower__holds", queryset=Hold.objects.active().order_by("starts_at"), to_attr="active_holds")


def case_queryset(actor):
    """Cases the actor may see, with what a case's representation needs, in three queries at most."""
    qs = (
        Case.objects.select_related("loan", "borrower", "assigned_to", "queue")
        .annotate(active_hold_exists=Exists(Hold.objects.active().filter(borrower_id=OuterRef("borrower_id"))))
        .prefetch_related(_active_holds_prefetch())
    )
    return visible_cases(actor, qs)


def case_list(actor, *, state=None, loan=None, borrower=None, assigned_to=None, queue=None,
              dpd_min=None, dpd_max=None, as_of=None):
    """Filtered cases (filters by the external ids clients know). DPD filters become date ranges on
    the stored oldest unpaid due date, so they use the index and need no per-row arithmetic."""
    as_of = as_of or lender_today()
    qs = case_queryset(actor)
    if state:
        qs = qs.filter(state=state)
    if loan:
        qs = qs.filter(loan__external_id=loan)
    if borrower:
        qs = qs.filter(borrower__external_id=borrower)
    if assigned_to:
        qs = qs.filter(assigned_to__username=assigned_to)
    if queue:
        qs = qs.filter(queue__name=queue)
    if dpd_min is not None and int(dpd_min) > 0:
        qs = qs.filter(oldest_unpaid_due_date__lte=as_of - timedelta(days=int(dpd_min)))
    if dpd_max is not None:
        qs = qs.filter(Q(oldest_unpaid_due_date__isnull=True) | Q(oldest_unpaid_due_date__gte=as_of - timedelta(days=int(dpd_max))))
    return qs.order_by("-updated_at", "-id")


def case_worklist(actor):
    """My open cases: highest priority first, then the earliest next action (none set comes first)."""
    actor = as_actor(actor)
    qs = case_queryset(actor).filter(state__in=OPEN_STATES)
    if actor.user is not None:
        qs = qs.filter(assigned_to=actor.user)
    return qs.order_by("-priority", F("next_action_at").asc(nulls_first=True), "id")


def cases_awaiting_visit_plan(actor):
    """The visit queue: cases in `visit` with no planned visit yet, oldest arrears first."""
    from .models import Visit

    planned = Visit.objects.filter(case=OuterRef("pk"), status=Visit.Status.PLANNED)
    return (
        case_queryset(actor).filter(state="visit").exclude(Exists(planned))
        .order_by(F("oldest_unpaid_due_date").asc(nulls_last=True), "id")
    )


def case_detail(actor, case_id):
    try:
        return case_queryset(actor).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise DomainError("not_found") from None


def case_timeline(actor, case_id, *, before_id=None, limit=50):
    """Events newest first, `limit` at a time; pass the last id seen as `before_id` for older ones."""
    case = case_detail(actor, case_id)
    qs = CaseEvent.objects.filter(case=case).select_related("actor_user").order_by("-at", "-id")
    if before_id is not None:
        anchor = CaseEvent.objects.filter(case=case, pk=before_id).values("at").first()
        if anchor is None:
            raise DomainError("validation_error", fields={"before": ["Unknown event."]})
        qs = qs.filter(Q(at__lt=anchor["at"]) | Q(at=anchor["at"], id__lt=before_id))
    return list(qs[:limit])


def queue_summary(actor):
    """Each queue with its open cases, amount overdue and unassigned count, in one query."""
    open_cases = Q(cases__state__in=OPEN_STATES)
    scoped = visible_cases(actor).filter(state__in=OPEN_STATES).values("pk")
    in_scope = open_cases & Q(cases__in=scoped)
    return (
        Queue.objects.annotate(
            open_cases=Count("cases", filter=in_scope),
            amount_overdue=Sum("cases__amount_overdue", filter=in_scope, default=Decimal("0")),
            unassigned=Count("cases", filter=in_scope & Q(cases__assigned_to__isnull=True)),
        ).order_by("name")
    )


def loan_arrears(loan_id, as_of):
    """(oldest unpaid due date, amount overdue) of a loan as of a date.

    Overdue means past its due date: an instalment due today is not yet late (DOMAIN.md note in
    docs/workflow.md).
    """
    row = Instalment.objects.filter(loan_id=loan_id, due_date__lt=as_of, amount_paid__lt=F("amount_due")).aggregate(
        oldest=Min("due_date"), amount=Sum(F("amount_due") - F("amount_paid"))
    )
    return row["oldest"], Decimal(row["amount"] or 0).quantize(Decimal("0.01"))


def bucket_list():
    return list(Bucket.objects.order_by("min_dpd"))


def bucket_for(dpd, buckets):
    for bucket in buckets:
        if bucket.contains(dpd):
            return bucket.name
    return None


def borrower_contact_facts(borrower, at=None):
    """What compliance.check_contact needs to know about a borrower (one query for holds)."""
    holds = list(Hold.objects.active(at).filter(borrower=borrower).values_list("code", "ends_at"))
    ends = [end for _, end in holds]
    return compliance.BorrowerFacts(
        time_zone=borrower.time_zone,
        consent_after_hours=borrower.consent_after_hours,
        consent_sms=borrower.consent_sms,
        consent_email=borrower.consent_email,
        active_hold_codes=frozenset(code for code, _ in holds),
        holds_end_at=None if (not ends or None in ends) else max(ends),
    )


def contact_counters(borrower, *, at, phone="", loan_id=None):
    """What the contact rules count, as of `at` (only what happened before it, so a call logged late
    is judged by the calls before it). Two queries.

    Per borrower and local day: connected calls, dials to `phone`. Per debt (`loan_id`): call
    attempts in the last 7 days and the last telephone conversation. Reachability: a borrower with
    no conversation in 30 days despite at least six calls counts as unreachable."""
    zone = ZoneInfo(borrower.time_zone)
    start = datetime.combine(at.astimezone(zone).date(), time(0), tzinfo=zone)
    month_ago, week_ago = at - timedelta(days=30), at - timedelta(days=7)
    calls = ContactAttempt.objects.filter(
        borrower=borrower, channel=ContactAttempt.Channel.CALL, occurred_at__gte=min(start, month_ago),
        occurred_at__lt=at,
    )
    outbound_today = Q(direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=start)
    this_debt = Q(case__loan_id=loan_id) if loan_id else Q(pk__in=[])
    conversation = Q(outcome__in=ContactAttempt.CONVERSATION)
    counts = calls.aggregate(
        connected=Count("pk", filter=outbound_today & Q(outcome__in=ContactAttempt.CONNECTED)),
        dials=Count("pk", filter=outbound_today & Q(phone=phone)) if phone else Count("pk", filter=Q(pk__in=[])),
        last_conversation=Max("occurred_at", filter=this_debt & conversation & Q(occurred_at__gte=week_ago - timedelta(days=1))),
        conversations_30=Count("pk", filter=conversation & Q(occurred_at__gte=month_ago)),
        attempts_30=Count("pk", filter=Q(direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=month_ago)),
    )
    attempts_7 = []
    if loan_id:
        attempts_7 = list(calls.filter(this_debt, direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=week_ago)
                          .values_list("occurred_at", flat=True))
    return compliance.Counters(
        connected_calls_today=counts["connected"],
        dials_to_number_today=counts["dials"],
        call_attempts_7_days=attempts_7,
        last_conversation_at=counts["last_conversation"],
        borrower_unreachable=counts["conversations_30"] == 0 and counts["attempts_30"] >= 6,
    )
