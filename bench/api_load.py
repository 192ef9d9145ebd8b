"""The load generator of `python -m bench api`: threads, one http.client connection each, to
127.0.0.1 only, for a bounded time and a bounded number of requests (it stops by itself at whichever
comes first). Standard library only; no Django in this process.

gunicorn's sync workers answer every request with `Connection: close`, so each request opens a new
TCP connection on the loopback (http.client reconnects by itself); the latency measured is connect +
request + full response body, as a client sees it.

Besides latencies it reads CPU time off /proc: this process (the generator), the gunicorn master
and its workers, the PostgreSQL backends of the measured database, and the whole machine (the rest
is "other": anything else running at the same time)."""

import http.client
import itertools
import json
import math
import os
import random
import resource
import threading
import time
from urllib.parse import urlsplit

HOST = "127.0.0.1"
TIMEOUT_S = 10.0
ERROR_SAMPLES = 5


class Result:
    """Latencies and outcomes of one kind of request (one scenario may issue several kinds)."""

    def __init__(self):
        self.latencies = []
        self.statuses = {}
        self.errors = 0
        self.unexpected = 0
        self.samples = []

    def merge(self, other):
        self.latencies += other.latencies
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.errors += other.errors
        self.unexpected += other.unexpected
        self.samples = (self.samples + other.samples)[:ERROR_SAMPLES]


class Caller:
    """One thread's connection and its per-kind results."""

    def __init__(self, port, host_header):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
        self.host_header = host_header
        self.results = {}

    def get(self, kind, path, headers=None, expect=200):
        """GET `path`; returns (status, body) or (None, None) on a failure. A status outside
        2xx/304 is an error; an allowed status other than `expect` is counted as unexpected."""
        result = self.results.setdefault(kind, Result())
        sent = {"Host": self.host_header, "Accept": "application/json"}
        sent.update(headers or {})
        started = time.perf_counter()
        try:
            self.conn.request("GET", path, headers=sent)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as failure:
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT_S)
            result.errors += 1
            if len(result.samples) < ERROR_SAMPLES:
                result.samples.append(f"{path}: {type(failure).__name__}: {failure}")
            return None, None
        elapsed = time.perf_counter() - started
        status = response.status
        result.latencies.append(elapsed)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if not (200 <= status < 300 or status == 304):
            result.errors += 1
            if len(result.samples) < ERROR_SAMPLES:
                result.samples.append(f"{path}: HTTP {status}: {body[:200]!r}")
        elif status != expect:
            result.unexpected += 1
            if len(result.samples) < ERROR_SAMPLES:
                result.samples.append(f"{path}: HTTP {status}, expected {expect}")
        return status, body

    def close(self):
        self.conn.close()


def same_server_path(url, port):
    """The path and query of a link the server gave out, only if it points back at 127.0.0.1:port."""
    parts = urlsplit(url)
    if parts.scheme not in ("", "http") or (parts.netloc and parts.netloc != f"{HOST}:{port}"):
        raise ValueError(f"refusing to follow {url!r}: not this server")
    return parts.path + ("?" + parts.query if parts.query else "")


# --- scenarios: one step = one unit of work of a thread -------------------------------------


def step_constant(caller, rng, ctx):
    caller.get("constant", "/bench/constant/")


def step_minimal(caller, rng, ctx):
    caller.get("minimal", f"/bench/cases/{rng.randint(ctx['id_min'], ctx['id_max'])}/")


def step_detail(caller, rng, ctx):
    caller.get(
        "detail",
        f"/api/v1/cases/{rng.randint(ctx['id_min'], ctx['id_max'])}/",
        {"Authorization": f"Token {ctx['tokens']['detail']}"},
    )


def step_detail_pii(caller, rng, ctx):
    caller.get(
        "detail_pii",
        f"/api/v1/cases/{rng.randint(ctx['id_min'], ctx['id_max'])}/",
        {"Authorization": f"Token {ctx['tokens']['detail_pii']}"},
    )


