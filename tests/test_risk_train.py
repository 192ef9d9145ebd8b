"""`risk_train`: a scorer learnt from the portfolio's own history (services/risk/train.py), saved as a
new inactive version with its metrics; refused, with nothing saved, on a window too small or with one
outcome only; a trained model scores through the nightly run with reasons."""

import json
from datetime import date, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from collections_app.demo.seed import seed_demo
from collections_app.models import Case, Scorer, ScorecardBin
from collections_app.models.risk import REASON_CODES, Target
from collections_app.services.risk import scorecard_problems, scorer_bins
from collections_app.services.risk import train
from collections_app.services.risk.features import Features
from collections_app.services.risk.score import risk_score

pytestmark = pytest.mark.django_db

WINDOW = ["--days", "240", "--step", "14"]


@pytest.fixture
def history(monkeypatch):
    """A demo portfolio (months of history) and a training floor small enough for it."""
    seed_demo(cases=700, seed=11)
    monkeypatch.setattr(train, "MIN_CASES", 100)


def _train(*args):
    out = StringIO()
    call_command("risk_train", *args, stdout=out)
    return out.getvalue()


def test_a_trained_scorecard_is_a_new_inactive_version_whose_table_passes_the_check(history):
    active_before = Scorer.objects.get(target=Target.CURE, active=True)
    output = _train("--kind", "scorecard", *WINDOW)
    scorer = Scorer.objects.get(name="cure-scorecard")
    assert scorer.version == 1 and not scorer.active and scorer.kind == "scorecard"
    assert Scorer.objects.get(target=Target.CURE, active=True) == active_before
    assert scorecard_problems(scorer_bins(scorer), target=Target.CURE) == []
    metrics = scorer.metrics
    assert 0 <= metrics["auc"] <= 1 and 0 <= metrics["ks"] <= 1
    assert [row["decile"] for row in metrics["calibration"]] == list(range(1, 11))
    assert sum(row["n"] for row in metrics["calibration"]) == metrics["n"]
    assert scorer.train_from < scorer.train_to <= date.today()
    assert f"AUC {metrics['auc']}" in output and "saved inactive" in output
    # Every characteristic of the target has a table; a second run is version 2.
    assert set(ScorecardBin.objects.filter(scorer=scorer).values_list("characteristic", flat=True)) == set(
        train.TARGET_CHARACTERISTICS[Target.CURE]
    )
    _train("--kind", "scorecard", *WINDOW)
    assert list(Scorer.objects.filter(name="cure-scorecard").values_list("version", flat=True)) == [2, 1]


def test_a_trained_model_scores_every_open_case_with_reasons_once_active(history):
    output = _train("--kind", "model", *WINDOW, "--activate")
    scorer = Scorer.objects.get(name="cure-model")
    assert scorer.active and scorer.artifact and "is now the active cure scorer" in output
    run = risk_score()
    assert run.status == "ok", run.error
    assert run.counts["cure_model"] == "cure-model-1"
    open_cases = Case.objects.filter(state__in=("reminder", "call", "visit", "legal"))
    assert open_cases.count() == run.counts["cases"] > 0
    codes = set(REASON_CODES.values())
    for band, p, reasons, model in open_cases.values_list("risk_band", "p_cure", "risk_reasons", "risk_model"):
        assert band in "ABCDE" and 0 <= p <= 1 and model == "cure-model-1"
        assert len(reasons) <= 3 and set(reasons) <= codes
    assert any(reasons for reasons in open_cases.values_list("risk_reasons", flat=True))


def test_a_window_with_too_few_cases_is_refused_and_nothing_is_saved(history, monkeypatch):
    monkeypatch.setattr(train, "MIN_CASES", 100_000)
    before = set(Scorer.objects.values_list("pk", "active"))
    with pytest.raises(CommandError, match="training needs at least 100000.*active scorer is unchanged"):
        _train("--kind", "model", *WINDOW, "--activate")
    assert set(Scorer.objects.values_list("pk", "active")) == before


def test_a_window_where_every_case_has_the_same_outcome_is_refused(history, monkeypatch):
    monkeypatch.setattr(train, "_cure_labels", lambda ids, later, outcomes: np.zeros(len(ids), dtype=np.int8))
    with pytest.raises(CommandError, match="same outcome"):
        _train("--kind", "scorecard", *WINDOW)
    assert not Scorer.objects.filter(name="cure-scorecard").exists()


def test_a_window_whose_outcomes_are_not_known_yet_is_refused(db):
    with pytest.raises(CommandError, match="no day whose outcome is known"):
        _train("--kind", "scorecard", "--from", (date.today() - timedelta(days=3)).isoformat())


def _features(ids, overdue, as_of):
    columns = ("amount_overdue",)
    return Features(Target.CURE, as_of, np.array(ids), np.array(overdue, dtype=float).reshape(-1, 1), columns, [])


def test_cure_labels_follow_what_was_overdue_thirty_days_later():
    """Open later with nothing overdue: cured; open with arrears: not; gone: resolved (cured) unless
    closed, where only a settlement is."""
    later = _features([1, 2], [0, 150], date(2026, 6, 30))
    never = np.inf
    closed_early = 1_700_000_000.0  # 2023: before the later day's end
    outcomes = {
        "ids": np.array([1, 2, 3, 4, 5]),
        "loans": np.array([11, 12, 13, 14, 15]),
        "settled": np.array([False, False, False, True, False]),
        "closed_at": np.array([never, never, never, closed_early, closed_early]),
        "resolved_at": np.array([never] * 5),
        "resolved": np.array([False] * 5),
    }
    labels = train._cure_labels(np.array([1, 2, 3, 4, 5]), later, outcomes)
    assert labels.tolist() == [1, 0, 1, 1, 0]


def test_metrics_measure_ranking_and_calibration():
    labels = np.array([0] * 50 + [1] * 50)
    perfect = train.metrics_of(labels, np.linspace(0, 1, 100))
    assert perfect["auc"] == 1.0 and perfect["ks"] == 1.0
    coin = train.metrics_of(labels, np.full(100, 0.5))
    assert coin["auc"] == 0.5 and coin["max_calibration_gap"] <= 0.5
    assert json.dumps(perfect)  # stored in a JSON field as it is
