"""Reads of cases: the row-scoped case querysets, a case's detail (pages and API), the API's case
list and lookups, the timeline, and the DPD buckets every case answer needs. Each selector runs a
fixed number of queries and applies the actor's row scope (permissions.visible_cases)."""

from datetime import timedelta
from time import monotonic

from django.db.models import Exists, JSONField, OuterRef, Prefetch, Q, Subquery, TextField
from django.db.models.functions import Cast, JSONObject, Now
from django.utils.translation import gettext as _

from ..actors import as_actor
from ..calendar import lender_today
from ..errors import DomainError
from ..models import (
    Bucket,
    Case,
    CaseEvent,
    ContactAttempt,
    Hold,
    PlanInstalment,
    PromiseToPay,
    RepaymentPlan,
    VulnerabilityMarker,
)
from ..models.plans import OPEN_PLAN_STATUSES
from ..permissions import visible_cases
from ..prepared import PLACEHOLDER, PreparedQuery


def _active_holds_prefetch():
    return Prefetch("borrower__holds", queryset=Hold.objects.active().order_by("starts_at"), to_attr="active_holds")


def vulnerable_exists():
    """Whether the case's borrower carries an active vulnerability marker (the workflow asks it of a
    `call` or `visit` case: annotated, a list asks no query per row)."""
    return Exists(VulnerabilityMarker.objects.active().filter(borrower_id=OuterRef("borrower_id")))


def case_rows():
    """Cases with what their rows show (loan, borrower, assignee, queue, holds), not yet scoped."""
    return (
        Case.objects.select_related("loan", "borrower", "assigned_to", "queue")
        .annotate(
            active_hold_exists=Exists(Hold.objects.active().filter(borrower_id=OuterRef("borrower_id"))),
            vulnerable_exists=vulnerable_exists(),
        )
        .prefetch_related(_active_holds_prefetch())
    )


def case_queryset(actor):
    """Cases the actor may see, with what a case's representation needs, in three queries at most."""
    return visible_cases(actor, case_rows())


# What the API's case shape reads of the related rows (api/representation.case_dict): loading only
# these keeps the per-request ORM work of the detail and list near that of a bare case row.
API_RELATED_FIELDS = (
    "loan__external_id",
    "loan__currency",
    "borrower__external_id",
    "borrower__name",
    "assigned_to__username",
    "queue__name",
    "strategy__name",
)


def case_api_queryset(actor):
    """Cases the actor may see, for the API's case shape: one query, holds attached afterwards by
    `attach_active_holds` (one more query, and only when a borrower on the page is on hold)."""
    qs = (
        Case.objects.select_related("loan", "borrower", "assigned_to", "queue", "strategy")
        .only(*(f.name for f in Case._meta.concrete_fields), *API_RELATED_FIELDS)
        .annotate(
            active_hold_exists=Exists(Hold.objects.active().filter(borrower_id=OuterRef("borrower_id"))),
            vulnerable_exists=vulnerable_exists(),
        )
    )
    return visible_cases(actor, qs)


def attach_active_holds(cases):
    """Give each case's borrower its active holds (`active_holds`, as the prefetch would)."""
    on_hold = {c.borrower_id for c in cases if c.__dict__.get("active_hold_exists")}
    holds = {}
    if on_hold:
        for hold in Hold.objects.active().filter(borrower_id__in=on_hold).order_by("starts_at"):
            holds.setdefault(hold.borrower_id, []).append(hold)
    for case in cases:
        case.borrower.active_holds = holds.get(case.borrower_id, [])
    return cases


def _api_detail_annotations(holds):
    promise = (
        PromiseToPay.objects.filter(case_id=OuterRef("pk"), status=PromiseToPay.Status.PENDING)
        .order_by("pk")
        .values(j=JSONObject(amount=Cast("amount", TextField()), due_date="due_date"))[:1]
    )
    contact = (
        ContactAttempt.objects.filter(case_id=OuterRef("pk"))
        .order_by("-occurred_at", "-id")
        .values(j=JSONObject(channel="channel", outcome="outcome", occurred_at="occurred_at"))[:1]
    )
    # The open plan and its first unmet instalment, and the borrower's active vulnerability marker
    # (shown only with pii:read; read here so the detail stays one query).
    plan = (
        RepaymentPlan.objects.filter(case_id=OuterRef("pk"), status__in=OPEN_PLAN_STATUSES)
        .order_by("-pk")
        .values(
            j=JSONObject(
                id="id",
                kind="kind",
                status="status",
                next_due_date=_next_unmet("due_date"),
                next_amount=Cast(_next_unmet("amount"), TextField()),
            )
        )[:1]
    )
    vulnerability = (
        VulnerabilityMarker.objects.filter(borrower_id=OuterRef("borrower_id"), cleared_at__isnull=True)
        .order_by("-pk")
        .values(j=JSONObject(code="code", review_on="review_on", set_by="set_by"))[:1]
    )
    return {
        "active_hold_exists": Exists(holds.filter(borrower_id=OuterRef("borrower_id"))),
        "vulnerable_exists": vulnerable_exists(),
        "x_promise": Subquery(promise, output_field=JSONField()),
        "x_contact": Subquery(contact, output_field=JSONField()),
        "x_plan": Subquery(plan, output_field=JSONField()),
        "x_vulnerability": Subquery(vulnerability, output_field=JSONField()),
    }


