"""`risk_score`: score every open case (p_cure) and every loan due in the next 7 days with nothing
overdue (p_pay) with the active scorer of each target, set-based.

1. features in SQL, one statement per target (features.risk_features), one numpy matrix each;
2. the scorecard's points looked up per characteristic with `searchsorted` and summed, the log-odds
   scaled (ln(base_odds) + (points − base_score) · ln 2 / points_to_double_odds), p = logistic;
   p rounded to two places, the band read off the RiskBand cut-offs for that rounded p (so the band
   always agrees with the p shown); the reasons: the (up to) 3 characteristics that lost the most
   points against their best bin, ties in the scorecard's column order, none that lost nothing;
3. written through a temporary staging table and one `UPDATE ... FROM` per target, in ONE
   transaction: a failure anywhere writes nothing, so the last good scores stay, and the run is
   recorded `failed` with its error (ScoringRun). Loans that left the due-soon set lose their p_pay
   in the same transaction.

A rescore moves a case's `updated_at` (and so its change position, the API's change feed and the
case's ETag) only when its band changes, first scoring included: a band change is a change clients
may act on; a same-band rescore changes nothing a client reads but `p_cure`, `reasons` and
`scored_at`, which a client sees whenever it reads the case. (Docs: docs/risk.md, "Nightly scoring".)

A `model` scorer (risk_train) gives `_scorer_for` an object with the same `score(features) -> (p, loss)`
(model_scorer.py). After the scores are written, in the same transaction, `strategies_choose` picks the
strategy of every case scored for the first time or whose band changed (services/strategy_choice.py)."""

import io
import json
import logging
import math
import time
import traceback

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from ...calendar import lender_today
from ...models import ScoringRun, Scorer
from ...models.risk import CATEGORICAL, REASON_CODES, ScorerKind, Target
from ...workflow import OPEN_STATES
from ..strategy_choice import strategies_choose
from .features import risk_features
from .scorecard import band_cutoffs, band_problems, scorer_bins

log = logging.getLogger(__name__)

MAX_REASONS = 3


class ScoringFailed(Exception):
    pass


class ScorecardScorer:
    """A scorecard's table prepared for numpy: per characteristic, the bins' lower edges and points
    (numeric) or the points by category (categorical), and the best points it can give."""

    def __init__(self, scorer, bins):
        self.scorer = scorer
        self.label = scorer.label
        self.base_score = float(scorer.base_score)
        self.log_base_odds = math.log(float(scorer.base_odds))
        self.factor = math.log(2) / float(scorer.points_to_double_odds)
        self.tables = {}
        for b in bins:
            self.tables.setdefault(b.characteristic, []).append(b)
        self.characteristics = [c for c in REASON_CODES if c in self.tables]  # a fixed, documented order

    def points(self, features):
        """(rows × characteristics) points earned and the best points of each characteristic."""
        earned = np.zeros((len(features), len(self.characteristics)))
        best = np.zeros(len(self.characteristics))
        for j, name in enumerate(self.characteristics):
            if name not in features.columns:
                raise ScoringFailed(f"characteristic {name} is not computed for target {features.target}")
            values = features.column(name)
            rows = self.tables[name]
            if name in CATEGORICAL:
                by_category = {b.category: b.points for b in rows}
                other = by_category.get("", 0)
                lookup = np.array([by_category.get(p, other) for p in features.products] + [other], dtype=np.float64)
                codes = values.astype(np.int64)
                codes[codes < 0] = len(features.products)  # an unknown product: the catch-all
                earned[:, j] = lookup[codes]
            else:
                ordered = sorted(rows, key=lambda b: -math.inf if b.lower is None else float(b.lower))
                edges = np.array([float(b.lower) for b in ordered[1:]], dtype=np.float64)
                pts = np.array([b.points for b in ordered], dtype=np.float64)
                earned[:, j] = pts[np.searchsorted(edges, values, side="right")]
            best[j] = max(b.points for b in rows)
        return earned, best

    def score(self, features):
        """(p, loss): the probability of each row and the points each characteristic lost."""
        earned, best = self.points(features)
        log_odds = self.log_base_odds + (earned.sum(axis=1) - self.base_score) * self.factor
        p = 1.0 / (1.0 + np.exp(-log_odds))
        return p, best - earned


