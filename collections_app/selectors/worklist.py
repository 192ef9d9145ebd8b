"""A person's worklist: their open cases in the priority order (or one sorted column), filtered,
searched by what the searcher can see, counted up to a cap, and paged by keyset."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Q, Subquery, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from ..actors import as_actor
from ..calendar import lender_today
from ..errors import DomainError
from ..masking import mask_name
from ..models import Bucket, Case, ContactAttempt, PlanInstalment, PlanStatus, PromiseToPay, RepaymentPlan
from ..permissions import visible_cases
from ..workflow import OPEN_STATES
from .cases import case_queryset, case_rows


def case_worklist(actor):
    """My open cases: highest priority first, then the earliest next action (none set comes first)."""
    actor = as_actor(actor)
    qs = case_queryset(actor).filter(state__in=OPEN_STATES)
    if actor.user is not None:
        qs = qs.filter(assigned_to=actor.user)
    return qs.order_by("-priority", F("next_action_at").asc(nulls_first=True), "id")


@dataclass(frozen=True)
class WorklistFilters:
    stage: str = ""
    bucket: str = ""
    promise_due: bool = False
    never_contacted: bool = False
    on_plan: bool = False
    plan_due_today: bool = False  # an unmet instalment of the active plan falls due today
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
            raise DomainError("validation_error", fields={"after": [_("Bad position in the list.")]}) from None

    def after_q(self):
        later = Q(priority__lt=self.priority)
        if self.next_action_at is None:
            same_priority = Q(next_action_at__isnull=False) | Q(next_action_at__isnull=True, id__gt=self.id)
        else:
            same_priority = Q(next_action_at__gt=self.next_action_at) | Q(
                next_action_at=self.next_action_at, id__gt=self.id
            )
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
            raise DomainError("validation_error", fields={"after": [_("Bad position in the list.")]}) from None

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


def _active_plan():
    return RepaymentPlan.objects.filter(case=OuterRef("pk"), status=PlanStatus.ACTIVE)


def _worklist_filtered(actor, filters, as_of):
    """The actor's open worklist cases matching the filters: no joins beyond what a filter needs."""

    if filters.sort and filters.sort not in WORKLIST_SORTS:
        raise DomainError("validation_error", fields={"sort": [_("Unknown sort.")]})
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
            raise DomainError("validation_error", fields={"bucket": [_("Unknown bucket.")]})
        qs = qs.filter(oldest_unpaid_due_date__lte=as_of - timedelta(days=bucket.min_dpd))
        if bucket.max_dpd is not None:
            qs = qs.filter(oldest_unpaid_due_date__gte=as_of - timedelta(days=bucket.max_dpd))
    if filters.promise_due:
        qs = qs.filter(Exists(due_today))
    if filters.never_contacted:
        qs = qs.exclude(Exists(ContactAttempt.objects.filter(case=OuterRef("pk"))))
    if filters.on_plan:
        qs = qs.filter(Exists(_active_plan()))
    if filters.plan_due_today:
        qs = qs.filter(
            Exists(
                PlanInstalment.objects.filter(
                    plan__case=OuterRef("pk"), plan__status=PlanStatus.ACTIVE, due_date=as_of, met=False
                )
            )
        )
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

    actor = as_actor(actor)
    as_of = as_of or lender_today()
    qs = _worklist_filtered(actor, filters, as_of)
    if after is not None:
        if isinstance(after, SortCursor) != bool(filters.sort) or getattr(after, "sort", "") != filters.sort:
            raise DomainError("validation_error", fields={"after": [_("Bad position in the list.")]})
        qs = qs.filter(after.after_q())
    ids = list(_worklist_order(qs, filters.sort).values_list("pk", flat=True)[: limit + 1])
    more = len(ids) > limit
    ids = ids[:limit]
    due_today = PromiseToPay.objects.filter(case=OuterRef("pk"), status=PromiseToPay.Status.PENDING, due_date=as_of)
    found = (
        {
            c.pk: c
            for c in case_rows()
            .filter(pk__in=ids)
            .annotate(
                promise_due_today=Exists(due_today),
                on_plan=Exists(_active_plan()),
                last_contact_at=Subquery(
                    ContactAttempt.objects.filter(case=OuterRef("pk"))
                    .order_by("-occurred_at")
                    .values("occurred_at")[:1]
                ),
            )
        }
        if ids
        else {}
    )
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
