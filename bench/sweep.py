"""`python -m bench sweep`: the daily escalation sweep against its floor and the per-case loop.

Parent (no Django): build the portfolio once per size into a template database, then for each
measurement CREATE DATABASE <name> TEMPLATE <template> and run one child:
  floor  - the stage changes and their events as two bare writable-CTE statements (no chunking, no
           holds check, no other sweep step), one transaction;
  sweep  - collections_app.services.sweep.sweep_run(as_of=..., plan_reminders=False), default chunk
           size; then reminders_plan(as_of=...) timed on its own;
  loop   - the per-case Django loop (load with select_for_update, django-fsm transition, save, event
           through apply_transition), on a deterministic sample of crossing cases, scaled.
"""

import json
import time
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from . import report
from .db import Server, check_url, resolve_url, run_child, schema_signature, with_name

BUILD_VERSION = 2  # 2: a kept plan's payment is a day old
DEFAULT_CASES = 1_000_000
DEFAULT_SAMPLE = 2_000


# --- children (run with Django set up) ------------------------------------------------------


def _tables():
    from collections_app.models import Case, CaseEvent, Hold, OutboundMessage, Strategy

    return {
        "case": Case._meta.db_table,
        "event": CaseEvent._meta.db_table,
        "hold": Hold._meta.db_table,
        "outbox": OutboundMessage._meta.db_table,
        "strategy": Strategy._meta.db_table,
    }


def _thresholds():
    from collections_app.models import Strategy

    default = Strategy.objects.get(product="")
    return default.call_at_dpd, default.visit_at_dpd


def _crossing(as_of, alias="c"):
    """Cases past a stage threshold today (default strategy): what the floor moves."""
    call_at, visit_at = _thresholds()
    a = f"DATE '{date.fromisoformat(as_of).isoformat()}'"
    return (
        f"(({alias}.state = 'reminder' AND {alias}.oldest_unpaid_due_date <= {a} - {int(call_at)}) OR "
        f"({alias}.state = 'call' AND {alias}.oldest_unpaid_due_date <= {a} - {int(visit_at)}))"
    )


def _active_hold(alias="c"):
    return (
        f"EXISTS (SELECT 1 FROM {_tables()['hold']} h WHERE h.borrower_id = {alias}.borrower_id "
        "AND h.lifted_at IS NULL AND h.starts_at <= now() AND (h.ends_at IS NULL OR h.ends_at > now()))"
    )


def _one(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _all(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def _states():
    return dict(_all(f"SELECT state, COUNT(*) FROM {_tables()['case']} GROUP BY state"))


def _max_event():
    return _one(f"SELECT COALESCE(MAX(id), 0) FROM {_tables()['event']}")


def _events_since(max_id):
    rows = _all(f"SELECT kind, to_state, COUNT(*) FROM {_tables()['event']} WHERE id > {int(max_id)} GROUP BY 1, 2")
    return {f"{kind}:{to_state}" if to_state else kind: count for kind, to_state, count in rows}


def _moves(before, after):
    """Stage changes read off the state counts (only escalations happen here)."""
    return {
        "to_call": before.get("reminder", 0) - after.get("reminder", 0),
        "to_visit": after.get("visit", 0) - before.get("visit", 0),
    }


def _webhook_rows():
    """Rows in any webhook outbox model of the app (none exists yet: issue 3 asks to report them
    beside the sweep once they do)."""
    from django.apps import apps

    return {
        m.__name__: m.objects.count()
        for m in apps.get_app_config("collections_app").get_models()
        if "webhook" in m.__name__.lower()
    }


def child_build(cases, as_of, plans=0):
    from django.core.management import call_command

    from . import portfolio, sweep_plans

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - started
    result = portfolio.build_sweep(cases, as_of)
    if plans:
        result["plans"] = sweep_plans.build_plans(plans, as_of)
    result["migrate_s"] = migrate_s
    result["build_s"] = time.perf_counter() - started
    return result


def child_floor(as_of):
    from django.db import connection, transaction

    from .child import Clock

    t = _tables()
    call_at, visit_at = _thresholds()
    a = f"DATE '{date.fromisoformat(as_of).isoformat()}'"
    statement = """
WITH moved AS (
    UPDATE {case} SET state = '{to}', updated_at = now()
    WHERE state = '{frm}' AND oldest_unpaid_due_date <= {a} - {days}
    RETURNING id, ({a} - oldest_unpaid_due_date) AS dpd
)
INSERT INTO {event} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, 'transition', 'system', '{frm}', '{to}', 'sweep',
       jsonb_build_object('transition', '{name}'::text, 'dpd', dpd), now()
FROM moved"""
    sqls = [
        statement.format(**t, a=a, frm="reminder", to="call", days=int(call_at), name="start_calls"),
        statement.format(**t, a=a, frm="call", to="visit", days=int(visit_at), name="schedule_visit"),
    ]
    before, max_event = _states(), _max_event()
    crossing = _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)}")
    rowcounts = []
    with Clock() as clock, transaction.atomic(), connection.cursor() as cursor:
        for sql in sqls:
            cursor.execute(sql)
            rowcounts.append(cursor.rowcount)
    return {
        **clock.as_dict(),
        "statements": sqls,
        "rowcounts": rowcounts,
        "crossing": crossing,
        "moves": _moves(before, _states()),
        "events": _events_since(max_event),
    }


