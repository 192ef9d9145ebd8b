"""The loan book: borrowers and loans created or updated by external id (issue 6), the one write
path behind PUT /api/v1/borrowers|loans/{external_id}/, the bulk loans endpoint and the file import
of borrowers and loans. Being built; the signatures below are what the callers are written against.
"""
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UpsertResult:
    status: str  # "created" | "updated" | "unchanged"
    obj: Any  # the Borrower or Loan as stored


def borrower_upsert(*, external_id, data, actor=None):  # pragma: no cover - being built
    """Create or update the borrower `external_id` from `data` (the CONTRACT.md borrower shape,
    keys optional on update). Raises DomainError("validation_error", fields={...}) naming each bad
    field; nothing is written then. Returns UpsertResult."""
    raise NotImplementedError


def loan_upsert(*, external_id, data, actor=None, as_of=None):  # pragma: no cover - being built
    """Create or update the loan `external_id` from `data` (borrower external id, product, principal,
    currency, disbursed_on and optionally `instalments`, the full schedule). Without `instalments`
    the schedule is left as it is. The loan's case follows in the same transaction. Raises
    DomainError("validation_error", fields={...}); nothing is written then. Returns UpsertResult."""
    raise NotImplementedError
