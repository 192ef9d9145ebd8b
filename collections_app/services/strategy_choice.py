"""Strategies chosen by rules, and champion/challenger groups (CONTRACT.md "Risk and strategy";
docs/strategies.md).

`strategies_choose(as_of=None)` runs after the nightly scoring: for every open case that is scored
and was never chosen for, or whose band differs from its band at the last choice, it picks

1. the strategy of the first rule (StrategyRule, by `position`) matching the case's product, band
   and bucket (an empty field matches anything); failing any rule, the product's default strategy,
   failing that the default strategy (`product` empty). A rule set the admin accepted covers every
   product, band and bucket; the fallback only catches what appeared since (a new product in the
   book, a case with no bucket);
2. at the first choice only, the group: `challenger` when the case's slot (`group_slot`, a stable
   hash of its id in 0..99) is below the chosen strategy's challenger share and it has a challenger,
   else `champion`. The group never changes while the case is open;
3. the strategy in force: the chosen strategy's challenger for a challenger-group case when it has
   one, else the chosen strategy.

A change of the strategy in force (the first choice included) writes a `strategy_chosen` event and
moves the case's `updated_at` (the API's `strategy` changed). Set-based, the same statements on
PostgreSQL and SQLite (a few dialect snippets): the choices go to a temporary staging table, then
one INSERT of events, one UPDATE of cases, one UPDATE and one INSERT of StrategyChoice rows, all in
one transaction. A rerun for the same day finds no case whose band moved and changes nothing.

Rule validation (`strategy_rules_problems`) is what the admin asks before saving a rule set.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..calendar import lender_today
from ..models import Bucket, Case, CaseEvent, Loan, Strategy, StrategyChoice, StrategyRule
from ..models.strategy import BANDS, MAX_CHALLENGER_SHARE

CHAMPION, CHALLENGER = "champion", "challenger"

# The group slot of a case: Fibonacci hashing of its id modulo the prime 2^31 − 1, scaled to 0..99.
# The multiplier is (√5 − 1)/2 · 2^31, so consecutive ids land far apart and any run of ids spreads
# evenly over the slots (tests/test_strategy_choice.py measures it on 10,000 ids). Integer arithmetic
# only, below 2^63 at every step: the same answer in Python, PostgreSQL and SQLite, forever.
SLOT_PRIME = 2_147_483_647
SLOT_MULTIPLIER = 1_327_217_885
# (`%%`: the statements carry parameters, so their modulo is written doubled.)
SLOT_SQL = f"((((CAST({{id}} AS BIGINT) %% {SLOT_PRIME}) * {SLOT_MULTIPLIER}) %% {SLOT_PRIME}) * 100 / {SLOT_PRIME})"

MAX_PROBLEMS_NAMED = 10
CURE_HORIZON = timedelta(days=30)


def group_slot(case_id):
    """The case's slot, 0..99: the same as SLOT_SQL computes."""
    return ((case_id % SLOT_PRIME) * SLOT_MULTIPLIER % SLOT_PRIME) * 100 // SLOT_PRIME


def group_for(case_id, share):
    """The group a case falls to against a challenger share (percent)."""
    return CHALLENGER if group_slot(case_id) < share else CHAMPION


# --- validation ---------------------------------------------------------------------------------


def book_products():
    """The products rules must cover: those of the loans in the book and those strategies are the
    default of."""
    products = set(Loan.objects.order_by().values_list("product", flat=True).distinct())
    products |= set(
        Strategy.objects.exclude(product__isnull=True).exclude(product="").values_list("product", flat=True)
    )
    return sorted(products)


