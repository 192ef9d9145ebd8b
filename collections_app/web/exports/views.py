"""Downloads of what people see, as CSV or XLSX: the worklist as filtered, a queue's open cases, a
dashboard table, a case's timeline, and (auditors, admins) the personal-data audit log, with its page.

The filters are parsed by the same forms as the pages, then `services.files.exports.export_start` checks
scope, writes the audit entry, and either streams the file now (CSV streamed as it is read; XLSX
built in a spooled temporary file, then streamed) or, above the inline limit, creates a FileJob
that a worker writes: the person is sent to the job's page, which polls (HTMX) until the file is
ready. Only the person who asked may see or download a job (others get 404)."""

from datetime import date, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from ... import permissions as perms
from ...calendar import lender_today
from ...errors import DomainError
from ..cases.forms import WorklistFilterForm
from ..supervisor.forms import AssignFilterForm
from ...masking import mask_name
from ...models import AuditLog, FileJob, Queue
from ...selectors.cases import bucket_list
from ...services.files import exports
from ..common import STAFF, ability_required, actor_of, refusal_text

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
AUDIT_LOG_PAGE = 50
JOBS_SHOWN = 20


def _refused(error):
    if error.code == "not_found":
        raise Http404
    if error.code == "permission_denied":
        raise PermissionDenied
    return HttpResponse(refusal_text(error), status=400, content_type="text/plain; charset=utf-8")


def _deliver(request, kind, fmt, params):
    try:
        result = exports.export_start(actor=actor_of(request), kind=kind, fmt=fmt, params=params)
    except DomainError as error:
        return _refused(error)
    if isinstance(result, exports.BackgroundExport):
        url = reverse("collections:export-job", args=[result.job.pk])
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
    if result.fmt == "csv":
        response = StreamingHttpResponse(
            exports.csv_lines(result.header, result.rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
        return response
    spool = exports.xlsx_spooled(result.header, result.rows, title=kind)
    return FileResponse(spool, as_attachment=True, filename=result.filename, content_type=XLSX_TYPE)


def _bad_form(form):
    """The form's errors for people: each under its field's label (never the field's name)."""

    def line(field, errors):
        label = form.fields[field].label if field in form.fields else None
        return f"{label}: {' '.join(errors)}" if label else " ".join(errors)

    text = "; ".join(line(field, errors) for field, errors in form.errors.items())
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")


# --- The exports of the pages ----------------------------------------------------------------


@ability_required(perms.EXPORT_CASES)
@require_safe
def export_worklist(request, fmt):
    """The worklist as filtered on screen (the same parameters as /worklist/; `after` is ignored:
    the file has every page)."""
    form = WorklistFilterForm(request.GET)
    if not form.is_valid():
        return _bad_form(form)
    params = {k: v for k, v in form.cleaned_data.items() if v}
    return _deliver(request, "worklist", fmt, params)


@ability_required(perms.EXPORT_CASES, everywhere=True)
@require_safe
def export_queue(request, queue_id, fmt):
    """A queue's open cases, optionally with the assignment page's filters (state, assigned_to,
    bucket, loan)."""
    queue = get_object_or_404(Queue, pk=queue_id)
    form = AssignFilterForm(request.GET, queues=[queue], buckets=bucket_list())
    if not form.is_valid():
        return _bad_form(form)
    data = form.cleaned_data
    params = {"queue_id": queue.pk}
    for key in ("state", "assigned_to", "loan"):
        if data.get(key):
            params[key] = data[key]
    if data.get("bucket") is not None:
        params["bucket"] = data["bucket"].name
    return _deliver(request, "queue", fmt, params)


@ability_required(perms.EXPORT_REPORTS)
@require_safe
def export_dashboard(request, table, fmt="xlsx"):
    params = {"table": table}
    if request.GET.get("month"):
        params["month"] = request.GET["month"].strip()
    return _deliver(request, "dashboard", fmt, params)


@ability_required(STAFF)
@require_safe
def export_timeline(request, case_id, fmt):
    return _deliver(request, "timeline", fmt, {"case_id": case_id})


# --- The audit log --------------------------------------------------------------------------


# The audit log: auditors and admins (and superusers); anyone else signed in gets 403.
auditors_only = ability_required(perms.AUDIT_LOG_READ, refuse=PermissionDenied)


class AuditLogFilterForm(forms.Form):
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        required=False,
        choices=[("", gettext_lazy("Any"))] + list(AuditLog.Action.choices),
    )
    actor = forms.CharField(label=gettext_lazy("Who"), required=False, max_length=160)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        earliest, today = date(2000, 1, 1), lender_today()
        for name in ("date_from", "date_to"):
            day = data.get(name)
            if day is not None and not earliest <= day <= today:
                self.add_error(name, _("Choose a day from %(first)s to today.") % {"first": earliest.isoformat()})
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end of the range is before its start."))
        return data

    def params(self):
        """The filters as plain values; a range of the last 30 days when none is given."""
        data = self.cleaned_data
        today = lender_today()
        date_to = data.get("date_to") or today
        date_from = data.get("date_from") or (date_to - timedelta(days=30))
        params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        if data.get("action"):
            params["action"] = data["action"]
        if data.get("actor", "").strip():
            params["actor"] = data["actor"].strip()
        return params


@auditors_only
@require_safe
def audit_log(request):
    form = AuditLogFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "collections_app/exports/audit_log.html",
            {"form": form, "entries": [], "next_url": None},
            status=400,
        )
    params = form.params()
    before = form.cleaned_data.get("before")
    entries, next_before = exports.audit_log_page(params, before=before, limit=AUDIT_LOG_PAGE)
    query = request.GET.copy()
    query.pop("before", None)
    query.update({k: v for k, v in params.items() if k in ("date_from", "date_to")})
    filters = query.urlencode()
    next_url = None
    if next_before:
        query["before"] = next_before
        next_url = "?" + query.urlencode()
    for entry in entries:
        entry.masked_name = mask_name(entry.borrower.name) if entry.borrower_id else ""
    return render(
        request,
        "collections_app/exports/audit_log.html",
        {
            "form": form,
            "entries": entries,
            "next_url": next_url,
            "params": params,
            "filters": filters,
            "paged": bool(before),
        },
    )


