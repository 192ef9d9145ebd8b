"""The characteristics of cases and loans AS OF A DATE, computed in SQL from the history tables by their
timestamps, returned as one numpy matrix (rows: case or loan ids in id order; columns: characteristics).

"As of D" means what was recorded before the end of day D in the lender's calendar (the cutoff):
payments by `paid_at` (a reversal counts from its `reversed_at`), right-party contacts by
`occurred_at`, promises by `created_at` (broken ones due before D), loans by `disbursed_on`, earlier
cases by `opened_at` / `resolved_at`. Instalments are read as they stood at the cutoff: today's
`amount_paid` minus what payments made after the cutoff put there, plus what reversals after it took
away; days past due and the amount overdue count instalments due before D (DOMAIN.md). So a past D
never sees a later row, and for today the figures equal the stored ones. This is what `risk_score`
scores every night and what training (later) reads for each day of its window.

Which cases: for today (or a later date) the open ones (their state); for a past date those opened
before the cutoff and neither resolved nor closed before it (a case resolved and later reopened has
lost its first `resolved_at`, so it counts as open over that gap). Which loans (target pay): those
with an instalment due from D to D+7 still unpaid at the cutoff and nothing overdue as of D.

One statement per target, the same on PostgreSQL and SQLite: dates come back as day numbers and
times as epoch seconds (two small dialect helpers), and numpy turns them into days.

Characteristics (models.risk.Characteristic; reason codes in models.risk.REASON_CODES):
- dpd: days since the oldest instalment still unpaid at the cutoff and due before D (0: none).
- broken_promises: the borrower's promises (all cases) broken, due before D.
- paid_share: paid at the cutoff / the loan's whole schedule (0 for an empty schedule).
- days_since_payment: whole days from the loan's last payment to the cutoff; NEVER_DAYS if none.
- days_since_contact: whole days from the borrower's last right-party contact (any case) to the
  cutoff; NEVER_DAYS if none.
- loan_age: D − the loan's disbursement date.
- borrower_loans: the borrower's loans disbursed by D.
- product: the loan's product (a category: the column holds its index in `Features.products`).
- amount_overdue: unpaid at the cutoff on instalments due before D.
- past_cures: the borrower's cases resolved before the cutoff.
- past_cases: the borrower's cases opened before the cutoff (for a loan: arrears it had before).
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from ...calendar import lender_today
from ...models import ContactAttempt
from ...models.risk import Characteristic, Target
from ...workflow import OPEN_STATES

WORK_MEM = "128MB"  # for the features statement only (SET LOCAL), on PostgreSQL
NEVER_DAYS = 100000  # "never" for days since a payment or a contact: beyond any bin's finite bound

CASE_COLUMNS = tuple(Characteristic)  # every characteristic, in the enumeration's order
LOAN_COLUMNS = CASE_COLUMNS  # the same characteristics (a loan due soon has dpd 0 and nothing overdue)


@dataclass
class Features:
    """`ids` (case ids for target cure, loan ids for target pay, ascending), `matrix` (float64, one
    row per id, one column per name in `columns`) and `products` (the product column's categories:
    the column holds an index into this list)."""

    target: str
    as_of: object
    ids: np.ndarray
    matrix: np.ndarray
    columns: tuple = CASE_COLUMNS
    products: list = field(default_factory=list)

    def column(self, name):
        return self.matrix[:, self.columns.index(name)]

    def __len__(self):
        return len(self.ids)


def cutoff_for(as_of):
    """The end of day `as_of` in the lender's calendar (an aware datetime)."""
    return datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=settings.LENDER_TIME_ZONE)


class _Dialect:
    def __init__(self, vendor):
        self.pg = vendor == "postgresql"

    def day_number(self, expr):
        """A date expression as days since 1970-01-01 (an integer)."""
        if self.pg:
            return f"({expr} - DATE '1970-01-01')"
        return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"

    def epoch(self, expr):
        """A timestamp expression as seconds since the epoch (a float)."""
        if self.pg:
            return f"CAST(EXTRACT(EPOCH FROM {expr}) AS DOUBLE PRECISION)"
        return f"CAST(strftime('%%s', {expr}) AS REAL)"

    def num(self, expr):
        return f"CAST({expr} AS DOUBLE PRECISION)"


_T = {
    "case": "collections_app_case",
    "loan": "collections_app_loan",
    "inst": "collections_app_instalment",
    "pay": "collections_app_payment",
    "alloc": "collections_app_paymentallocation",
    "contact": "collections_app_contactattempt",
    "promise": "collections_app_promisetopay",
}


