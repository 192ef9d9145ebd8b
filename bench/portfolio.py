"""Set-based builders of the benchmark data (run inside a child, on the template database).

Everything is derived from one temporary plan table made with generate_series: one row per loan,
with its state, days past due and flags drawn from `hashint8extended(i, seed)` (deterministic, so
every run with the same size and date builds the same rows). Borrower i, loan i and case i share
the id i. During the load, the tables' secondary indexes are dropped and rebuilt afterwards and FK
triggers are off (session_replication_role = replica); then VACUUM (FREEZE, ANALYZE), so no
measurement pays for hint bits, freezing or missing statistics."""

import time
from contextlib import contextmanager
from datetime import date

from django.db import connection

from collections_app.models import (
    Borrower,
    Case,
    CaseEvent,
    Hold,
    Instalment,
    Loan,
    OutboundMessage,
    PromiseToPay,
)

LENDER_ZONE = "Asia/Shanghai"


def t(model):
    return model._meta.db_table


def _date(value):
    return "DATE '" + date.fromisoformat(str(value)).isoformat() + "'"


def _run(cursor, sql):
    cursor.execute(sql)  # no params: literal %, inlined validated ints and dates only
    return cursor.rowcount


@contextmanager
def bulk_load(models):
    """Drop the secondary indexes of these tables (not those behind a PK/UNIQUE constraint), load
    without FK triggers, then rebuild the indexes exactly as they were."""
    tables = [t(m) for m in models]
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET work_mem = '128MB'")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = cursor.fetchone()[0]
        if superuser:
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY (%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for _name, definition in indexes:
                cursor.execute(definition)
            if superuser:
                cursor.execute("SET session_replication_role = origin")
            cursor.execute("RESET synchronous_commit")


def reset_sequences(models):
    with connection.cursor() as cursor:
        for model in models:
            table = t(model)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"
            )


def vacuum(models):
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (FREEZE, ANALYZE) {t(model)}")


def table_rows(models):
    with connection.cursor() as cursor:
        rows = {}
        for model in models:
            cursor.execute(f"SELECT COUNT(*) FROM {t(model)}")
            rows[model.__name__] = cursor.fetchone()[0]
        return rows


def _hash(seed):
    return f"(hashint8extended(i, {int(seed)}) & 2147483647)"


LOADED_SWEEP = (Borrower, Loan, Instalment, Case, CaseEvent, Hold, PromiseToPay)


