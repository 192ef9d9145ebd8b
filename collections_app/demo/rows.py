"""Writing the demo rows: each table's columns and formats, ids reserved ahead, and the chunks
written with PostgreSQL COPY (``executemany`` on SQLite), one transaction each, by writer threads."""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import NOT_PROVIDED


# --- Writing rows -----------------------------------------------------------------------------


class _Format:
    """How values are written for this backend (COPY csv text on PostgreSQL, parameters on SQLite)."""

    def __init__(self, vendor, clock):
        self.pg = vendor == "postgresql"
        self.null = "\\N" if self.pg else None
        self.true, self.false = ("t", "f") if self.pg else (1, 0)
        self.clock = clock

    def value(self, v):
        """A constant of any type, for fields the generator leaves to their defaults."""
        if v is None:
            return self.null
        if isinstance(v, bool):
            return self.true if v else self.false
        if isinstance(v, datetime):
            return self.clock.ts(int(v.timestamp()))
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, (dict, list)):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, Decimal):
            return str(v)
        return v


class _Table:
    """Rows of one table for the current chunk, and how to insert them."""

    def __init__(self, model, names, fmt):
        meta = model._meta
        self.model = model
        self.table = meta.db_table
        fields = [meta.get_field(n) for n in names]
        self.columns = [f.column for f in fields]
        given = {f.name for f in fields}
        fill = []
        for f in meta.concrete_fields:
            if f.name in given:
                continue
            if getattr(f, "db_default", NOT_PROVIDED) is not NOT_PROVIDED:
                continue  # the database fills it
            if f.has_default():
                value = f.get_default()
            elif f.null:
                value = None
            elif f.empty_strings_allowed and f.blank:
                value = ""
            else:
                raise ImproperlyConfigured(f"seed_demo does not know how to fill {meta.label}.{f.name}")
            self.columns.append(f.column)
            fill.append(fmt.value(value))
        self.fill = tuple(fill)
        self.rows = []
        self.total = 0

    def take(self):
        """This chunk's rows (the table starts collecting the next chunk)."""
        rows, self.rows = self.rows, []
        self.total += len(rows)
        return rows

    def encode(self, rows, pg):
        """What the writer sends: CSV bytes for COPY (far smaller than the tuples), or the tuples."""
        if self.fill:
            fill = self.fill
            rows = [row + fill for row in rows]
        if not pg or not rows:
            return rows
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode()

    def write(self, cursor, pg, data):
        if not data:
            return
        qn = connection.ops.quote_name
        cols = ", ".join(qn(c) for c in self.columns)
        if pg:
            sql = f"COPY {qn(self.table)} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            cursor.copy_expert(sql, io.BytesIO(data), size=1 << 20)
        else:
            rows = data
            marks = ", ".join("?" * len(self.columns))
            cursor.executemany(f"INSERT INTO {qn(self.table)} ({cols}) VALUES ({marks})", rows)


def _write_chunk(chunk, pg):
    """One chunk in one transaction, on this thread's connection."""
    with transaction.atomic():
        if pg:
            with connection.cursor() as cursor:
                # Only this chunk is at stake if the server stops: no need to wait for the WAL flush.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                for table, rows in chunk:
                    table.write(cursor.cursor, pg, rows)
        else:
            connection.ensure_connection()
            raw = connection.connection.cursor()
            try:
                for table, rows in chunk:
                    table.write(raw, pg, rows)
            finally:
                raw.close()


def _reserve_ids(tables, last_ids):
    """PostgreSQL: move each sequence (only ever forward) past the ids given out so far, before they
    are written, so the application's own inserts never collide with them whatever commits first."""
    sql = (
        "SELECT setval(seq, GREATEST(%s, coalesce(pg_sequence_last_value(seq), 1))) "
        "FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) AS s"
    )
    with connection.cursor() as cursor:
        for table in tables:
            last = last_ids[table.table]
            if last:
                cursor.execute(sql, [last, connection.ops.quote_name(table.table), table.model._meta.pk.column])


class _Writers:
    """Threads that write chunks on their own connections while the caller builds the next ones: the
    database's work (COPY, indexes, foreign-key checks at commit) overlaps Python's, and on PostgreSQL
    two server processes share it."""

    def __init__(self, count, pg, on_written):
        self.pg, self.on_written = pg, on_written
        self.inbox = queue.Queue(maxsize=1)  # memory: at most writers + 2 chunks alive
        self.error = None
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, name=f"seed-demo-writer-{i}", daemon=True) for i in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self):
        try:
            while True:
                item = self.inbox.get()
                if item is None:
                    return
                if self.error is None:
                    chunk, size = item
                    try:
                        _write_chunk(chunk, self.pg)
                    except BaseException as exc:  # handed to the caller, which raises it
                        self.error = self.error or exc
                        continue
                    with self.lock:
                        self.on_written(size)
        finally:
            connection.close()

    def put(self, chunk, size):
        self.inbox.put((chunk, size))

    def finish(self):
        for _ in self.threads:
            self.inbox.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error
