"""The files folder (COLLECTIONS_FILES_DIR): uploads, import reports and export files live under it,
and a path read from a row is used only when it resolves inside it."""

import re
import uuid
from pathlib import Path

from django.conf import settings

from ...errors import DomainError


def files_root():
    return Path(settings.COLLECTIONS_FILES_DIR)


def file_inside(relative):
    """The absolute path of `relative` if it lies inside the files folder, else None (whatever a row
    says: `..`, an absolute path, a symlink out)."""
    if not relative:
        return None
    root = files_root().resolve()
    path = (root / relative).resolve()
    return path if root in path.parents else None


def file_stored(relative):
    """The existing file at `relative` inside the files folder, or not_found."""
    path = file_inside(relative)
    if path is None or not path.is_file():
        raise DomainError("not_found")
    return path


def _safe_name(name):
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name)[-120:]
    return stem or "upload"


def file_store_upload(upload, subdir="imports/uploads"):
    """Stream an uploaded file under the files folder; returns its path relative to the folder."""
    relative = Path(subdir) / f"{uuid.uuid4().hex}-{_safe_name(upload.name)}"
    target = files_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.writelines(upload.chunks())
    return str(relative)
