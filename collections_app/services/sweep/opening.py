"""Opening cases for newly overdue loans (one statement on PostgreSQL, the case service on SQLite),
and reopening the recently resolved through the service."""

from collections import Counter

from django.conf import settings
from django.db.models import F

from ...models import Loan
from ...workflow import OPEN_STATES, State
from .base import SWEEP_REASON, _StrategySql, _execute, _is_postgres, _now, _reopen_window_start, _sql


def _open_cases(as_of, lo, hi):
    if _is_postgres():
        return Counter(opened=_pg_open_cases(as_of, lo, hi))
    return Counter(opened=_orm_open_cases(as_of, lo, hi))


def _overdue_loans_without_case(as_of, lo, hi):
    """Loans in [lo, hi] with something past due, no open case and no case resolved within the
    reopen window (those are reopened instead)."""
    recent = _reopen_window_start(as_of)
    return (
        Loan.objects.filter(id__gte=lo, id__lte=hi)
        .filter(instalments__due_date__lt=as_of, instalments__amount_paid__lt=F("instalments__amount_due"))
        .exclude(cases__state__in=OPEN_STATES)
        .exclude(cases__state=State.RESOLVED, cases__resolved_at__gte=recent)
        .distinct()
    )


def _orm_open_cases(as_of, lo, hi):
    from ..cases import case_sync_with_loan

    opened = 0
    for loan_id in _overdue_loans_without_case(as_of, lo, hi).values_list("id", flat=True):
        if case_sync_with_loan(loan_id=loan_id, as_of=as_of, cause=SWEEP_REASON).action == "opened":
            opened += 1
    return opened


def _reopen_recently_resolved(as_of, lo, hi):
    from ..cases import case_sync_with_loan

    recent = _reopen_window_start(as_of)
    loan_ids = (
        Loan.objects.filter(id__gte=lo, id__lte=hi, cases__state=State.RESOLVED, cases__resolved_at__gte=recent)
        .filter(instalments__due_date__lt=as_of, instalments__amount_paid__lt=F("instalments__amount_due"))
        .exclude(cases__state__in=OPEN_STATES)
        .values_list("id", flat=True)
        .distinct()
    )
    return sum(
        case_sync_with_loan(loan_id=loan_id, as_of=as_of, cause=SWEEP_REASON).action == "reopened"
        for loan_id in loan_ids
    )


def _pg_open_cases(as_of, lo, hi):
    strategy = _StrategySql(cases=False)  # new cases: no strategy chosen yet, the product's
    sql = _sql(
        """
WITH arrears AS (
    SELECT i.loan_id, MIN(i.due_date) AS oldest, MAX(i.due_date) AS newest, SUM(i.amount_due - i.amount_paid) AS amount
    FROM {Instalment} i
    WHERE i.loan_id BETWEEN %(lo)s AND %(hi)s AND i.due_date < %(as_of)s AND i.amount_paid < i.amount_due
    GROUP BY i.loan_id
), candidates AS (
    SELECT c.loan_id, c.borrower_id, c.oldest, c.newest, c.amount, (%(as_of)s::date - c.oldest) AS dpd,
           {CALL_AT_DPD} AS call_at, {VISIT_AT_DPD} AS visit_at, {ACTIVE_HOLD} AS on_hold,
           {VULNERABLE} AS vulnerable
    FROM (SELECT a.*, l0.borrower_id, l0.updated_at AS loan_updated_at FROM arrears a
          JOIN {Loan} l0 ON l0.id = a.loan_id WHERE l0.id BETWEEN %(lo)s AND %(hi)s) c
    {STRATEGY_JOIN}
    WHERE NOT EXISTS (
        SELECT 1 FROM {Case} k WHERE k.loan_id = c.loan_id AND k.loan_id BETWEEN %(lo)s AND %(hi)s
        AND (k.state IN {open_states} OR (k.state = 'resolved' AND k.resolved_at >= %(recent)s)))
      -- a close (settled, written off) covers the arrears due up to its day; see _covered_by_close
      AND NOT EXISTS (
        SELECT 1 FROM {Case} k WHERE k.loan_id = c.loan_id AND k.loan_id BETWEEN %(lo)s AND %(hi)s
        AND k.state = 'closed'
        AND ((k.closed_at AT TIME ZONE %(tz)s)::date >= c.newest
             -- a kept settlement paid for the whole balance (settled_for_good): until the loan
             -- system changes the schedule after the close, later instalments are covered too
             OR (k.close_reason = 'settled' AND c.loan_updated_at <= k.closed_at
                 AND EXISTS (SELECT 1 FROM {RepaymentPlan} sp WHERE sp.case_id = k.id
                             AND sp.kind = 'settlement' AND sp.status = 'kept')))
        AND k.id = (SELECT MAX(k2.id) FROM {Case} k2 WHERE k2.loan_id = c.loan_id
                    AND k2.loan_id BETWEEN %(lo)s AND %(hi)s))
), opened AS (
    -- every NOT NULL column without a database default is named (the risk and strategy columns: empty)
    INSERT INTO {Case} (loan_id, borrower_id, state, oldest_unpaid_due_date, amount_overdue, priority,
                        opened_at, updated_at, close_reason, risk_band, risk_reasons, risk_model, strategy_group)
    SELECT loan_id, borrower_id,
           CASE WHEN on_hold THEN 'reminder' WHEN dpd >= visit_at AND NOT vulnerable THEN 'visit'
                WHEN dpd >= call_at THEN 'call' ELSE 'reminder' END,
           oldest, amount, 0, %(now)s, %(now)s, '', '', '[]'::jsonb, '', ''
    FROM candidates
    ORDER BY loan_id
    ON CONFLICT (loan_id) WHERE state IN {open_states} DO NOTHING
    RETURNING id, loan_id, state, oldest_unpaid_due_date, amount_overdue
), ev AS (
INSERT INTO {CaseEvent} (case_id, kind, actor, from_state, to_state, reason, payload, at)
SELECT id, {kind[opened]}, 'system', '', state, %(reason)s,
       jsonb_build_object('dpd', %(as_of)s::date - oldest_unpaid_due_date,
                          'amount_overdue', amount_overdue::text,
                          'oldest_unpaid_due_date', oldest_unpaid_due_date::text),
       %(now)s
FROM opened
RETURNING id, case_id, kind, actor, from_state, to_state, reason, payload, at
), {WEBHOOKS_OPENED}
SELECT count(*) FROM ev
""",
        strategy=strategy,
    )
    return _execute(
        sql,
        {
            "lo": lo,
            "hi": hi,
            "as_of": as_of,
            "now": _now(),
            "recent": _reopen_window_start(as_of),
            "reason": SWEEP_REASON,
            "tz": str(settings.LENDER_TIME_ZONE),
        },
    )
