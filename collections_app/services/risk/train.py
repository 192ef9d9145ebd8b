"""`risk_train`: a scorer learnt from this portfolio's own history (CONTRACT.md "Risk and strategy";
docs/risk.md, "Training").

The examples: for each day d of the window (every `step` days), every row of the target as it stood
at the end of d (features.risk_features(as_of=d): the same characteristics the nightly run scores),
labelled by what happened next:
- cure (open cases): 1 when nothing was overdue 30 days later: the case is still open at d+30 with
  nothing overdue, or it was resolved by then, or closed as `settled`; 0 otherwise (still in arrears,
  or closed another way: written off, sold, deceased...).
- pay (loans due in the next 7 days): 1 when the loan had nothing overdue at d+14, i.e. the
  instalments due from d to d+7 were paid within about 7 days of their due dates (an open case on
  the loan at d+14 says one was not).
A day is usable only when its outcome is known (d + horizon <= today). The last fifth of the days
(at least one) is held out: the metrics (AUC, KS, calibration by decile) are measured on it, out of
time, with the scorer as it will score; the scorer is then fitted on the whole window.

Two kinds:
- scorecard: each numeric characteristic cut at its quintiles (equal edges merged), each product a
  bin of its own plus a catch-all; weight of evidence per bin (ln of the share of cures over the
  share of non-cures in it, smoothed by half a case); a logistic regression on the WoE values; points
  = the regression's share of the log-odds, scaled so that 40 points double the odds and 500 points
  are even odds (the Scorer's scaling fields), rounded. The table passes scorecard_check or nothing
  is saved.
- model: scikit-learn's HistGradientBoostingClassifier on the raw characteristics (product as a
  categorical). Its reasons come from partial dependence (model_scorer.py).

Refused (TrainingRefused, nothing saved, the active scorer unchanged): fewer than MIN_CASES distinct
rows in the window, or only one class among the labels."""

import math
import pickle
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from ...calendar import lender_today
from ...models import Case, Scorer
from ...models.risk import CATEGORICAL, ScorerKind, Target, TARGET_CHARACTERISTICS
from ...workflow import CloseReason, State
from .features import cutoff_for, risk_features
from .scorecard import Bin, scorecard_problems, scorer_bins_save

MIN_CASES = 1000
HORIZON = {Target.CURE: 30, Target.PAY: 14}
DEFAULT_DAYS = 90
DEFAULT_STEP = 7
QUANTILES = (0.2, 0.4, 0.6, 0.8)
BASE_SCORE, BASE_ODDS, POINTS_TO_DOUBLE = 500, 1, 40
MAX_EXAMPLES = 1_000_000  # rows kept for fitting (an even random share of each day's beyond it)
MODEL_PARAMS = {"max_iter": 200, "learning_rate": 0.08, "max_leaf_nodes": 31, "l2_regularization": 1.0}


