"""The PostgreSQL server the benchmarks use: URL handling, the `bench` name guard, create/copy/drop
databases, and running one measurement in a child process."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_collections"
PROJECT_DIR = Path(__file__).resolve().parent.parent
REQUIRED_PREFIX = "bench"


class Refused(SystemExit):
    pass


def resolve_url(cli_url):
    return cli_url or os.environ.get("DATABASE_URL") or DEFAULT_URL


def db_name(url):
    return unquote(urlsplit(url).path.lstrip("/"))


def with_name(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def check_url(url):
    """Refuse anything that is not PostgreSQL or whose database name does not start with `bench`."""
    scheme = urlsplit(url).scheme
    if scheme not in ("postgres", "postgresql", "pgsql"):
        raise Refused(f"bench: refusing {scheme or 'this'} URL: the benchmarks run on PostgreSQL only")
    name = db_name(url)
    if not name.startswith(REQUIRED_PREFIX):
        raise Refused(
            f"bench: refusing database {name!r}: its name must start with {REQUIRED_PREFIX!r} "
            "(the benchmark drops and recreates it)"
        )
    if len(name) > 40:  # room for the template suffixes within PostgreSQL's 63-byte names
        raise Refused(f"bench: database name {name!r} is too long (40 characters at most)")
    return name


def schema_signature():
    """The app's migrations, so a reused template is never older than the code."""
    folder = PROJECT_DIR / "collections_app" / "migrations"
    return sorted(p.name for p in folder.glob("0*.py"))


def _guard(name):
    if not name.startswith(REQUIRED_PREFIX):
        raise Refused(f"bench: refusing to touch database {name!r}")
    return name


def _ident(name):
    return '"' + _guard(name).replace('"', '""') + '"'


class Server:
    """An autocommit connection to the server's `postgres` database, for CREATE/DROP DATABASE."""

    def __init__(self, url):
        import psycopg2

        parts = urlsplit(url)
        self.url = url
        self.conn = psycopg2.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            dbname="postgres",
        )
        self.conn.autocommit = True

    def scalar(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
            return row[0] if row else None

    def execute(self, sql, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)

    def version(self):
        return self.scalar("SHOW server_version")

    def exists(self, name):
        return bool(self.scalar("SELECT 1 FROM pg_database WHERE datname = %s", [name]))

    def drop(self, name):
        self.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")

    def create(self, name):
        self.drop(name)
        self.execute(f"CREATE DATABASE {_ident(name)}")

    def copy(self, template, name):
        """A fresh copy of the template (file copy: fast, and the same physical layout every time),
        then a checkpoint so no earlier dirty buffer is written during the measurement."""
        self.drop(name)
        started = time.perf_counter()
        self.execute(f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(template)} STRATEGY = FILE_COPY")
        self.execute("CHECKPOINT")
        return time.perf_counter() - started

    def size(self, name):
        return self.scalar("SELECT pg_database_size(%s)", [name])

    def comment(self, name):
        return self.scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])

    def stored_build(self, name, signature):
        """What an earlier run recorded of building template `name` (its comment), when it was built
        for the same `signature`; else None (the template is built again)."""
        if not self.exists(name):
            return None
        try:
            stored = json.loads(self.comment(name) or "{}")
        except ValueError:
            return None
        if stored.get("signature") != signature:
            return None
        stored["reused"] = True
        return stored

    def set_comment(self, name, text):
        with self.conn.cursor() as cursor:
            cursor.execute(f"COMMENT ON DATABASE {_ident(name)} IS %s", [text])

    def close(self):
        self.conn.close()


def child_env(url):
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # Production-like: no query log in connection.queries, no debug overhead.
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": env.get("DJANGO_SECRET_KEY") or "bench-only-not-secret",
            "COLLECTIONS_SMS_BACKEND": "bench.backends.NullSmsBackend",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_child(task, url, **args):
    """Run `task` (a function name in bench.child) in a fresh interpreter against `url`; return its
    JSON answer. The child's own stdout/stderr pass through (warnings, errors)."""
    check_url(url)
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-") as out:
        command = [sys.executable, "-m", "bench", "_child", task, json.dumps(args), out.name]
        completed = subprocess.run(command, cwd=PROJECT_DIR, env=child_env(url))
        if completed.returncode != 0:
            raise SystemExit(f"bench: child {task!r} failed with exit code {completed.returncode}")
        return json.load(open(out.name, encoding="utf-8"))
