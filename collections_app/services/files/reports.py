"""Opening an import's report: it echoes refused cells of the uploaded file, personal data among
them, so who took it is kept in the AuditLog."""

from ...errors import DomainError
from ...models import AuditLog
from .store import file_stored


def file_job_report_open(*, actor, job):
    """The path of the job's report (inside the files folder), after writing who downloaded it."""
    if not job.report_path:
        raise DomainError("not_found")
    path = file_stored(job.report_path)
    AuditLog.objects.create(
        **actor.stamp(),
        action=AuditLog.Action.EXPORT,
        fields=["import report"],
        reason=f"import #{job.pk} ({job.kind}) report downloaded",
    )
    return path
