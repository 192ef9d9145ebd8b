"""File jobs: the life of an import or export FileJob, in one place.

- `jobs`: create (and enqueue its task by name, on commit), claim (the one claim-or-abandon query),
  progress, finish, fail, and the periodic re-queue of jobs whose task message never came.
- `store`: the files folder (COLLECTIONS_FILES_DIR), the inside-the-folder check, storing an upload.
- `reports`: opening an import's report of refused rows, with its AuditLog row.

`imports/` and `exports/` (the two kinds of file job) build on it; tasks and pages call those services."""

from .jobs import (
    JOB_TIME_LIMIT,
    TASK_OF_DIRECTION,
    file_job_claim,
    file_job_create,
    file_job_fail,
    file_job_finish,
    file_job_progress,
    file_jobs_requeue,
)
from .reports import file_job_report_open
from .store import file_inside, file_store_upload, file_stored, files_root

__all__ = [
    "JOB_TIME_LIMIT",
    "TASK_OF_DIRECTION",
    "file_inside",
    "file_job_claim",
    "file_job_create",
    "file_job_fail",
    "file_job_finish",
    "file_job_progress",
    "file_job_report_open",
    "file_jobs_requeue",
    "file_store_upload",
    "file_stored",
    "files_root",
]
