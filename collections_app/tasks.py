"""Celery tasks: ids in, a service call per id, retries here and business rules in the services."""
import logging

from celery import shared_task

from . import services
from .errors import DomainError

log = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5,
             soft_time_limit=300, time_limit=330)
def cases_sync_with_loans_task(loan_ids, as_of=None):
    """Bring the cases of a chunk of loans in step with their instalments (after an import, say).
    Safe to rerun: a loan already in step changes nothing."""
    from datetime import date

    day = date.fromisoformat(as_of) if as_of else None
    counts = {}
    for loan_id in loan_ids:
        try:
            result = services.case_sync_with_loan(loan_id=loan_id, as_of=day, cause="sync")
        except DomainError as refusal:
            log.warning("loan %s not synced: %s", loan_id, refusal)
            counts["refused"] = counts.get("refused", 0) + 1
            continue
        counts[result.action] = counts.get(result.action, 0) + 1
    return counts
