"""`python -m bench imports`: a million CSV instalment rows through the import, beside PostgreSQL's
own COPY of the same file into a bare table.

Parent (no Django): create the database <name>_imports, then one child process per step:
  build   - migrate; borrowers and loans created set-based (INSERT ... SELECT generate_series), one
            loan per --per-loan rows; the synthetic CSV written (streamed) to a temporary folder:
            loan, number, due_date, amount_due; one row in 1,000 names a loan that does not exist
            (refused and reported, as in a real nightly file);
  copy    - the floor the issue names: CREATE TABLE (loan text, number int, due_date date, amount_due numeric(14,2)),
            no index, no key, and COPY ... FROM STDIN (FORMAT csv, HEADER) of the file through
            psycopg2's copy_expert: the same client path the import uses;
  write   - what writing alone costs: the rows already typed and joined to their loans (not timed),
            one plain INSERT into the instalment table + COMMIT (unique key, two indexes, checks,
            the deferred foreign-key check) timed, then the table emptied;
  import  - services.files.imports.import_file(kind="instalments", follow_cases="none") into the empty
            instalment table (its unique key and two indexes): stage with COPY, check in SQL, write
            the report, upsert; each phase timed;
  rerun   - the same file again: every row `unchanged` (nothing written);
  cases   - the case follow-up the command would run afterwards (tasks.cases_sync_with_loans_task,
            per loan), timed on a sample of --sample touched loans and scaled (it runs in Celery
            chunks after an upload, outside the import's time).
Peak RSS is the child's VmHWM (the import streams; it must stay flat as rows grow).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from . import report
from .db import PROJECT_DIR, Server, check_url, child_env, resolve_url, with_name

DEFAULT_ROWS = 1_000_000
DEFAULT_PER_LOAN = 12
DEFAULT_SAMPLE = 2_000
BAD_EVERY = 1_000


# --- children (run with Django set up) ------------------------------------------------------


def _insert_sql(model, overrides):
    """INSERT INTO <table> (columns) SELECT <exprs> for `model`: `overrides` maps a column to SQL
    (over generate_series `g` or a borrower `b`) or to (SQL, [params]); every other column takes its
    Django default as a parameter. Returns (sql, params) in placement order."""
    from django.db import connection

    columns, exprs, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in overrides:
            expr = overrides[f.column]
            if isinstance(expr, tuple):
                expr, extra = expr
                params.extend(extra)
            exprs.append(expr)
        elif f.has_default() or (not f.null and f.empty_strings_allowed):
            exprs.append("%s")
            params.append(f.get_db_prep_save(f.get_default(), connection))
        elif f.null:
            exprs.append("NULL")
        else:
            raise SystemExit(f"bench imports: no value for {model.__name__}.{f.name}")
    return f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(exprs)}", params


def child_build(rows, per_loan, folder):
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from collections_app.models import Borrower, Loan

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    loans = -(-rows // per_loan)
    now = timezone.now()
    disbursed = date.today() - timedelta(days=200)
    b_sql, b_params = _insert_sql(
        Borrower,
        {
            "external_id": "'BB' || lpad(g::text, 8, '0')",
            "name": "'Borrower ' || g",
            "created_at": ("%s", [now]),
            "updated_at": ("%s", [now]),
        },
    )
    l_sql, l_params = _insert_sql(
        Loan,
        {
            "external_id": "'BL' || substr(b.external_id, 3)",
            "borrower_id": "b.id",
            "principal": "12000.00",
            "disbursed_on": ("%s", [disbursed]),
            "created_at": ("%s", [now]),
            "updated_at": ("%s", [now]),
        },
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(b_sql + " FROM generate_series(1, %s) g", [*b_params, loans])
        cursor.execute(
            l_sql + f" FROM {Borrower._meta.db_table} b WHERE b.external_id LIKE 'BB%%' ORDER BY b.id", l_params
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Loan._meta.db_table}")
        cursor.execute(f"ANALYZE {Borrower._meta.db_table}")
    built_s = time.perf_counter() - started
    path = Path(folder) / f"instalments-{rows}.csv"
    first_due = date.today() - timedelta(days=170)
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("loan,number,due_date,amount_due\n")
        for loan in range(1, loans + 1):
            for number in range(1, per_loan + 1):
                if written >= rows:
                    break
                written += 1
                loan_id = f"BL{loan:08d}" if written % BAD_EVERY else f"NOPE{loan:08d}"
                due = first_due + timedelta(days=30 * (number - 1))
                out.write(f"{loan_id},{number},{due.isoformat()},{1000 + (loan % 7) * 0.5:.2f}\n")
    return {
        "loans": loans,
        "rows": written,
        "path": str(path),
        "bytes": path.stat().st_size,
        "build_s": built_s,
        "file_s": time.perf_counter() - started - built_s,
    }


def child_copy(path):
    from django.db import connection

    from .child import Clock

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_instalments")
        cursor.execute(
            "CREATE TABLE bench_bare_instalments (loan text, number int, due_date date, amount_due numeric(14, 2))"
        )
    with Clock() as clock, open(path, "rb") as f, connection.cursor() as cursor:
        cursor.copy_expert("COPY bench_bare_instalments FROM STDIN WITH (FORMAT csv, HEADER true)", f, 1 << 20)
        rows = cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare_instalments")
    return {**clock.as_dict(), "rows": rows}


def child_write_floor(path):
    """The write alone: the file's rows already typed and joined to their loans (not timed), then
    one plain INSERT into the instalment table and its COMMIT (its unique key, two indexes, check
    constraints and the deferred foreign-key check) timed; the table is emptied again afterwards."""
    from django.db import connection, transaction

    from collections_app.models import Instalment, Loan

    from .child import Clock

    table = Instalment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET temp_buffers = '256MB'")
        cursor.execute("CREATE TEMP TABLE bench_raw (loan text, number int, due_date date, amount_due numeric(14, 2))")
        with open(path, "rb") as f:
            cursor.copy_expert("COPY bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)", f, 1 << 20)
        cursor.execute(
            f"CREATE TEMP TABLE bench_typed AS SELECT l.id AS loan_id, r.number, r.due_date, r.amount_due "
            f"FROM bench_raw r JOIN {Loan._meta.db_table} l ON l.external_id = r.loan"
        )
        cursor.execute("ANALYZE bench_typed")
    with Clock() as clock:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (loan_id, number, due_date, amount_due, amount_paid) "
                "SELECT loan_id, number, due_date, amount_due, 0 FROM bench_typed ORDER BY loan_id, number"
            )
            rows = cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("DROP TABLE bench_raw, bench_typed")
    return {**clock.as_dict(), "rows": rows}


def _instrument():
    from collections_app.services.files.imports import instalments_pg

    spent = {}

    def wrap(name):
        original = getattr(instalments_pg.PgInstalments, name)

        def timed(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0) + time.perf_counter() - started

        setattr(instalments_pg.PgInstalments, name, timed)

    for name in ("stage_file", "apply", "write_refusals"):
        wrap(name)
    return spent


def child_import(path, report_path):
    from collections_app.models import Instalment
    from collections_app.services.files.imports import import_file

    from .child import Clock, memory_kb

    spent = _instrument()
    before = Instalment.objects.count()
    rss_before = memory_kb("VmRSS")
    with Clock() as clock:
        result = import_file(path, "instalments", report_path=report_path, follow_cases="none")
    return {
        **clock.as_dict(),
        "phases": spent,
        "summary": result.as_summary(),
        "before": before,
        "after": Instalment.objects.count(),
        "rss_before_kb": rss_before,
        "report_lines": sum(1 for _ in open(report_path, encoding="utf-8")) - 1,
    }


def child_cases(sample):
    from django.db import connection

    from collections_app.models import Case, Loan
    from collections_app.tasks.sweep import cases_sync_with_loans_task

    from .child import Clock

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Loan._meta.db_table} ORDER BY id LIMIT %s", [sample])
        ids = [r[0] for r in cursor.fetchall()]
    total = Loan.objects.count()
    counts = {}
    with Clock() as clock:
        for i in range(0, len(ids), 1000):
            for action, n in cases_sync_with_loans_task(ids[i : i + 1000]).items():
                counts[action] = counts.get(action, 0) + n
    return {**clock.as_dict(), "sample": len(ids), "loans": total, "counts": counts, "cases": Case.objects.count()}


CHILD_TASKS = {
    "build": child_build,
    "copy": child_copy,
    "write_floor": child_write_floor,
    "import": child_import,
    "cases": child_cases,
}


def _child_main(argv):
    """`python -m bench.imports _child TASK JSON_ARGS RESULT_PATH` (as bench.child, with these tasks)."""
    from .child import run_task

    run_task(lambda: CHILD_TASKS, argv)


def run_child(task, url, **args):
    check_url(url)
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-imports-") as out:
        command = [sys.executable, "-m", "bench.imports", "_child", task, json.dumps(args), out.name]
        env = child_env(url)
        env.setdefault("LOG_LEVEL", "WARNING")
        completed = subprocess.run(command, cwd=PROJECT_DIR, env=env)
        if completed.returncode != 0:
            raise SystemExit(f"bench imports: child {task!r} failed with exit code {completed.returncode}")
        return json.load(open(out.name, encoding="utf-8"))


# --- parent ---------------------------------------------------------------------------------


def add_arguments(parser):
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="instalment rows in the CSV")
    parser.add_argument("--per-loan", type=int, default=DEFAULT_PER_LOAN, help="instalments per loan")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="loans timed in the case follow-up")
    parser.add_argument("--keep", action="store_true", help="keep the database and the file afterwards")


def command(opts):
    url = resolve_url(opts.database_url)
    name = check_url(url)
    db = f"{name}_imports"[:40]
    db_url = with_name(url, db)
    check_url(db_url)
    server = Server(url)
    folder = tempfile.mkdtemp(prefix="bench-imports-")
    started = time.perf_counter()
    print(
        f"bench imports: {report.n(opts.rows)} instalment rows; PostgreSQL {server.version()} at "
        f"{url.split('@')[-1]}; {report.machine()}; load {report.load():.1f}",
        flush=True,
    )
    try:
        server.create(db)
        print(f"  building loans and the file in {db} ...", flush=True)
        built = run_child("build", db_url, rows=opts.rows, per_loan=opts.per_loan, folder=folder)
        server.execute("CHECKPOINT")
        print("  COPY into a bare table ...", flush=True)
        floor = run_child("copy", db_url, path=built["path"])
        server.execute("CHECKPOINT")
        print("  plain INSERT of the typed rows into the instalment table ...", flush=True)
        write = run_child("write_floor", db_url, path=built["path"])
        server.execute("CHECKPOINT")
        print("  import ...", flush=True)
        first = run_child("import", db_url, path=built["path"], report_path=str(Path(folder) / "report-1.csv"))
        server.execute("CHECKPOINT")
        print("  import again (rerun) ...", flush=True)
        rerun = run_child("import", db_url, path=built["path"], report_path=str(Path(folder) / "report-2.csv"))
        print(f"  case follow-up on {report.n(opts.sample)} loans ...", flush=True)
        cases = run_child("cases", db_url, sample=opts.sample)
    finally:
        if not opts.keep:
            server.drop(db)
            for f in Path(folder).glob("*"):
                f.unlink()
            os.rmdir(folder)
        server.close()
    print()
    print(render(built, floor, write, first, rerun, cases, opts, time.perf_counter() - started))


def render(built, floor, write, first, rerun, cases, opts, total_s):
    s1, s2 = first["summary"], rerun["summary"]
    out = [
        f"file: {report.n(built['rows'])} rows, {built['bytes'] / 2**20:.0f} MB, {report.n(built['loans'])} loans "
        f"({opts.per_loan} instalments each); 1 row in {BAD_EVERY:,} names an unknown loan",
        "",
    ]
    rows = [
        [
            "COPY into a bare table (floor)",
            report.secs(floor["seconds"]),
            report.cpu(floor),
            "1.00x",
            report.mb(floor["rss_peak_kb"]),
        ],
        [
            "plain INSERT of typed rows into the instalment table",
            report.secs(write["seconds"]),
            report.cpu(write),
            report.ratio(write["seconds"], floor["seconds"]),
            report.mb(write["rss_peak_kb"]),
        ],
        [
            "import_file instalments (empty table)",
            report.secs(first["seconds"]),
            report.cpu(first),
            report.ratio(first["seconds"], floor["seconds"]),
            report.mb(first["rss_peak_kb"]),
        ],
        [
            "import_file again (all unchanged)",
            report.secs(rerun["seconds"]),
            report.cpu(rerun),
            report.ratio(rerun["seconds"], floor["seconds"]),
            report.mb(rerun["rss_peak_kb"]),
        ],
    ]
    out.append(report.table(["", "seconds", "CPU client+server", "vs COPY", "peak RSS"], rows))
    out.append(
        f"import vs the plain INSERT (the write alone, no checks, no staging): "
        f"{report.ratio(first['seconds'], write['seconds'])}"
    )
    out.append("")
    phases = ", ".join(f"{k} {v:.2f} s" for k, v in first["phases"].items())
    out.append(f"import phases: {phases}")
    out.append(
        f"first: created {report.n(s1['created'])}, updated {s1['updated']}, unchanged {s1['unchanged']}, "
        f"refused {report.n(s1['refused'])} (report lines {report.n(first['report_lines'])}); "
        f"rerun: unchanged {report.n(s2['unchanged'])}, created {s2['created']}, updated {s2['updated']}, "
        f"refused {report.n(s2['refused'])}"
    )
    out.append(
        f"memory: child at start {report.mb(first['rss_startup_kb'])}, before the import "
        f"{report.mb(first['rss_before_kb'])}, peak {report.mb(first['rss_peak_kb'])}"
    )
    per_loan = cases["seconds"] / max(cases["sample"], 1)
    out.append(
        f"case follow-up (cases_sync_with_loans_task, per loan): {report.n(cases['sample'])} loans in "
        f"{cases['seconds']:.1f} s ({cases['sample'] / cases['seconds']:.0f} loans/s) -> "
        f"{report.n(cases['loans'])} loans ~{per_loan * cases['loans']:.0f} s in one worker, "
        f"outside the import's time; actions {cases['counts']}"
    )
    out.append(f"total {total_s:.0f} s")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        _child_main(sys.argv[2:])
    else:
        raise SystemExit("run as: python -m bench imports [options]")