def _instrument(module):
    """Time each step of the sweep (wrappers around the app's functions, in this process only).
    `module`: services/sweep/chunks.py, where a chunk looks the steps up."""
    spent = Counter()

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(*args, **kwargs) if callable(label) else label
                spent[key] += time.perf_counter() - started

        setattr(owner, name, timed)

    for name in (
        "refresh_amounts",
        "resolve_paid",
        "request_legal",
        "settle_promises",
        "snapshot",
        "plans_expire",
        "plans_refresh_met",
        "plans_keep",
        "plans_break",
    ):
        wrap(module._PgSteps, name, name)
    wrap(module._PgSteps, "escalate", lambda self, frm, to, *rest, **kw: f"escalate to {to}")
    wrap(module, "_open_cases", "open_cases (loan chunks)")
    wrap(module, "_reopen_recently_resolved", "reopen (loan chunks)")
    wrap(module, "sweep_plan", "sweep_plan")
    return spent


def child_sweep(as_of, chunk_size=None, plan_reminders=True):
    from collections_app.models import OutboundMessage
    from collections_app.services import reminders as reminders_service
    from collections_app.services import sweep as sweep_service

    from .child import Clock, memory_kb

    t = _tables()
    day = date.fromisoformat(as_of)
    crossing = _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)}")
    held = _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)} AND {_active_hold()}")
    before, max_event, webhooks = _states(), _max_event(), _webhook_rows()
    chunks = Counter()
    from collections_app.services.sweep import chunks as sweep_chunks

    spent = _instrument(sweep_chunks)
    chunk_size = chunk_size or sweep_service.DEFAULT_CHUNK
    rss_before = memory_kb("VmRSS")
    with Clock() as clock:
        result = sweep_service.sweep_run(
            as_of=day,
            chunk_size=chunk_size,
            plan_reminders=False,
            on_chunk=lambda kind, lo, hi, done: chunks.update([kind]),
        )
    rss_sweep_peak = memory_kb("VmHWM")
    answer = {
        **clock.as_dict(),
        "chunk_size": chunk_size,
        "chunks": dict(chunks),
        "counts": dict(result.counts),
        "timings": dict(result.timings),
        "report": result.lines(),
        "steps": dict(spent),
        "crossing": crossing,
        "held_crossing": held,
        "moves": _moves(before, _states()),
        "events": _events_since(max_event),
        "held_left": _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)} AND {_active_hold()}"),
        "left_unheld": _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)} AND NOT {_active_hold()}"),
        "rss_before_kb": rss_before,
        "rss_sweep_peak_kb": rss_sweep_peak,
        "webhook_rows": {k: v - webhooks.get(k, 0) for k, v in _webhook_rows().items()},
    }
    # A second run for the same date must change nothing (idempotence), and is cheap to check.
    started = time.perf_counter()
    again = sweep_service.sweep_run(as_of=day, chunk_size=chunk_size, plan_reminders=False)
    answer["rerun"] = {"seconds": time.perf_counter() - started, "counts": dict(again.counts)}
    if plan_reminders:
        with Clock() as plan_clock:
            planned = reminders_service.reminders_plan(as_of=day)
        answer["plan"] = {
            **plan_clock.as_dict(),
            "queued": planned.queued,
            "suppressed": planned.suppressed,
            "skipped": planned.skipped,
            "outbox": OutboundMessage.objects.count(),
        }
    return answer


