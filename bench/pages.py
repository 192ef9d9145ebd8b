"""`python -m bench pages`: server time of the collector's worklist, the case page, the dashboard and
the approvals page on a large portfolio, beside the bare SQL of the same queries.

Parent (no Django): build the portfolio once into a template database (bench.pages_data, set-based;
`--reuse` keeps it between runs of the same day), then CREATE DATABASE <name> TEMPLATE <template>
and run one child process on the copy (DJANGO_DEBUG=0, the production static storage after a
collectstatic into a private folder, persistent connection). The child logs in with
django.test.Client.force_login (a collector for the worklist and the case page, a supervisor for the
dashboard and /approvals/) and for each request:
  page     - `warmup` GETs (the first is reported as "cold": fresh copy, cold shared_buffers), then
             `requests` timed GETs: median and p95 of the wall time around Client.get (URL routing,
             middleware, session, view, queries, template; no network);
  queries  - one more GET under CaptureQueriesContext: the number of SQL queries and their text;
  bare SQL - those captured statements (exactly as sent, parameters inlined) executed in the same
             order on the same connection with a plain psycopg2 cursor and fetched, `requests`
             times: the floor the page cannot go below without changing its queries.
Then, for every page over its target, EXPLAIN (ANALYZE, BUFFERS) of its slowest statements, and
the throwaway fixes of EXPERIMENTS (an index created on the copy, a setting) with the page and its
bare SQL timed again before they are undone. Targets (issue 4): worklist <= 30 ms median with <= 8
queries, case page <= 50 ms, dashboard <= 200 ms; issue 11: the case page with an active 24-instalment
plan <= 50 ms, /approvals/ with 200 waiting plans <= 100 ms with a fixed number of queries (the
queries column; the approvals selectors are one query whatever the number of rows). Nothing is
judged pass/fail beyond printing them.
"""

import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from . import report
from .db import PROJECT_DIR, Server, check_url, child_env, resolve_url, schema_signature, with_name

DEFAULT_CASES = 1_000_000
DEFAULT_PER_COLLECTOR = 500
DEFAULT_REQUESTS = 30
DEFAULT_WARMUP = 3
DEFAULT_BUDGET = 30.0
WORKLIST_MS, WORKLIST_QUERIES, CASE_MS, DASHBOARD_MS = 30, 8, 50, 200
APPROVALS_MS = 100


# --- children (run with Django set up) ------------------------------------------------------


def child_build(cases, as_of, per_collector):
    from django.core.management import call_command

    from . import pages_data

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - started
    result = pages_data.build_pages(cases, as_of, per_collector)
    result.update(migrate_s=migrate_s, build_s=time.perf_counter() - started)
    return result


