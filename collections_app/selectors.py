"""The shared reads. Every list or page of cases goes through here, and here the actor's row scope
(permissions.visible_cases) is always applied. Each selector runs a fixed number of queries."""
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from zoneinfo import ZoneInfo

from django.db.models import (
    Count, DecimalField, Exists, F, JSONField, Max, Min, OuterRef, Prefetch, Q, Subquery, Sum, TextField, Value,
)
from django.db.models.functions import Cast, Coalesce, JSONObject, Now

from . import compliance
from .actors import as_actor
from .calendar import lender_today
from .errors import DomainError
from .masking import mask_name
from .models import Bucket, Case, CaseEvent, ContactAttempt, Hold, Instalment, PromiseToPay, Queue
from .permissions import ASSIGNEE_ROLES, DISTRIBUTION_ROLES, visible_cases
from .prepared import PLACEHOLDER, PreparedQuery
from .workflow import OPEN_STATES


def _active_holds_prefetch():
    return Prefetch("borrower__holds", queryset=Hold.objects.active().order_by("starts_at"), to_attr="active_holds")


def _case_rows():
    """Cases with what their rows show (loan, borrower, assignee, queue, holds), not yet scoped."""
    return (
        Case.objects.select_related("loan", "borrower", "assigned_to", "queue")
        .annotate(active_hold_exists=Exists(Hold.objects.active().filter(borrower_id=OuterRef("borrower_id"))))
        .prefetch_related(_active_holds_prefetch())
    )


def case_queryset(actor):
    """Cases the actor may see, with what a case's representation needs, in three queries at most."""
    return visible_cases(actor, _case_rows())


# What the API's case shape reads of the related rows (api/cases/representation.case_dict): loading only
# these keeps the per-request ORM work of the detail and list near that of a bare case row.
_API_RELATED_FIELDS = ("loan__external_id", "loan__currency", "borrower__external_id", "borrower__name",
                       "assigned_to__username", "queue__name")


