"""Assertion helpers shared by the test modules."""

import threading
from contextlib import contextmanager

import pytest

from django.db import connection

from collections_app.errors import DomainError


@contextmanager
def refused(code, *, field=None):
    """Expect a DomainError with this reason code (and, if given, naming this field).

    Yields pytest's ExceptionInfo, so the caller can look at `.value.extra` after the block.
    """
    with pytest.raises(DomainError) as info:
        yield info
    error = info.value
    assert error.code == code, f"expected {code}, got {error.code}: {error.message} {error.fields}"
    if field is not None:
        assert field in error.fields, f"{field!r} not named in {error.fields}"


def race(fn, threads=2):
    """Run `fn(i)` in `threads` threads released together (i = the thread's number, 0 up); return
    each thread's ("ok", result) or ("error", exception). Each thread closes its own connection."""
    barrier = threading.Barrier(threads)
    results = [None] * threads

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = ("ok", fn(i))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = ("error", exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(w.is_alive() for w in workers), "a thread is stuck (deadlock?)"
    return results