def _one(sql, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _targets(as_of):
    """What the requests look at: a collector's worklist (its phone search and filter), their case
    with the longest timeline (it has the active 24-instalment plan, see pages_data), the
    supervisor's dashboard of this month and the last, and their approvals page."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from collections_app.models import Borrower, Case, PlanInstalment, RepaymentPlan
    from collections_app.workflow import OPEN_STATES

    from . import pages_data

    User = get_user_model()
    collector = User.objects.get(username="collector0001")
    supervisor = User.objects.get(username="bench_supervisor")
    case_t, borrower_t = Case._meta.db_table, Borrower._meta.db_table
    open_states = list(OPEN_STATES)
    with connection.cursor() as cursor:
        case_id, events = pages_data.case_target(cursor, collector.pk, open_states)
    plan = _one(
        f"""
        SELECT p.status, COUNT(i.id), COUNT(i.id) FILTER (WHERE i.met)
        FROM {RepaymentPlan._meta.db_table} p JOIN {PlanInstalment._meta.db_table} i ON i.plan_id = p.id
        WHERE p.case_id = %s AND p.status IN ('proposed', 'active') GROUP BY p.id, p.status""",
        [case_id],
    )
    waiting = _one(
        f"SELECT COUNT(*) FROM {RepaymentPlan._meta.db_table} WHERE status = 'proposed' AND needs_authority = 'supervisor'"
    )[0]
    mine = _one(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE state = ANY(%s)) FROM {case_t} WHERE assigned_to_id = %s",
        [open_states, collector.pk],
    )
    # A phone of one of the collector's borrowers (the 37th open case by id): its last four digits.
    phone = _one(
        f"""
        SELECT b.phones ->> 0 FROM {case_t} c JOIN {borrower_t} b ON b.id = c.borrower_id
        WHERE c.assigned_to_id = %s AND c.state = ANY(%s) ORDER BY c.id OFFSET 36 LIMIT 1""",
        [collector.pk, open_states],
    )[0]
    last_four = phone[-4:]
    portfolio_matches = _one(f"SELECT COUNT(*) FROM {borrower_t} WHERE phones::text LIKE %s", [f'%{last_four}"%'])[0]
    day = date.fromisoformat(as_of)
    past = (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return {
        "collector": collector,
        "supervisor": supervisor,
        "case_id": case_id,
        "case_events": events,
        "case_plan": plan and {"status": plan[0], "instalments": plan[1], "met": plan[2]},
        "plans_waiting": waiting,
        "collector_cases": mine[0],
        "collector_open": mine[1],
        "last_four": last_four,
        "phone_matches_portfolio": portfolio_matches,
        "past_month": past,
    }


NEXT_LINK = re.compile(r'href="(\?[^"]*)" data-shortcut="j"')
OLDER_LINK = re.compile(r'hx-get="([^"]*/timeline/\?before=\d+)"')
WORKLIST_ROW = re.compile(r'<tr>\s*<td[^>]*><a href="/cases/\d+/"')
TIMELINE_ITEM = re.compile(r'<li data-kind="')
PLAN_INSTALMENTS = re.compile(r'data-testid="plan-instalments">(.*?)</table>', re.S)
APPROVALS_PLAN_ROW = re.compile(r'<tr data-plan="\d+">')


def _requests(targets, clients):
    """(key, label, group, client, url, target ms, target queries); URLs found on earlier pages are
    filled in as the pages are fetched (see `_resolve`)."""
    c, s = clients["collector"], clients["supervisor"]
    case = targets["case_id"]
    return [
        ("worklist", "worklist: first page", "worklist", c, "/worklist/", WORKLIST_MS, WORKLIST_QUERIES),
        (
            "worklist_filtered",
            "worklist: stage=call, bucket 8-30",
            "worklist",
            c,
            "/worklist/?stage=call&bucket=8-30",
            WORKLIST_MS,
            WORKLIST_QUERIES,
        ),
        (
            "worklist_search",
            f"worklist: phone ends {targets['last_four']}",
            "worklist",
            c,
            f"/worklist/?q={targets['last_four']}",
            WORKLIST_MS,
            WORKLIST_QUERIES,
        ),
        (
            "worklist_page2",
            "worklist: page 2 (keyset link)",
            "worklist",
            c,
            "@next:worklist",
            WORKLIST_MS,
            WORKLIST_QUERIES,
        ),
        (
            "worklist_promise",
            "worklist: promise due today",
            "worklist",
            c,
            "/worklist/?promise_due=on",
            WORKLIST_MS,
            WORKLIST_QUERIES,
        ),
        (
            "worklist_never",
            "worklist: never contacted",
            "worklist",
            c,
            "/worklist/?never_contacted=on",
            WORKLIST_MS,
            WORKLIST_QUERIES,
        ),
        ("case", _case_label(targets), "case", c, f"/cases/{case}/", CASE_MS, None),
        ("case_older", "case timeline: older 50 (link)", "case", c, "@older:case", CASE_MS, None),
        ("dashboard", "dashboard: this month", "dashboard", s, "/dashboard/", DASHBOARD_MS, None),
        (
            "dashboard_past",
            f"dashboard: {targets['past_month']}",
            "dashboard",
            s,
            f"/dashboard/?month={targets['past_month']}",
            DASHBOARD_MS,
            None,
        ),
        (
            "approvals",
            f"approvals: {targets['plans_waiting']} plans waiting",
            "approvals",
            s,
            "/approvals/",
            APPROVALS_MS,
            None,
        ),
    ]


def _case_label(targets):
    plan = targets.get("case_plan")
    label = f"case page: {targets['case_events']} events"
    if plan:
        label += f", {plan['status']} {plan['instalments']}-instalment plan ({plan['met']} met)"
    return label


def _shape(key, body):
    """What the page showed, to check it is the page meant (rows, timeline items, charts)."""
    if key.startswith("worklist"):
        return f"{len(WORKLIST_ROW.findall(body))} rows"
    if key == "case":
        table = PLAN_INSTALMENTS.search(body)
        plan = table.group(1).count("<tr><td>") if table else 0
        return f"{len(TIMELINE_ITEM.findall(body))} events" + (f", plan {plan} rows" if table else "")
    if key.startswith("case"):
        return f"{len(TIMELINE_ITEM.findall(body))} events"
    if key == "approvals":
        return f"{len(APPROVALS_PLAN_ROW.findall(body))} plans"
    return f"{body.count('<svg')} charts"


def _time_request(client, url, requests, warmup, budget):
    """`warmup` untimed GETs (fewer if they take more than a third of `budget` seconds), then
    `requests` timed ones, or as many as fit in `budget` seconds for a slow page (at least 5)."""
    from .child import Clock

    first = last = None
    spent = 0.0
    for i in range(max(warmup, 1)):
        started = time.perf_counter()
        response = client.get(url)
        last = time.perf_counter() - started
        first = last if i == 0 else first
        spent += last
        if response.status_code != 200:
            return {"error": f"HTTP {response.status_code}: {response.content[:300]!r}"}
        if spent > budget / 3:
            break
    n = requests if last * requests <= budget else max(5, min(requests, int(budget / last)))
    times = []
    with Clock() as clock:
        for _ in range(n):
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                return {"error": f"HTTP {response.status_code}"}
    return {"times": times, "cold": first, "clock": clock.as_dict(), "body": response.content.decode()}


def _capture(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response, [{"sql": q["sql"], "time": float(q["time"])} for q in captured.captured_queries]


def _stat_rows():
    """Rows read so far per table of this database: seq_tup_read + index entries returned
    (index-only scans included); parallel workers' reads included (they flush when they exit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT t.relname, COALESCE(t.seq_tup_read, 0) + COALESCE(SUM(i.idx_tup_read), 0)
            FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid
            GROUP BY t.relname, t.seq_tup_read""")
        return dict(cursor.fetchall())


def _flush_stats():
    """PostgreSQL 15 keeps a backend's table counters until it goes idle: ask for them now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")


def _rows_read(client, url):
    """{table: rows read} by one GET of `url` (from the cumulative statistics, before and after)."""
    _flush_stats()
    before = _stat_rows()
    client.get(url)
    _flush_stats()
    after = _stat_rows()
    delta = {table: after.get(table, 0) - before.get(table, 0) for table in after}
    # the two statistics reads themselves touch no user table
    return {table: n for table, n in sorted(delta.items(), key=lambda kv: -kv[1]) if n > 0}


def _is_read(sql):
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in ("SELECT", "WITH")


def _floor(queries, requests):
    """Execute the captured reads in order with a bare psycopg2 cursor, `requests` times (after
    one warm-up pass): per-pass totals and per-statement medians."""
    from django.db import connection

    reads = [q["sql"] for q in queries if _is_read(q["sql"])]
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        for sql in reads:
            cursor.execute(sql)
            cursor.fetchall()
        totals, per = [], [[] for _ in reads]
        for _ in range(requests):
            total = 0.0
            for k, sql in enumerate(reads):
                started = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                spent = time.perf_counter() - started
                per[k].append(spent)
                total += spent
            totals.append(total)
    finally:
        cursor.close()
    return {
        "times": totals,
        "statements": [{"sql": sql, "median": _median(p)} for sql, p in zip(reads, per)],
        "skipped": len(queries) - len(reads),
    }


def _median(values):
    values = sorted(values)
    n = len(values)
    if not n:
        return None
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(0.95 * len(values) + 0.5)) - 1))] if values else None


