"""Revealing personal data: an audited action, written before the data is handed out."""

import json

from django.db import transaction

from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import AuditLog, Borrower
from ._common import lock_visible_case, require_text
from .events import event_write

REVEALABLE = ("name", "national_id", "phones", "email", "address", "contacts")


def pii_reveal(*, actor=None, reason, fields=REVEALABLE, case_id=None, borrower_id=None):
    """Return the borrower's real values for `fields` and record who looked, at what and why.

    With `case_id` the borrower is reached through the actor's case scope, and the look goes on the
    case's timeline too."""
    actor = as_actor(actor)
    if not perms.may_reveal_pii(actor):
        raise DomainError("permission_denied")
    reason = require_text(reason, "reason", max_length=500)
    fields = list(dict.fromkeys(fields))
    unknown = [f for f in fields if f not in REVEALABLE]
    if unknown or not fields:
        raise invalid("fields", "Choose among: " + ", ".join(REVEALABLE))
    with transaction.atomic():
        case = None
        if case_id is not None:
            case = lock_visible_case(case_id, actor)
            borrower = case.borrower
        else:
            if not actor.sees_everything:
                raise DomainError("not_found")
            borrower = Borrower.objects.filter(pk=borrower_id).first()
            if borrower is None:
                raise DomainError("not_found")
        AuditLog.objects.create(
            **actor.stamp(),
            action=AuditLog.Action.REVEAL,
            borrower=borrower,
            case=case,
            fields=fields,
            reason=reason,
        )
        if case is not None:
            event_write(case, "pii_revealed", actor, reason=reason, payload={"fields": fields})
    values = {}
    for field in fields:
        if field == "contacts":
            values[field] = [
                {"name": c.name, "relation": c.relation, "phone": c.phone} for c in borrower.contacts.all()
            ]
        else:
            values[field] = getattr(borrower, field)
    return values


def pii_log_unmasked(*, actor, reads, reason, action=AuditLog.Action.REVEAL):
    """Personal data went out unmasked to an actor allowed to read it (an API client with
    `pii:read`): one audit entry per (borrower id, case id, fields) in `reads`, in one statement.
    Written by whichever door handed the data out, before the answer leaves."""
    actor = as_actor(actor)
    entries = [
        AuditLog(
            **actor.stamp(),
            action=action,
            borrower_id=borrower_id,
            case_id=case_id,
            fields=list(fields),
            reason=reason,
        )
        for borrower_id, case_id, fields in reads
    ]
    if len(entries) == 1:
        entries[0].save(force_insert=True)  # one INSERT, no transaction of its own around it
    elif entries:
        AuditLog.objects.bulk_create(entries)


def pii_log_visit_addresses(*, actor, visits):
    """A field agent's visit list shows the address of each visit assigned to them: ONE audit entry
    per page view, written before the page is, listing what was shown (`reason` is JSON:
    {"page": "visits", "why": "assigned visits", "shown": [{"visit", "case", "borrower"}, ...]}).
    The entry names the borrower and case when the page showed only one."""
    actor = as_actor(actor)
    if not visits:
        return None
    shown = [{"visit": v.pk, "case": v.case_id, "borrower": v.case.borrower_id} for v in visits]
    borrowers = {s["borrower"] for s in shown}
    cases = {s["case"] for s in shown}
    entry = AuditLog(
        **actor.stamp(),
        action=AuditLog.Action.REVEAL,
        borrower_id=next(iter(borrowers)) if len(borrowers) == 1 else None,
        case_id=next(iter(cases)) if len(cases) == 1 else None,
        fields=["address"],
        reason=json.dumps({"page": "visits", "why": "assigned visits", "shown": shown}, sort_keys=True),
    )
    entry.save(force_insert=True)
    return entry
