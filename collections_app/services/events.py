"""Writing the case timeline: every service records its change here, in its own transaction.

Every kind written is one of the registry's (collections_app/events.py). The webhook outbox joins
here: events of a kind subscribers may want (services/webhooks/) queue their deliveries in the
same transaction as the event."""

from django.db import transaction
from django.utils import timezone

from ..actors import as_actor
from ..events import KINDS
from ..models import CaseEvent
from .webhooks import outbox_for_events


def event_build(case, kind, actor, *, from_state="", to_state="", reason="", payload=None, at=None):
    if kind not in KINDS:
        raise ValueError(f"unknown case event kind {kind!r}: register it in collections_app/events.py")
    actor = as_actor(actor)
    return CaseEvent(
        case_id=case.pk if hasattr(case, "pk") else case,
        kind=kind,
        **actor.stamp(),
        from_state=from_state,
        to_state=to_state,
        reason=reason or "",
        payload=payload or {},
        at=at or timezone.now(),
    )


def event_write(case, kind, actor, **fields):
    event = event_build(case, kind, actor, **fields)
    with transaction.atomic(savepoint=False):
        event.save(force_insert=True)
        outbox_for_events([event])
    return event


def events_write(events):
    """Insert many built events at once (bulk assignment, holds across a borrower's cases)."""
    with transaction.atomic(savepoint=False):
        created = CaseEvent.objects.bulk_create(events)
        outbox_for_events(created)
    return created