def _explain(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


def _measure_one(spec, requests, warmup, found, budget):
    key, label, group, client, url, target_ms, target_q = spec
    if url.startswith("@"):
        url = found.get(url[1:])
        if url is None:
            return {"key": key, "label": label, "group": group, "error": "no link found on the page before"}
    timed = _time_request(client, url, requests, warmup, budget)
    if "error" in timed:
        return {"key": key, "label": label, "group": group, "url": url, "error": timed["error"]}
    body = timed.pop("body")
    if key == "worklist":
        match = NEXT_LINK.search(body)
        found["next:worklist"] = "/worklist/" + html.unescape(match.group(1)) if match else None
    if key == "case":
        match = OLDER_LINK.search(body)
        found["older:case"] = html.unescape(match.group(1)) if match else None
    response, queries = _capture(client, url)
    again, queries2 = _capture(client, url)
    floor = _floor(queries, len(timed["times"]))
    rows_read = _rows_read(client, url)
    return {
        "key": key,
        "label": label,
        "group": group,
        "url": url,
        "target_ms": target_ms,
        "target_queries": target_q,
        "median": _median(timed["times"]),
        "p95": _p95(timed["times"]),
        "cold": timed["cold"],
        "cpu": timed["clock"],
        "requests": len(timed["times"]),
        "shape": _shape(key, body),
        "queries": len(queries),
        "queries_again": len(queries2),
        "captured": queries,
        "captured_db": sum(q["time"] for q in queries),
        "floor": _median(floor["times"]),
        "floor_p95": _p95(floor["times"]),
        "statements": floor["statements"],
        "floor_skipped": floor["skipped"],
        "bytes": len(response.content),
        "rows_read": rows_read,
    }


# Throwaway fixes measured on the copy: (name, the pages they concern, setup SQL, undo SQL, why).
EXPERIMENTS = [
    (
        "approvals: legal referral decisions by date, legalreferral(decided_at DESC NULLS LAST, id DESC) WHERE decided",
        ("approvals",),
        [
            "CREATE INDEX bench_exp_referral_decided ON collections_app_legalreferral "
            "(decided_at DESC NULLS LAST, id DESC) WHERE status <> 'requested'",
            "ANALYZE collections_app_legalreferral",
        ],
        ["DROP INDEX bench_exp_referral_decided"],
        "the page's 20 latest referral decisions read off an index instead of sorting every referral joined to its case",
    ),
    (
        "jit off (SET jit = off on the connection)",
        ("dashboard", "dashboard_past"),
        ["SET jit = off"],
        ["RESET jit"],
        "the big aggregates cross jit_above_cost; compiling them costs more than it saves at this size",
    ),
    (
        "worklist index matching ORDER BY: case(assigned_to, -priority, next_action_at NULLS FIRST, id) WHERE open",
        ("worklist", "worklist_filtered", "worklist_search", "worklist_page2", "worklist_promise", "worklist_never"),
        [
            "CREATE INDEX bench_exp_worklist ON collections_app_case (assigned_to_id, priority DESC, "
            "next_action_at ASC NULLS FIRST, id) WHERE state IN ('reminder', 'call', 'visit', 'legal')",
            "ANALYZE collections_app_case",
        ],
        ["DROP INDEX bench_exp_worklist"],
        "the keyset order read straight off an index, resolved/closed cases left out",
    ),
    (
        "dashboard indexes: payment(paid_at), contact(occurred_at), event(at) WHERE transition to resolved/closed",
        ("dashboard", "dashboard_past"),
        [
            "CREATE INDEX bench_exp_payment_paid ON collections_app_payment (paid_at)",
            "CREATE INDEX bench_exp_contact_at ON collections_app_contactattempt (occurred_at)",
            "CREATE INDEX bench_exp_event_finished ON collections_app_caseevent (at) "
            "WHERE kind = 'transition' AND to_state IN ('resolved', 'closed')",
            "ANALYZE collections_app_payment",
            "ANALYZE collections_app_contactattempt",
            "ANALYZE collections_app_caseevent",
        ],
        ["DROP INDEX bench_exp_payment_paid", "DROP INDEX bench_exp_contact_at", "DROP INDEX bench_exp_event_finished"],
        "a month of payments / contacts / finished cases read by range instead of whole tables",
    ),
]


def child_measure(as_of, requests, warmup, experiments, explain_top, budget):
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from collections_app.calendar import lender_today

    from .child import memory_kb

    started = time.perf_counter()
    call_command("collectstatic", interactive=False, verbosity=0)
    collectstatic_s = time.perf_counter() - started
    targets = _targets(as_of)
    clients = {"collector": Client(), "supervisor": Client()}
    clients["collector"].force_login(targets["collector"])
    clients["supervisor"].force_login(targets["supervisor"])
    specs = _requests(targets, clients)
    found, results = {}, []
    for spec in specs:
        print(f"    {spec[1]} ...", flush=True)
        results.append(_measure_one(spec, requests, warmup, found, budget))
    by_key = {r["key"]: r for r in results}
    # Evidence for what misses its target: the plans of its slowest statements.
    for r in results:
        if "error" in r or r["median"] * 1000 <= r["target_ms"]:
            continue
        slow = sorted(r["statements"], key=lambda s: -s["median"])[:explain_top]
        r["explain"] = [{"sql": s["sql"], "median": s["median"], "plan": _explain(s["sql"])} for s in slow]
    spec_by_key = {s[0]: s for s in specs}
    done = []
    for name, keys, setup, undo, why in EXPERIMENTS if experiments else []:
        print(f"    experiment: {name} ...", flush=True)
        with connection.cursor() as cursor:
            began = time.perf_counter()
            for sql in setup:
                cursor.execute(sql)
            setup_s = time.perf_counter() - began
        after = {}
        for key in keys:
            spec = spec_by_key[key]
            if spec[4].startswith("@"):  # the same link as measured before
                spec = spec[:4] + (by_key[key].get("url", spec[4]),) + spec[5:]
            got = _measure_one(spec, requests, warmup, dict(found), budget)
            after[key] = {k: got.get(k) for k in ("median", "p95", "floor", "queries", "error", "statements")}
        with connection.cursor() as cursor:
            for sql in undo:
                cursor.execute(sql)
        done.append({"name": name, "why": why, "setup": setup, "setup_s": setup_s, "after": after})
    for r in results:
        r.pop("captured", None)
    shown = {k: v for k, v in targets.items() if k not in ("collector", "supervisor")}
    shown.update(collector=targets["collector"].username, supervisor=targets["supervisor"].username)
    server = {}
    for setting in (
        "shared_buffers",
        "work_mem",
        "jit",
        "max_parallel_workers_per_gather",
        "effective_cache_size",
        "random_page_cost",
    ):
        server[setting] = _one(f"SHOW {setting}")[0]
    return {
        "results": results,
        "experiments": done,
        "targets": shown,
        "collectstatic_s": collectstatic_s,
        "lender_today": lender_today().isoformat(),
        "debug": settings.DEBUG,
        "server": server,
        "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE"),
        "rss_end_kb": memory_kb("VmRSS"),
    }