def case_api_queryset(actor):
    """Cases the actor may see, for the API's case shape: one query, holds attached afterwards by
    `attach_active_holds` (one more query, and only when a borrower on the page is on hold)."""
    qs = (
        Case.objects.select_related("loan", "borrower", "assigned_to", "queue")
        .only(*(f.name for f in Case._meta.concrete_fields), *_API_RELATED_FIELDS)
        .annotate(active_hold_exists=Exists(Hold.objects.active().filter(borrower_id=OuterRef("borrower_id"))))
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
    promise = (PromiseToPay.objects.filter(case_id=OuterRef("pk"), status=PromiseToPay.Status.PENDING)
               .order_by("pk").values(j=JSONObject(amount=Cast("amount", TextField()), due_date="due_date"))[:1])
    contact = (ContactAttempt.objects.filter(case_id=OuterRef("pk")).order_by("-occurred_at", "-id")
               .values(j=JSONObject(channel="channel", outcome="outcome", occurred_at="occurred_at"))[:1])
    return {"active_hold_exists": Exists(holds.filter(borrower_id=OuterRef("borrower_id"))),
            "x_promise": Subquery(promise, output_field=JSONField()),
            "x_contact": Subquery(contact, output_field=JSONField())}


_CASE_ATTNAMES = tuple(f.attname for f in Case._meta.concrete_fields)
_RELATED_COLUMNS = {  # related model -> (its id column on the case, the columns read)
    "loan": ("loan_id", ("external_id", "currency")),
    "borrower": ("borrower_id", ("external_id", "name")),
    "assigned_to": ("assigned_to_id", ("username",)),
    "queue": ("queue_id", ("name",)),
}
_EXTRA_COLUMNS = ("active_hold_exists", "x_promise", "x_contact")


def _build_api_detail():
    """The case detail's query for an actor who sees every case (API clients), with the case id
    as the prepared parameter and the hold test against the database's clock."""
    now = Now()
    holds = Hold.objects.filter(lifted_at__isnull=True, starts_at__lte=now).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    related = [f"{name}__{column}" for name, (_fk, columns) in _RELATED_COLUMNS.items() for column in columns]
    return (Case.objects.filter(pk=PLACEHOLDER).annotate(**_api_detail_annotations(holds))
            .values_list(*_CASE_ATTNAMES, *related, *_EXTRA_COLUMNS))


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
        for borrower_id, code in (Hold.objects.active().filter(borrower_id__in=set(borrower_ids))
                                  .values_list("borrower_id", "code")):
            codes.setdefault(borrower_id, set()).add(code)
    return {borrower_id: sorted(found) for borrower_id, found in codes.items()}


def case_api_detail(actor, case_id):
    """One case for the API with its open promise and last contact folded into the same query
    (`x_promise`, `x_contact`: dicts or None). For an actor who sees every case (an API client),
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


def loan_case_ref(actor, loan_id, *, payment_external_id=None):
    """`{"id", "state"}` of the loan's case that an answer about the loan may name, or None: the
    case the payment `payment_external_id` (or its reversal) was booked on, else the loan's most
    recent case — among the cases this actor may see (a client without `cases:read` sees none)."""
    cases = visible_cases(actor, Case.objects.filter(loan_id=loan_id)).order_by("-opened_at", "-id")
    if payment_external_id is not None:
        about_payment = CaseEvent.objects.filter(
            case=OuterRef("pk"), kind__in=("payment_recorded", "payment_reversed"),
            payload__external_id=payment_external_id)
        row = cases.filter(Exists(about_payment)).values("id", "state").first()
        if row is not None:
            return row
        cases = cases.filter(state__in=OPEN_STATES)
    return cases.values("id", "state").first()


def case_list(actor, *, state=None, loan=None, borrower=None, assigned_to=None, queue=None,
              dpd_min=None, dpd_max=None, as_of=None):
    """Filtered cases (filters by the external ids clients know). DPD filters become date ranges on
    the stored oldest unpaid due date, so they use the index and need no per-row arithmetic."""
    as_of = as_of or lender_today()
    qs = case_api_queryset(actor)
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


@dataclass(frozen=True)
class WorklistFilters:
    stage: str = ""
    bucket: str = ""
    promise_due: bool = False
    never_contacted: bool = False
    search: str = ""
    sort: str = ""  # "" (the priority order) or a key of WORKLIST_SORTS


# The columns a person may sort the worklist by, on request (`?sort=`): key -> (column, descending).
# "K" is ascending by what the column shows, "-K" descending. Nulls always come last; the case id
# breaks ties, so every order is total and pages by keyset (SortCursor).
WORKLIST_SORTS = {
    "dpd": ("oldest_unpaid_due_date", True),  # fewest days past due first: the latest due date
    "-dpd": ("oldest_unpaid_due_date", False),
    "amount": ("amount_overdue", False),
    "-amount": ("amount_overdue", True),
    "next_action": ("next_action_at", False),
    "-next_action": ("next_action_at", True),
}

# The worklist counts its matches exactly up to this many, then says "1,000+" (a LIMIT count).
WORKLIST_COUNT_CAP = 1000


@dataclass(frozen=True)
class WorklistCursor:
    """Keyset position in the worklist order (priority desc, next action asc nulls first, id)."""

    priority: int
    next_action_at: datetime | None
    id: int

    def encode(self):
        stamp = self.next_action_at.isoformat() if self.next_action_at else ""
        return f"{self.priority}|{stamp}|{self.id}"

    @classmethod
    def decode(cls, text):
        try:
            priority, stamp, pk = text.split("|")
            return cls(int(priority), datetime.fromisoformat(stamp) if stamp else None, int(pk))
        except (ValueError, AttributeError):
            raise DomainError("validation_error", fields={"after": ["Bad position in the list."]}) from None

    def after_q(self):
        later = Q(priority__lt=self.priority)
        if self.next_action_at is None:
            same_priority = Q(next_action_at__isnull=False) | Q(next_action_at__isnull=True, id__gt=self.id)
        else:
            same_priority = Q(next_action_at__gt=self.next_action_at) | Q(next_action_at=self.next_action_at, id__gt=self.id)
        return later | (Q(priority=self.priority) & same_priority)

    @staticmethod
    def of(case, sort=""):
        if sort:
            column = WORKLIST_SORTS[sort][0]
            return SortCursor(sort, getattr(case, column), case.pk)
        return WorklistCursor(case.priority, case.next_action_at, case.pk)


_SORT_VALUE_PARSERS = {
    "oldest_unpaid_due_date": date.fromisoformat,
    "amount_overdue": Decimal,
    "next_action_at": datetime.fromisoformat,
}


@dataclass(frozen=True)
class SortCursor:
    """Keyset position in a worklist sorted by one column (nulls last), then id."""

    sort: str
    value: object
    id: int

    def encode(self):
        value = self.value
        value = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
        return f"{self.sort}|{value}|{self.id}"

    @classmethod
    def decode(cls, text, sort):
        try:
            key, value, pk = text.split("|")
            if key != sort:
                raise ValueError(key)
            column = WORKLIST_SORTS[sort][0]
            return cls(sort, _SORT_VALUE_PARSERS[column](value) if value else None, int(pk))
        except (ValueError, AttributeError, KeyError, ArithmeticError):
            raise DomainError("validation_error", fields={"after": ["Bad position in the list."]}) from None

    def after_q(self):
        column, descending = WORKLIST_SORTS[self.sort]
        if self.value is None:
            return Q(**{f"{column}__isnull": True, "id__gt": self.id})
        beyond = Q(**{f"{column}__{'lt' if descending else 'gt'}": self.value})
        return beyond | Q(**{column: self.value, "id__gt": self.id}) | Q(**{f"{column}__isnull": True})


def worklist_cursor_decode(text, sort=""):
    """The `after` parameter of a worklist page, for the page's order (a cursor of another order is
    refused: a header click starts again at the first page)."""
    if sort:
        return SortCursor.decode(text, sort)
    return WorklistCursor.decode(text)


def _worklist_order(qs, sort=""):
    if sort:
        column, descending = WORKLIST_SORTS[sort]
        key = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
        return qs.order_by(key, "id")
    return qs.order_by("-priority", F("next_action_at").asc(nulls_first=True), "id")


def _worklist_filtered(actor, filters, as_of):
    """The actor's open worklist cases matching the filters: no joins beyond what a filter needs."""
    from .models import PromiseToPay

    if filters.sort and filters.sort not in WORKLIST_SORTS:
        raise DomainError("validation_error", fields={"sort": ["Unknown sort."]})
    due_today = PromiseToPay.objects.filter(case=OuterRef("pk"), status=PromiseToPay.Status.PENDING, due_date=as_of)
    if actor.user is None:
        qs = visible_cases(actor, Case.objects.all())
    else:
        qs = visible_cases(actor, Case.objects.all(), assigned_to_me=True)
    qs = qs.filter(state__in=OPEN_STATES)
    if filters.stage:
        qs = qs.filter(state=filters.stage)
    if filters.bucket:
        bucket = Bucket.objects.filter(name=filters.bucket).first()
        if bucket is None:
            raise DomainError("validation_error", fields={"bucket": ["Unknown bucket."]})
        qs = qs.filter(oldest_unpaid_due_date__lte=as_of - timedelta(days=bucket.min_dpd))
        if bucket.max_dpd is not None:
            qs = qs.filter(oldest_unpaid_due_date__gte=as_of - timedelta(days=bucket.max_dpd))
    if filters.promise_due:
        qs = qs.filter(Exists(due_today))
    if filters.never_contacted:
        qs = qs.exclude(Exists(ContactAttempt.objects.filter(case=OuterRef("pk"))))
    term = filters.search.strip()
    if term:
        qs = qs.annotate(phones_text=Cast("borrower__phones", TextField())).filter(_search_q(term))
    return qs


