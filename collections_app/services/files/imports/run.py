"""One import, start to end: open the file, check the header, apply the rows by kind, write the
report, then bring the cases of touched loans in step.

Cases after an instalments file: the loans whose instalments were created or changed (never the
unchanged ones) go, 1,000 ids at a time, to `cases_sync_with_loans_task`, which runs
`case_sync_with_loan` per loan: the same exact rule the API and payments use (open at the stage
the DPD maps to, reopen within the window, resolve, re-age amounts), with its events, and
idempotent. Not the sweep: the sweep for today would also escalate every case of the book by age
(the daily job's business, not an import's), and its amount refresh only re-reads loans with
an instalment due in the last week, so an import that changes an older instalment would go
unnoticed. The command runs the chunks in its own process (`follow_cases="inline"`); the upload
page's task enqueues them (`"tasks"`), so workers share them and the import's progress is not
held up; the benchmark times the import alone (`"none"`).

A whole book is another matter: per loan runs about 70 loans a second per worker (20 minutes for
80,000 loans). Past COLLECTIONS_IMPORT_SWEEP_THRESHOLD touched loans (5,000) the cases follow
through today's sweep with a full amount refresh instead, set-based (about a minute at a million
cases): it re-reads every open case's amounts, opens, reopens and resolves as the per-loan rule
does, and its escalations by age are today's, which the daily run makes (or made) anyway.
"""

import uuid
from contextlib import nullcontext
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ...enqueue import enqueue
from .errors import FileRefused, RowRefused
from .readers import open_source, pick
from .report import ImportResult, ReportWriter
from .rows import known_references
from .values import messages

KIND_NAMES = ("borrowers", "loans", "instalments", "payments")
PROGRESS_EVERY = 200
DRY_RUN_CHUNK = 500
SYNC_CHUNK = 1000


def default_report_path(kind):
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Path(settings.COLLECTIONS_FILES_DIR) / "imports" / f"{stamp}-{kind}-{uuid.uuid4().hex[:8]}-report.csv"


def import_file(
    path,
    kind,
    *,
    dry_run=False,
    actor=None,
    report_path=None,
    source_name=None,
    on_progress=None,
    follow_cases="inline",
):
    """Import `path` as `kind`. Returns an ImportResult; `file_refused` is set when the file itself
    cannot be imported (then nothing was applied, unless it broke down mid-file: see docs)."""
    if kind not in KIND_NAMES:
        raise ValueError(f"unknown import kind {kind!r}")
    result = ImportResult(kind=kind, dry_run=dry_run)
    report_path = Path(report_path) if report_path else default_report_path(kind)
    report = ReportWriter(report_path)
    result.report_path = str(report_path)
    progress = on_progress or (lambda done, total: None)
    source = None
    try:
        source = open_source(path, kind, source_name)
        for name in source.layout.unknown:
            text = _("Unknown column “%(name)s” ignored.") % {"name": name}
            result.warnings.append(text)
            report.warning(1, name, text)
        total = source.count_rows()
        progress(0, total)
        if kind == "instalments":
            touched = _instalments(source, result, report, dry_run, progress, total)
            if touched is not None and not dry_run:
                _follow_cases(touched, follow_cases, result)
        else:
            _per_row(source, kind, result, report, dry_run, actor, progress, total)
    except FileRefused as refused:
        result.file_refused = refused.message
        report.error(1, "", "", refused.message)
    finally:
        report.close()
        if source is not None and hasattr(source, "close"):
            source.close()
    return result


