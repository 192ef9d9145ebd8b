"""Assertion helpers shared by the test modules."""
from contextlib import contextmanager

import pytest

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
