"""Routes of the import pages (/imports/), issue 6."""

from django.urls import path

from . import views as imports

urlpatterns = [
    path("imports/", imports.imports_page, name="imports"),
    path("imports/<int:job_id>/", imports.import_job, name="import-job"),
    path("imports/<int:job_id>/progress/", imports.import_progress, name="import-progress"),
    path("imports/<int:job_id>/report.csv", imports.import_report, name="import-report"),
]