def case_worklist_count(actor, filters=WorklistFilters(), *, as_of=None, cap=None):
    """How many cases the worklist's filters match, counted only up to `cap` + 1 (one
    `SELECT COUNT(*) FROM (... LIMIT cap + 1)`): never a count over the whole portfolio.
    Returns (count, more): `more` is True when there are more than `cap` (count is then `cap`)."""
    actor = as_actor(actor)
    cap = WORKLIST_COUNT_CAP if cap is None else cap
    qs = _worklist_filtered(actor, filters, as_of or lender_today())
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def case_worklist_page(actor, filters=WorklistFilters(), *, after=None, limit=50, as_of=None):
    """One page of the worklist with what its rows show (promise due today, last contact); paged by
    keyset, never by counting. Returns (rows, cursor of the next page or None). The order is the
    priority order, or one column of WORKLIST_SORTS when `filters.sort` names it.

    Two steps, so each is planned for what it is: the page's ids from the actor's own cases, filtered
    and ordered (no joins, no per-row subqueries); then those rows with their loan, borrower,
    promise and last contact. Folded into one statement, PostgreSQL weighed the subqueries against
    every case of the collector and hashed all of today's promises and holds for each page."""
    from .models import PromiseToPay

    actor = as_actor(actor)
    as_of = as_of or lender_today()
    qs = _worklist_filtered(actor, filters, as_of)
    if after is not None:
        if isinstance(after, SortCursor) != bool(filters.sort) or getattr(after, "sort", "") != filters.sort:
            raise DomainError("validation_error", fields={"after": ["Bad position in the list."]})
        qs = qs.filter(after.after_q())
    ids = list(_worklist_order(qs, filters.sort).values_list("pk", flat=True)[: limit + 1])
    more = len(ids) > limit
    ids = ids[:limit]
    due_today = PromiseToPay.objects.filter(case=OuterRef("pk"), status=PromiseToPay.Status.PENDING, due_date=as_of)
    found = {c.pk: c for c in _case_rows().filter(pk__in=ids).annotate(
        promise_due_today=Exists(due_today),
        last_contact_at=Subquery(ContactAttempt.objects.filter(case=OuterRef("pk"))
                                 .order_by("-occurred_at").values("occurred_at")[:1]),
    )} if ids else {}
    rows = [found[pk] for pk in ids if pk in found]
    cursor = WorklistCursor.of(rows[-1], filters.sort) if more and rows else None
    return rows, cursor


