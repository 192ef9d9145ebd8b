"""`python -m bench sweep --plans N`: active repayment plans added to the sweep's portfolio (issue 11).

Built set-based into the template database after the sweep's own portfolio (portfolio.build_sweep),
on cases the sweep has nothing else to do with (i % 100 >= 30: not crossing a threshold today, so
the floor and the stage checks stay as they are). Each plan has 6 instalments of 100.00, made 30
days ago. By rank r in a stable hash order:
  r % 20 in (0, 1)  breaking today (10 %): instalment 1 due 6 days ago (grace 5), unmet, unpaid;
  r % 20 == 2       kept today (5 %): a payment covering all 6, the `met` flags not yet set;
  otherwise         healthy: instalment 1 due 10 days ago, met and paid; the rest in the future.
A breaking plan of a borrower with an active hold (1 %), or a hold that ran out yesterday (1 %: grace
counts from the hold's end), is not broken; the expected counts account for both."""

INSTALMENTS = 6


def build_plans(plans, as_of):
    """Runs in the build child (Django set up); the parent only imports `render`."""
    from django.db import connection

    from collections_app.models import Case, Payment, PlanInstalment, RepaymentPlan

    from .portfolio import _date, _hash, _run, t

    a = _date(as_of)
    p = int(plans)
    with connection.cursor() as cursor:
        _run(
            cursor,
            f"""
CREATE TEMP TABLE bench_plans AS
SELECT row_number() OVER (ORDER BY h, i) AS r, i, hold
FROM (SELECT i, {_hash(11)} AS h, ({_hash(1)} % 100) AS hold
      FROM generate_series(1, (SELECT MAX(id) FROM {t(Case)})) AS i
      WHERE i % 100 >= 30) s
ORDER BY h, i LIMIT {p}""",
        )
        _run(cursor, "ALTER TABLE bench_plans ADD COLUMN category text")
        _run(
            cursor,
            "UPDATE bench_plans SET category = CASE WHEN r % 20 IN (0, 1) THEN 'breaking' "
            "WHEN r % 20 = 2 THEN 'kept' ELSE 'healthy' END",
        )
        rows = {
            "plans": _run(
                cursor,
                f"""
INSERT INTO {t(RepaymentPlan)} (id, case_id, kind, status, reason, notes, total, discount, balance, monthly_income,
    essential_spending, needs_authority, proposed_by, proposed_by_user_id, decided_by, decided_by_user_id,
    decision_reason, created_at, decided_at, expires_on, ended_at, ended_by, end_reason)
SELECT r, i, 'plan', 'active', 'income_loss', '', 600.00, 0.00, 600.00, NULL, NULL, 'collector', 'user:bench', NULL,
       'user:bench', NULL, '', now() - interval '30 days', now() - interval '30 days', {a} - 23, NULL, '', ''
FROM bench_plans ORDER BY r""",
            ),
            "instalments": _run(
                cursor,
                f"""
INSERT INTO {t(PlanInstalment)} (plan_id, number, due_date, amount, met, met_at)
SELECT b.r, n, CASE b.category WHEN 'breaking' THEN {a} - 6 WHEN 'kept' THEN {a} - 20 ELSE {a} - 10 END
              + (n - 1) * 30,
       100.00, b.category = 'healthy' AND n = 1, CASE WHEN b.category = 'healthy' AND n = 1 THEN now() END
FROM bench_plans b CROSS JOIN generate_series(1, {INSTALMENTS}) AS n
ORDER BY b.r, n""",
            ),
            "payments": _run(
                cursor,
                f"""
INSERT INTO {t(Payment)} (external_id, loan_id, amount, paid_at, channel, recorded_by_label, created_at,
                          unapplied_amount, reversed_at, reversed_by_label, reversal_reason)
SELECT 'BP' || lpad(r::text, 10, '0'), i, CASE WHEN category = 'kept' THEN 600.00 ELSE 100.00 END,
       -- a kept plan's last money came in yesterday (the sweep re-reads recent money moves only)
       now() - CASE WHEN category = 'kept' THEN interval '1 day' ELSE interval '10 days' END, 'bank_transfer',
       'bench', now() - CASE WHEN category = 'kept' THEN interval '1 day' ELSE interval '10 days' END, 0, NULL, '', ''
FROM bench_plans WHERE category <> 'breaking' ORDER BY r""",
            ),
        }
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{t(RepaymentPlan)}', 'id'), GREATEST({p}, 1))")
        cursor.execute("""
SELECT COUNT(*), COUNT(*) FILTER (WHERE category = 'breaking'),
       COUNT(*) FILTER (WHERE category = 'breaking' AND hold NOT IN (0, 2)),
       COUNT(*) FILTER (WHERE category = 'kept')
FROM bench_plans""")
        total, breaking, broken, kept = cursor.fetchone()
        cursor.execute("DROP TABLE bench_plans")
        for model in (RepaymentPlan, PlanInstalment, Payment):
            cursor.execute(f"VACUUM (FREEZE, ANALYZE) {t(model)}")
    return {
        "plans": total,
        "breaking": breaking,
        "plans_broken": broken,
        "plans_kept": kept,
        "plan_instalments_changed": kept * INSTALMENTS,
        "rows": rows,
    }


def render(plans, floor, sweep):
    """The plan lines of the report: the plan steps' time apart, and the sweep against its floor."""
    counts = sweep["counts"]
    seconds = sweep["timings"].get("plan_steps", 0.0)
    checks = [(k, counts.get(k, 0), plans[k]) for k in ("plans_broken", "plans_kept", "plan_instalments_changed")]
    mark = "ok" if all(got == want for _, got, want in checks) else "MISMATCH"
    steps = {k: v for k, v in sweep["steps"].items() if k.startswith("plans_")}
    return [
        f"plans: {plans['plans']:,} active ({plans['breaking']:,} breaking today, {plans['plans_kept']:,} kept "
        f"today, the rest healthy); plan steps {seconds:.2f} s of the sweep's {sweep['seconds']:.2f} s "
        f"({seconds / sweep['seconds'] * 100:.0f} %), {seconds / floor['seconds']:.2f}x the floor on their own; "
        f"sweep with plans / floor = {sweep['seconds'] / floor['seconds']:.2f}x (target <= 2x)",
        "       plan steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(steps.items())),
        f"check [{mark}]: "
        + ", ".join(f"{k} {got:,}" + ("" if got == want else f" (expected {want:,})") for k, got, want in checks),
    ]