@auditors_only
@require_safe
def export_audit_log(request, fmt):
    form = AuditLogFilterForm(request.GET)
    if not form.is_valid():
        return _bad_form(form)
    return _deliver(request, "audit-log", fmt, form.params())


# --- Background jobs --------------------------------------------------------------------------


def _kind_title(name):
    kind = exports.KINDS.get(name)
    return str(kind.title) if kind else name


def _own_job(request, job_id):
    try:
        return exports.export_job_for(request.user, job_id)
    except DomainError:
        raise Http404 from None


@ability_required(STAFF)
@require_safe
def export_job(request, job_id):
    """The job's page; with HTMX, only its status box (polled every two seconds until it is done)."""
    job = _own_job(request, job_id)
    context = {
        "job": job,
        "running": job.status in (FileJob.Status.QUEUED, FileJob.Status.RUNNING),
        "kind_title": _kind_title(job.kind),
    }
    if request.htmx:
        return render(request, "collections_app/exports/_job_status.html", context)
    return render(request, "collections_app/exports/job.html", context)


@ability_required(STAFF)
@require_safe
def export_job_download(request, job_id):
    job = _own_job(request, job_id)
    try:
        path = exports.export_job_file(job)
    except DomainError:
        raise Http404 from None
    content_type = XLSX_TYPE if job.file_format == "xlsx" else "text/csv; charset=utf-8"
    return FileResponse(
        open(path, "rb"), as_attachment=True, filename=job.source_name or path.name, content_type=content_type
    )


@ability_required(STAFF)
@require_safe
def export_jobs(request):
    """My latest exports (the files a worker wrote for me)."""
    jobs = list(
        FileJob.objects.filter(direction=FileJob.Direction.EXPORT, requested_by=request.user).order_by("-id")[
            :JOBS_SHOWN
        ]
    )
    return render(request, "collections_app/exports/jobs.html", {"jobs": jobs})
