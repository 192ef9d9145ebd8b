"""Large exports: a FileJob row, a Celery task that writes the file under COLLECTIONS_FILES_DIR
(`exports/<job id>-<name>`), and the download, for the person who asked only."""

import logging
import os
import uuid

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from ....actors import actor_for_user
from ....errors import DomainError
from ....models import FileJob
from .. import (
    JOB_TIME_LIMIT,
    file_job_claim,
    file_job_create,
    file_job_fail,
    file_job_finish,
    file_job_progress,
    file_stored,
    files_root,
)
from .limits import chunk_size
from .registry import kind_named
from .writers import write_csv, write_xlsx

log = logging.getLogger(__name__)
EXPORTS_SUBDIR = "exports"
__all__ = ["JOB_TIME_LIMIT", "export_job_create", "export_job_file", "export_job_for", "export_job_run"]


def export_job_create(*, actor, kind, fmt, params, filename):
    """The job row; the task is enqueued (by name) when the transaction commits."""
    return file_job_create(
        direction=FileJob.Direction.EXPORT,
        actor=actor,
        kind=kind.name,
        file_format=fmt,
        params=params,
        source_name=filename,
    )


def export_job_run(job_id):
    """Write the job's file. Safe to rerun (a redelivered task): a finished job is left alone, an
    interrupted one is written again from the start into a part file that then replaces the file."""
    # A RUNNING job is claimed again only when its run must have ended (the task's time limit, under
    # the broker's visibility timeout, has passed): a worker that died, not one still writing.
    job = file_job_claim(job_id, direction=FileJob.Direction.EXPORT)
    if job is None:
        return None
    relative = f"{EXPORTS_SUBDIR}/{job.pk}-{job.source_name or job.kind + '.' + job.file_format}"
    target = files_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # A part file of this run's own: a duplicate delivery running at the same time writes its own,
    # and whichever finishes last replaces the file with a complete one.
    part = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
    step = chunk_size()

    def progress(n):
        if n % step == 0:
            file_job_progress(job.pk, n)

    try:
        if job.requested_by is None or not job.requested_by.is_active:
            raise DomainError("permission_denied")
        actor = actor_for_user(job.requested_by)
        kind = kind_named(job.kind)
        kind.check(actor, job.params)
        with translation.override((job.summary or {}).get("language") or settings.LANGUAGE_CODE):
            header, rows = kind.open(actor, job.params)
            if job.file_format == "xlsx":
                with open(part, "wb") as out:
                    count = write_xlsx(out, header, rows, title=kind.name, progress=progress)
            else:
                with open(part, "w", encoding="utf-8", newline="") as out:
                    count = write_csv(out, header, rows, progress=progress)
        os.replace(part, target)
    except Exception as error:  # the person sees why on the job page; the worker log has the trace
        log.exception("export job %s failed", job_id)
        part.unlink(missing_ok=True)
        shown = (
            error.message
            if isinstance(error, DomainError)
            else _("The export failed unexpectedly; it has been logged for the operators.")
        )
        file_job_fail(job.pk, shown)
        return None
    file_job_finish(job.pk, file_path=relative, processed_rows=count, total_rows=count)
    return relative


def export_job_for(user, job_id):
    """The user's own export job, or not_found (another person's job does not exist for them)."""
    job = FileJob.objects.filter(pk=job_id, direction=FileJob.Direction.EXPORT, requested_by=user).first()
    if job is None or user is None or not user.is_authenticated:
        raise DomainError("not_found")
    return job


def export_job_file(job):
    """The path of a finished job's file, checked to lie inside the files directory."""
    if job.status != FileJob.Status.DONE or not job.file_path:
        raise DomainError("not_found")
    return file_stored(job.file_path)
