"""How long the files of imports and exports are kept. They hold personal data (a report echoes
refused cells; an export holds masked rows and ids), so they go after COLLECTIONS_FILES_RETENTION_DAYS
with the job that made them; beat runs `file_jobs_purge` daily."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import FileJob
from .files import file_inside


def _remove(relative):
    path = file_inside(relative)  # never outside the files directory, whatever a row says
    if path is not None:
        path.unlink(missing_ok=True)


def file_jobs_purge(*, now=None):
    """Delete the jobs finished (or abandoned) more than the retention ago, with their files.
    Returns how many jobs went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.COLLECTIONS_FILES_RETENTION_DAYS)
    old = FileJob.objects.filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
    purged = 0
    while True:  # 500 jobs at a time: their files, then one DELETE
        batch = list(old.order_by("pk").values_list("pk", "file_path", "report_path")[:500])
        if not batch:
            return purged
        for _pk, file_path, report_path in batch:
            _remove(file_path)
            _remove(report_path)
        purged += FileJob.objects.filter(pk__in=[pk for pk, _f, _r in batch]).delete()[0]
