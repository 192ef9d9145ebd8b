"""The import page (/imports/): supervisors and admins upload a loan-book file; a Celery task runs
the same import as `manage.py import_book`; the job page follows its progress (HTMX polling of a
small partial) and offers the report of refused rows. Other roles get 404."""

from django import forms
from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_safe

from ...errors import DomainError
from ...models import FileJob
from ...permissions import BOOK_IMPORT
from ...services.files.imports import KIND_NAMES, import_job_create, import_job_report
from ..common import ability_required, actor_of

RECENT = 20
UPLOAD_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
KIND_LABELS = {
    "borrowers": _("Borrowers"),
    "loans": _("Loans"),
    "instalments": _("Instalments"),
    "payments": _("Payments"),
}


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
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB; split it, or run manage.py import_book on the server.")
                % {"mb": limit_mb}
            )
        return upload


@ability_required(BOOK_IMPORT)
@require_http_methods(["GET", "HEAD", "POST"])
def imports_page(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = import_job_create(
            actor=actor_of(request),
            kind=form.cleaned_data["kind"],
            upload=form.cleaned_data["file"],
            dry_run=form.cleaned_data["dry_run"],
        )
        return redirect("collections:import-job", job_id=job.pk)
    jobs = list(FileJob.objects.filter(direction=FileJob.Direction.IMPORT).select_related("requested_by")[:RECENT])
    for job in jobs:
        job.kind_label = KIND_LABELS.get(job.kind, job.kind)
    return render(request, "collections_app/imports/imports.html", {"form": form, "jobs": jobs})


def _job(job_id):
    return get_object_or_404(FileJob, pk=job_id, direction=FileJob.Direction.IMPORT)


def _context(job):
    return {
        "job": job,
        "kind_label": KIND_LABELS.get(job.kind, job.kind),
        "summary": job.summary or {},
        "finished": job.status in (FileJob.Status.DONE, FileJob.Status.FAILED),
    }


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
    # The report echoes refused cells of the uploaded file, personal data among them: who took it is kept.
    try:
        path = import_job_report(actor=actor_of(request), job=job)
    except DomainError:
        raise Http404 from None
    return FileResponse(
        open(path, "rb"),
        as_attachment=True,
        filename=f"import-{job.pk}-{job.kind}-report.csv",
        content_type="text/csv; charset=utf-8",
    )