def strategy_rules_problems(rules, *, products=None, buckets=None):
    """What is wrong with a rule set (StrategyRule objects, saved or not): the (product, band, bucket)
    combinations no rule covers, named, up to MAX_PROBLEMS_NAMED of them. An empty rule set is fine:
    every case then follows its product's default strategy."""
    rules = sorted(rules, key=lambda r: r.position)
    if not rules:
        return []
    problems = []
    positions = [r.position for r in rules]
    for position in sorted({p for p in positions if positions.count(p) > 1}):
        problems.append(_("Two rules have position %(position)s: give each rule its own.") % {"position": position})
    products = book_products() if products is None else products
    buckets = list(Bucket.objects.order_by("min_dpd")) if buckets is None else buckets
    missing = [
        (product, band, bucket)
        for product in products
        for band in BANDS
        for bucket in buckets
        if not any(r.matches(product, band, bucket.pk) for r in rules)
    ]
    for product, band, bucket in missing[:MAX_PROBLEMS_NAMED]:
        problems.append(
            _("No rule chooses a strategy for product “%(product)s”, band %(band)s, bucket %(bucket)s.")
            % {"product": product or _("(none)"), "band": band, "bucket": bucket.name}
        )
    if len(missing) > MAX_PROBLEMS_NAMED:
        problems.append(
            _("… and %(n)s more combinations without a rule: add a catch-all rule (every field empty) last.")
            % {"n": len(missing) - MAX_PROBLEMS_NAMED}
        )
    return problems


def strategy_problems(strategy):
    """What is wrong with a strategy's challenger settings (the model's clean() says the same)."""
    problems = []
    share = strategy.challenger_share
    if share is None or not 0 <= share <= MAX_CHALLENGER_SHARE:
        problems.append(
            _("The challenger's share must be from 0 to %(max)s %%; it is %(share)s %%.")
            % {"max": MAX_CHALLENGER_SHARE, "share": share}
        )
    if strategy.challenger_id is not None and strategy.pk is not None and strategy.challenger_id == strategy.pk:
        problems.append(_("Strategy “%(name)s” cannot be its own challenger.") % {"name": strategy.name})
    return problems


# --- choosing -----------------------------------------------------------------------------------


@dataclass
class ChoiceResult:
    chosen: int = 0  # cases whose choice was made (first) or made again (band changed)
    first: int = 0  # of which first choices
    changed: int = 0  # cases whose strategy in force changed (an event each)
    challengers: int = 0  # first choices that fell to the challenger group


def _dialect():
    if connection.vendor == "postgresql":
        return {
            "dpd": "GREATEST(COALESCE(%(as_of)s::date - c.oldest_unpaid_due_date, 0), 0)",
            "payload": """jsonb_build_object('strategy', n.name, 'strategy_id', n.id, 'from_strategy', o.name,
                'group', st.grp, 'band', st.band, 'first', st.is_first = 1)""",
            "bool_true": "TRUE",
        }
    return {
        "dpd": "MAX(COALESCE(CAST(julianday(%(as_of)s) - julianday(c.oldest_unpaid_due_date) AS INTEGER), 0), 0)",
        "payload": """json_object('strategy', n.name, 'strategy_id', n.id, 'from_strategy', o.name,
                'group', st.grp, 'band', st.band, 'first', json(CASE WHEN st.is_first = 1 THEN 'true' ELSE 'false' END))""",
        "bool_true": "1",
    }


def _tables():
    t = {m.__name__: m._meta.db_table for m in (Bucket, Case, CaseEvent, Loan, Strategy, StrategyChoice, StrategyRule)}
    t["open_states"] = "('reminder', 'call', 'visit', 'legal')"
    return t


_STAGE = "strategy_choice_stage"

_STAGE_SQL = """
INSERT INTO {stage} (id, old_strategy, new_strategy, grp, band, is_first, test_strategy, amount)
SELECT k.id, k.old_strategy,
       CASE WHEN ({group}) = 'challenger' AND s.challenger_id IS NOT NULL THEN s.challenger_id ELSE s.id END,
       ({group}), k.band, k.is_first,
       CASE WHEN s.challenger_id IS NOT NULL AND s.challenger_share > 0 THEN s.id END,
       k.amount_overdue
FROM (
    SELECT c.id, c.strategy_id AS old_strategy, c.strategy_group AS old_group, c.risk_band AS band,
           c.amount_overdue, CASE WHEN sc.case_id IS NULL THEN 1 ELSE 0 END AS is_first,
           COALESCE(
               (SELECT r.strategy_id FROM {StrategyRule} r
                WHERE (r.product = '' OR r.product = l.product) AND (r.band = '' OR r.band = c.risk_band)
                  AND (r.bucket_id IS NULL OR r.bucket_id = (
                       SELECT b.id FROM {Bucket} b WHERE {dpd} >= b.min_dpd AND (b.max_dpd IS NULL OR {dpd} <= b.max_dpd)
                       ORDER BY b.min_dpd LIMIT 1))
                ORDER BY r.position LIMIT 1),
               (SELECT d.id FROM {Strategy} d WHERE d.product = l.product),
               (SELECT d.id FROM {Strategy} d WHERE d.product = '')) AS ruled
    FROM {Case} c
    JOIN {Loan} l ON l.id = c.loan_id
    LEFT JOIN {StrategyChoice} sc ON sc.case_id = c.id
    WHERE c.state IN {open_states} AND c.risk_band <> '' AND (sc.case_id IS NULL OR sc.band <> c.risk_band)
) k
JOIN {Strategy} s ON s.id = k.ruled
"""