def child_loop(as_of, sample):
    from django.db import transaction
    from django_fsm import TransitionNotAllowed

    from collections_app.models import Case
    from collections_app.services.cases import apply_transition
    from collections_app.workflow import State

    from .child import Clock

    t = _tables()
    day = date.fromisoformat(as_of)
    crossing = _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)}")
    held = _one(f"SELECT COUNT(*) FROM {t['case']} c WHERE {_crossing(as_of)} AND {_active_hold()}")
    ids = sorted(
        row[0]
        for row in _all(
            f"SELECT c.id FROM {t['case']} c WHERE {_crossing(as_of)} ORDER BY hashint8extended(c.id, 11) LIMIT {int(sample)}"
        )
    )
    max_event = _max_event()
    moved = refused = 0
    with Clock() as clock:
        for case_id in ids:
            try:
                with transaction.atomic():
                    case = Case.objects.select_for_update().get(pk=case_id)
                    name = "start_calls" if case.state == State.REMINDER else "schedule_visit"
                    apply_transition(case, name, None, reason="sweep", payload={"dpd": case.dpd(day)})
                moved += 1
            except TransitionNotAllowed:  # the not_on_hold condition
                refused += 1
    return {
        **clock.as_dict(),
        "sample": len(ids),
        "moved": moved,
        "refused": refused,
        "crossing": crossing,
        "held_crossing": held,
        "events": _events_since(max_event),
    }


CHILD_TASKS = {
    "sweep_build": child_build,
    "sweep_floor": child_floor,
    "sweep_run": child_sweep,
    "sweep_loop": child_loop,
}


# --- parent ---------------------------------------------------------------------------------


def default_as_of():
    """Today in the lender's zone; the day before if today is a month's last day (the month-end
    snapshot is not part of the daily work being compared)."""
    import os

    today = datetime.now(ZoneInfo(os.environ.get("COLLECTIONS_TIME_ZONE", "Asia/Shanghai"))).date()
    if (today + timedelta(days=1)).month != today.month:
        today -= timedelta(days=1)
    return today