CHILD_TASKS = {"pages_build": child_build, "pages_measure": child_measure}


def _child_main(argv):
    """`python -m bench.pages _child TASK JSON_ARGS RESULT_PATH` (as bench.child, with these tasks)."""
    from .child import run_task

    run_task(lambda: CHILD_TASKS, argv)


# --- parent ---------------------------------------------------------------------------------


def run_pages_child(task, url, extra_env=None, **args):
    check_url(url)
    env = child_env(url)
    env.update(extra_env or {})
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-pages-") as out:
        command = [sys.executable, "-m", "bench.pages", "_child", task, json.dumps(args), out.name]
        completed = subprocess.run(command, cwd=PROJECT_DIR, env=env)
        if completed.returncode != 0:
            raise SystemExit(f"bench: child {task!r} failed with exit code {completed.returncode}")
        return json.load(open(out.name, encoding="utf-8"))


def default_as_of():
    return datetime.now(ZoneInfo(os.environ.get("COLLECTIONS_TIME_ZONE", "Asia/Shanghai"))).date()


def add_arguments(parser):
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases in the portfolio (80%% open)")
    parser.add_argument(
        "--per-collector", type=int, default=DEFAULT_PER_COLLECTOR, help="open cases assigned to each collector"
    )
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed requests before them")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        help="seconds of timed requests per page: a slower page gets fewer (at least 5)",
    )
    parser.add_argument("--no-experiments", action="store_true", help="skip the throwaway index/setting experiments")
    parser.add_argument("--explain-top", type=int, default=2, help="statements EXPLAINed per page over its target")
    parser.add_argument("--plans", action="store_true", help="print the EXPLAIN ANALYZE plans in full")
    parser.add_argument("--reuse", action="store_true", help="reuse a template database built by an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the template database afterwards")


