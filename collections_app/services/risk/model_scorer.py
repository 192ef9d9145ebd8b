"""A trained model (`risk_train --kind model`) as the nightly run uses it: the same `score(features)
-> (p, loss)` as the scorecard's, so score.py treats both alike.

Reasons by partial dependence (docs/risk.md, "Reasons of a model"): at training, for each
characteristic, the model's average log-odds over a sample of the training rows with that
characteristic set to each point of a grid (the rest of each row as it was). A row's loss on a
characteristic is the best average log-odds on its grid less the average at the row's own value
(interpolated; a product: its own entry). The reasons are the (up to) 3 characteristics that cost
the most, as a scorecard's do; like a scorecard's, they describe the characteristic's effect on
the average borrower, not the interactions the trees found for this one."""

import pickle

import numpy as np

from ...models.risk import CATEGORICAL, REASON_CODES


class ModelUnusable(Exception):
    pass


class ModelScorer:
    def __init__(self, scorer):
        self.scorer = scorer
        self.label = scorer.label
        if not scorer.artifact:
            raise ModelUnusable(f"scorer {scorer.label} has no trained estimator")
        try:
            # Written only by risk_train (never uploaded): the bytes are this system's own.
            stored = pickle.loads(bytes(scorer.artifact))  # noqa: S301
        except Exception as exc:  # noqa: BLE001 - an estimator from another scikit-learn version, say
            raise ModelUnusable(f"scorer {scorer.label} cannot be loaded ({exc}); train it again") from exc
        self.estimator = stored["estimator"]
        self.columns = list(stored["columns"])
        self.products = list(stored["products"])
        self.tables = stored["partial_dependence"]
        self.characteristics = [c for c in REASON_CODES if c in self.columns]

    def _matrix(self, features):
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise ModelUnusable(f"characteristics {missing} are not computed for target {features.target}")
        matrix = np.column_stack([features.column(c) for c in self.columns]).astype(np.float64)
        for j, name in enumerate(self.columns):
            if name in CATEGORICAL:
                # The day's own product list re-coded into the training's; an unseen product: missing.
                mapping = np.array(
                    [self.products.index(p) if p in self.products else np.nan for p in features.products] + [np.nan]
                )
                codes = matrix[:, j].astype(np.int64)
                codes[(codes < 0) | (codes >= len(features.products))] = len(features.products)
                matrix[:, j] = mapping[codes]
        return matrix

    def score(self, features):
        if not len(features):
            return np.zeros(0), np.zeros((0, len(self.characteristics)))
        from .train import threads

        matrix = self._matrix(features)
        with threads():
            p = self.estimator.predict_proba(matrix)[:, 1]
        loss = np.zeros((len(matrix), len(self.characteristics)))
        for k, name in enumerate(self.characteristics):
            table = self.tables.get(name)
            if not table:
                continue
            grid, log_odds = np.array(table["grid"]), np.array(table["log_odds"])
            values = matrix[:, self.columns.index(name)]
            if table["categorical"]:
                codes = np.where(np.isnan(values), -1, values).astype(np.int64)
                here = np.where(codes >= 0, log_odds[np.clip(codes, 0, len(log_odds) - 1)], log_odds.max())
            else:
                here = np.interp(values, grid, log_odds)
            loss[:, k] = np.maximum(log_odds.max() - here, 0)
        return p, loss
