"""The one entry of every export door: check, decide inline or background, audit, hand back."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ....actors import as_actor
from ....errors import DomainError, invalid
from .audit import export_audit_write
from .jobs import export_job_create
from .limits import inline_max_rows
from .registry import FORMATS, kind_named


@dataclass
class InlineExport:
    filename: str
    fmt: str
    header: list
    rows: object  # an iterator, read while the response is sent


@dataclass
class BackgroundExport:
    job: object


def export_start(*, actor, kind, fmt, params):
    """Refuse (not_found, validation_error) or return an InlineExport to stream now, or a
    BackgroundExport whose FileJob a worker will write (more than the inline limit of rows).
    The audit entry is written first, in both cases."""
    actor = as_actor(actor)
    if fmt not in FORMATS:
        raise invalid("format", _("Choose csv or xlsx."))
    export = kind_named(kind)
    export.check(actor, params)
    stamp = timezone.localtime(timezone.now()).strftime("%Y%m%d-%H%M%S")
    filename = export.filename(params, fmt, stamp)
    if not export.always_inline and export.is_large(actor, params, inline_max_rows(fmt)):
        if actor.user is None:
            raise DomainError("permission_denied")
        with transaction.atomic():
            job = export_job_create(actor=actor, kind=export, fmt=fmt, params=params, filename=filename)
            export_audit_write(actor=actor, kind=export, fmt=fmt, params=params, job_id=job.pk)
        return BackgroundExport(job)
    export_audit_write(actor=actor, kind=export, fmt=fmt, params=params)
    header, rows = export.open(actor, params)
    return InlineExport(filename, fmt, header, rows)
