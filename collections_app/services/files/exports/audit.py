"""Every export is written to the personal-data audit log before any row leaves: who, which export,
which format, with which filters, inline or as which file job."""

import json

from ....actors import as_actor
from ....masking import mask_name
from ....models import AuditLog


def export_audit_write(*, actor, kind, fmt, params, job_id=None):
    """One AuditLog entry (action `export`). `fields` names the personal data the file carries
    (masked as on screen); `reason` is JSON: {"export", "format", "filters", "job"}."""
    actor = as_actor(actor)
    # A search term is a borrower's name or a phone's digits: kept masked, as the rows are.
    filters = {k: (mask_name(v) if k == "q" and isinstance(v, str) else v) for k, v in (params or {}).items()}
    reason = {"export": kind.name, "format": fmt, "filters": filters}
    if job_id is not None:
        reason["job"] = job_id
    return AuditLog.objects.create(
        **actor.stamp(),
        action=AuditLog.Action.EXPORT,
        case_id=kind.audit_case_id(params),
        fields=[f"{f} (masked)" for f in kind.pii_fields],
        reason=json.dumps(reason, ensure_ascii=False, sort_keys=True, default=str),
    )