def _stage_sql(t, d):
    # The group: kept when the case has one; else by its slot against the chosen strategy's share.
    slot = SLOT_SQL.format(id="k.id")
    group = (
        f"CASE WHEN k.old_group <> '' THEN k.old_group "
        f"WHEN s.challenger_id IS NOT NULL AND {slot} < s.challenger_share THEN 'challenger' ELSE 'champion' END"
    )
    return _STAGE_SQL.replace("{group}", group).format(stage=_STAGE, dpd=d["dpd"], **t)


def strategies_choose(*, as_of=None, now=None):
    """Choose strategies for the open cases scored and never chosen for, or whose band changed since
    their last choice (module docstring). Returns a ChoiceResult."""
    as_of = as_of or lender_today()
    now = now or timezone.now()
    t, d = _tables(), _dialect()
    ops = connection.ops
    params = {
        "as_of": as_of,
        "now": ops.adapt_datetimefield_value(now),
        "cure_by": ops.adapt_datetimefield_value(now + CURE_HORIZON),
    }
    result = ChoiceResult()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE {_STAGE} (id BIGINT PRIMARY KEY, old_strategy BIGINT, new_strategy BIGINT,
                grp VARCHAR(10), band VARCHAR(1), is_first INTEGER, test_strategy BIGINT, amount NUMERIC(14, 2))"""
        )
        cursor.execute(_stage_sql(t, d), params)
        cursor.execute(
            f"""SELECT COUNT(*), COALESCE(SUM(is_first), 0),
                       COALESCE(SUM(CASE WHEN old_strategy IS NULL OR old_strategy <> new_strategy THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN is_first = 1 AND grp = 'challenger' THEN 1 ELSE 0 END), 0)
                FROM {_STAGE}"""
        )
        result.chosen, result.first, result.changed, result.challengers = (int(v) for v in cursor.fetchone())
        if result.chosen:
            cursor.execute(
                f"""INSERT INTO {t["CaseEvent"]} (case_id, kind, actor, from_state, to_state, reason, payload, at)
                    SELECT st.id, 'strategy_chosen', 'system', '', '', '', {d["payload"]}, %(now)s
                    FROM {_STAGE} st JOIN {t["Strategy"]} n ON n.id = st.new_strategy
                    LEFT JOIN {t["Strategy"]} o ON o.id = st.old_strategy
                    WHERE st.old_strategy IS NULL OR st.old_strategy <> st.new_strategy
                    ORDER BY st.id""",
                params,
            )
            cursor.execute(
                f"""UPDATE {t["Case"]} SET strategy_id = st.new_strategy, strategy_group = st.grp, updated_at = %(now)s
                    FROM {_STAGE} st
                    WHERE {t["Case"]}.id = st.id
                      AND ({t["Case"]}.strategy_id IS NULL OR {t["Case"]}.strategy_id <> st.new_strategy
                           OR {t["Case"]}.strategy_group <> st.grp)""",
                params,
            )
            cursor.execute(
                f"""UPDATE {t["StrategyChoice"]} SET band = st.band, changed_at = %(now)s
                    FROM {_STAGE} st WHERE {t["StrategyChoice"]}.case_id = st.id AND st.is_first = 0""",
                params,
            )
            cursor.execute(
                f"""INSERT INTO {t["StrategyChoice"]}
                        (case_id, band, test_strategy_id, chosen_at, chosen_on, cure_by, amount_overdue, changed_at)
                    SELECT id, band, test_strategy, %(now)s, %(as_of)s, %(cure_by)s, amount, %(now)s
                    FROM {_STAGE} WHERE is_first = 1""",
                params,
            )
        cursor.execute(f"DROP TABLE {_STAGE}")
    return result