def _build(server, url, template, opts, as_of):
    signature = {
        "bench": "pages",
        "version": _read_build_version(),
        "cases": opts.cases,
        "per_collector": opts.per_collector,
        "as_of": as_of.isoformat(),
        "migrations": schema_signature(),
    }
    stored = server.stored_build(template, signature) if opts.reuse else None
    if stored is not None:
        return stored
    server.create(template)
    built = run_pages_child(
        "pages_build",
        with_name(url, template),
        cases=opts.cases,
        as_of=as_of.isoformat(),
        per_collector=opts.per_collector,
    )
    built.update(signature=signature, size_bytes=server.size(template), reused=False)
    server.set_comment(template, json.dumps(built))
    return built


def command(opts):
    url = resolve_url(opts.database_url)
    name = check_url(url)
    if opts.cases < 2000:
        raise SystemExit("bench pages: --cases must be at least 2000")
    if opts.requests < 1:
        raise SystemExit("bench pages: --requests must be at least 1")
    as_of = default_as_of()
    server = Server(url)
    template = f"{name}_pages_template"
    started = time.perf_counter()
    print(
        f"bench pages: {report.n(opts.cases)} cases as of {as_of.isoformat()}; PostgreSQL {server.version()} at "
        f"{url.split('@')[-1]}; {report.machine()}; load {report.load():.1f}",
        flush=True,
    )
    var_dir = tempfile.mkdtemp(prefix="bench-pages-var-")
    extra_env = {
        "COLLECTIONS_VAR_DIR": var_dir,
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
        "DB_CONN_MAX_AGE": "3600",
        "LOG_LEVEL": "WARNING",
    }
    try:
        print(f"  building into {template} ...", flush=True)
        build = _build(server, url, template, opts, as_of)
        print(f"  copying {template} -> {name} ...", flush=True)
        copy_s = server.copy(template, name)
        load_before = report.load()
        print("  measuring (one child process) ...", flush=True)
        measured = run_pages_child(
            "pages_measure",
            url,
            extra_env,
            as_of=as_of.isoformat(),
            requests=opts.requests,
            warmup=opts.warmup,
            experiments=not opts.no_experiments,
            explain_top=opts.explain_top,
            budget=opts.budget,
        )
        measured.update(copy_s=copy_s, load=(load_before, report.load()))
    finally:
        server.drop(name)
        if not opts.keep:
            server.drop(template)
        server.close()
        _remove_tree(var_dir)
    print()
    print(render(opts, as_of, build, measured, template, name, time.perf_counter() - started))