def threads():
    """scikit-learn's OpenMP threads: one by default. On a machine shared with the database and the
    web workers, more threads than idle cores spin against each other (measured here under load:
    a prediction 10x slower with two threads than with one)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=getattr(settings, "COLLECTIONS_RISK_THREADS", 1))


class TrainingRefused(ValueError):
    """The window cannot train a scorer; the message says why."""


@dataclass
class Examples:
    target: str
    columns: tuple
    products: list  # the product names; the product column holds an index into this list
    days: list
    matrix: np.ndarray
    labels: np.ndarray
    day_of_row: np.ndarray
    ids: np.ndarray
    holdout_from: object = None

    @property
    def train_mask(self):
        return self.day_of_row < np.datetime64(self.holdout_from)

    @property
    def holdout_mask(self):
        return ~self.train_mask


@dataclass
class Trained:
    scorer: Scorer
    metrics: dict
    examples: int
    distinct: int
    bins: list = field(default_factory=list)


# --- the examples -------------------------------------------------------------------------------


def training_days(*, start=None, end=None, days=DEFAULT_DAYS, step=DEFAULT_STEP, target=Target.CURE, today=None):
    """The snapshot days of the window whose outcome is known, oldest first."""
    today = today or lender_today()
    last_known = today - timedelta(days=HORIZON[target])
    end = min(end or last_known, last_known)
    start = start or end - timedelta(days=days - 1)
    out, day = [], start
    while day <= end:
        out.append(day)
        day += timedelta(days=step)
    return out


def _case_outcomes():
    """Every case's (id, loan id, state, close reason, closed at, resolved at) as arrays, id order."""
    rows = list(
        Case.objects.order_by("pk").values_list("pk", "loan_id", "state", "close_reason", "closed_at", "resolved_at")
    )
    if not rows:
        return None
    ids, loans, states, reasons, closed, resolved = zip(*rows, strict=True)

    def stamps(values):
        return np.array([np.inf if v is None else v.timestamp() for v in values], dtype=np.float64)

    return {
        "ids": np.array(ids, dtype=np.int64),
        "loans": np.array(loans, dtype=np.int64),
        "settled": np.array([r == CloseReason.SETTLED for r in reasons]),
        "closed_at": stamps(closed),
        "resolved_at": stamps(resolved),
        "resolved": np.array([s == State.RESOLVED for s in states]),
    }


def _cure_labels(ids, later, outcomes):
    """1 when nothing was overdue at the later day (see the module's text)."""
    open_later = later.ids
    overdue_later = later.column("amount_overdue")
    position = np.searchsorted(open_later, ids)
    found = (position < len(open_later)) & (open_later[np.minimum(position, len(open_later) - 1)] == ids)
    cured_open = np.zeros(len(ids), dtype=bool)
    cured_open[found] = overdue_later[position[found]] <= 0.005
    at = np.searchsorted(outcomes["ids"], ids)
    closed_by = outcomes["closed_at"][at] <= cutoff_for(later.as_of).timestamp()
    # Not open at the later day: resolved (or reopened later, which needed a resolution first) unless
    # closed, where only a settlement counts as cured.
    gone = np.where(closed_by, outcomes["settled"][at], True)
    return np.where(found, cured_open, gone).astype(np.int8)


def _pay_labels(loan_ids, later, outcomes):
    """1 when the loan has no open case with something overdue at the later day."""
    open_cases = later.ids[later.column("amount_overdue") > 0.005]
    at = np.searchsorted(outcomes["ids"], open_cases)
    in_arrears = np.unique(outcomes["loans"][at])
    return (~np.isin(loan_ids, in_arrears)).astype(np.int8)


def _global_products(features, products):
    """Re-code the product column into the shared `products` list (each day's query has its own)."""
    if "product" not in features.columns:
        return features.matrix
    matrix = features.matrix.copy()
    j = features.columns.index("product")
    for name in features.products:
        if name not in products:
            products.append(name)
    mapping = np.array([products.index(name) for name in features.products] + [-1], dtype=np.float64)
    codes = matrix[:, j].astype(np.int64)
    codes[(codes < 0) | (codes >= len(features.products))] = len(features.products)
    matrix[:, j] = mapping[codes]
    return matrix


