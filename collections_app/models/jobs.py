"""File jobs: an import of the loan book or an export of a table, run by a worker, followed by the
person who asked for it (progress, then the result file or the report of refused rows)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .fields import ACTOR_LABEL


class FileJob(models.Model):
    class Direction(models.TextChoices):
        IMPORT = "import", _("Import")
        EXPORT = "export", _("Export")

    class Status(models.TextChoices):
        # Contexts: the same words label outbound messages, in other terms in Chinese.
        QUEUED = "queued", pgettext_lazy("file job", "Queued")
        RUNNING = "running", pgettext_lazy("file job", "Running")
        DONE = "done", pgettext_lazy("file job", "Done")
        FAILED = "failed", pgettext_lazy("file job", "Failed")

    direction = models.CharField(_("direction"), max_length=6, choices=Direction.choices)
    # What is imported (borrowers, loans, instalments, payments) or exported (worklist, queue, ...).
    kind = models.CharField(_("kind"), max_length=40)
    file_format = models.CharField(_("format"), max_length=8, default="csv")
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    dry_run = models.BooleanField(_("dry run"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="file_jobs"
    )
    actor = models.CharField(_("requested by"), default="system", **ACTOR_LABEL)
    # Filters of an export, options of an import: what is needed to run it again.
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    # The uploaded file (import) or the produced file (export), relative to COLLECTIONS_FILES_DIR.
    source_name = models.CharField(_("original file name"), max_length=255, blank=True)
    file_path = models.CharField(_("file"), max_length=500, blank=True)
    # The import's report of refused rows and warnings (CSV), relative to COLLECTIONS_FILES_DIR.
    report_path = models.CharField(_("report"), max_length=500, blank=True)
    total_rows = models.BigIntegerField(_("rows in total"), null=True, blank=True)
    processed_rows = models.BigIntegerField(_("rows processed"), default=0)
    # Counts of the outcome: {"created": n, "updated": n, "unchanged": n, "refused": n, "warnings": [...]}.
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("file job")
        verbose_name_plural = _("file jobs")
        ordering = ["-id"]
        indexes = [models.Index(fields=["requested_by", "-id"], name="filejob_user_idx")]

    def __str__(self):
        return f"{self.direction} {self.kind} #{self.pk} ({self.status})"

    @property
    def progress_percent(self):
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(self.processed_rows * 100 / self.total_rows))