def _next_unmet(column):
    """A column of the first unmet instalment of the plan in the enclosing query."""
    return Subquery(
        PlanInstalment.objects.filter(plan_id=OuterRef("pk"), met=False).order_by("number").values(column)[:1]
    )


def open_plans(case_ids):
    """{case id: (plan id, kind, status, next due date, next amount)} of the cases' open plans
    (proposed or active), next = the first unmet instalment: one query for a page of cases (none
    when the page is empty), so the API's case list keeps its fixed count."""
    if not case_ids:
        return {}
    rows = (
        RepaymentPlan.objects.filter(case_id__in=set(case_ids), status__in=OPEN_PLAN_STATUSES)
        .annotate(next_due_date=_next_unmet("due_date"), next_amount=_next_unmet("amount"))
        .values_list("case_id", "id", "kind", "status", "next_due_date", "next_amount")
    )
    return {row[0]: row[1:] for row in rows}


_CASE_ATTNAMES = tuple(f.attname for f in Case._meta.concrete_fields)
_RELATED_COLUMNS = {  # related model -> (its id column on the case, the columns read)
    "loan": ("loan_id", ("external_id", "currency")),
    "borrower": ("borrower_id", ("external_id", "name")),
    "assigned_to": ("assigned_to_id", ("username",)),
    "queue": ("queue_id", ("name",)),
}
_EXTRA_COLUMNS = ("active_hold_exists", "vulnerable_exists", "x_promise", "x_contact", "x_plan", "x_vulnerability")


def _build_api_detail():
    """The case detail's query for an actor who sees every case (API clients), with the case id
    as the prepared parameter and the hold test against the database's clock."""
    now = Now()
    holds = Hold.objects.filter(lifted_at__isnull=True, starts_at__lte=now).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    related = [f"{name}__{column}" for name, (_fk, columns) in _RELATED_COLUMNS.items() for column in columns]
    return (
        Case.objects.filter(pk=PLACEHOLDER)
        .annotate(**_api_detail_annotations(holds))
        .values_list(*_CASE_ATTNAMES, *related, *_EXTRA_COLUMNS)
    )


_API_DETAIL = PreparedQuery(_build_api_detail)


def _case_from_row(row):
    """A Case (with its loan, borrower, assignee and queue holding the columns read) from a row of
    the prepared detail query, as the ORM path would load it."""
    values = iter(row)
    case = Case.from_db("default", _CASE_ATTNAMES, [next(values) for _ in _CASE_ATTNAMES])
    for name, (fk, columns) in _RELATED_COLUMNS.items():
        read = [next(values) for _ in columns]
        related_id = getattr(case, fk)
        model = Case._meta.get_field(name).related_model
        pk_name = model._meta.pk.attname
        obj = None if related_id is None else model.from_db("default", (pk_name, *columns), (related_id, *read))
        setattr(case, name, obj)
    for name in _EXTRA_COLUMNS:
        case.__dict__[name] = next(values)
    return case


def active_hold_codes(borrower_ids):
    """{borrower id: sorted codes of its active holds} for the borrowers given (one query; none
    when the set is empty)."""
    codes = {}
    if borrower_ids:
        for borrower_id, code in (
            Hold.objects.active().filter(borrower_id__in=set(borrower_ids)).values_list("borrower_id", "code")
        ):
            codes.setdefault(borrower_id, set()).add(code)
    return {borrower_id: sorted(found) for borrower_id, found in codes.items()}


def case_api_detail(actor, case_id):
    """One case for the API with its open promise, last contact, open plan and the borrower's active
    vulnerability marker folded into the same query (`x_promise`, `x_contact`, `x_plan`,
    `x_vulnerability`: dicts or None). For an actor who sees every case (an API client),
    a query prepared once per process; otherwise the same read through the row scope."""
    actor = as_actor(actor)
    if not isinstance(case_id, int) or not 0 < case_id < 2**63:
        raise DomainError("not_found")
    if actor.sees_everything:
        row = _API_DETAIL.first(case_id)
        if row is None:
            raise DomainError("not_found")
        case = _case_from_row(row)
    else:
        qs = case_api_queryset(actor).annotate(**_api_detail_annotations(Hold.objects.active()))
        case = qs.filter(pk=case_id).first()
        if case is None:
            raise DomainError("not_found")
    attach_active_holds([case])
    return case