def add_arguments(parser):
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="open cases in the large portfolio")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="cases timed in the per-case loop")
    parser.add_argument("--as-of", type=date.fromisoformat, help="sweep date (default: lender's today)")
    parser.add_argument("--chunk-size", type=int, help="sweep chunk size (default: the app's DEFAULT_CHUNK)")
    parser.add_argument(
        "--plans",
        type=int,
        default=0,
        help="active repayment plans (10%% breaking today, 5%% kept; bench/sweep_plans.py)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="run floor and sweep this many times (median)")
    parser.add_argument("--no-small", action="store_true", help="skip the N/4 portfolio")
    parser.add_argument("--reuse", action="store_true", help="reuse template databases built by an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the template databases afterwards")


def _build(server, url, template, size, as_of, reuse, plans=0):
    signature = {
        "bench": "sweep",
        "version": BUILD_VERSION,
        "cases": size,
        "plans": plans,
        "as_of": as_of.isoformat(),
        "migrations": schema_signature(),
    }
    stored = server.stored_build(template, signature) if reuse else None
    if stored is not None:
        return stored
    server.create(template)
    built = run_child("sweep_build", with_name(url, template), cases=size, as_of=as_of.isoformat(), plans=plans)
    built.update(signature=signature, size_bytes=server.size(template), reused=False)
    server.set_comment(template, json.dumps(built))
    return built


def _measure(server, url, name, template, task, **args):
    copy_s = server.copy(template, name)
    load_before = report.load()
    try:
        result = run_child(task, url, **args)
    finally:
        server.drop(name)
    result.update(copy_s=copy_s, load=(load_before, report.load()))
    return result


def _median(runs):
    runs = sorted(runs, key=lambda r: r["seconds"])
    return runs[len(runs) // 2]


def command(opts):
    url = resolve_url(opts.database_url)
    name = check_url(url)
    if opts.cases < 400:
        raise SystemExit("bench sweep: --cases must be at least 400")
    if opts.plans < 0 or opts.plans > opts.cases * 7 // 10:
        raise SystemExit("bench sweep: --plans must be between 0 and 70% of --cases (plans go on quiet cases)")
    as_of = opts.as_of or default_as_of()
    server = Server(url)
    full = opts.cases
    sizes = [full] if opts.no_small else [full // 4, full]
    templates = {size: f"{name}_template" if size == full else f"{name}_template_small" for size in sizes}
    started = time.perf_counter()
    print(
        f"bench sweep: {report.n(full)} open cases as of {as_of.isoformat()} ({as_of:%A}); "
        f"PostgreSQL {server.version()} at {url.split('@')[-1]}; {report.machine()}; load {report.load():.1f}",
        flush=True,
    )
    builds, results = {}, {}
    try:
        for size in sizes:
            print(f"  building {report.n(size)} cases into {templates[size]} ...", flush=True)
            plans = opts.plans * size // full  # the N/4 portfolio gets a quarter of the plans
            builds[size] = _build(server, url, templates[size], size, as_of, opts.reuse, plans)
        for size in sizes:
            runs = {"floor": [], "sweep": []}
            for i in range(max(opts.repeat, 1)):
                print(f"  {report.n(size)}: floor{f' #{i + 1}' if opts.repeat > 1 else ''} ...", flush=True)
                runs["floor"].append(
                    _measure(server, url, name, templates[size], "sweep_floor", as_of=as_of.isoformat())
                )
                print(f"  {report.n(size)}: sweep_run{f' #{i + 1}' if opts.repeat > 1 else ''} ...", flush=True)
                runs["sweep"].append(
                    _measure(
                        server,
                        url,
                        name,
                        templates[size],
                        "sweep_run",
                        as_of=as_of.isoformat(),
                        chunk_size=opts.chunk_size,
                        plan_reminders=size == full,
                    )
                )
            results[size] = {"floor": _median(runs["floor"]), "sweep": _median(runs["sweep"]), "runs": runs}
            if size == full:
                print(f"  {report.n(size)}: per-case loop on {report.n(opts.sample)} cases ...", flush=True)
                results[size]["loop"] = _measure(
                    server, url, name, templates[size], "sweep_loop", as_of=as_of.isoformat(), sample=opts.sample
                )
    finally:
        server.drop(name)
        if not opts.keep:
            for template in templates.values():
                server.drop(template)
        server.close()
    print()
    print(render(full, as_of, builds, results, templates, name, opts, time.perf_counter() - started))


def render(full, as_of, builds, results, templates, name, opts, total_s):
    out = []
    build = builds[full]
    e = build["expected"]
    res = results[full]
    floor, sweep, loop = res["floor"], res["sweep"], res["loop"]
    floor_changes = sum(floor["rowcounts"])
    sweep_moves = sweep["moves"]["to_call"] + sweep["moves"]["to_visit"]
    sweep_events = sum(sweep["events"].values())
    counts = Counter(sweep["counts"])
    chunk = sweep["chunk_size"]
    how = "reused" if build["reused"] else f"built in {build['build_s']:.0f} s (migrate {build['migrate_s']:.0f} s)"
    small = [s for s in builds if s != full]
    small_how = "".join(
        f"; {templates[s]} ({report.n(s)} cases, {builds[s]['size_bytes'] / 2**30:.2f} GB, "
        + ("reused" if builds[s]["reused"] else f"built in {builds[s]['build_s']:.0f} s")
        + ")"
        for s in small
    )
    out.append(
        f"snapshot: {templates[full]} ({build['size_bytes'] / 2**30:.2f} GB, {how}){small_how}. Every "
        f"measurement starts from CREATE DATABASE {name} TEMPLATE <template> STRATEGY FILE_COPY "
        f"({floor['copy_s']:.0f} s, not timed) + CHECKPOINT: same rows and layout, cold shared_buffers; "
        "each runs in its own process"
    )
    out.append(
        f"portfolio: {report.n(e['cases'])} open cases: reminder {report.n(e['reminder'])}, call "
        f"{report.n(e['call'])}, visit {report.n(e['visit'])}; crossing today {report.n(e['cross_call'] + e['cross_visit'])} "
        f"({report.n(e['cross_call'])} reminder->call at DPD 8, {report.n(e['cross_visit'])} call->visit at DPD 31), "
        f"{report.n(e['held_cross_call'] + e['held_cross_visit'])} of them held; borrowers with an active hold "
        f"{report.n(e['holds_active'])}; instalments due yesterday {report.n(e['due_yesterday'])}; "
        f"broken promises {report.n(e['promises_broken'])}; rows: "
        + ", ".join(f"{k} {report.n(v)}" for k, v in build["rows"].items())
    )
    out.append("")
    loop_scaled = loop["seconds"] / loop["sample"] * loop["crossing"]
    scale = loop["crossing"] / loop["sample"]
    rows = [
        [
            "floor: 2 bare UPDATE..RETURNING -> INSERT event",
            report.secs(floor["seconds"]),
            report.cpu(floor),
            report.n(floor_changes),
            report.n(sum(floor["events"].values())),
            "1.00x",
            report.mb(floor["rss_peak_kb"]),
            f"{floor['load'][1]:.1f}",
        ],
        [
            f"sweep_run(plan_reminders=False), chunk {report.n(chunk)}",
            report.secs(sweep["seconds"]),
            report.cpu(sweep),
            report.n(sweep_moves),
            report.n(sweep_events),
            report.ratio(sweep["seconds"], floor["seconds"]),
            report.mb(sweep["rss_sweep_peak_kb"]),
            f"{sweep['load'][1]:.1f}",
        ],
        [
            f"per-case loop, {report.n(loop['sample'])} sampled, scaled to {report.n(loop['crossing'])}",
            report.secs(loop_scaled),
            report.cpu(loop, scale),
            "~" + report.n(loop["moved"] * scale),
            "~" + report.n(sum(loop["events"].values()) * scale),
            report.ratio(loop_scaled, floor["seconds"]),
            report.mb(loop["rss_peak_kb"]),
            f"{loop['load'][1]:.1f}",
        ],
    ]
    out.append(
        report.table(
            ["measurement", "seconds", "CPU s app+db", "stage changes", "events", "vs floor", "peak RSS", "load"], rows
        )
    )
    out.append(
        "  (sweep/floor target <= 2x; the sweep's events also cover its other work, below. CPU: this "
        "process + its PostgreSQL backend; load: 1-min load average after the measurement, 2 CPUs)"
    )
    out.append("")
    expected_sweep = floor_changes - sweep["held_crossing"]
    mark = (
        "ok"
        if sweep_moves == expected_sweep and sweep["held_left"] == sweep["held_crossing"] and sweep["left_unheld"] == 0
        else "MISMATCH"
    )
    out.append(
        f"check [{mark}]: sweep stage changes {report.n(sweep_moves)} (to call {report.n(sweep['moves']['to_call'])}, "
        f"to visit {report.n(sweep['moves']['to_visit'])}) = floor {report.n(floor_changes)} - held "
        f"{report.n(sweep['held_crossing'])}; held cases left unmoved {report.n(sweep['held_left'])}; "
        f"unheld crossing cases left behind {report.n(sweep['left_unheld'])}"
    )
    other = [
        ("amounts_changed", counts["amounts_changed"], e["due_yesterday"]),
        ("promises_broken", counts["promises_broken"], e["promises_broken"]),
        ("escalated_call", counts["escalated_call"], e["cross_call"] - e["held_cross_call"]),
        ("escalated_visit", counts["escalated_visit"], e["cross_visit"] - e["held_cross_visit"]),
        ("opened", counts["opened"], 0),
        ("reopened", counts["reopened"], 0),
        ("resolved", counts["resolved"], 0),
        ("legal_requested", counts["legal_requested"], 0),
        ("promises_kept", counts["promises_kept"], 0),
    ]
    mark = "ok" if all(got == want for _, got, want in other) else "MISMATCH"
    out.append(
        f"check [{mark}]: sweep report vs portfolio: "
        + ", ".join(
            f"{k} {report.n(got)}" + ("" if got == want else f" (expected {report.n(want)})") for k, got, want in other
        )
    )
    out.append(
        "       events written by kind: " + ", ".join(f"{k} {report.n(v)}" for k, v in sorted(sweep["events"].items()))
    )
    if sweep["webhook_rows"]:
        out.append(
            "       webhook outbox rows written by the sweep: "
            + ", ".join(f"{k} {report.n(v)}" for k, v in sweep["webhook_rows"].items())
        )
    else:
        out.append("       webhook outbox rows: no webhook outbox model in collections_app yet")
    rerun = Counter(sweep["rerun"]["counts"])
    out.append(
        f"check [{'ok' if not +rerun else 'MISMATCH'}]: second sweep for the same date changed "
        f"{'nothing' if not +rerun else dict(+rerun)} ({sweep['rerun']['seconds']:.2f} s)"
    )
    if build.get("plans"):
        from . import sweep_plans

        out.extend(sweep_plans.render(build["plans"], floor, sweep))
    out.append(
        f"check [{'ok' if loop['refused'] + loop['moved'] == loop['sample'] else 'MISMATCH'}]: loop sample "
        f"{report.n(loop['sample'])} cases in {loop['seconds']:.2f} s = {loop['seconds'] / loop['sample'] * 1000:.2f} ms/case "
        f"({loop['sample'] / loop['seconds']:.0f} cases/s): {report.n(loop['moved'])} moved, "
        f"{report.n(loop['refused'])} refused by the hold condition, {report.n(sum(loop['events'].values()))} events"
    )
    out.append("")
    steps = sorted(sweep["steps"].items(), key=lambda kv: -kv[1])
    accounted = sum(v for k, v in sweep["steps"].items())
    out.append(
        f"sweep time by step ({sweep['chunks'].get('loans', 0)} loan chunks + {sweep['chunks'].get('cases', 0)} case "
        "chunks): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in steps)
        + f", commits and the rest {sweep['seconds'] - accounted:.2f} s"
    )
    if "plan" in sweep:
        p = sweep["plan"]
        out.append(
            f"reminders_plan after the sweep (timed separately): {report.n(p['queued'])} queued + "
            f"{report.n(p['suppressed'])} suppressed in {p['seconds']:.2f} s (CPU {report.cpu(p)}) = "
            f"{(p['queued'] + p['suppressed']) / p['seconds']:,.0f} messages/s; child peak RSS after it "
            f"{report.mb(sweep['rss_peak_kb'])}"
        )
    out.append("")
    size_rows = []
    for size in sorted(results):
        r = results[size]
        size_rows.append(
            [
                report.n(size),
                report.secs(r["floor"]["seconds"]),
                report.secs(r["sweep"]["seconds"]),
                report.secs(r["sweep"]["timings"].get("plan_steps", 0.0)),
                report.ratio(r["sweep"]["seconds"], r["floor"]["seconds"]),
                report.cpu(r["floor"]) + " / " + report.cpu(r["sweep"]),
                report.n(r["sweep"]["moves"]["to_call"] + r["sweep"]["moves"]["to_visit"]),
                report.mb(r["sweep"]["rss_before_kb"]),
                report.mb(r["sweep"]["rss_sweep_peak_kb"]),
                report.mb(r["sweep"]["rss_sweep_peak_kb"] - r["sweep"]["rss_before_kb"]),
            ]
        )
    out.append(
        report.table(
            [
                "open cases",
                "floor s",
                "sweep s",
                "of it plan steps s",
                "sweep/floor",
                "CPU s floor / sweep",
                "stage changes",
                "RSS before",
                "peak RSS",
                "growth",
            ],
            size_rows,
        )
    )
    if opts.repeat > 1:
        for size in sorted(results):
            runs = results[size]["runs"]
            out.append(
                f"  {report.n(size)} runs: floor "
                + " ".join(f"{r['seconds']:.2f}" for r in runs["floor"])
                + " / sweep "
                + " ".join(f"{r['seconds']:.2f}" for r in runs["sweep"])
                + " (medians above)"
            )
    out.append(
        f"peak RSS is each child process's VmHWM (Django loaded); this parent: {report.mb(report.own_peak_kb())}; "
        f"total {total_s:.0f} s"
    )
    return "\n".join(out)
