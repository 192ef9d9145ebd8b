"""`python -m bench api`: the REST API under gunicorn on the 1,000,000-case portfolio (issue 5), beside a
bare DRF endpoint and a minimal DRF detail view measured in the same run.

    python -m bench api [--cases 1000000] [--seconds 10] [--concurrency 8] [--reuse] [--keep]

Parent (no Django): build the sweep portfolio (bench.portfolio.build_sweep, set-based) once into a
template database, give its cases change positions (100 cases per position in updated_at order,
as if written 100 per transaction long ago; the set-based load runs without triggers), then
CREATE DATABASE <name>_api TEMPLATE <template>. A child process creates the API clients on the copy
(cases:read; cases:read + pii:read; one client per scenario so each has its own throttle history;
their rate limit is raised so that no request is throttled, while the throttle check still runs).
Then gunicorn (the venv's, `config.wsgi`, 2 sync workers, DJANGO_DEBUG=0, settings bench.api_settings
= the app's settings + the two reference routes of bench.api_baseline) on a free 127.0.0.1 port,
and the load generator of bench.api_load (threads, http.client) against:
  constant    GET /bench/constant/                - DRF APIView returning a constant (no auth)
  minimal     GET /bench/cases/<id>/              - ModelSerializer of the case row (1 query, no auth)
  detail      GET /api/v1/cases/<id>/             - the API's detail, token with cases:read (masked)
  detail_pii  GET /api/v1/cases/<id>/             - token with pii:read: unmasked + one audit row each
  detail_304  GET /api/v1/cases/<id>/ If-None-Match with the ETag of an earlier answer -> 304
  list        GET /api/v1/cases/?limit=100, then its `next` link (page 2)
ids are uniform random over the portfolio. Each endpoint runs --seconds in total, split over
--rounds slices (the order reverses every round, so drift on a shared machine falls on all of them
alike), after an untimed warm-up. Any answer outside 2xx/304, and any failed connection, is an error.
Then gunicorn stops and a child measures in-process on the same copy (django.test.Client +
CaptureQueriesContext): the list page's server time (median of --requests) and its queries, on page
1, page 2 and a page in the middle of the portfolio; the same for detail, minimal and constant. When
detail is under 80% of minimal (or with --profile), it profiles detail requests (cProfile) and prints
where the time goes. Targets (issue 5): detail >= 0.80 x minimal req/s; list page <= 10 ms server
time with a fixed number of queries (no COUNT). Databases are dropped at the end (unless --keep).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import api_load, report
from .db import PROJECT_DIR, Server, check_url, child_env, resolve_url, schema_signature, with_name

BUILD_VERSION = 1
DEFAULT_CASES = 1_000_000
DEFAULT_SECONDS = 10.0
DEFAULT_CONCURRENCY = 8
DEFAULT_ROUNDS = 2
DEFAULT_WARMUP_S = 1.0
DEFAULT_REQUESTS = 30
DEFAULT_MAX_REQUESTS = 200_000
DEFAULT_WORKERS = 2
PRIME_IDS = 500
PROFILE_REQUESTS = 200
LIST_LIMIT = 100
POSITION_BATCH = 100
CLIENT_RATE = 2_000_000_000  # requests per minute: never reached, so nothing is throttled
RATIO_TARGET, LIST_MS_TARGET = 0.80, 10.0
LIST_MAX_QUERIES = 4
SETTINGS_MODULE = "bench.api_settings"
SCENARIOS = [  # (scenario, kinds it records, label of each kind)
    ("constant", [("constant", "constant: DRF APIView, no auth")]),
    ("minimal", [("minimal", "minimal detail: ModelSerializer, 1 query, no auth")]),
    ("detail", [("detail", "case detail, token cases:read (masked)")]),
    ("detail_pii", [("detail_pii", "case detail, token pii:read (unmasked + audit row)")]),
    ("detail_304", [("detail_304", "case detail, If-None-Match -> 304")]),
    ("list", [("list_page1", "case list ?limit=100, page 1"), ("list_page2", "case list, page 2 (its next link)")]),
]
CLIENT_SCOPES = {
    "detail": ["cases:read"],
    "detail_304": ["cases:read"],
    "list": ["cases:read"],
    "detail_pii": ["cases:read", "pii:read"],
}


# --- children (run with Django set up, DJANGO_SETTINGS_MODULE=bench.api_settings) ---------------


def child_build(cases, as_of):
    """Migrate, the sweep portfolio, then change positions (the load ran with triggers off, so
    every case has none and the list would be empty): 100 cases per position in updated_at order,
    all below the current transaction id. The UPDATE rewrites every row: VACUUM FULL compacts the
    table again before it is frozen and analysed."""
    from django.core.management import call_command
    from django.db import connection

    from collections_app.models import Case

    from . import portfolio

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - started
    result = portfolio.build_sweep(cases, as_of)
    table = Case._meta.db_table
    positions_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        top = cursor.fetchone()[0] - 1
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER case_change_position")
        cursor.execute(f"""
            UPDATE {table} c SET change_position = LEAST({int(top)}, 1 + (s.r - 1) / {POSITION_BATCH})
            FROM (SELECT id, row_number() OVER (ORDER BY updated_at, id) AS r FROM {table}) s
            WHERE c.id = s.id""")
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER case_change_position")
        cursor.execute(f"VACUUM FULL {table}")
        cursor.execute(f"VACUUM (FREEZE, ANALYZE) {table}")
        cursor.execute(
            f"SELECT COUNT(DISTINCT change_position), MIN(change_position), MAX(change_position), "
            f"COUNT(*) FILTER (WHERE change_position IS NULL) FROM {table}"
        )
        distinct, low, high, missing = cursor.fetchone()
    result.update(
        migrate_s=migrate_s,
        positions_s=time.perf_counter() - positions_started,
        build_s=time.perf_counter() - started,
        positions={"distinct": distinct, "min": low, "max": high, "missing": missing},
    )
    return result


def child_setup():
    """API clients on the copy (tokens go back to the parent only) and the id range."""
    from django.db.models import Count, Max, Min

    from collections_app.models import Case, PromiseToPay
    from collections_app.services.api_clients import api_client_create

    tokens, labels = {}, {}
    for key, scopes in CLIENT_SCOPES.items():
        client, token = api_client_create(
            name=f"bench-{key.replace('_', '-')}", scopes=scopes, rate_per_minute=CLIENT_RATE
        )
        tokens[key], labels[key] = token, f"client:{client.name}"
    span = Case.objects.aggregate(low=Min("id"), high=Max("id"), n=Count("id"))
    pending = PromiseToPay.objects.filter(status=PromiseToPay.Status.PENDING).count()
    return {
        "tokens": tokens,
        "labels": labels,
        "id_min": span["low"],
        "id_max": span["high"],
        "cases": span["n"],
        "pending_promises": pending,
    }


def _path(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _time_gets(client, urls, warmup, headers):
    """Untimed warm-up GETs, then one timed GET per url: (times, statuses)."""
    for url in urls[:warmup]:
        client.get(url, **headers)
    times, statuses = [], {}
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    return times, statuses


def _capture(client, url, headers):
    """One GET under CaptureQueriesContext (the statements exactly as sent), each statement's
    execution timed with perf_counter (the context's own times are rounded to the millisecond)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    took = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took.append(time.perf_counter() - started)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        response = client.get(url, **headers)
    queries = captured.captured_queries
    times = took if len(took) == len(queries) else [float(q["time"]) for q in queries]
    return response, [{"sql": q["sql"], "ms": t * 1000} for q, t in zip(queries, times)]


def _explain(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


def _summary(times):
    ordered = sorted(times)
    return {"median": ordered[len(ordered) // 2], "p95": api_load.percentile(ordered, 0.95), "n": len(ordered)}


def child_inprocess(tokens, labels, id_min, id_max, requests, warmup, profile, profile_requests, seed):
    """Server time and queries of each request in this process (no network, no gunicorn)."""
    import random

    from django.db import connection
    from django.test import Client

    from collections_app.api.common.views import encode_cursor
    from collections_app.models import AuditLog, Case

    rng = random.Random(seed)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Token {tokens['list']}"}
    first = f"/api/v1/cases/?limit={LIST_LIMIT}"
    page1 = client.get(first, **auth)
    body1 = page1.json()
    second = _path(body1["next"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT change_position, id FROM {Case._meta.db_table} WHERE change_position IS NOT NULL "
            "ORDER BY change_position, id OFFSET %s LIMIT 1",
            [Case.objects.count() // 2],
        )
        middle_position, middle_id = cursor.fetchone()
    middle = f"/api/v1/cases/?limit={LIST_LIMIT}&after={encode_cursor(middle_position, middle_id)}"
    n = requests + warmup

    def ids():
        return [rng.randint(id_min, id_max) for _ in range(n)]

    plan = [
        ("list_page1", "case list, page 1", [first] * n, auth),
        ("list_page2", "case list, page 2 (next link)", [second] * n, auth),
        ("list_middle", f"case list, page after case #{middle_id} (middle of the portfolio)", [middle] * n, auth),
        (
            "detail",
            "case detail, cases:read",
            [f"/api/v1/cases/{i}/" for i in ids()],
            {"HTTP_AUTHORIZATION": f"Token {tokens['detail']}"},
        ),
        ("minimal", "minimal detail", [f"/bench/cases/{i}/" for i in ids()], {}),
        ("constant", "constant", ["/bench/constant/"] * n, {}),
    ]
    results = []
    for key, label, urls, headers in plan:
        times, statuses = _time_gets(client, urls[warmup:], warmup, headers)
        response, queries = _capture(client, urls[-1], headers)
        entry = {
            "key": key,
            "label": label,
            **_summary(times),
            "statuses": statuses,
            "queries": queries,
            "status": response.status_code,
        }
        if key.startswith("list"):
            entry["rows"] = len(response.json().get("results", []))
            entry["has_more"] = response.json().get("has_more")
            page_sql = [q["sql"] for q in queries if _sql_key(q["sql"]) == "case"]
            entry["plan"] = _explain(page_sql[0]) if page_sql else []
        results.append(entry)
    answer = {
        "results": results,
        "page1_rows": len(body1["results"]),
        "page1_status": page1.status_code,
        "second_url": second[:120],
        "audit_rows": {k: AuditLog.objects.filter(actor=v).count() for k, v in labels.items()},
    }
    by_key = {r["key"]: r for r in results}
    if profile:
        detail_urls = [f"/api/v1/cases/{rng.randint(id_min, id_max)}/" for _ in range(profile_requests)]
        detail_auth = {"HTTP_AUTHORIZATION": f"Token {tokens['detail']}"}
        answer["detail_breakdown"] = _breakdown(client, detail_urls, detail_auth, "detail")
        answer["minimal_breakdown"] = _breakdown(
            client, [f"/bench/cases/{rng.randint(id_min, id_max)}/" for _ in range(profile_requests)], {}, "minimal"
        )
        answer["detail_profile"] = _profile(client, detail_urls, detail_auth)
    if profile or max(by_key[k]["median"] for k in ("list_page1", "list_page2", "list_middle")) * 1000 > LIST_MS_TARGET:
        list_urls = [second] * max(requests, 20)
        answer["list_breakdown"] = _breakdown(client, list_urls, auth, "list")
        answer["list_profile"] = _profile(client, list_urls, auth)
    return answer


def _targets(kind):
    """(owner, attribute, label) of the functions timed in the breakdown of `kind`."""
    from rest_framework.renderers import JSONRenderer

    from collections_app.selectors import cases as selectors
    from collections_app.api.cases import views as views_cases
    from collections_app.api.common import auth, throttling
    from collections_app.api.common import views as common
    from collections_app.models import Case

    shared = [
        (auth.ApiTokenAuthentication, "authenticate", "token auth (ApiClient lookup + hash)"),
        (throttling.ClientRateThrottle, "allow_request", "throttle (locmem cache)"),
        (common.ScopePermission, "has_permission", "scope check"),
    ]
    if kind == "detail":
        return shared + [
            (views_cases.CaseDetailView, "get", "CaseDetailView.get, all of it"),
            (selectors, "case_detail", "  selectors.case_detail: case + joins, holds prefetch"),
            (selectors, "bucket_list", "  selectors.bucket_list"),
            (views_cases, "case_dict", "  case_dict (masking, allowed_transitions, dates)"),
            (Case, "allowed_transitions", "    Case.allowed_transitions (django-fsm)"),
            (views_cases, "etag_for", "  etag_for (JSON + sha256 of the body)"),
            (JSONRenderer, "render", "JSON rendering"),
        ]
    if kind == "minimal":
        from . import api_baseline

        return [
            (api_baseline.MinimalCaseDetailView, "retrieve", "MinimalCaseDetailView.retrieve, all of it"),
            (api_baseline.MinimalCaseDetailView, "get_object", "  get_object (the one query)"),
            (api_baseline.MinimalCaseSerializer, "to_representation", "  ModelSerializer.to_representation"),
            (JSONRenderer, "render", "JSON rendering"),
        ]
    return shared + [
        (views_cases.CaseListView, "get", "CaseListView.get, all of it"),
        (views_cases, "validated", "  filter validation (CaseFilterSerializer)"),
        (selectors, "case_list", "  selectors.case_list (building the queryset)"),
        (views_cases, "_page_by_position", "  _page_by_position: snapshot query + page query + holds prefetch"),
        (views_cases, "settled_below", "    settled_below (pg_snapshot_xmin query)"),
        (selectors, "bucket_list", "  selectors.bucket_list"),
        (views_cases, "audit_unmasked", "  audit_unmasked"),
        (views_cases, "case_dict", "  case_dict x rows (masking, allowed_transitions, dates)"),
        (Case, "allowed_transitions", "    Case.allowed_transitions (django-fsm) x rows"),
        (views_cases, "reverse", "  reverse() of the next link"),
        (JSONRenderer, "render", "JSON rendering"),
    ]


def _sql_key(sql):
    """What a statement reads or writes: the table of its top-level FROM (not one of a subquery in
    the select list), or the table an INSERT/UPDATE names."""
    head = sql.lstrip()[:6].upper()
    if "pg_snapshot_xmin" in sql:
        return "pg_snapshot_xmin (settled_below)"
    if head in ("INSERT", "UPDATE"):
        parts = sql.split('"')
        return head + " " + (parts[1].replace("collections_app_", "") if len(parts) > 1 else "?")
    depth = 0
    for index, char in enumerate(sql):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(' FROM "', index):
            return sql[index + 7 :].split('"', 1)[0].replace("collections_app_", "")
    return _short(sql, 40)


def _breakdown(client, urls, headers, kind):
    """Wall time of the parts of a request (plain perf_counter wrappers, no profiler) and of each
    SQL statement's execution (connection.execute_wrapper), averaged over `urls`."""
    from collections import Counter

    from django.db import connection

    spent, calls, sql_spent, sql_calls = Counter(), Counter(), Counter(), Counter()
    restore = []

    def wrap(owner, attribute, label):
        original = getattr(owner, attribute)  # plain functions (inherited ones too); restored below

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
                calls[label] += 1

        setattr(owner, attribute, timed)
        restore.append((owner, attribute, original))

    def on_execute(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = _sql_key(sql)
            sql_spent[key] += time.perf_counter() - started
            sql_calls[key] += 1

    targets = _targets(kind)
    for url in urls[:10]:
        client.get(url, **headers)
    totals = []
    try:
        for owner, attribute, label in targets:
            wrap(owner, attribute, label)
        with connection.execute_wrapper(on_execute):
            for url in urls:
                started = time.perf_counter()
                client.get(url, **headers)
                totals.append(time.perf_counter() - started)
    finally:
        for owner, attribute, original in reversed(restore):
            setattr(owner, attribute, original)
    n = len(urls)
    return {
        "requests": n,
        "mean_ms": sum(totals) / n * 1000,
        "median_ms": sorted(totals)[n // 2] * 1000,
        "parts": [
            {"label": label, "ms": spent[label] / n * 1000, "calls": calls[label] / n} for _o, _a, label in targets
        ],
        "sql": sorted(
            ({"table": k, "ms": sql_spent[k] / n * 1000, "calls": sql_calls[k] / n} for k in sql_spent),
            key=lambda row: -row["ms"],
        ),
    }


def _profile(client, urls, headers):
    """cProfile over `urls`: own time by package and the top functions by own time, per request."""
    import cProfile
    import pstats

    for url in urls[:10]:
        client.get(url, **headers)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for url in urls:
        client.get(url, **headers)
    profiler.disable()
    profiled_s = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats
    n = len(urls)
    own = sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]
    top = [
        {
            "function": f"{_short_file(f)}:{line}({fn})",
            "own_ms": tt / n * 1000,
            "cum_ms": ct / n * 1000,
            "calls": nc / n,
        }
        for (f, line, fn), (_cc, nc, tt, ct, _c) in own
    ]
    by_package = {}
    for (filename, _line, _fn), (_cc, _nc, tt, _ct, _c) in stats.items():
        package = _package(filename)
        by_package[package] = by_package.get(package, 0.0) + tt
    return {
        "requests": n,
        "profiled_ms": profiled_s / n * 1000,
        "top": top,
        "by_package": sorted(((k, v / n * 1000) for k, v in by_package.items()), key=lambda kv: -kv[1])[:8],
    }


def _short_file(filename):
    text = filename.replace("\\", "/")
    for marker in ("site-packages/", "/work/main/", str(PROJECT_DIR) + "/"):
        if marker in text:
            return text.split(marker, 1)[1]
    return text.rsplit("/", 1)[-1] if "/" in text else text


def _package(filename):
    text = filename.replace("\\", "/")
    if text.startswith("~") or text.startswith("<"):
        return "builtins (C: psycopg2, json, hashlib, ...)"
    if "site-packages/" in text:
        return text.split("site-packages/", 1)[1].split("/", 1)[0]
    if str(PROJECT_DIR) in text:
        return text.split(str(PROJECT_DIR) + "/", 1)[1].split("/", 1)[0] + " (this project)"
    return "python stdlib"


CHILD_TASKS = {"api_build": child_build, "api_setup": child_setup, "api_inprocess": child_inprocess}


def _child_main(argv):
    """`python -m bench.api _child TASK JSON_ARGS RESULT_PATH` (as bench.child, with these tasks)."""
    from .child import run_task

    run_task(lambda: CHILD_TASKS, argv)


# --- parent ---------------------------------------------------------------------------------


def _env(url, var_dir, extra=None):
    env = child_env(url)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "COLLECTIONS_VAR_DIR": var_dir,
            "LOG_LEVEL": "WARNING",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    env.update(extra or {})
    return env


def run_api_child(task, url, var_dir, extra_env=None, **args):
    check_url(url)
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-api-") as out:
        command = [sys.executable, "-m", "bench.api", "_child", task, json.dumps(args), out.name]
        completed = subprocess.run(command, cwd=PROJECT_DIR, env=_env(url, var_dir, extra_env))
        if completed.returncode != 0:
            raise SystemExit(f"bench: child {task!r} failed with exit code {completed.returncode}")
        return json.load(open(out.name, encoding="utf-8"))


def add_arguments(parser):
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases in the portfolio")
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="timed seconds per endpoint (split over --rounds)"
    )
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="load generator threads")
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="slices per endpoint, the order reversed every round"
    )
    parser.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S, help="untimed seconds per endpoint first")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn sync workers")
    parser.add_argument(
        "--requests", type=int, default=DEFAULT_REQUESTS, help="timed in-process requests per URL (median)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help="at most this many requests per slice (the generator also stops at the deadline)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the detail and list views even if they meet their targets"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse a template database built by an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the template database afterwards")


def _build(server, url, template, opts, as_of, var_dir):
    signature = {
        "bench": "api",
        "version": BUILD_VERSION,
        "cases": opts.cases,
        "as_of": as_of.isoformat(),
        "migrations": schema_signature(),
    }
    stored = server.stored_build(template, signature) if opts.reuse else None
    if stored is not None:
        return stored
    server.create(template)
    built = run_api_child("api_build", with_name(url, template), var_dir, cases=opts.cases, as_of=as_of.isoformat())
    built.update(signature=signature, size_bytes=server.size(template), reused=False)
    server.set_comment(template, json.dumps(built))
    return built


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((api_load.HOST, 0))
        return probe.getsockname()[1]


def _gunicorn_binary():
    for candidate in (Path(sys.executable).parent / "gunicorn", PROJECT_DIR / ".venv" / "bin" / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    raise SystemExit("bench api: no gunicorn next to this python or in .venv/bin")


class Gunicorn:
    """gunicorn config.wsgi on 127.0.0.1:<free port>, started and stopped by this process only."""

    def __init__(self, url, var_dir, workers, settings=SETTINGS_MODULE, tag="gunicorn"):
        self.port = _free_port()
        self.log_path = os.path.join(var_dir, f"{tag}.log")
        self.command = [
            _gunicorn_binary(),
            "config.wsgi:application",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"{api_load.HOST}:{self.port}",
            "--timeout",
            "30",
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            "--error-logfile",
            self.log_path,
            "--no-control-socket",
            "--chdir",
            str(PROJECT_DIR),
        ]
        self.env = _env(url, var_dir, {"DJANGO_SETTINGS_MODULE": settings})
        self.proc = None

    def start(self, wait_s=60):
        self.output = open(self.log_path + ".out", "w", encoding="utf-8")  # the workers' stderr: Django's log
        self.proc = subprocess.Popen(
            self.command,
            cwd=PROJECT_DIR,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench api: gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((api_load.HOST, self.port), timeout=1) as sock:
                    sock.sendall(
                        f"GET /bench/constant/ HTTP/1.1\r\nHost: {api_load.HOST}:{self.port}\r\n"
                        "Connection: close\r\n\r\n".encode()
                    )
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.monotonic() - (deadline - wait_s)
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench api: gunicorn not answering after {wait_s} s:\n{self.log_tail()}")

    def workers(self):
        return api_load.children_of(self.proc.pid) if self.proc else []

    def stop(self):
        """SIGTERM to the master (it stops its workers), SIGKILL to its own process group if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this process created (start_new_session)
                self.proc.wait(5)
        if self.proc is not None:
            self.output.close()

    def log_lines(self):
        lines = []
        for path in (self.log_path, self.log_path + ".out"):
            try:
                with open(path, encoding="utf-8", errors="replace") as log:
                    lines += log.read().splitlines()
            except OSError:
                pass
        return lines

    def log_tail(self, count=30):
        return "\n".join(self.log_lines()[-count:])


def _prime(ctx, count, seed):
    """Untimed, one connection: ETags of `count` random cases (for the 304 path) and the checks that
    each endpoint answers what it should (masked name, unmasked with pii:read, page 1 full)."""
    import random

    rng = random.Random(seed)
    caller = api_load.Caller(ctx["port"], f"{api_load.HOST}:{ctx['port']}")
    tokens = ctx["tokens"]
    etags, checks = [], {}
    try:
        for _ in range(count):
            case_id = rng.randint(ctx["id_min"], ctx["id_max"])
            path = f"/api/v1/cases/{case_id}/"
            caller.conn.request(
                "GET", path, headers={"Host": caller.host_header, "Authorization": f"Token {tokens['detail_304']}"}
            )
            response = caller.conn.getresponse()
            body = json.loads(response.read())
            tag = response.getheader("ETag")
            if response.status != 200 or not tag or body.get("id") != case_id:
                raise SystemExit(f"bench api: priming {path}: HTTP {response.status}, ETag {tag!r}")
            etags.append((case_id, tag))
            checks.setdefault("masked_name", body["borrower"]["name"])
            checks.setdefault("detail_keys", sorted(body))
        case_id = etags[0][0]
        status, raw = caller.get(
            "check", f"/api/v1/cases/{case_id}/", {"Authorization": f"Token {tokens['detail_pii']}"}
        )
        checks["pii_name"] = json.loads(raw)["borrower"]["name"] if status == 200 else f"HTTP {status}"
        status, raw = caller.get("check", f"/bench/cases/{case_id}/")
        checks["minimal_keys"] = sorted(json.loads(raw)) if status == 200 else f"HTTP {status}"
        status, raw = caller.get(
            "check", f"/api/v1/cases/?limit={LIST_LIMIT}", {"Authorization": f"Token {tokens['list']}"}
        )
        page = json.loads(raw) if status == 200 else {}
        checks["page1_rows"] = len(page.get("results", []))
        checks["page1_has_more"] = page.get("has_more")
        checks["next"] = page.get("next", "")
        status, _ = caller.get(
            "check",
            f"/api/v1/cases/{case_id}/",
            {"Authorization": f"Token {tokens['detail_304']}", "If-None-Match": etags[0][1]},
            expect=304,
        )
        checks["revalidate_status"] = status
        status, _ = caller.get("check", f"/api/v1/cases/{case_id}/")
        checks["no_token_status"] = status  # 401 expected: counted as an error of the check only
        checks["no_token_log"] = f"Unauthorized: /api/v1/cases/{case_id}/"  # Django logs that 401 once
    finally:
        caller.close()
    return etags, checks


def _slice(scenario, ctx, seconds, opts, seed, meter_args):
    with api_load.CpuMeter(*meter_args) as meter:
        results, wall, steps = api_load.run(
            scenario, ctx, seconds=seconds, concurrency=opts.concurrency, max_requests=opts.max_requests, seed=seed
        )
    return {"results": results, "wall": wall, "steps": steps, "cpu": meter.seconds}


def _merge_slices(slices):
    merged, wall, cpu = {}, 0.0, {}
    for one in slices:
        wall += one["wall"]
        for kind, result in one["results"].items():
            merged.setdefault(kind, api_load.Result()).merge(result)
        for key, value in one["cpu"].items():
            cpu[key] = cpu.get(key, 0.0) + value
    return {
        "results": merged,
        "wall": wall,
        "cpu": cpu,
        "per_round": [{kind: len(r.latencies) / one["wall"] for kind, r in one["results"].items()} for one in slices],
    }


def _remove_tree(path):
    if path and os.path.basename(path).startswith("bench-api-var-"):
        shutil.rmtree(path, ignore_errors=True)


def command(opts):
    from .sweep import default_as_of

    url = resolve_url(opts.database_url)
    base = check_url(url)
    if opts.cases < 1000:
        raise SystemExit("bench api: --cases must be at least 1000")
    if opts.seconds <= 0 or opts.concurrency < 1 or opts.rounds < 1 or opts.requests < 1:
        raise SystemExit("bench api: --seconds, --concurrency, --rounds and --requests must be positive")
    if opts.seconds > 600 or opts.concurrency > 64 or opts.max_requests > 2_000_000:
        raise SystemExit("bench api: at most 600 s per endpoint, 64 threads and 2,000,000 requests per slice")
    name, template = f"{base}_api", f"{base}_api_template"
    copy_url = with_name(url, name)
    check_url(copy_url)
    as_of = default_as_of()
    server = Server(url)
    started = time.perf_counter()
    print(
        f"bench api: {report.n(opts.cases)} cases as of {as_of.isoformat()}; PostgreSQL {server.version()} at "
        f"{url.split('@')[-1].rsplit('/', 1)[0]}; {report.machine()}; load {report.load():.1f}",
        flush=True,
    )
    var_dir = tempfile.mkdtemp(prefix="bench-api-var-")
    gunicorn = None
    run = {"opts": vars(opts).copy(), "name": name, "template": template, "as_of": as_of.isoformat()}
    run["opts"].pop("run", None)
    try:
        print(f"  building into {template} ...", flush=True)
        run["build"] = _build(server, url, template, opts, as_of, var_dir)
        print(f"  copying {template} -> {name} ...", flush=True)
        run["copy_s"] = server.copy(template, name)
        setup = run_api_child("api_setup", copy_url, var_dir)
        run["setup"] = {k: v for k, v in setup.items() if k != "tokens"}
        gunicorn = Gunicorn(copy_url, var_dir, opts.workers)
        run["gunicorn"] = {"port": gunicorn.port, "start_s": gunicorn.start(), "workers": len(gunicorn.workers())}
        ctx = {
            "port": gunicorn.port,
            "tokens": setup["tokens"],
            "id_min": setup["id_min"],
            "id_max": setup["id_max"],
            "list_limit": LIST_LIMIT,
        }
        print(
            f"  gunicorn on {api_load.HOST}:{gunicorn.port} ({run['gunicorn']['workers']} workers); priming "
            f"{PRIME_IDS} ETags ...",
            flush=True,
        )
        ctx["etags"], run["checks"] = _prime(ctx, PRIME_IDS, seed=7)

        def backends():
            with server.conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
                )
                return [row[0] for row in cursor.fetchall()]

        meter_args = (gunicorn.proc.pid, backends)
        order = [scenario for scenario, _kinds in SCENARIOS]
        run["warmup"] = {}
        if opts.warmup > 0:
            print(f"  warm-up {opts.warmup:g} s per endpoint ...", flush=True)
            for i, scenario in enumerate(order):
                run["warmup"][scenario] = _slice(scenario, ctx, opts.warmup, opts, 100 + i, meter_args)
        slices = {scenario: [] for scenario in order}
        per_slice = opts.seconds / opts.rounds
        for round_no in range(opts.rounds):
            sequence = order if round_no % 2 == 0 else list(reversed(order))
            print(
                f"  round {round_no + 1}/{opts.rounds}: {per_slice:g} s each, {opts.concurrency} threads: "
                + " ".join(sequence)
                + " ...",
                flush=True,
            )
            for scenario in sequence:
                seed = 1000 * (round_no + 1) + order.index(scenario)
                slices[scenario].append(_slice(scenario, ctx, per_slice, opts, seed, meter_args))
        run["load"] = {scenario: _merge_slices(parts) for scenario, parts in slices.items()}
        gunicorn.stop()
        run["gunicorn"]["log"] = gunicorn.log_lines()
        ratio = _rps(run["load"], "detail") / _rps(run["load"], "minimal") if _rps(run["load"], "minimal") else 0.0
        run["ratio"] = ratio
        profile = opts.profile or ratio < RATIO_TARGET
        print(
            f"  in-process measurements (gunicorn stopped){' + cProfile of the detail view' if profile else ''} ...",
            flush=True,
        )
        run["inprocess"] = run_api_child(
            "api_inprocess",
            copy_url,
            var_dir,
            {"DJANGO_ALLOWED_HOSTS": "127.0.0.1,testserver"},
            tokens=setup["tokens"],
            labels=setup["labels"],
            id_min=setup["id_min"],
            id_max=setup["id_max"],
            requests=opts.requests,
            warmup=3,
            profile=profile,
            profile_requests=PROFILE_REQUESTS,
            seed=11,
        )
        run["load_avg_end"] = report.load()
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        server.drop(name)
        if not opts.keep:
            server.drop(template)
        server.close()
        _remove_tree(var_dir)
    print()
    print(render(run, time.perf_counter() - started))


def _rps(load, kind):
    for data in load.values():
        if kind in data["results"]:
            return len(data["results"][kind].latencies) / data["wall"] if data["wall"] else 0.0
    return 0.0


def _per_request(cpu, key, count):
    """CPU milliseconds per request of one process group, or "-" when no request was counted."""
    return f"{cpu[key] / count * 1000:.2f}" if count else "-"


def ms(seconds):
    if seconds is None:
        return "-"
    value = seconds * 1000
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _short(sql, width=120):
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render(run, total_s):
    opts = run["opts"]
    build, setup, checks, load, inproc = run["build"], run["setup"], run["checks"], run["load"], run["inprocess"]
    e = build["expected"]
    out = []
    how = (
        "reused"
        if build["reused"]
        else (
            f"built in {build['build_s']:.0f} s (migrate {build['migrate_s']:.0f} s, "
            f"change positions + VACUUM FULL {build['positions_s']:.0f} s)"
        )
    )
    pos = build["positions"]
    out.append(
        f"snapshot: {run['template']} ({build['size_bytes'] / 2**30:.2f} GB, {how}); measured on CREATE DATABASE "
        f"{run['name']} TEMPLATE {run['template']} ({run['copy_s']:.0f} s, cold shared_buffers)"
    )
    out.append(
        f"portfolio: {report.n(setup['cases'])} open cases (ids {setup['id_min']}-{setup['id_max']}), "
        f"{report.n(e['holds_active'])} borrowers on hold, {report.n(setup['pending_promises'])} pending "
        f"promises; change positions {pos['min']}-{pos['max']} ({report.n(pos['distinct'])} distinct, "
        f"{POSITION_BATCH} cases each, none missing: {pos['missing'] == 0}); rows: "
        + ", ".join(f"{k} {report.n(v)}" for k, v in build["rows"].items())
    )
    g = run["gunicorn"]
    out.append(
        f"server: gunicorn (config.wsgi, settings {SETTINGS_MODULE}) with {g['workers']} sync workers on "
        f"{api_load.HOST}:{g['port']}, up in {g['start_s']:.1f} s; DJANGO_DEBUG=0, persistent DB connections "
        "(CONN_MAX_AGE 60), locmem cache (throttle counts per worker); API clients rate-limited at "
        f"{report.n(CLIENT_RATE)}/min, so the throttle runs but never refuses"
    )
    out.append(
        f"load: {opts['concurrency']} threads of http.client in this process; sync workers close every "
        f"connection, so each request opens one; {opts['rounds']} x {opts['seconds'] / opts['rounds']:g} s per "
        f"endpoint (order reversed in even rounds) after {opts['warmup']:g} s warm-up each; ids uniform over "
        f"the portfolio; 304 path over {PRIME_IDS} primed ETags"
    )
    out.append("")
    rows = []
    minimal_rps = _rps(load, "minimal")
    total_errors = 0
    for scenario, kinds in SCENARIOS:
        data = load[scenario]
        count_all = sum(
            len(data["results"][k].latencies) + data["results"][k].errors for k, _ in kinds if k in data["results"]
        )
        cpu = data["cpu"]
        for index, (kind, label) in enumerate(kinds):
            result = data["results"].get(kind, api_load.Result())
            lat = sorted(result.latencies)
            total_errors += result.errors
            rps = len(lat) / data["wall"] if data["wall"] else 0.0
            cpu_text = (
                f"{_per_request(cpu, 'web', count_all)}+{_per_request(cpu, 'db', count_all)}+"
                f"{_per_request(cpu, 'generator', count_all)}"
                if index == 0
                else "(shared)"
            )
            other = f"{cpu['other'] / data['wall']:.2f}" if index == 0 and data["wall"] else ""
            statuses = ",".join(f"{s}" for s in sorted(result.statuses))
            rows.append(
                [
                    label,
                    report.n(len(lat)),
                    f"{rps:,.0f}",
                    ms(api_load.percentile(lat, 0.50)),
                    ms(api_load.percentile(lat, 0.99)),
                    statuses,
                    str(result.errors) + (f" (+{result.unexpected} unexpected)" if result.unexpected else ""),
                    report.ratio(rps, minimal_rps) if kind != "minimal" else "1.00x",
                    cpu_text,
                    other,
                ]
            )
    out.append(
        report.table(
            [
                "GET",
                "requests",
                "req/s",
                "p50 ms",
                "p99 ms",
                "status",
                "errors",
                "vs minimal",
                "CPU ms/req web+db+gen",
                "other CPUs",
            ],
            rows,
        )
    )
    out.append(
        "  (latency: connect + request + whole body, at the client; CPU per request of the scenario: gunicorn "
        "master+workers, their PostgreSQL backends, this load generator; other CPUs: busy CPUs of the machine "
        "outside those three during the slices (other processes), of 2)"
    )
    per_round = []
    for scenario, kinds in SCENARIOS:
        for kind, _label in kinds[:1]:
            per_round.append(f"{scenario} " + "/".join(f"{r.get(kind, 0):,.0f}" for r in load[scenario]["per_round"]))
    out.append("  req/s by round: " + "; ".join(per_round))
    warm_errors = sum(r.errors for w in run["warmup"].values() for r in w["results"].values())
    samples = [s for data in load.values() for r in data["results"].values() for s in r.samples]
    samples += [s for w in run["warmup"].values() for r in w["results"].values() for s in r.samples]
    log = [line for line in g["log"] if line.strip() != checks["no_token_log"]]
    out.append(
        f"errors: {total_errors} in the timed slices, {warm_errors} in the warm-up"
        + (": " + " | ".join(samples[:5]) if samples else "")
        + f"; gunicorn and Django log: {len(log)} lines"
        + (": " + " | ".join(log[-3:]) if log else "")
        + " (besides the one 401 of the no-token check)"
    )
    ratio = run["ratio"]
    pii_ratio = _rps(load, "detail_pii") / minimal_rps if minimal_rps else 0.0
    out.append(
        f"target detail >= {RATIO_TARGET:.2f} x minimal req/s: {ratio:.2f} -> "
        f"{'MEETS' if ratio >= RATIO_TARGET else 'BELOW TARGET'} (pii:read detail: {pii_ratio:.2f}; constant "
        f"endpoint, the framework's ceiling here: {_rps(load, 'constant'):,.0f} req/s)"
    )
    audit = inproc["audit_rows"].get("detail_pii", 0)
    pii_ok = load["detail_pii"]["results"].get("detail_pii", api_load.Result()).statuses.get(200, 0)
    warm_pii = run["warmup"].get("detail_pii", {}).get("results", {}).get("detail_pii", api_load.Result())
    expected_audit = (
        pii_ok + warm_pii.statuses.get(200, 0) + (1 if not str(checks["pii_name"]).startswith("HTTP") else 0)
    )
    out.append(
        f"checks: masked name {checks['masked_name']!r} / with pii:read {checks['pii_name']!r}; audit rows of "
        f"the pii client {report.n(audit)} = its 200 answers {report.n(expected_audit)}: "
        f"{'ok' if audit == expected_audit else 'MISMATCH'}; revalidation with the ETag -> "
        f"{checks['revalidate_status']}; no token -> {checks['no_token_status']}; page 1 "
        f"{checks['page1_rows']} rows, has_more {checks['page1_has_more']}, next link "
        f"{'to this server' if checks['next'].startswith(f'http://{api_load.HOST}:') else repr(checks['next'])}"
    )
    out.append(f"       detail fields: {', '.join(checks['detail_keys'])}")
    out.append(f"       minimal fields: {', '.join(checks['minimal_keys'])}")
    out.append("")
    out.append(
        f"in process (django.test.Client on {run['name']}, gunicorn stopped; median of {opts['requests']} after "
        "3 warm-up; queries from CaptureQueriesContext of one more request):"
    )
    table = []
    list_counts = []
    for r in inproc["results"]:
        n_queries = len(r["queries"])
        has_count = any("COUNT(" in q["sql"].upper() for q in r["queries"])
        shows = f"{r['rows']} rows, more {r['has_more']}" if "rows" in r else ""
        if r["key"].startswith("list"):
            list_counts.append(n_queries)
        target = f"<= {LIST_MS_TARGET:g}" if r["key"].startswith("list") else ""
        meets = ("yes" if r["median"] * 1000 <= LIST_MS_TARGET else "NO") if target else ""
        table.append(
            [
                r["label"],
                shows,
                str(n_queries),
                f"{sum(q['ms'] for q in r['queries']):.2f}",
                "yes" if has_count else "no",
                ms(r["median"]),
                ms(r["p95"]),
                target,
                meets,
                ",".join(str(s) for s in r["statuses"]),
            ]
        )
    out.append(
        report.table(
            ["request", "shows", "queries", "SQL ms", "COUNT", "median ms", "p95 ms", "target ms", "meets", "status"],
            table,
        )
    )
    # Fixed = bounded whatever the page holds: token, snapshot horizon, the cases, and their holds
    # only when a borrower on the page is on hold.
    fixed = max(list_counts) <= LIST_MAX_QUERIES
    list_medians = [r["median"] * 1000 for r in inproc["results"] if r["key"].startswith("list")]
    out.append(
        f"target list page <= {LIST_MS_TARGET:g} ms server time with a fixed number of queries: "
        f"{max(list_medians):.2f} ms at most, queries {'/'.join(map(str, list_counts))} "
        f"({f'at most {LIST_MAX_QUERIES}: fixed' if fixed else 'NOT fixed'}) -> "
        f"{'MEETS' if fixed and max(list_medians) <= LIST_MS_TARGET else 'BELOW TARGET'}"
    )
    for r in inproc["results"]:
        if r["key"] in ("list_page2", "detail"):
            out.append(f"  queries of {r['label']} (execution ms):")
            out.extend(f"    {q['ms']:6.2f}  {_short(q['sql'])}" for q in r["queries"])
    out.extend(render_plans(inproc))
    if "detail_breakdown" in inproc:
        out.append("")
        out.extend(
            render_breakdown(
                inproc["detail_breakdown"],
                f"where the detail view's time goes (detail/minimal {ratio:.2f} under gunicorn)",
            )
        )
        out.extend(render_breakdown(inproc["minimal_breakdown"], "the minimal view, the same way"))
        out.extend(render_profile(inproc["detail_profile"], "detail view"))
        out.extend(render_suggestion(inproc, ratio))
    if "list_breakdown" in inproc:
        out.append("")
        out.extend(render_breakdown(inproc["list_breakdown"], "where the list page's time goes (page 2)"))
        out.extend(render_profile(inproc["list_profile"], "list page 2"))
    out.append("")
    out.append(
        f"1-min load average at the end {run['load_avg_end']:.1f} on {report.machine()}; in-process child peak "
        f"RSS {report.mb(inproc['rss_peak_kb'])}; this parent {report.mb(report.own_peak_kb())}; total "
        f"{total_s:.0f} s; databases {run['name']}" + ("" if opts["keep"] else f" and {run['template']}") + " dropped"
    )
    return "\n".join(out)


def _part(breakdown, prefix):
    for part in breakdown["parts"]:
        if part["label"].strip().startswith(prefix):
            return part["ms"]
    return 0.0


def render_breakdown(b, title):
    out = [
        f"{title} ({b['requests']} GETs in process, timers around the functions, no profiler): mean "
        f"{b['mean_ms']:.2f} ms, median {b['median_ms']:.2f} ms per request"
    ]
    rows = [[part["label"], f"{part['ms']:.3f}", f"{part['calls']:g}"] for part in b["parts"]]
    accounted = sum(
        part["ms"] for part in b["parts"] if not part["label"].startswith(" ") and part["label"] != "JSON rendering"
    ) + _part(b, "JSON rendering")
    rows.append(
        ["the rest: middleware, URL resolution, DRF dispatch, test client", f"{b['mean_ms'] - accounted:.3f}", ""]
    )
    out.append(
        report.table(
            ["part (nested parts are included in the one above)", "ms/req", "calls/req"], rows, align=["l", "r", "r"]
        )
    )
    out.append(
        "  SQL execution (cursor.execute, server + loopback) per request: "
        + ", ".join(f"{q['table']} {q['ms']:.3f} ms x{q['calls']:g}" for q in b["sql"])
        + f"; total {sum(q['ms'] for q in b['sql']):.3f} ms in {sum(q['calls'] for q in b['sql']):g} statements"
    )
    return out


REMEDIES = {
    "apiclient": "token -> client: cache the lookup in the process for a few seconds, keyed by the token's "
    "sha256 (a revoked or rotated token then stops working within that TTL), or in Redis",
    "bucket": "buckets: keep bucket_list() in the process and drop it when a Bucket is saved (a version key in "
    "the cache), instead of a query per request",
    "hold": "active holds: an ArrayAgg subquery of their codes in the case query replaces the prefetch query "
    "(and the Exists annotation, which asks the same thing a second time)",
    "promisetopay": "open promise: a JSONObject subquery annotation on the case query",
    "contactattempt": "last contact: a JSONObject subquery annotation on the case query (uses contact_case_at_idx)",
}


def render_suggestion(inproc, ratio):
    detail, minimal = inproc["detail_breakdown"], inproc["minimal_breakdown"]
    budget = minimal["median_ms"] / RATIO_TARGET
    out = [
        f"suggestion: at {RATIO_TARGET:.2f} x the minimal view, the detail may take {budget:.2f} ms in process "
        f"(minimal {minimal['median_ms']:.2f} ms / {RATIO_TARGET:.2f}); it takes {detail['median_ms']:.2f} ms, with "
        f"{sum(q['calls'] for q in detail['sql']):g} statements against the minimal's "
        f"{sum(q['calls'] for q in minimal['sql']):g}. Every statement costs a round trip plus the ORM around it; "
        "the ones beyond the case row can go:"
    ]
    saved = 0.0
    view_rest = (
        _part(detail, "CaseDetailView.get")
        - _part(detail, "selectors.case_detail")
        - _part(detail, "selectors.bucket_list")
        - _part(detail, "case_dict")
        - _part(detail, "etag_for")
    )
    costs = {
        "apiclient": _part(detail, "token auth"),
        "bucket": _part(detail, "selectors.bucket_list"),
        "promisetopay": view_rest / 2,
        "contactattempt": view_rest / 2,
    }
    sql = {q["table"]: q["ms"] for q in detail["sql"]}
    costs["hold"] = sql.get("hold", 0.0) * 2  # its execution and about as much ORM work (prefetch, instances)
    for key, remedy in REMEDIES.items():
        if key in sql:
            saved += costs[key]
            out.append(f"  - {remedy} (now ~{costs[key]:.2f} ms/request, of which SQL execution {sql[key]:.2f} ms)")
    estimate = detail["median_ms"] - saved
    out.append(
        f"  together about {saved:.2f} ms: the detail near {estimate:.2f} ms in process, "
        f"{minimal['median_ms'] / estimate:.2f} x the minimal view (an estimate: the subqueries make the case "
        "query itself somewhat dearer). gunicorn, the middleware and the connection per request are the same "
        "for both and stay."
    )
    return out


def _plan_nodes(plan):
    keep = ("->", "Filter", "Rows Removed", "SubPlan", "Index Cond", "Execution Time")
    return [line.rstrip() for i, line in enumerate(plan) if i == 0 or line.strip().startswith(keep)]


def render_plans(inproc):
    """EXPLAIN ANALYZE of the list pages' case query; the slowest in full nodes, and what it shows."""
    lists = [r for r in inproc["results"] if r.get("plan")]
    if not lists:
        return []
    out = [
        "  the list's case query, EXPLAIN (ANALYZE, BUFFERS) once each: "
        + "; ".join(
            f"{r['label'].split(',', 1)[1].strip()} "
            f"{next((line.split(':', 1)[1].strip() for line in r['plan'] if line.startswith('Execution Time')), '?')}"
            for r in lists
        )
    ]
    slowest = max(
        lists,
        key=lambda r: float(
            next((line.split(":", 1)[1].split()[0] for line in r["plan"] if line.startswith("Execution Time")), 0)
        ),
    )
    out.append(f"  plan of the slowest ({slowest['label']}), its nodes:")
    out.extend("    " + line for line in _plan_nodes(slowest["plan"]))
    text = "\n".join(line for r in lists for line in r["plan"])
    removed = []  # rows dropped by the Filter of the index scan on the change positions
    for r in lists:
        node = ""
        for line in r["plan"]:
            if "->" in line:
                node = line
            elif "Rows Removed by Filter" in line and "case_change_position_idx" in node:
                removed.append(int(line.split(":", 1)[1]))
    hints = []
    if "Seq Scan on collections_app_hold" in text:
        hints.append(
            "the active_hold_exists annotation (an EXISTS per case) is planned as a hashed SubPlan: a Seq Scan "
            "of the whole hold table on every page; Case.borrower_on_hold could read the prefetched "
            "borrower.active_holds (case_queryset always prefetches them) and the annotation go"
        )
    if removed and max(removed) > 10 * LIST_LIMIT:
        hints.append(
            f"the keyset condition (change_position > p OR (change_position = p AND id > k)) is only a "
            f"Filter, not an Index Cond: a page deep in the portfolio reads and drops {report.n(max(removed))} "
            "index entries first; adding the redundant bound change_position >= p to the filter makes it an "
            "Index Cond and every page cost the same"
        )
    out.extend(f"  finding: {h}" for h in hints)
    return out


def render_profile(p, title):
    out = [
        f"{title}: cProfile over {p['requests']} GETs, {p['profiled_ms']:.2f} ms per request under the profiler; "
        "own time by package (ms/request): " + ", ".join(f"{k} {v:.2f}" for k, v in p["by_package"])
    ]
    out.append("  top functions by own time (ms/request own / cumulative, calls/request):")
    out.extend(f"    {t['own_ms']:.3f} / {t['cum_ms']:.3f}  x{t['calls']:g}  {t['function']}" for t in p["top"][:10])
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        _child_main(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m bench api [options]")