def collect_examples(target, days):
    """The labelled rows of every day (see the module's text)."""
    if not days:
        raise TrainingRefused(_("The window has no day whose outcome is known yet."))
    outcomes = _case_outcomes()
    if outcomes is None:
        raise TrainingRefused(_("There are no cases to learn from."))
    columns = TARGET_CHARACTERISTICS[target]
    products, parts, labels, day_rows, ids = [], [], [], [], []
    per_day = MAX_EXAMPLES // len(days)
    rng = np.random.default_rng(0)
    for day in days:
        features = risk_features(target=target, as_of=day, live=False)
        if not len(features):
            continue
        if len(features) > per_day:
            keep_rows = np.sort(rng.choice(len(features), size=per_day, replace=False))
            features.ids, features.matrix = features.ids[keep_rows], features.matrix[keep_rows]
        later = risk_features(target=Target.CURE, as_of=day + timedelta(days=HORIZON[target]), live=False)
        matrix = _global_products(features, products)
        keep = [features.columns.index(c) for c in columns]
        parts.append(matrix[:, keep])
        if target == Target.CURE:
            labels.append(_cure_labels(features.ids, later, outcomes))
        else:
            labels.append(_pay_labels(features.ids, later, outcomes))
        day_rows.append(np.full(len(features), np.datetime64(day)))
        ids.append(features.ids)
    if not parts:
        raise TrainingRefused(_("No row of the target was found on any day of the window."))
    examples = Examples(
        target=target,
        columns=tuple(columns),
        products=products,
        days=list(days),
        matrix=np.vstack(parts),
        labels=np.concatenate(labels),
        day_of_row=np.concatenate(day_rows),
        ids=np.concatenate(ids),
    )
    distinct = len(np.unique(examples.ids))
    if distinct < MIN_CASES:
        raise TrainingRefused(
            _("The window holds %(n)s distinct rows; training needs at least %(min)s.")
            % {"n": distinct, "min": MIN_CASES}
        )
    if len(np.unique(examples.labels)) < 2:
        raise TrainingRefused(
            _("Every row of the window has the same outcome (%(label)s): there is nothing to tell apart.")
            % {"label": _("cured") if examples.labels[0] else _("not cured")}
        )
    used = sorted(set(examples.day_of_row.tolist()))
    holdout_days = max(1, len(used) // 5)
    examples.holdout_from = used[-holdout_days] if len(used) > 1 else None
    return examples


# --- metrics --------------------------------------------------------------------------------------


def metrics_of(labels, p):
    """AUC, KS and calibration by decile of predictions `p` against 0/1 `labels`."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.asarray(labels)
    p = np.asarray(p, dtype=np.float64)
    out = {"n": int(len(labels)), "observed_rate": round(float(labels.mean()), 4) if len(labels) else None}
    if len(np.unique(labels)) < 2:
        out.update(auc=None, ks=None, calibration=[])
        return out
    fpr, tpr, _thresholds = roc_curve(labels, p)
    order = np.argsort(p, kind="stable")
    calibration = []
    for decile, part in enumerate(np.array_split(order, 10), start=1):
        if len(part):
            calibration.append(
                {
                    "decile": decile,
                    "predicted": round(float(p[part].mean()), 4),
                    "observed": round(float(labels[part].mean()), 4),
                    "n": int(len(part)),
                }
            )
    out.update(
        auc=round(float(roc_auc_score(labels, p)), 4),
        ks=round(float(np.max(tpr - fpr)), 4),
        calibration=calibration,
        max_calibration_gap=round(max(abs(c["predicted"] - c["observed"]) for c in calibration), 4),
    )
    return out


# --- the scorecard ----------------------------------------------------------------------------------


def _numeric_edges(values):
    """The quintiles as the table stores them (4 places), each once, above the smallest value."""
    if not len(values):
        return []
    edges = {round(float(e), 4) for e in np.quantile(values, QUANTILES)}
    return sorted(e for e in edges if e > values.min())


def _woe(labels, groups, n_groups):
    good_total, bad_total = labels.sum(), len(labels) - labels.sum()
    good = np.bincount(groups, weights=labels, minlength=n_groups)
    count = np.bincount(groups, minlength=n_groups)
    bad = count - good
    return np.log((good + 0.5) / (good_total + 0.5 * n_groups)) - np.log((bad + 0.5) / (bad_total + 0.5 * n_groups))


def _scorecard_layout(examples, mask):
    """Per characteristic: its groups (edges or product codes) and the group of every row."""
    layout = {}
    for j, name in enumerate(examples.columns):
        values = examples.matrix[:, j]
        if name in CATEGORICAL:
            codes = np.where(values < 0, len(examples.products), values).astype(np.int64)
            layout[name] = {"kind": "category", "groups": codes, "n": len(examples.products) + 1}
        else:
            edges = _numeric_edges(values[mask])
            groups = np.searchsorted(np.array(edges), values, side="right")
            layout[name] = {"kind": "range", "edges": edges, "groups": groups, "n": len(edges) + 1}
    return layout


def _fit_scorecard(examples, mask):
    """(bins, the log-odds function) fitted on the rows of `mask`."""
    from sklearn.linear_model import LogisticRegression

    layout = _scorecard_layout(examples, mask)
    y = examples.labels[mask]
    woe = {name: _woe(y, spec["groups"][mask], spec["n"]) for name, spec in layout.items()}
    x = np.column_stack([woe[name][spec["groups"]] for name, spec in layout.items()])
    regression = LogisticRegression(C=1.0, max_iter=2000)
    regression.fit(x[mask], y)
    factor = POINTS_TO_DOUBLE / math.log(2)
    names = list(layout)
    share = (BASE_SCORE + factor * (float(regression.intercept_[0]) - math.log(BASE_ODDS))) / len(names)
    bins = []
    for j, name in enumerate(names):
        spec = layout[name]
        points = [int(round(share + factor * regression.coef_[0][j] * w)) for w in woe[name]]
        if spec["kind"] == "category":
            for code, product in enumerate(examples.products):
                bins.append(Bin(name, None, None, product, points[code]))
            bins.append(Bin(name, None, None, "", points[-1]))
        else:
            bounds = [None, *spec["edges"], None]
            for g in range(spec["n"]):
                bins.append(Bin(name, _decimal(bounds[g]), _decimal(bounds[g + 1]), "", points[g]))
    return bins


def _decimal(value):
    from decimal import Decimal

    return None if value is None else Decimal(str(round(value, 4)))


def _scorecard_p(bins, examples, rows):
    """The probability the saved table gives the rows (the same lookup as the nightly run)."""
    factor = math.log(2) / POINTS_TO_DOUBLE
    total = np.zeros(int(rows.sum()))
    for j, name in enumerate(examples.columns):
        own = [b for b in bins if b.characteristic == name]
        values = examples.matrix[rows, j]
        if name in CATEGORICAL:
            by_name = {b.category: b.points for b in own}
            lookup = np.array([by_name.get(p, by_name.get("", 0)) for p in examples.products] + [by_name.get("", 0)])
            codes = np.where(values < 0, len(examples.products), values).astype(np.int64)
            total += lookup[codes]
        else:
            ordered = sorted(own, key=lambda b: -math.inf if b.lower is None else float(b.lower))
            edges = np.array([float(b.lower) for b in ordered[1:]])
            total += np.array([b.points for b in ordered], dtype=np.float64)[np.searchsorted(edges, values, "right")]
    return 1.0 / (1.0 + np.exp(-(math.log(BASE_ODDS) + (total - BASE_SCORE) * factor)))


# --- the model --------------------------------------------------------------------------------------


def _fit_model(examples, mask):
    from sklearn.ensemble import HistGradientBoostingClassifier

    categorical = [name in CATEGORICAL for name in examples.columns]
    matrix = examples.matrix.copy()
    for j, is_category in enumerate(categorical):
        if is_category:
            matrix[:, j] = np.where(matrix[:, j] < 0, np.nan, matrix[:, j])
    model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=0, **MODEL_PARAMS)
    model.fit(matrix[mask], examples.labels[mask])
    return model, matrix


def _partial_dependence(model, matrix, examples, sample=2000):
    """Per characteristic: a grid (its values' 5 % quantiles; each product) and the model's average
    log-odds over a sample of rows with the characteristic set there (the reasons' yardstick)."""
    rng = np.random.default_rng(0)
    rows = matrix[rng.choice(len(matrix), size=min(sample, len(matrix)), replace=False)]
    tables = {}
    for j, name in enumerate(examples.columns):
        categorical = name in CATEGORICAL
        if categorical:
            grid = np.arange(len(examples.products), dtype=np.float64)
        else:
            grid = np.unique(np.quantile(matrix[:, j], np.linspace(0, 1, 21)))
        if not len(grid):
            continue
        probe = np.tile(rows, (len(grid), 1))  # every sampled row at every grid point: one prediction
        probe[:, j] = np.repeat(grid, len(rows))
        log_odds = _logit(model.predict_proba(probe)[:, 1]).reshape(len(grid), len(rows)).mean(axis=1)
        tables[name] = {"grid": grid.tolist(), "log_odds": log_odds.tolist(), "categorical": categorical}
    return tables


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def model_artifact(model, examples, tables):
    import sklearn

    return pickle.dumps(
        {
            "estimator": model,
            "columns": list(examples.columns),
            "products": list(examples.products),
            "partial_dependence": tables,
            "sklearn": sklearn.__version__,
        }
    )


# --- the command's service ----------------------------------------------------------------------------


def _next_version(name):
    last = Scorer.objects.filter(name=name).order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def _fit(kind, target, examples, train_part, holdout, everything):
    """(holdout metrics, bins, artifact): fitted on the days before the holdout and measured on it,
    then fitted again on the whole window (what is saved)."""
    if kind == ScorerKind.SCORECARD:
        checked = _fit_scorecard(examples, train_part)
        metrics = metrics_of(examples.labels[holdout], _scorecard_p(checked, examples, holdout))
        bins = _fit_scorecard(examples, everything)
        problems = scorecard_problems(bins, target=target)
        if problems:
            raise TrainingRefused(" ".join(str(p) for p in problems))
        return metrics, bins, None
    checked, matrix = _fit_model(examples, train_part)
    metrics = metrics_of(examples.labels[holdout], checked.predict_proba(matrix[holdout])[:, 1])
    model, matrix = _fit_model(examples, everything)
    return metrics, [], model_artifact(model, examples, _partial_dependence(model, matrix, examples))


def risk_train(*, kind, target=Target.CURE, start=None, end=None, days=DEFAULT_DAYS, step=DEFAULT_STEP, name=""):
    """Train and save a new, inactive scorer version (operators make it active in the admin, or the
    command's --activate). Raises TrainingRefused with nothing saved."""
    if kind not in ScorerKind.values:
        raise TrainingRefused(_("Unknown kind %(kind)s: scorecard or model.") % {"kind": kind})
    if target not in Target.values:
        raise TrainingRefused(_("Unknown target %(target)s: cure or pay.") % {"target": target})
    window = training_days(start=start, end=end, days=days, step=step, target=target)
    examples = collect_examples(target, window)
    everything = np.ones(len(examples.labels), dtype=bool)
    holdout = examples.holdout_mask if examples.holdout_from else everything
    train_part = examples.train_mask if examples.holdout_from else everything
    if len(np.unique(examples.labels[train_part])) < 2:
        train_part = everything
    with threads():
        metrics, bins, artifact = _fit(kind, target, examples, train_part, holdout, everything)
    metrics.update(
        holdout_from=examples.holdout_from.isoformat() if examples.holdout_from else None,
        examples=int(len(examples.labels)),
        distinct=int(len(np.unique(examples.ids))),
        cure_rate=round(float(examples.labels.mean()), 4),
    )
    name = name or f"{target}-{kind}"
    with transaction.atomic():
        scorer = Scorer.objects.create(
            name=name,
            version=_next_version(name),
            kind=kind,
            target=target,
            description=_("Trained by risk_train on %(first)s to %(last)s, every %(step)s days.")
            % {"first": window[0].isoformat(), "last": window[-1].isoformat(), "step": step},
            base_score=BASE_SCORE,
            base_odds=BASE_ODDS,
            points_to_double_odds=POINTS_TO_DOUBLE,
            metrics=metrics,
            train_from=window[0],
            train_to=window[-1],
            artifact=artifact,
        )
        scorer_bins_save(scorer, bins)
    return Trained(scorer, metrics, int(len(examples.labels)), metrics["distinct"], bins)
