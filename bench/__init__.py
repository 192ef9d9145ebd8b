"""Benchmarks for the engine (issue 3): the daily escalation sweep and the reminder outbox.

    python -m bench sweep [--cases 1000000] [--database-url postgres://.../bench_collections]
    python -m bench reminders [--messages 20000]

Both build their data set once with set-based SQL into a template database, then start every
measurement from a fresh `CREATE DATABASE <name> TEMPLATE <template>` copy, so each measurement sees
the same rows, the same physical layout and the same (cold) shared buffers. Every measurement runs
in its own child process (`python -m bench _child ...`), which sets DATABASE_URL before
django.setup() and reports its own peak RSS. The output is a table of seconds and ratios against a
baseline measured in the same run; nothing is judged pass/fail.

Only databases whose name starts with `bench` are ever created, used or dropped.
"""