def _read_build_version():
    """pages_data.BUILD_VERSION without importing it (it needs Django set up)."""
    text = (PROJECT_DIR / "bench" / "pages_data.py").read_text(encoding="utf-8")
    match = re.search(r"^BUILD_VERSION = (\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def _remove_tree(path):
    import shutil

    if path and os.path.basename(path).startswith("bench-pages-var-"):
        shutil.rmtree(path, ignore_errors=True)


def ms(seconds):
    if seconds is None:
        return "-"
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _short(sql, width=110):
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render(opts, as_of, build, measured, template, name, total_s):
    e = build["expected"]
    rows = build["rows"]
    tg = measured["targets"]
    out = []
    how = "reused" if build["reused"] else f"built in {build['build_s']:.0f} s (migrate {build['migrate_s']:.0f} s)"
    out.append(
        f"snapshot: {template} ({build['size_bytes'] / 2**30:.2f} GB, {how}); measured on CREATE DATABASE {name} "
        f"TEMPLATE {template} ({measured['copy_s']:.0f} s, cold shared_buffers) in one child process: "
        f"DEBUG={measured['debug']}, CONN_MAX_AGE={measured['conn_max_age']}, static files from "
        f"collectstatic + manifest storage"
    )
    out.append(
        f"portfolio: {report.n(e['cases'])} cases, {report.n(e['open'])} open; {e['collectors']} collectors "
        f"holding {report.n(e['assigned_open'])} open cases ({e['per_collector']} each) and "
        f"{report.n(e['assigned_done'])} resolved/closed ones; {report.n(e['reassigned'])} reassigned this month; "
        f"{report.n(e['long_timelines'])} cases with 60+ activities; {report.n(e['promises_due_today'])} "
        f"promises due today; month-end snapshots {', '.join(build['month_ends'])}"
    )
    if "plans_waiting" in e:
        low, high = e["plans_waiting_instalments"]
        out.append(
            f"plans: {e['plans_active']} active (case #{e['plan_case']}); {e['plans_waiting']} proposed needing "
            f"supervisor authority ({low}-{high} instalments each) on other collectors' cases"
        )
    out.append("rows: " + ", ".join(f"{k} {report.n(v)}" for k, v in rows.items()))
    out.append(
        f"requests: {tg['collector']} ({report.n(tg['collector_open'])} open of {report.n(tg['collector_cases'])} "
        f"cases) for the worklist and case #{tg['case_id']} ({tg['case_events']} events); phone search "
        f"'{tg['last_four']}' ({report.n(tg['phone_matches_portfolio'])} borrowers in the whole portfolio end "
        f"so); {tg['supervisor']} for the dashboard and /approvals/; {opts.warmup} warm-up + {opts.requests} timed GETs each, or as "
        f"many as fit in {opts.budget:.0f} s for a slower page (n); django.test.Client, in process"
    )
    out.append("")
    table = []
    for r in measured["results"]:
        if "error" in r:
            table.append([r["label"], r.get("error", "")[:60]] + [""] * 13)
            continue
        q_target = f"<= {r['target_queries']}" if r["target_queries"] else "-"
        q_text = str(r["queries"]) + ("" if r["queries"] == r["queries_again"] else f"/{r['queries_again']}")
        cpu = r["cpu"]
        cpu_text = "-"
        if cpu.get("client_cpu") is not None:
            cpu_text = f"{cpu['client_cpu'] / r['requests'] * 1000:.0f}"
            cpu_text += (
                f"+{cpu['server_cpu'] / r['requests'] * 1000:.0f}" if cpu.get("server_cpu") is not None else "+?"
            )
        meets = r["median"] * 1000 <= r["target_ms"] and (
            not r["target_queries"] or r["queries"] <= r["target_queries"]
        )
        table.append(
            [
                r["label"],
                r["shape"],
                r["requests"],
                q_text,
                q_target,
                report.n(r["rows_read"].get("collections_app_case", 0)),
                ms(r["median"]),
                ms(r["p95"]),
                ms(r["cold"]),
                ms(r["floor"]),
                report.ratio(r["median"], r["floor"]),
                f"<= {r['target_ms']}",
                report.ratio(r["median"], r["target_ms"] / 1000),
                cpu_text,
                "yes" if meets else "NO",
            ]
        )
    out.append(
        report.table(
            [
                "page (GET)",
                "shows",
                "n",
                "queries",
                "target q",
                "case rows",
                "median ms",
                "p95 ms",
                "cold ms",
                "bare SQL ms",
                "vs SQL",
                "target ms",
                "vs target",
                "CPU ms app+db",
                "meets",
            ],
            table,
        )
    )
    out.append(
        "  (n: timed requests; case rows: rows of the case table one request reads, from pg_stat_user_tables "
        "and _indexes; median/p95: wall time of Client.get; cold: the first request on the fresh copy; bare SQL: "
        "the page's captured statements on a plain cursor, median; CPU: this process + its PostgreSQL backend, "
        "per request)"
    )
    out.append("")
    out.append("where the time goes (median of each statement on the bare cursor, slowest first):")
    for r in measured["results"]:
        if "error" in r:
            continue
        slow = sorted(r["statements"], key=lambda s: -s["median"])[:3]
        text = "; ".join(f"{ms(s['median'])} ms {_short(s['sql'], 70)}" for s in slow)
        reads = (
            ", ".join(
                f"{table.replace('collections_app_', '')} {report.n(n)}"
                for table, n in list(r["rows_read"].items())[:4]
            )
            or "none"
        )
        out.append(
            f"  {r['label']}: Python and rendering {ms(max(r['median'] - r['floor'], 0))} ms, SQL "
            f"{ms(r['floor'])} ms in {r['queries']} queries; rows read per request: {reads}"
        )
        out.append(f"      slowest: {text}")
    explained = [r for r in measured["results"] if r.get("explain")]
    if explained:
        out.append("")
        out.append(
            "EXPLAIN (ANALYZE, BUFFERS) of the slowest statements of each page over its target"
            + ("" if opts.plans else " (plan nodes with their actual time; --plans prints them whole)")
            + ":"
        )
        for r in explained:
            for x in r["explain"]:
                out.append(f"  [{r['label']}] {ms(x['median'])} ms: {_short(x['sql'], 160)}")
                out.extend("      " + line for line in _plan_lines(x["plan"], opts.plans))
    if measured["experiments"]:
        out.append("")
        out.append("throwaway fixes, measured on the copy and undone (before -> after, median ms):")
        before = {r["key"]: r for r in measured["results"]}
        for x in measured["experiments"]:
            out.append(f"  {x['name']} (setup {x['setup_s']:.1f} s): {x['why']}")
            for key, got in x["after"].items():
                b = before[key]
                if got.get("error") or "error" in b:
                    out.append(f"    {b['label']}: {got.get('error') or b.get('error')}")
                    continue
                out.append(
                    f"    {b['label']}: page {ms(b['median'])} -> {ms(got['median'])} "
                    f"(p95 {ms(b['p95'])} -> {ms(got['p95'])}), bare SQL {ms(b['floor'])} -> {ms(got['floor'])}"
                )
    out.append("")
    s = measured["server"]
    out.append(
        f"server: shared_buffers {s['shared_buffers']}, work_mem {s['work_mem']}, jit {s['jit']}, "
        f"max_parallel_workers_per_gather {s['max_parallel_workers_per_gather']}, effective_cache_size "
        f"{s['effective_cache_size']}; 1-min load average {measured['load'][0]:.1f} -> {measured['load'][1]:.1f} "
        f"on {report.machine()}"
    )
    out.append(
        f"peak RSS: measuring child {report.mb(measured['rss_peak_kb'])} (after django.setup "
        f"{report.mb(measured['rss_startup_kb'])}, at the end {report.mb(measured['rss_end_kb'])}); "
        f"build child {report.mb(build.get('rss_peak_kb', 0))}; this parent {report.mb(report.own_peak_kb())}; "
        f"total {total_s:.0f} s"
    )
    return "\n".join(out)


def _plan_lines(plan, full):
    """The whole plan, or its nodes (lines with an arrow or the top one) with actual time, plus the totals."""
    if full:
        return plan
    keep = []
    for i, line in enumerate(plan):
        stripped = line.strip()
        if i == 0 or stripped.startswith("->") or stripped.startswith(("Planning Time", "Execution Time", "JIT:")):
            keep.append(line.replace("  ", " ", 0))
        elif stripped.startswith(("Timing:", "Functions:")) and keep and keep[-1].strip().startswith("JIT:"):
            keep.append(line)
    return keep


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        _child_main(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m bench pages [options]")
