"""Routes of the exports (downloads of tables as CSV/XLSX), issue 6. Names in the `collections`
namespace: export-worklist, export-queue, export-dashboard (and dashboard-xlsx beside the dashboard's
CSV), export-timeline, audit-log, export-audit-log, exports, export-job, export-job-download."""

from django.urls import path, register_converter

from . import views as exports


class ExportFormatConverter:
    regex = "csv|xlsx"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(ExportFormatConverter, "exportfmt")

urlpatterns = [
    path("exports/", exports.export_jobs, name="exports"),
    path("exports/worklist.<exportfmt:fmt>", exports.export_worklist, name="export-worklist"),
    path("exports/queues/<int:queue_id>.<exportfmt:fmt>", exports.export_queue, name="export-queue"),
    path("exports/dashboard/<slug:table>.<exportfmt:fmt>", exports.export_dashboard, name="export-dashboard"),
    path("dashboard/<slug:table>.xlsx", exports.export_dashboard, name="dashboard-xlsx"),
    path("cases/<int:case_id>/timeline.<exportfmt:fmt>", exports.export_timeline, name="export-timeline"),
    path("audit-log/", exports.audit_log, name="audit-log"),
    path("audit-log/export.<exportfmt:fmt>", exports.export_audit_log, name="export-audit-log"),
    path("exports/jobs/<int:job_id>/", exports.export_job, name="export-job"),
    path("exports/jobs/<int:job_id>/download/", exports.export_job_download, name="export-job-download"),
]
