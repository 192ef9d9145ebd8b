"""How a case reads over the API (CONTRACT.md "Shapes"). Plain functions over rows the selectors
already loaded: no query per case. Personal data is masked without `pii:read`; an unmasked read is
written to the audit log."""
import hashlib
import json

from ..masking import mask_name
from ..models import AuditLog
from ..selectors import bucket_for
from .common import iso, money


def sees_pii(actor):
    return actor.is_client and actor.has_scope("pii:read")


def case_dict(case, actor, *, as_of, buckets):
    dpd = case.dpd(as_of)
    name = case.borrower.name if sees_pii(actor) else mask_name(case.borrower.name)
    return {
        "id": case.pk,
        "loan": case.loan.external_id,
        "borrower": {"external_id": case.borrower.external_id, "name": name},
        "state": case.state,
        "dpd": dpd,
        "bucket": bucket_for(dpd, buckets),
        "amount_overdue": money(case.amount_overdue),
        "currency": case.loan.currency,
        "assigned_to": case.assigned_to.get_username() if case.assigned_to_id else None,
        "queue": case.queue.name if case.queue_id else None,
        "priority": case.priority,
        "next_action_at": iso(case.next_action_at),
        "hold": case.active_hold_codes,
        "opened_at": iso(case.opened_at),
        "closed_at": iso(case.closed_at),
        "updated_at": iso(case.updated_at),
        "allowed_transitions": case.allowed_transitions(actor),
    }


def audit_unmasked(actor, cases, reason):
    """One audit row per borrower whose name went out unmasked (one query for a whole page)."""
    if not sees_pii(actor) or not cases:
        return
    AuditLog.objects.bulk_create([
        AuditLog(actor=actor.label, action=AuditLog.Action.REVEAL, borrower_id=c.borrower_id, case_id=c.pk,
                 fields=["name"], reason=reason)
        for c in cases
    ])


def etag_for(body):
    return '"' + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32] + '"'
