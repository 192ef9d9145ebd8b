"""Small pieces every service shares: finding and locking a case through the actor's scope,
and turning loose input into the types the domain uses, naming the field when it cannot."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import values
from ..actors import as_actor
from ..errors import DomainError
from ..models import Case
from ..permissions import visible_cases


def lock_visible_case(case_id, actor):
    """Re-fetch the case under a row lock, or 404 if this actor may not see it."""
    try:
        # Lock the case row only: loan and borrower rows stay free for other cases' work.
        locked = Case.objects.select_for_update(of=("self",)).select_related("loan", "borrower")
        case = visible_cases(actor, locked).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise DomainError("not_found") from None
    case._visible_to = as_actor(actor).label  # permissions.may() need not ask the row scope again
    return case


def claim_queued(due, limit, *, now, order_by, lock_of=(), **also_set):
    """Claim up to `limit` rows of `due` (a queryset of due QUEUED rows of an outbox model with a
    Status of QUEUED and SENDING), in `order_by` order: rows another worker has locked are skipped
    (PostgreSQL), and the conditional update QUEUED -> SENDING makes the claim exclusive everywhere.
    Returns the rows claimed here, as a queryset (none when nothing was due)."""
    model = due.model
    with transaction.atomic():
        ids = list(
            due.select_for_update(skip_locked=True, of=lock_of).order_by(*order_by).values_list("id", flat=True)[:limit]
        )
        if not ids:
            return model.objects.none()
        model.objects.filter(id__in=ids, status=model.Status.QUEUED).update(
            status=model.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1, **also_set
        )
    return model.objects.filter(id__in=ids, status=model.Status.SENDING, claimed_at=now)


# The parsers live in values.py (the only parsers of outside values); these wrappers name the field.


def parse_money(value, field, *, allow_zero=False):
    return values.parse(field, values.money, value, positive=not allow_zero)


def parse_day(value, field):
    return values.parse(field, values.day, value)


def parse_moment(value, field, *, default_now=False, not_future=False):
    if value in (None, "") and default_now:
        return timezone.now()
    return values.parse(field, values.moment, value, not_future=not_future)


def require_choice(value, choices, field):
    return values.parse(field, values.choice, value, choices=choices)


def require_text(value, field, *, max_length=2000):
    return values.parse(field, values.text, value, max_length=max_length)