def _scorer_for(scorer):
    if scorer.kind == ScorerKind.SCORECARD:
        return ScorecardScorer(scorer, scorer_bins(scorer))
    from .model_scorer import ModelScorer, ModelUnusable

    try:
        return ModelScorer(scorer)
    except ModelUnusable as exc:
        raise ScoringFailed(str(exc)) from exc


def band_of(p_rounded, cutoffs):
    """Band codes for probabilities already rounded to two places (cutoffs: band_cutoffs())."""
    ascending = sorted(cutoffs, key=lambda c: c[1])
    mins = np.array([low for _code, low in ascending]) - 1e-9
    codes = np.array([code for code, _low in ascending])
    return codes[np.clip(np.searchsorted(mins, p_rounded, side="right") - 1, 0, len(codes) - 1)]


def reasons_json(loss, characteristics):
    """For each row, the JSON list of the reason codes of the (up to) 3 characteristics that lost
    the most points (ties: the scorecard's order), leaving out those that lost none. Vectorised: the
    distinct combinations are rendered once."""
    n, k = loss.shape
    if n == 0:
        return np.array([], dtype=object)
    take = min(MAX_REASONS, k)
    order = np.argsort(-loss, axis=1, kind="stable")[:, :take]
    lost = np.take_along_axis(loss, order, axis=1) > 1e-9
    picked = np.where(lost, order, k)  # k = "no reason"
    combo = np.zeros(n, dtype=np.int64)
    for i in range(take):
        combo = combo * (k + 1) + picked[:, i]
    unique, inverse = np.unique(combo, return_inverse=True)
    codes = [REASON_CODES[c] for c in characteristics]
    rendered = []
    for value in unique:
        digits = []
        for _i in range(take):
            digits.append(int(value % (k + 1)))
            value //= k + 1
        rendered.append(json.dumps([codes[d] for d in reversed(digits) if d < k]))
    return np.array(rendered, dtype=object)[inverse.reshape(-1)]


def _stage(cursor, name, ids, bands, p, reasons):
    """A temporary table `name` (id, band, p, reasons) filled with the scores (COPY on PostgreSQL)."""
    pg = connection.vendor == "postgresql"
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {name} (id BIGINT PRIMARY KEY, band VARCHAR(1), p NUMERIC(3, 2), reasons TEXT)"
    )
    p_text = np.char.mod("%.2f", p)
    rows = zip(ids.tolist(), bands.tolist(), p_text.tolist(), reasons.tolist(), strict=True)
    if pg:
        buffer = io.StringIO("".join(f"{i}\t{b}\t{pp}\t{r}\n" for i, b, pp, r in rows))
        cursor.cursor.copy_expert(f"COPY {name} (id, band, p, reasons) FROM STDIN", buffer)
    else:
        cursor.executemany(f"INSERT INTO {name} (id, band, p, reasons) VALUES (%s, %s, %s, %s)", list(rows))


def _band_changes(cursor):
    """How many open cases the staged scores move to another band (first scoring included)."""
    states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    cursor.execute(
        "SELECT COUNT(*) FROM collections_app_case c JOIN risk_stage_cases s ON s.id = c.id "
        f"WHERE c.risk_band <> s.band AND c.state IN ({states})"
    )
    return cursor.fetchone()[0]


def _write_cases(cursor, scored, label, now):
    pg = connection.vendor == "postgresql"
    _stage(cursor, "risk_stage_cases", *scored)
    changed = _band_changes(cursor)
    states = ", ".join(f"'{s}'" for s in OPEN_STATES)
    reasons = "CAST(s.reasons AS JSONB)" if pg else "s.reasons"
    cursor.execute(
        f"""UPDATE collections_app_case AS c SET
               risk_band = s.band, p_cure = s.p, risk_reasons = {reasons}, risk_model = %s, risk_scored_at = %s,
               updated_at = CASE WHEN c.risk_band <> s.band THEN %s ELSE c.updated_at END
           FROM risk_stage_cases AS s
           WHERE c.id = s.id AND c.state IN ({states})""",
        [label, now, now],
    )
    written = cursor.rowcount
    cursor.execute("DROP TABLE risk_stage_cases")
    return written, changed