def _scope_sql(target, live):
    """The rows scored: (row_id, loan_id, borrower_id)."""
    if target == Target.CURE:
        if live:
            states = ", ".join(f"'{s}'" for s in OPEN_STATES)
            where = f"c.state IN ({states})"
        else:
            where = (
                "c.opened_at < %(cutoff)s AND (c.closed_at IS NULL OR c.closed_at >= %(cutoff)s)"
                " AND (c.resolved_at IS NULL OR c.resolved_at >= %(cutoff)s)"
            )
        return f"SELECT c.id AS row_id, c.loan_id, c.borrower_id FROM {_T['case']} c WHERE {where}"
    # Loans with an instalment due within [D, D+7]; narrowed to "unpaid, nothing overdue" below.
    return (
        f"SELECT l.id AS row_id, l.id AS loan_id, l.borrower_id FROM {_T['loan']} l WHERE l.id IN ("
        f"SELECT i.loan_id FROM {_T['inst']} i WHERE i.due_date >= %(as_of)s AND i.due_date <= %(due_until)s)"
    )


def _sql(target, live, d):
    conversation = ", ".join(f"'{o}'" for o in sorted(ContactAttempt.CONVERSATION))
    if live:
        # Nothing can have happened after the end of today: instalments as stored.
        later, later_join, unpaid = "", "", "(i.amount_due - i.amount_paid)"
    else:
        # Allocations whose effect on amount_paid came after the cutoff: payments made after it
        # (still standing) put money there; reversals after it of earlier payments took some away.
        later = f"""later AS (
            SELECT a.instalment_id,
                   SUM(CASE WHEN p.paid_at >= %(cutoff)s THEN a.amount ELSE -a.amount END) AS amount
            FROM {_T["alloc"]} a JOIN {_T["pay"]} p ON p.id = a.payment_id
            WHERE p.loan_id IN (SELECT loan_id FROM scope)
              AND ((p.paid_at >= %(cutoff)s AND p.reversed_at IS NULL)
                   OR (p.paid_at < %(cutoff)s AND p.reversed_at >= %(cutoff)s))
            GROUP BY a.instalment_id
        ),"""
        later_join = "LEFT JOIN later lt ON lt.instalment_id = i.id"
        unpaid = "(i.amount_due - i.amount_paid + COALESCE(lt.amount, 0))"
    return f"""
        WITH scope AS ({_scope_sql(target, live)}),
        {later}
        inst AS (
            SELECT i.loan_id,
                   SUM(i.amount_due) AS total_due,
                   SUM(i.amount_due) - SUM({unpaid}) AS paid,
                   SUM(CASE WHEN i.due_date < %(as_of)s THEN {unpaid} ELSE 0 END) AS overdue,
                   MIN(CASE WHEN i.due_date < %(as_of)s AND {unpaid} > 0 THEN i.due_date END) AS oldest_unpaid,
                   SUM(CASE WHEN i.due_date >= %(as_of)s AND i.due_date <= %(due_until)s THEN {unpaid} ELSE 0 END)
                       AS upcoming
            FROM {_T["inst"]} i {later_join}
            WHERE i.loan_id IN (SELECT loan_id FROM scope)
            GROUP BY i.loan_id
        ),
        paid AS (
            SELECT p.loan_id, MAX(p.paid_at) AS last_at
            FROM {_T["pay"]} p
            WHERE p.loan_id IN (SELECT loan_id FROM scope) AND p.paid_at < %(cutoff)s
              AND (p.reversed_at IS NULL OR p.reversed_at >= %(cutoff)s)
            GROUP BY p.loan_id
        ),
        rpc AS (
            SELECT ca.borrower_id, MAX(ca.occurred_at) AS last_at
            FROM {_T["contact"]} ca
            WHERE ca.borrower_id IN (SELECT borrower_id FROM scope) AND ca.occurred_at < %(cutoff)s
              AND ca.outcome IN ({conversation})
            GROUP BY ca.borrower_id
        ),
        broken AS (
            SELECT c.borrower_id, COUNT(*) AS n
            FROM {_T["promise"]} pr JOIN {_T["case"]} c ON c.id = pr.case_id
            WHERE c.borrower_id IN (SELECT borrower_id FROM scope) AND pr.status = 'broken'
              AND pr.due_date < %(as_of)s AND pr.created_at < %(cutoff)s
            GROUP BY c.borrower_id
        ),
        history AS (
            SELECT c.borrower_id,
                   SUM(CASE WHEN c.resolved_at < %(cutoff)s THEN 1 ELSE 0 END) AS cures,
                   COUNT(*) AS cases
            FROM {_T["case"]} c
            WHERE c.borrower_id IN (SELECT borrower_id FROM scope) AND c.opened_at < %(cutoff)s
            GROUP BY c.borrower_id
        ),
        loans AS (
            SELECT l.borrower_id, COUNT(*) AS n
            FROM {_T["loan"]} l
            WHERE l.borrower_id IN (SELECT borrower_id FROM scope) AND l.disbursed_on <= %(as_of)s
            GROUP BY l.borrower_id
        )
        SELECT s.row_id,
               {d.day_number("inst.oldest_unpaid")},
               COALESCE(broken.n, 0),
               {d.num("COALESCE(inst.paid, 0)")},
               {d.num("COALESCE(inst.total_due, 0)")},
               {d.epoch("paid.last_at")},
               {d.epoch("rpc.last_at")},
               {d.day_number("l.disbursed_on")},
               COALESCE(loans.n, 0),
               l.product,
               {d.num("COALESCE(inst.overdue, 0)")},
               COALESCE(history.cures, 0),
               COALESCE(history.cases, 0)
        FROM scope s
        JOIN {_T["loan"]} l ON l.id = s.loan_id
        LEFT JOIN inst ON inst.loan_id = s.loan_id
        LEFT JOIN paid ON paid.loan_id = s.loan_id
        LEFT JOIN rpc ON rpc.borrower_id = s.borrower_id
        LEFT JOIN broken ON broken.borrower_id = s.borrower_id
        LEFT JOIN history ON history.borrower_id = s.borrower_id
        LEFT JOIN loans ON loans.borrower_id = s.borrower_id
        {"WHERE COALESCE(inst.overdue, 0) <= 0 AND COALESCE(inst.upcoming, 0) > 0" if target == Target.PAY else ""}
        ORDER BY s.row_id
    """


