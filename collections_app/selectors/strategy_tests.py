"""The champion/challenger tests (the "Strategy tests" page and its CSV/XLSX; docs/strategies.md).

A test is a strategy with a challenger. Its cases are those whose first choice the rules made for that
strategy while it had a challenger (StrategyChoice.test_strategy: intention to treat, whatever later
band changes chose); its groups, the cases' groups. Per group, each with a 95 % interval (stats.py):

- cases: how many;
- cure rate at 30 days: of the cases first chosen at least 30 days ago, those resolved within 30 days
  of their first choice (Wilson);
- roll-forward rate: of the cases with a month-end snapshot on or after their first choice whose next
  month end has been swept, those whose bucket at that next month end is worse (a higher `from day`)
  than at the first one; a case no longer open then (no snapshot) did not roll forward (Wilson);
- amount collected per amount overdue: payments on the case's loan since its first choice (reversals
  left out) over the amount overdue at the first choice (ratio, delta method);
- contacts per case: contact attempts since the first choice (mean, normal approximation);
- complaints: cases whose borrower had a complaint or dispute hold placed since the first choice;
  breaches: cases with a contact attempt since the first choice that broke a rule (Wilson each).

The verdict compares cure rates: challenger − champion with Newcombe's interval; "better" or "worse"
only when that interval excludes 0, else "not yet known". Three queries, whatever the number of
tests and cases: the tests, the per-case figures summed per test and group, the roll-forward."""

from dataclasses import dataclass, field

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import stats
from ..models import Bucket, Case, ContactAttempt, Hold, MonthEndSnapshot, Payment, Strategy, StrategyChoice

GROUPS = ("champion", "challenger")


def _tables():
    return {
        m.__name__: m._meta.db_table
        for m in (Bucket, Case, ContactAttempt, Hold, MonthEndSnapshot, Payment, StrategyChoice)
    }


_FIGURES_SQL = """
SELECT k.test_id, k.grp, COUNT(*), SUM(k.eligible), SUM(k.cured),
       SUM(k.collected), SUM(k.overdue), SUM(k.collected * k.collected), SUM(k.overdue * k.overdue),
       SUM(k.collected * k.overdue), SUM(k.contacts), SUM(k.contacts * k.contacts),
       SUM(k.complained), SUM(k.breached)
FROM (
    SELECT sc.test_strategy_id AS test_id, c.strategy_group AS grp,
           CASE WHEN sc.cure_by <= %(now)s THEN 1 ELSE 0 END AS eligible,
           CASE WHEN sc.cure_by <= %(now)s AND c.resolved_at IS NOT NULL AND c.resolved_at <= sc.cure_by
                THEN 1 ELSE 0 END AS cured,
           COALESCE((SELECT SUM(p.amount) FROM {Payment} p WHERE p.loan_id = c.loan_id
                     AND p.reversed_at IS NULL AND p.paid_at >= sc.chosen_at), 0) AS collected,
           sc.amount_overdue AS overdue,
           (SELECT COUNT(*) FROM {ContactAttempt} a WHERE a.case_id = c.id AND a.occurred_at >= sc.chosen_at)
               AS contacts,
           CASE WHEN EXISTS (SELECT 1 FROM {Hold} h WHERE h.borrower_id = c.borrower_id
                             AND h.code IN ('complaint', 'dispute') AND h.starts_at >= sc.chosen_at)
                THEN 1 ELSE 0 END AS complained,
           CASE WHEN EXISTS (SELECT 1 FROM {ContactAttempt} b WHERE b.case_id = c.id AND b.breach <> ''
                             AND b.occurred_at >= sc.chosen_at) THEN 1 ELSE 0 END AS breached
    FROM {StrategyChoice} sc JOIN {Case} c ON c.id = sc.case_id
    WHERE sc.test_strategy_id IN ({tests}) AND c.strategy_group IN ('champion', 'challenger')
) k
GROUP BY k.test_id, k.grp
"""

_ROLL_SQL = """
SELECT sc.test_strategy_id, c.strategy_group, COUNT(*),
       SUM(CASE WHEN b1.min_dpd IS NOT NULL AND b1.min_dpd > b0.min_dpd THEN 1 ELSE 0 END)
FROM {StrategyChoice} sc
JOIN {Case} c ON c.id = sc.case_id
JOIN {MonthEndSnapshot} s0 ON s0.case_id = sc.case_id AND s0.month_end = (
     SELECT MIN(x.month_end) FROM {MonthEndSnapshot} x WHERE x.case_id = sc.case_id AND x.month_end >= sc.chosen_on)
JOIN {Bucket} b0 ON b0.name = s0.bucket
LEFT JOIN {MonthEndSnapshot} s1 ON s1.case_id = sc.case_id AND s1.month_end = (
     SELECT MIN(y.month_end) FROM {MonthEndSnapshot} y WHERE y.month_end > s0.month_end)
LEFT JOIN {Bucket} b1 ON b1.name = s1.bucket
WHERE sc.test_strategy_id IN ({tests}) AND c.strategy_group IN ('champion', 'challenger')
  AND EXISTS (SELECT 1 FROM {MonthEndSnapshot} z WHERE z.month_end > s0.month_end)
GROUP BY sc.test_strategy_id, c.strategy_group
"""