def _search_q(term):
    """Loan number, the last four digits of a phone (shown in the masked number), or a name as the
    searcher sees it: masked (docs/privacy.md)."""
    if term.isascii() and term.isdigit() and len(term) == 4:
        # phones is a JSON list: its text holds each number followed by a quote.
        return Q(phones_text__contains=f'{term}"')
    return Q(loan__external_id__iexact=term) | masked_name_q(term)


def masked_name_q(term, field="borrower__name"):
    """Names that match `term` only as far as the searcher can see them: by their masked form.

    A list shows `王**` for 王小明, so a name term is masked the same way and compared with the masked
    names: `王小明`, `王大明` and `王**` all find every three-character name starting with 王, and a
    guess of the full name tells nothing the list did not. One character finds the names starting
    with it. Latin names keep each part's first letter and length (`J*** S****`), case-insensitively."""
    term = " ".join(term.split())
    if len(term) == 1:
        return Q(**{f"{field}__istartswith": term})
    pattern = "".join("." if c == "*" else c if (c.isalnum() or c == " ") else "\\" + c for c in mask_name(term))
    return Q(**{f"{field}__iregex": f"^{pattern}$"})


def case_detail(actor, case_id):
    try:
        case = case_queryset(actor).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise DomainError("not_found") from None
    case._visible_to = as_actor(actor).label  # reached through the row scope: may() need not ask again
    return case


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
    """Each queue with its open cases, amount overdue and unassigned count, in one query.

    The scoped open cases are grouped by queue in a subquery and joined to the queues; filtering the
    queues' reverse relation by `cases__in=<scoped cases>` instead made PostgreSQL re-scan the case
    table per row at a million cases (see queue_floor)."""
    scoped = visible_cases(actor, Case.objects.filter(state__in=OPEN_STATES)).filter(queue_id=OuterRef("pk")).order_by()
    per_queue = scoped.values("queue_id")
    return Queue.objects.annotate(
        open_cases=Coalesce(Subquery(per_queue.annotate(n=Count("pk")).values("n")[:1]), 0),
        amount_overdue=Coalesce(Subquery(per_queue.annotate(a=Sum("amount_overdue")).values("a")[:1]),
                                Value(Decimal("0.00")), output_field=DecimalField(max_digits=14, decimal_places=2)),
        unassigned=Coalesce(Subquery(per_queue.filter(assigned_to__isnull=True).annotate(n=Count("pk")).values("n")[:1]), 0),
    ).order_by("name")