def _per_row(source, kind, result, report, dry_run, actor, progress, total):
    """Each row through its service (its own transaction). A dry run applies DRY_RUN_CHUNK rows at
    a time inside a transaction it rolls back: short enough that the rows it locks (and, on SQLite,
    the one writer's lock) are soon free for everyone else; a row is judged against the stored book
    plus the rows before it in its chunk."""
    layout, m = source.layout, messages()
    rows = iter(source.rows())
    while True:
        chunk = list(islice(rows, DRY_RUN_CHUNK if dry_run else PROGRESS_EVERY))
        if not chunk:
            break
        with transaction.atomic() if dry_run else nullcontext():
            picked = [(line, record, pick(layout, record)) for line, record in chunk]
            known = known_references(kind, [row for _line, _record, row in picked])  # one query a chunk
            for line, record, row in picked:
                result.rows += 1
                try:
                    if row is None:
                        raise RowRefused([("", "", m["fields"].format(expected=layout.width, found=len(record)))])
                    result.add(_apply(kind, row, actor, known))
                except RowRefused as refused:
                    report.row_refused(line, refused.problems)
                    result.refused += 1
            if dry_run:
                transaction.set_rollback(True)
        progress(result.rows, max(total, result.rows))
    progress(result.rows, result.rows)


def _apply(kind, row, actor, known):
    from .rows import apply_row

    return apply_row(kind, row, actor, known)


def _instalments(source, result, report, dry_run, progress, total):
    """Returns an iterable of chunks of touched loan ids (or a set on the ORM path)."""
    if connection.vendor == "postgresql":
        return _instalments_pg(source, result, report, dry_run, progress)
    from .instalments_orm import import_instalments_orm

    def records():
        for line, record in source.rows():
            yield line, pick(source.layout, record), len(record)

    with transaction.atomic() if dry_run else nullcontext():
        touched = import_instalments_orm(
            records(), source.layout, result, report, on_progress=lambda done: progress(done, max(total, done))
        )
        if dry_run:
            transaction.set_rollback(True)
    return [sorted(touched)[i : i + SYNC_CHUNK] for i in range(0, len(touched), SYNC_CHUNK)]


class _PgTouched:
    """Chunks of touched loan ids read from the temp table, which is dropped after."""

    def __init__(self, pg):
        self.pg = pg

    def __iter__(self):
        try:
            yield from self.pg.touched_loans(SYNC_CHUNK)
        finally:
            self.pg.drop()


def _instalments_pg(source, result, report, dry_run, progress):
    from .instalments_pg import PgInstalments

    pg = PgInstalments(source, result, report, dry_run=dry_run)
    keep = False
    try:
        staged = pg.stage_file()
        result.rows = staged
        progress(0, staged)
        with transaction.atomic():
            pg.apply()
            if dry_run:
                transaction.set_rollback(True)
        progress(staged, staged)
        keep = not dry_run
        return _PgTouched(pg) if keep else None
    finally:
        if not keep:
            pg.drop()


def _touched_count(chunks):
    if isinstance(chunks, _PgTouched):
        return chunks.pg.touched_count()
    return sum(len(ids) for ids in chunks)


def _follow_by_sweep(mode, result):
    from ....calendar import lender_today
    from ...sweep import sweep_run

    if mode == "tasks":
        enqueue("collections_app.tasks.sweep_task", full_refresh=True)
        result.cases = {"sweep_queued": 1}
    else:
        report = sweep_run(as_of=lender_today(), full_refresh=True, plan_reminders=False)
        result.cases = {f"sweep_{key}": n for key, n in report.counts.items() if n}


def _follow_cases(chunks, mode, result):
    from ...cases import cases_sync_with_loans

    counts = {}
    if mode != "none" and _touched_count(chunks) > settings.COLLECTIONS_IMPORT_SWEEP_THRESHOLD:
        if isinstance(chunks, _PgTouched):
            chunks.pg.drop()
        _follow_by_sweep(mode, result)
        return
    for ids in chunks if mode != "none" else ():
        if mode == "tasks":
            enqueue("collections_app.tasks.cases_sync_with_loans_task", list(ids))
            counts["loans_queued"] = counts.get("loans_queued", 0) + len(ids)
        else:
            for action, n in cases_sync_with_loans(ids).items():
                counts[action] = counts.get(action, 0) + n
    if isinstance(chunks, _PgTouched):
        chunks.pg.drop()  # also when nothing iterated (mode "none")
    result.cases = counts