@dataclass
class GroupFigures:
    group: str
    cases: int = 0
    cure: tuple | None = None  # (rate, low, high)
    cure_counts: tuple = (0, 0)  # (cured, eligible)
    roll_forward: tuple | None = None
    collected_per_overdue: tuple | None = None
    contacts_per_case: tuple | None = None
    complaints: tuple | None = None
    breaches: tuple | None = None


@dataclass
class StrategyTest:
    strategy: Strategy
    challenger: Strategy
    share: int
    groups: dict = field(default_factory=dict)  # group -> GroupFigures
    cure_difference: tuple | None = None
    verdict: str = stats.UNKNOWN


def _number(value):
    return float(value or 0)


def strategy_tests(now=None):
    """Every running test (a strategy with a challenger) with its figures per group."""
    now = now or timezone.now()
    tests = {
        s.pk: StrategyTest(strategy=s, challenger=s.challenger, share=s.challenger_share)
        for s in Strategy.objects.filter(challenger__isnull=False).select_related("challenger").order_by("name")
    }
    if not tests:
        return []
    for test in tests.values():
        test.groups = {g: GroupFigures(group=g) for g in GROUPS}
    ids = ", ".join(str(int(pk)) for pk in tests)
    t = _tables()
    params = {"now": connection.ops.adapt_datetimefield_value(now)}
    with connection.cursor() as cursor:
        cursor.execute(_FIGURES_SQL.format(tests=ids, **t), params)
        for row in cursor.fetchall():
            test_id, grp, n, eligible, cured = row[0], row[1], int(row[2]), int(row[3] or 0), int(row[4] or 0)
            sx, sy, sxx, syy, sxy, contacts, contacts2, complained, breached = (_number(v) for v in row[5:])
            figures = tests[test_id].groups[grp]
            figures.cases = n
            figures.cure = stats.wilson(cured, eligible)
            figures.cure_counts = (cured, eligible)
            figures.collected_per_overdue = stats.ratio_interval(sx, sy, sxx, syy, sxy, n)
            figures.contacts_per_case = stats.mean_interval(contacts, contacts2, n)
            figures.complaints = stats.wilson(int(complained), n)
            figures.breaches = stats.wilson(int(breached), n)
        cursor.execute(_ROLL_SQL.format(tests=ids, **t))
        for test_id, grp, n, rolled in cursor.fetchall():
            tests[test_id].groups[grp].roll_forward = stats.wilson(int(rolled or 0), int(n))
    for test in tests.values():
        (k1, n1), (k2, n2) = test.groups["challenger"].cure_counts, test.groups["champion"].cure_counts
        test.cure_difference = stats.newcombe_difference(k1, n1, k2, n2)
        test.verdict = stats.verdict(test.cure_difference)
    return list(tests.values())


# --- the table (page, CSV and XLSX) ---------------------------------------------------------------

# (title, attribute, percent?) of the per-group figures, each shown with its interval.
FIGURES = (
    (_("Cure rate at 30 days (%)"), "cure", True),
    (_("Roll-forward rate (%)"), "roll_forward", True),
    (_("Collected per amount overdue"), "collected_per_overdue", False),
    (_("Contacts per case"), "contacts_per_case", False),
    (_("Complaints (%)"), "complaints", True),
    (_("Compliance breaches (%)"), "breaches", True),
)


def verdict_label(verdict):
    return {
        stats.BETTER: _("challenger better"),
        stats.WORSE: _("challenger worse"),
        stats.UNKNOWN: _("not yet known"),
    }[verdict]


def group_label(group):
    return _("champion") if group == "champion" else _("challenger")


def _scaled(interval, percent):
    if interval is None:
        return (None, None, None)
    factor = 100 if percent else 1
    return tuple(round(v * factor, 2 if not percent else 1) for v in interval)


def table_columns():
    columns = [_("Strategy"), _("Challenger"), _("Challenger share (%)"), _("Group"), _("Cases")]
    for title, _attr, _percent in FIGURES:
        columns += [title, _("95 % CI low"), _("95 % CI high")]
    columns += [_("Cure rate difference, challenger − champion (points)"), _("95 % CI low"), _("95 % CI high")]
    columns.append(_("Verdict"))
    return [str(c) for c in columns]


def table_rows(tests):
    """One row per test and group: the figures with their intervals, then the test's difference and
    verdict (the same on both rows of a test)."""
    rows = []
    for test in tests:
        difference = _scaled(test.cure_difference, True)
        for group in GROUPS:
            figures = test.groups[group]
            row = [test.strategy.name, test.challenger.name, test.share, str(group_label(group)), figures.cases]
            for _title, attr, percent in FIGURES:
                row += list(_scaled(getattr(figures, attr), percent))
            row += list(difference)
            row.append(str(verdict_label(test.verdict)))
            rows.append(row)
    return rows