def filter_given(qs, **lookups):
    """`qs` filtered on each lookup whose value is given (not empty), one filter after the other."""
    for lookup, value in lookups.items():
        if value:
            qs = qs.filter(**{lookup: value})
    return qs


def newest_first_page(qs, *, before=None, limit):
    """One page of `qs`, newest first by id, keyset on id (pass the last id shown as `before`).
    Returns (rows, next_before), next_before None on the last page."""
    rows = list(filter_given(qs, pk__lt=before).order_by("-pk")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def case_list(
    actor, *, state=None, loan=None, borrower=None, assigned_to=None, queue=None, dpd_min=None, dpd_max=None, as_of=None
):
    """Filtered cases (filters by the external ids clients know). DPD filters become date ranges on
    the stored oldest unpaid due date, so they use the index and need no per-row arithmetic."""
    as_of = as_of or lender_today()
    qs = filter_given(
        case_api_queryset(actor),
        state=state,
        loan__external_id=loan,
        borrower__external_id=borrower,
        assigned_to__username=assigned_to,
        queue__name=queue,
    )
    if dpd_min is not None and int(dpd_min) > 0:
        qs = qs.filter(oldest_unpaid_due_date__lte=as_of - timedelta(days=int(dpd_min)))
    if dpd_max is not None:
        qs = qs.filter(
            Q(oldest_unpaid_due_date__isnull=True) | Q(oldest_unpaid_due_date__gte=as_of - timedelta(days=int(dpd_max)))
        )
    return qs.order_by("-updated_at", "-id")


def _plans_prefetch():
    """A case's plans, newest first, each with its instalments in order (two queries, whatever the
    number of plans and instalments): `case.plan_list`, `plan.instalment_list`."""
    instalments = Prefetch("instalments", queryset=PlanInstalment.objects.order_by("number"), to_attr="instalment_list")
    return Prefetch(
        "plans",
        queryset=RepaymentPlan.objects.order_by("-created_at", "-id").prefetch_related(instalments),
        to_attr="plan_list",
    )


def case_detail(actor, case_id, *, with_plans=False):
    """One case through the actor's row scope; `with_plans`: its plans and their instalments too
    (the case page)."""
    qs = case_queryset(actor)
    if with_plans:
        qs = qs.prefetch_related(_plans_prefetch())
    try:
        case = qs.get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise DomainError("not_found") from None
    case._visible_to = as_actor(actor).label  # reached through the row scope: may() need not ask again
    return case


def case_timeline(actor, case_id=None, *, case=None, before_id=None, limit=50):
    """Events newest first, `limit` at a time; pass the last id seen as `before_id` for older ones.
    Give `case` when case_detail has just read it for this actor (its row scope is not asked again);
    for a `case_id` the scope is asked with one light query."""
    if case is not None and getattr(case, "_visible_to", None) == as_actor(actor).label:
        case_id = case.pk
    else:
        case_id = case.pk if case is not None else case_id
        try:
            visible = visible_cases(actor).filter(pk=case_id).exists()
        except (ValueError, TypeError):
            visible = False
        if not visible:
            raise DomainError("not_found")
    qs = CaseEvent.objects.filter(case_id=case_id).select_related("actor_user").order_by("-at", "-id")
    if before_id is not None:
        anchor = CaseEvent.objects.filter(case_id=case_id, pk=before_id).values("at").first()
        if anchor is None:
            raise DomainError("validation_error", fields={"before": [_("Unknown event.")]})
        qs = qs.filter(Q(at__lt=anchor["at"]) | Q(at=anchor["at"], id__lt=before_id))
    return list(qs[:limit])


def case_plans(actor, case_id):
    """The case's plans, newest first, each with its instalments in order (three queries: the case
    through the actor's row scope, the plans, their instalments); 404 when the case is not theirs."""
    if not isinstance(case_id, int) or not 0 < case_id < 2**63:
        raise DomainError("not_found")
    case = visible_cases(actor).filter(pk=case_id).values("pk", "borrower_id").first()
    if case is None:
        raise DomainError("not_found")
    plans = list(
        RepaymentPlan.objects.filter(case_id=case_id)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("instalments", queryset=PlanInstalment.objects.order_by("number")))
    )
    return case["borrower_id"], plans


_BUCKETS_TTL_SECONDS = 10.0
_buckets_cache = {}


def bucket_list():
    """The DPD buckets, kept a few seconds in the process: every case answer needs them and they
    change about never (a change is seen at once here and within the TTL in other processes)."""
    now = monotonic()
    cached = _buckets_cache.get("rows")
    if cached is not None and _buckets_cache["until"] > now:
        return cached
    rows = list(Bucket.objects.order_by("min_dpd"))
    _buckets_cache.update(rows=rows, until=now + _BUCKETS_TTL_SECONDS)
    return rows


def bucket_list_forget(**_kwargs):
    _buckets_cache.clear()


def bucket_for(dpd, buckets):
    for bucket in buckets:
        if bucket.contains(dpd):
            return bucket.name
    return None