def _params(as_of):
    ops = connection.ops
    return {
        "as_of": ops.adapt_datefield_value(as_of),
        "due_until": ops.adapt_datefield_value(as_of + timedelta(days=7)),
        "cutoff": ops.adapt_datetimefield_value(cutoff_for(as_of)),
    }


def features_sql(target, as_of, *, live=None):
    """The statement and its parameters (for benchmarks that time the bare read)."""
    live = as_of >= lender_today() if live is None else live
    return _sql(target, live, _Dialect(connection.vendor)), _params(as_of)


def risk_features(*, target, as_of=None, live=None):
    """Features of every row of the target as of a date (see the module's text). `live` (default:
    as_of is today or later) reads open cases by state and skips the "after the cutoff" corrections,
    which cannot find anything then."""
    as_of = as_of or lender_today()
    sql, params = features_sql(target, as_of, live=live)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One big read: JIT compiling it costs more than it wins back (as in the sweep), and the
            # per-loan aggregates spill to disk under the default work_mem.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _to_matrix(target, as_of, rows)


def _to_matrix(target, as_of, rows):
    columns = CASE_COLUMNS if target == Target.CURE else LOAN_COLUMNS
    if not rows:
        return Features(target, as_of, np.zeros(0, dtype=np.int64), np.zeros((0, len(columns))), columns, [])
    ids, oldest, broken, paid, total, paid_at, rpc_at, disbursed, loans, product, overdue, cures, cases = zip(
        *rows, strict=True
    )
    products = sorted({p for p in product if p is not None})
    code = {p: i for i, p in enumerate(products)}
    day = (as_of - datetime(1970, 1, 1).date()).days
    cutoff = cutoff_for(as_of).timestamp()

    def arr(values):
        return np.array(values, dtype=np.float64)

    def days_since(epochs):
        seconds = np.array([np.nan if v is None else v for v in epochs], dtype=np.float64)
        out = np.floor((cutoff - seconds) / 86400.0)
        return np.where(np.isnan(out), NEVER_DAYS, np.maximum(out, 0))

    oldest_arr = np.array([np.nan if v is None else v for v in oldest], dtype=np.float64)
    dpd = np.where(np.isnan(oldest_arr), 0, day - oldest_arr)
    total_arr = arr(total)
    paid_share = np.divide(arr(paid), total_arr, out=np.zeros(len(rows)), where=total_arr > 0)
    by_name = {
        Characteristic.DPD: dpd,
        Characteristic.BROKEN_PROMISES: arr(broken),
        Characteristic.PAID_SHARE: np.clip(paid_share, 0, 1),
        Characteristic.DAYS_SINCE_PAYMENT: days_since(paid_at),
        Characteristic.DAYS_SINCE_CONTACT: days_since(rpc_at),
        Characteristic.LOAN_AGE: np.maximum(day - arr(disbursed), 0),
        Characteristic.BORROWER_LOANS: arr(loans),
        Characteristic.PRODUCT: np.array([code.get(p, -1) for p in product], dtype=np.float64),
        Characteristic.AMOUNT_OVERDUE: np.maximum(arr(overdue), 0),
        Characteristic.PAST_CURES: arr(cures),
        Characteristic.PAST_CASES: arr(cases),
    }
    if target == Target.CURE:
        # The case being scored is one of the borrower's cases opened before the cutoff: not "earlier".
        by_name[Characteristic.PAST_CASES] = np.maximum(by_name[Characteristic.PAST_CASES] - 1, 0)
    matrix = np.column_stack([by_name[name] for name in columns])
    return Features(target, as_of, np.array(ids, dtype=np.int64), matrix, columns, products)