def build_sweep(cases, as_of):
    """N open cases, one per loan and borrower. By i % 100:
       0-14  reminder at DPD 8   -> cross to call (call_at_dpd 8)
       15-29 call at DPD 31      -> cross to visit (visit_at_dpd 31)
       30-49 reminder at DPD 2-7, 50-79 call at DPD 9-30, 80-99 visit at DPD 32-60 (nothing to do)
    Independently (hashes): 1% of borrowers have an active hold (another 1% a lifted one, 1% an
    expired one); 1/30 of loans have an instalment that fell due yesterday (the case amount does not
    include it yet: the sweep's refresh picks it up); 0.5% of cases have a pending promise due two
    days ago (broken: no payment) and 0.5% one due in three days (left alone)."""
    a = _date(as_of)
    n = int(cases)
    timings = {}
    with connection.cursor() as cursor:
        started = time.perf_counter()
        _run(
            cursor,
            f"""
CREATE TEMP TABLE bench_plan AS
SELECT i, state, dpd, hold, due_yesterday, promise, has_email, english, amount, next_due_in
FROM (
  SELECT i,
    CASE WHEN b < 15 THEN 'reminder' WHEN b < 30 THEN 'call' WHEN b < 50 THEN 'reminder'
         WHEN b < 80 THEN 'call' ELSE 'visit' END AS state,
    CASE WHEN b < 15 THEN 8 WHEN b < 30 THEN 31 WHEN b < 50 THEN 2 + k % 6
         WHEN b < 80 THEN 9 + k % 22 ELSE 32 + k % 29 END AS dpd,
    CASE {_hash(1)} % 100 WHEN 0 THEN 'active' WHEN 1 THEN 'lifted' WHEN 2 THEN 'expired' END AS hold,
    {_hash(2)} % 30 = 0 AS due_yesterday,
    CASE {_hash(3)} % 200 WHEN 0 THEN 'broken' WHEN 1 THEN 'future' END AS promise,
    {_hash(4)} % 2 = 0 AS has_email,
    {_hash(7)} % 10 = 0 AS english,
    (300 + ({_hash(5)} % 40) * 25)::numeric(14, 2) AS amount,
    (1 + {_hash(6)} % 28)::int AS next_due_in
  FROM (SELECT i, (i % 100)::int AS b, (i / 100)::int AS k FROM generate_series(1, {n}::bigint) AS i) s
) p
""",
        )
        timings["plan"] = time.perf_counter() - started
    with bulk_load(LOADED_SWEEP), connection.cursor() as cursor:
        for name, sql in _sweep_inserts(a).items():
            started = time.perf_counter()
            _run(cursor, sql)
            timings[name] = time.perf_counter() - started
        started = time.perf_counter()
    timings["indexes"] = time.perf_counter() - started
    reset_sequences((Borrower, Loan, Case))
    started = time.perf_counter()
    vacuum(LOADED_SWEEP)
    timings["vacuum"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("""
SELECT COUNT(*),
  COUNT(*) FILTER (WHERE state = 'reminder'), COUNT(*) FILTER (WHERE state = 'call'),
  COUNT(*) FILTER (WHERE state = 'visit'),
  COUNT(*) FILTER (WHERE state = 'reminder' AND dpd >= 8), COUNT(*) FILTER (WHERE state = 'call' AND dpd >= 31),
  COUNT(*) FILTER (WHERE state = 'reminder' AND dpd >= 8 AND hold = 'active'),
  COUNT(*) FILTER (WHERE state = 'call' AND dpd >= 31 AND hold = 'active'),
  COUNT(*) FILTER (WHERE hold = 'active'), COUNT(*) FILTER (WHERE due_yesterday),
  COUNT(*) FILTER (WHERE promise = 'broken')
FROM bench_plan""")
        keys = (
            "cases",
            "reminder",
            "call",
            "visit",
            "cross_call",
            "cross_visit",
            "held_cross_call",
            "held_cross_visit",
            "holds_active",
            "due_yesterday",
            "promises_broken",
        )
        expected = dict(zip(keys, cursor.fetchone()))
        cursor.execute("DROP TABLE bench_plan")
    return {"expected": expected, "timings": timings, "rows": table_rows(LOADED_SWEEP)}


def _sweep_inserts(a):
    opened = f"(({a} - dpd + 1) + TIME '02:00') AT TIME ZONE '{LENDER_ZONE}'"
    return {
        "borrowers": f"""
INSERT INTO {t(Borrower)} (id, external_id, name, national_id, phones, email, address, city, time_zone, language,
                           consent_after_hours, consent_sms, consent_email, created_at, updated_at)
SELECT i, 'BB' || lpad(i::text, 10, '0'), 'Borrower ' || i, '', jsonb_build_array('+86139' || lpad(i::text, 8, '0')),
       CASE WHEN has_email THEN 'b' || i || '@example.com' ELSE '' END, '', 'Shanghai', '{LENDER_ZONE}',
       CASE WHEN english THEN 'en' ELSE 'zh-hans' END, FALSE, TRUE, TRUE, now(), now()
FROM bench_plan ORDER BY i""",
        "loans": f"""
INSERT INTO {t(Loan)} (id, external_id, borrower_id, product, principal, currency, disbursed_on, created_at, updated_at)
SELECT i, 'BL' || lpad(i::text, 10, '0'), i, 'consumer', amount * 6, 'CNY', {a} - dpd - 120, now(), now()
FROM bench_plan ORDER BY i""",
        # 1: paid history (every other loan); 2: the oldest unpaid; 3: a second unpaid one for DPD >= 32;
        # 4: due yesterday (1/30 of loans); 5: the next one, in the future.
        "instalments": f"""
INSERT INTO {t(Instalment)} (loan_id, number, due_date, amount_due, amount_paid)
SELECT p.i, v.number, v.due_date, p.amount, v.paid
FROM bench_plan p CROSS JOIN LATERAL (VALUES
    (1, CASE WHEN p.i % 2 = 0 THEN {a} - p.dpd - 30 END, p.amount),
    (2, {a} - p.dpd, 0::numeric),
    (3, CASE WHEN p.dpd >= 32 THEN {a} - p.dpd + 30 END, 0::numeric),
    (4, CASE WHEN p.due_yesterday THEN {a} - 1 END, 0::numeric),
    (5, {a} + p.next_due_in, 0::numeric)
) AS v(number, due_date, paid)
WHERE v.due_date IS NOT NULL
ORDER BY p.i, v.number""",
        # Consistent with yesterday's sweep: instalments due before yesterday.
        "cases": f"""
INSERT INTO {t(Case)} (id, state, oldest_unpaid_due_date, amount_overdue, priority, next_action_at, opened_at,
                       resolved_at, closed_at, close_reason, updated_at, assigned_to_id, borrower_id, loan_id, queue_id)
SELECT i, state, {a} - dpd, amount * CASE WHEN dpd >= 32 THEN 2 ELSE 1 END, (i % 50)::int, NULL, {opened},
       NULL, NULL, '', {opened}, NULL, i, i, NULL
FROM bench_plan ORDER BY i""",
        "events": f"""
INSERT INTO {t(CaseEvent)} (case_id, kind, actor, actor_user_id, from_state, to_state, reason, payload, at)
SELECT i, 'opened', 'system', NULL, '', 'reminder', 'sweep',
       jsonb_build_object('dpd', 1, 'amount_overdue', amount::text), {opened}
FROM bench_plan ORDER BY i""",
        "holds": f"""
INSERT INTO {t(Hold)} (borrower_id, code, reason, starts_at, ends_at, source, placed_by_id, placed_by_label,
                       placed_at, lifted_at, lifted_by_label, lift_reason)
SELECT i, 'dispute', 'bench', now() - interval '60 days',
       CASE WHEN hold = 'expired' THEN now() - interval '1 day' END, 'staff', NULL, 'bench',
       now() - interval '60 days', CASE WHEN hold = 'lifted' THEN now() - interval '40 days' END,
       CASE WHEN hold = 'lifted' THEN 'bench' ELSE '' END, CASE WHEN hold = 'lifted' THEN 'settled' ELSE '' END
FROM bench_plan WHERE hold IS NOT NULL ORDER BY i""",
        "promises": f"""
INSERT INTO {t(PromiseToPay)} (case_id, amount, due_date, status, contact_id, actor, actor_user_id, created_at,
                               settled_at)
SELECT i, amount, CASE WHEN promise = 'broken' THEN {a} - 2 ELSE {a} + 3 END, 'pending', NULL, 'user:bench', NULL,
       ({a} - 5 + TIME '11:00') AT TIME ZONE '{LENDER_ZONE}', NULL
FROM bench_plan WHERE promise IS NOT NULL ORDER BY i""",
    }


LOADED_REMINDERS = (Borrower, Loan, Instalment, Case, CaseEvent)


def build_reminders(messages, background, as_of):
    """`messages` planned reminders as of `as_of` with the default plan (SMS 3 days before a due
    date; SMS + e-mail on day 1): half pre-due SMS (an instalment due as_of + 3) and a quarter of
    overdue loans with an e-mail address (due as_of - 1, open case: SMS + e-mail each); plus
    `background` loans whose instalments fall on no plan day or are paid. Every borrower consented to
    contact outside the window, so nothing is deferred."""
    a = _date(as_of)
    m = int(messages)
    n_over = m // 4
    n_pre = m - 2 * n_over
    total = n_pre + n_over + int(background)
    with connection.cursor() as cursor:
        _run(
            cursor,
            f"""
CREATE TEMP TABLE bench_plan AS
SELECT i,
       CASE WHEN r <= {n_pre} THEN 'pre_due' WHEN r <= {n_pre + n_over} THEN 'overdue' ELSE 'background' END AS kind,
       (300 + ({_hash(5)} % 40) * 25)::numeric(14, 2) AS amount,
       {_hash(7)} % 10 = 0 AS english,
       {_hash(8)} % 2 = 0 AS paid_yesterday,
       (10 + {_hash(6)} % 20)::int AS next_due_in
FROM (SELECT i, row_number() OVER (ORDER BY hashint8extended(i, 9)) AS r
      FROM generate_series(1, {total}::bigint) AS i) s
""",
        )
    opened = f"(({a}) + TIME '02:00') AT TIME ZONE '{LENDER_ZONE}'"
    started = time.perf_counter()
    with bulk_load(LOADED_REMINDERS), connection.cursor() as cursor:
        _run(
            cursor,
            f"""
INSERT INTO {t(Borrower)} (id, external_id, name, national_id, phones, email, address, city, time_zone, language,
                           consent_after_hours, consent_sms, consent_email, created_at, updated_at)
SELECT i, 'RB' || lpad(i::text, 10, '0'), 'Borrower ' || i, '', jsonb_build_array('+86139' || lpad(i::text, 8, '0')),
       CASE WHEN kind = 'pre_due' THEN '' ELSE 'b' || i || '@example.com' END, '', 'Shanghai', '{LENDER_ZONE}',
       CASE WHEN english THEN 'en' ELSE 'zh-hans' END, TRUE, TRUE, TRUE, now(), now()
FROM bench_plan ORDER BY i""",
        )
        _run(
            cursor,
            f"""
INSERT INTO {t(Loan)} (id, external_id, borrower_id, product, principal, currency, disbursed_on, created_at, updated_at)
SELECT i, 'RL' || lpad(i::text, 10, '0'), i, 'consumer', amount * 6, 'CNY', {a} - 90, now(), now()
FROM bench_plan ORDER BY i""",
        )
        # 1: paid a month before; 2: the instalment the plan is about (pre-due: in 3 days; overdue:
        # yesterday; background: yesterday but paid, for half of them); 3: the next one.
        _run(
            cursor,
            f"""
INSERT INTO {t(Instalment)} (loan_id, number, due_date, amount_due, amount_paid)
SELECT p.i, v.number, v.due_date, p.amount, v.paid
FROM bench_plan p CROSS JOIN LATERAL (VALUES
    (1, {a} - 31, p.amount),
    (2, CASE p.kind WHEN 'pre_due' THEN {a} + 3 WHEN 'overdue' THEN {a} - 1
                    ELSE CASE WHEN p.paid_yesterday THEN {a} - 1 END END,
        CASE WHEN p.kind = 'background' THEN p.amount ELSE 0 END),
    (3, {a} + CASE WHEN p.kind = 'pre_due' THEN 33 ELSE p.next_due_in END, 0::numeric)
) AS v(number, due_date, paid)
WHERE v.due_date IS NOT NULL
ORDER BY p.i, v.number""",
        )
        _run(
            cursor,
            f"""
INSERT INTO {t(Case)} (id, state, oldest_unpaid_due_date, amount_overdue, priority, next_action_at, opened_at,
                       resolved_at, closed_at, close_reason, updated_at, assigned_to_id, borrower_id, loan_id, queue_id)
SELECT i, 'reminder', {a} - 1, amount, 0, NULL, {opened}, NULL, NULL, '', {opened}, NULL, i, i, NULL
FROM bench_plan WHERE kind = 'overdue' ORDER BY i""",
        )
        _run(
            cursor,
            f"""
INSERT INTO {t(CaseEvent)} (case_id, kind, actor, actor_user_id, from_state, to_state, reason, payload, at)
SELECT i, 'opened', 'system', NULL, '', 'reminder', 'sweep', jsonb_build_object('dpd', 1), {opened}
FROM bench_plan WHERE kind = 'overdue' ORDER BY i""",
        )
    reset_sequences((Borrower, Loan, Case))
    vacuum(LOADED_REMINDERS + (OutboundMessage,))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_plan")
    return {
        "expected": {
            "messages": n_pre + 2 * n_over,
            "pre_due_sms": n_pre,
            "overdue_sms": n_over,
            "overdue_email": n_over,
            "background": int(background),
        },
        "load_s": time.perf_counter() - started,
        "rows": table_rows(LOADED_REMINDERS),
    }
