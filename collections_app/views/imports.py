"""The import page (/imports/): supervisors and admins upload a loan-book file; a Celery task runs
the same import as `manage.py import_book`; the job page follows its progress (HTMX polling of a
small partial) and offers the report of refused rows. Other roles get 404."""
import re
import uuid
from pathlib import Path

from django import forms
from django.conf import settings
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from ..models import AuditLog, FileJob
from ..permissions import BOOK_IMPORT
from ..services.imports import KIND_NAMES
from .common import ability_required, actor_of

RECENT = 20
UPLOAD_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
KIND_LABELS = {"borrowers": _("Borrowers"), "loans": _("Loans"), "instalments": _("Instalments"),
               "payments": _("Payments")}


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=[(k, KIND_LABELS[k]) for k in KIND_NAMES])
    file = forms.FileField(label=_("File (CSV or XLSX)"))
    dry_run = forms.BooleanField(label=_("Dry run: check and count, write nothing"), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(UPLOAD_SUFFIXES):
            raise forms.ValidationError(_("Upload a .csv, .tsv, .txt or .xlsx file."))
        limit_mb = settings.COLLECTIONS_IMPORT_MAX_UPLOAD_MB
        if upload.size > limit_mb * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than %(mb)s MB; split it, or run manage.py "
                                          "import_book on the server.") % {"mb": limit_mb})
        return upload


def _safe_name(name):
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[-120:]
    return stem or "upload"


def _save_upload(upload):
    """Stream the upload under COLLECTIONS_FILES_DIR/imports/uploads; returns the relative path."""
    root = Path(settings.COLLECTIONS_FILES_DIR)
    relative = Path("imports") / "uploads" / f"{uuid.uuid4().hex}-{_safe_name(upload.name)}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return str(relative)


def _format_of(name):
    return "xlsx" if name.lower().endswith(".xlsx") else "csv"


@ability_required(BOOK_IMPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def imports_page(request):
    from ..tasks_imports import import_file_task

    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        actor = actor_of(request)
        job = FileJob.objects.create(
            direction=FileJob.Direction.IMPORT, kind=form.cleaned_data["kind"], file_format=_format_of(upload.name),
            dry_run=form.cleaned_data["dry_run"], requested_by=request.user, actor=actor.label,
            source_name=upload.name[:255], file_path=_save_upload(upload),
            params={"dry_run": form.cleaned_data["dry_run"]},
            # The worker writes the report's reasons in the language of whoever uploaded the file.
            summary={"language": translation.get_language() or settings.LANGUAGE_CODE},
        )
        transaction.on_commit(lambda: import_file_task.delay(job.pk))
        return redirect("collections:import-job", job_id=job.pk)
    jobs = list(FileJob.objects.filter(direction=FileJob.Direction.IMPORT).select_related("requested_by")[:RECENT])
    for job in jobs:
        job.kind_label = KIND_LABELS.get(job.kind, job.kind)
    return render(request, "collections_app/imports/imports.html", {"form": form, "jobs": jobs})


def _job(job_id):
    return get_object_or_404(FileJob, pk=job_id, direction=FileJob.Direction.IMPORT)


def _context(job):
    return {"job": job, "kind_label": KIND_LABELS.get(job.kind, job.kind), "summary": job.summary or {},
            "finished": job.status in (FileJob.Status.DONE, FileJob.Status.FAILED)}


@ability_required(BOOK_IMPORT)
@require_safe
def import_job(request, job_id):
    return render(request, "collections_app/imports/job.html", _context(_job(job_id)))


@ability_required(BOOK_IMPORT)
@require_safe
def import_progress(request, job_id):
    return render(request, "collections_app/imports/_progress.html", _context(_job(job_id)))


@ability_required(BOOK_IMPORT)
@require_safe
def import_report(request, job_id):
    job = _job(job_id)
    if not job.report_path:
        raise Http404
    root = Path(settings.COLLECTIONS_FILES_DIR).resolve()
    path = (root / job.report_path).resolve()
    if root not in path.parents or not path.is_file():
        raise Http404
    # The report echoes refused cells of the uploaded file, personal data among them: who took it is kept.
    actor = actor_of(request)
    AuditLog.objects.create(actor=actor.label, actor_user=actor.user, action=AuditLog.Action.EXPORT,
                            fields=["import report"], reason=f"import #{job.pk} ({job.kind}) report downloaded")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=f"import-{job.pk}-{job.kind}-report.csv",
                        content_type="text/csv; charset=utf-8")
