"""Entry point of a measurement child: `python -m bench _child TASK JSON_ARGS RESULT_PATH`.

DATABASE_URL (and the backends) are already in the environment (db.child_env); django.setup()
happens here, before any app import. The task's answer, plus this process's memory figures, is
written as JSON to RESULT_PATH."""

import json
import os
import resource
import sys
import time


def memory_kb(field):
    """VmRSS (now) or VmHWM (peak since start) of this process, in kB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Clock:
    """Wall time, this process's CPU time and the PostgreSQL backend's CPU time (read from
    /proc/<backend pid>/stat when the server runs on this machine) for one timed section. CPU
    seconds move much less than wall seconds when other processes share the machine."""

    def __init__(self):
        from django.db import connection

        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        self.tick = os.sysconf("SC_CLK_TCK")

    def _server(self):
        try:
            with open(f"/proc/{self.backend}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return None

    @staticmethod
    def _client():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self):
        self.wall, self.client, self.server = time.perf_counter(), self._client(), self._server()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.wall
        self.client_cpu = self._client() - self.client
        end = self._server()
        self.server_cpu = None if end is None or self.server is None else end - self.server
        return False

    def as_dict(self):
        return {"seconds": self.seconds, "client_cpu": self.client_cpu, "server_cpu": self.server_cpu}


def run_task(load_tasks, argv):
    """Run one task as a child: `argv` is TASK JSON_ARGS RESULT_PATH; `load_tasks()` (called after
    django.setup()) gives the tasks by name. The answer, plus this process's memory figures, is
    written as JSON to RESULT_PATH."""
    task, raw_args, result_path = argv
    assert os.environ["DATABASE_URL"], "DATABASE_URL must be set before django.setup()"
    import django

    django.setup()
    startup_kb = memory_kb("VmRSS")
    answer = load_tasks()[task](**json.loads(raw_args))
    answer.setdefault("rss_startup_kb", startup_kb)
    answer.setdefault("rss_peak_kb", memory_kb("VmHWM"))
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(answer, out, default=str)


def _sweep_and_reminder_tasks():
    from . import reminders, sweep

    return {**sweep.CHILD_TASKS, **reminders.CHILD_TASKS}


def main(argv):
    run_task(_sweep_and_reminder_tasks, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