def step_detail_304(caller, rng, ctx):
    case_id, tag = ctx["etags"][rng.randrange(len(ctx["etags"]))]
    caller.get(
        "detail_304",
        f"/api/v1/cases/{case_id}/",
        {"Authorization": f"Token {ctx['tokens']['detail_304']}", "If-None-Match": tag},
        expect=304,
    )


def step_list(caller, rng, ctx):
    auth = {"Authorization": f"Token {ctx['tokens']['list']}"}
    status, body = caller.get("list_page1", f"/api/v1/cases/?limit={ctx['list_limit']}", auth)
    if status != 200:
        return
    try:
        page = json.loads(body)
        path = same_server_path(page["next"], ctx["port"])
    except (ValueError, KeyError, TypeError) as failure:
        result = caller.results["list_page1"]
        result.unexpected += 1
        if len(result.samples) < ERROR_SAMPLES:
            result.samples.append(f"page 1 without a usable next link: {failure}")
        return
    caller.get("list_page2", path, auth)


STEPS = {
    "constant": step_constant,
    "minimal": step_minimal,
    "detail": step_detail,
    "detail_pii": step_detail_pii,
    "detail_304": step_detail_304,
    "list": step_list,
}


# --- CPU accounting --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid):
    """utime + stime of a process in seconds (None if it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid):
    """Direct children of `pid` (scanning /proc: no dependency on CONFIG_PROC_CHILDREN)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return found


def machine_busy():
    """CPU seconds the whole machine has spent not idle (all CPUs), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / _TICK


def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds over one timed slice: generator, gunicorn (master + workers), PostgreSQL backends
    (`backend_pids()` asked at both ends: persistent connections keep the same ones), whole machine."""

    def __init__(self, master_pid, backend_pids):
        self.master_pid = master_pid
        self.backend_pids = backend_pids

    def _read(self):
        web = [self.master_pid] + children_of(self.master_pid)
        backends = self.backend_pids()
        return {
            "generator": own_cpu(),
            "web": {p: process_cpu(p) for p in web},
            "db": {p: process_cpu(p) for p in backends},
            "machine": machine_busy(),
        }

    def __enter__(self):
        self.start = self._read()
        return self

    def __exit__(self, *exc):
        end = self._read()

        def spent(kind):
            total = 0.0
            for pid, value in end[kind].items():
                if value is None:
                    continue
                total += value - (self.start[kind].get(pid) or 0.0)  # a new process counts from 0
            return total

        self.seconds = {
            "generator": end["generator"] - self.start["generator"],
            "web": spent("web"),
            "db": spent("db"),
            "machine": end["machine"] - self.start["machine"],
        }
        self.seconds["other"] = max(
            self.seconds["machine"] - self.seconds["generator"] - self.seconds["web"] - self.seconds["db"], 0.0
        )
        return False


# --- running a slice -------------------------------------------------------------------------


def run(scenario, ctx, *, seconds, concurrency, max_requests, seed):
    """Run `scenario` with `concurrency` threads for `seconds` (or until `max_requests` steps were
    started); returns ({kind: Result}, wall seconds, steps)."""
    step = STEPS[scenario]
    deadline = time.perf_counter() + seconds
    started_steps = itertools.count()
    callers = [Caller(ctx["port"], f"{HOST}:{ctx['port']}") for _ in range(concurrency)]

    def work(index):
        rng = random.Random(seed * 1000 + index)
        caller = callers[index]
        while time.perf_counter() < deadline and next(started_steps) < max_requests:
            step(caller, rng, ctx)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * TIMEOUT_S + 5)  # a step never outlives its socket timeouts
    wall = time.perf_counter() - began
    results = {}
    for caller in callers:
        caller.close()
        for kind, result in caller.results.items():
            results.setdefault(kind, Result()).merge(result)
    steps = next(started_steps)
    return results, wall, min(steps, max_requests)


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[index]