def loan_arrears(loan_id, as_of):
    """(oldest unpaid due date, amount overdue) of a loan as of a date.

    Overdue means past its due date: an instalment due today is not yet late (DOMAIN.md note in
    docs/workflow.md).
    """
    row = Instalment.objects.filter(loan_id=loan_id, due_date__lt=as_of, amount_paid__lt=F("amount_due")).aggregate(
        oldest=Min("due_date"), amount=Sum(F("amount_due") - F("amount_paid"))
    )
    return row["oldest"], Decimal(row["amount"] or 0).quantize(Decimal("0.01"))


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
        visible_cases(actor, Case.objects.filter(state__in=OPEN_STATES)).order_by()
        .values_list("queue_id", "assigned_to_id").annotate(n=Count("pk"), amount=Sum("amount_overdue"))
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
    queues = list(Queue.objects.order_by("name").prefetch_related(
        Prefetch("members", queryset=collectors, to_attr="collectors")))
    for queue in queues:
        for field, value in per_queue.get(queue.pk, empty).items():
            setattr(queue, field, value)
        queue.collector_loads = [(u.username, per_queue_user.get((queue.pk, u.pk), 0)) for u in queue.collectors]

    User = get_user_model()
    is_collector = Exists(User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name__in=DISTRIBUTION_ROLES))
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


def case_assign_list(actor, *, queue_id=None, state=None, assigned_to=None, bucket=None, loan=None,
                     after=None, limit=50, as_of=None):
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
    from .models import LegalReferral

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
    from .models import LegalReferral

    return list(
        _referrals_in_scope(actor).filter(status=LegalReferral.Status.REQUESTED)
        .order_by("requested_at", "pk")[:limit]
    )


def legal_referrals_decided(actor, *, limit=20):
    """The latest decisions, newest first (one query)."""
    from .models import LegalReferral

    return list(
        _referrals_in_scope(actor).exclude(status=LegalReferral.Status.REQUESTED)
        .order_by(F("decided_at").desc(nulls_last=True), "-pk")[:limit]
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
        borrower_id=OuterRef("borrower_id"), outcome=ContactAttempt.Outcome.DISPUTE_RAISED,
        actor=OuterRef("placed_by_label"),
    )
    qs = Hold.objects.active().filter(
        code=Hold.Code.DISPUTE, source=Hold.Source.STAFF, placed_by_label__startswith="user:",
    ).filter(Exists(raised))
    if code:
        qs = qs.filter(code=code)
    if source:
        qs = qs.filter(source=source)
    return list(_holds_in_scope(actor, qs).select_related("borrower", "placed_by").order_by("placed_at", "pk")[:limit])


def holds_active(actor, *, exclude_ids=(), before=None, limit=100, code="", source=""):
    """Active holds, newest first, `limit` at a time (keyset on id: pass the last id as `before`),
    optionally of one `code` and/or `source`. Returns (holds, next_before). One query."""
    qs = Hold.objects.active().exclude(pk__in=list(exclude_ids))
    if code:
        qs = qs.filter(code=code)
    if source:
        qs = qs.filter(source=source)
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(_holds_in_scope(actor, qs).select_related("borrower", "placed_by").order_by("-pk")[: limit + 1])
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].pk
    return rows, None


def contact_breaches(actor, *, days=30, limit=100, now=None, before=None):
    """Contacts recorded in the last `days` days that broke a contact rule, newest first (one query).
    `before` (a BreachCursor) pages on: with it, the answer is (rows, next cursor or None)."""
    from django.utils import timezone

    since = (now or timezone.now()) - timedelta(days=days)
    qs = ContactAttempt.objects.filter(occurred_at__gte=since).exclude(breach="")
    if not as_actor(actor).sees_everything:
        qs = qs.filter(case__in=visible_cases(actor).values("pk"))
    if before is not None and before is not BreachCursor.FIRST:
        qs = qs.filter(Q(occurred_at__lt=before.occurred_at) | Q(occurred_at=before.occurred_at, pk__lt=before.id),
                       occurred_at__lte=before.occurred_at)
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
            raise DomainError("validation_error", fields={"breaches_before": ["Bad position in the list."]}) from None


BreachCursor.FIRST = BreachCursor(None, 0)


def contact_policies_for(products):
    """{product: its contact policy} (its strategy's, or the default strategy's, or the setting's), in
    one query: for pages that show several loans' contact windows."""
    from django.conf import settings

    from .models import Strategy

    strategies = {s.product: s for s in Strategy.objects.filter(product__in=[*set(products), ""])}
    policies = {}
    for product in set(products):
        strategy = strategies.get(product) or strategies.get("")
        policies[product] = compliance.policy_named(
            strategy.contact_policy if strategy else settings.COLLECTIONS_CONTACT_POLICY)
    return policies