def _write_loans(cursor, scored, label, now):
    pg = connection.vendor == "postgresql"
    _stage(cursor, "risk_stage_loans", *scored)
    reasons = "CAST(s.reasons AS JSONB)" if pg else "s.reasons"
    cursor.execute(
        f"""UPDATE collections_app_loan AS l SET
               p_pay = s.p, pay_band = s.band, pay_reasons = {reasons}, pay_model = %s, pay_scored_at = %s
           FROM risk_stage_loans AS s WHERE l.id = s.id""",
        [label, now],
    )
    written = cursor.rowcount
    # A loan that left the set (paid, fell overdue, no instalment due soon) no longer carries p_pay.
    cursor.execute(
        """UPDATE collections_app_loan SET p_pay = NULL, pay_band = '', pay_reasons = %s, pay_model = '',
               pay_scored_at = NULL
           WHERE p_pay IS NOT NULL AND id NOT IN (SELECT id FROM risk_stage_loans)""",
        ["[]"],
    )
    cleared = cursor.rowcount
    cursor.execute("DROP TABLE risk_stage_loans")
    return written, cleared


def _score_target(target, as_of, cutoffs, timings):
    scorer = Scorer.objects.filter(target=target, active=True).first()
    if scorer is None:
        return None, None
    started = time.perf_counter()
    features = risk_features(target=target, as_of=as_of)
    timings[f"{target}_features"] = time.perf_counter() - started
    started = time.perf_counter()
    engine = _scorer_for(scorer)
    p, loss = engine.score(features)
    p_rounded = np.round(p, 2)
    bands = band_of(p_rounded, cutoffs)
    reasons = reasons_json(loss, engine.characteristics)
    timings[f"{target}_score"] = time.perf_counter() - started
    return scorer.label, (features.ids, bands, p_rounded, reasons)


def risk_score(*, as_of=None, now=None):
    """Score for a date (default: today in the lender's calendar) and record the run. Returns the
    ScoringRun: `ok` with its counts, or `failed` with the error (nothing written: the last good
    scores stay)."""
    as_of = as_of or lender_today()
    now = now or timezone.now()
    run = ScoringRun.objects.create(as_of=as_of, started_at=now)
    started = time.perf_counter()
    timings = {}
    counts = {}
    try:
        cutoffs = band_cutoffs()
        problems = band_problems(cutoffs)
        if problems:
            raise ScoringFailed(" ".join(problems))
        cure_label, cure = _score_target(Target.CURE, as_of, cutoffs, timings)
        pay_label, pay = _score_target(Target.PAY, as_of, cutoffs, timings)
        write_started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if cure is not None:
                counts["cases"], counts["bands_changed"] = _write_cases(cursor, cure, cure_label, now)
            if pay is not None:
                counts["loans"], counts["loans_cleared"] = _write_loans(cursor, pay, pay_label, now)
            # Strategies are chosen at a case's first scoring and when its band changes: in the same
            # transaction, so a failure keeps yesterday's scores and yesterday's strategies together.
            choice = strategies_choose(as_of=as_of, now=now)
            counts["strategies"] = {"chosen": choice.chosen, "first": choice.first, "changed": choice.changed}
        timings["write"] = time.perf_counter() - write_started
        counts["cure_model"] = cure_label
        counts["pay_model"] = pay_label
        status, error = ScoringRun.Status.OK, ""
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; nothing was written
        log.exception("risk scoring for %s failed", as_of)
        status = ScoringRun.Status.FAILED
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    counts["seconds"] = round(time.perf_counter() - started, 3)
    counts["timings"] = {k: round(v, 3) for k, v in timings.items()}
    ScoringRun.objects.filter(pk=run.pk).update(status=status, error=error, counts=counts, finished_at=timezone.now())
    run.refresh_from_db()
    return run
