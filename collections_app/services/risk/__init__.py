"""Risk scoring (CONTRACT.md "Risk and strategy"; docs/risk.md).

Modules: `scorecard` (the points table's check, the band cut-offs, making a scorer active: no numpy),
`features` (characteristics of cases and loans as of a date, in SQL, as a numpy matrix) and `score`
(`risk_score`, the nightly run). `features` and `score` need numpy: import them from their modules
(`from collections_app.services.risk.score import risk_score`), so that importing this package (the
admin does) does not.

Later pieces: `risk_train` adds `train.py` (it reads `features.risk_features(as_of=past day)` for
each day of its window, labels them, and saves a Scorer with its bins checked by `scorecard_check`
or its `artifact`); strategy rules hook into `score._write_cases` (the ids whose band changed)."""

from .scorecard import Bin, band_cutoffs, scorecard_check, scorecard_problems, scorer_activate, scorer_bins

__all__ = ["Bin", "band_cutoffs", "scorecard_check", "scorecard_problems", "scorer_activate", "scorer_bins"]
