"""Scoring: every metric for the model and each baseline, per target, per step, both units."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnncast.errors import QualityGateError
from rnncast.evaluation import check_skill, mase_denominator, score_forecasts


def _two_step_report() -> dict:
    actual = np.array([[[10.0], [12.0]]])  # one window, two steps, one target
    return score_forecasts(
        actual,
        {"model": np.array([[[10.0], [11.0]]]), "naive": np.array([[[9.0], [9.0]]])},
        ("price",),
        unit_scale=np.array([2.0]),
        mase_scale=np.array([4.0]),
    )


def test_scores_report_both_units_and_the_verdict() -> None:
    report = _two_step_report()
    model = report["metrics"]["model"]
    assert model["original"]["mse"] == pytest.approx(0.5)
    assert model["scaled"]["mse"] == pytest.approx(0.125)  # errors / 2
    assert model["original"]["mae"] == pytest.approx(0.5)
    assert model["original"]["mase"] == pytest.approx(0.5 / 4)
    assert model["scaled"]["mase"] == pytest.approx(0.5 / 4)  # unit-free
    assert model["original"]["mape"] == pytest.approx(100 * (0 + 1 / 12) / 2)
    assert report["per_target"]["price"]["naive"]["original"]["mae"] == pytest.approx(2.0)
    assert report["best_baseline"] == "naive"
    assert report["model_beats_best_baseline"] is True
    expected_skill = 1 - np.sqrt(0.5) / np.sqrt(5.0)
    assert report["skill_vs_best_baseline"] == pytest.approx(expected_skill)
    assert model["original"]["skill"] == pytest.approx(expected_skill)
    assert report["metrics"]["naive"]["original"]["skill"] == pytest.approx(0.0)


def test_per_step_lists_every_horizon_step() -> None:
    report = _two_step_report()
    per_step = report["per_step"]["model"]["original"]
    assert per_step["mse"] == pytest.approx([0.0, 1.0])
    assert per_step["rmse"] == pytest.approx([0.0, 1.0])
    naive_step = report["per_step"]["naive"]["scaled"]["mae"]
    assert naive_step == pytest.approx([0.5, 1.5])


def test_undefined_metrics_become_null_in_valid_json() -> None:
    actual = np.zeros((3, 2, 1))
    report = score_forecasts(
        actual,
        {"model": np.ones((3, 2, 1)), "naive": np.zeros((3, 2, 1))},
        ("flow",),
        unit_scale=np.array([1.0]),
        mase_scale=np.array([0.0]),  # a constant history
    )
    assert report["metrics"]["model"]["original"]["mape"] is None  # every actual is zero
    assert report["metrics"]["model"]["original"]["mase"] is None
    assert report["skill_vs_best_baseline"] is None  # the naive forecast is perfect
    assert report["mape_skipped_zero_actuals"] == 6
    json.dumps(report, allow_nan=False)


def test_mase_denominator_falls_back_to_naive_for_short_history() -> None:
    history = np.array([[1.0], [2.0], [4.0]])
    scale, period = mase_denominator(history, 7)
    assert period == 1
    assert scale.tolist() == [1.5]


def test_each_target_is_compared_with_its_own_best_baseline() -> None:
    actual = np.array([[[10.0, 100.0]]])  # one window, one step, two targets
    forecasts = {
        "model": np.array([[[11.0, 104.0]]]),
        "naive": np.array([[[12.0, 102.0]]]),  # best for the second target
        "mean": np.array([[[10.5, 110.0]]]),  # best for the first target
    }
    report = score_forecasts(actual, forecasts, ("a", "b"), np.array([1.0, 10.0]), np.array([1.0, 1.0]))
    assert report["per_target_best_baseline"] == {"a": "mean", "b": "naive"}
    assert report["per_target"]["a"]["model"]["original"]["skill"] == pytest.approx(1 - 1.0 / 0.5)
    assert report["per_target"]["b"]["model"]["original"]["skill"] == pytest.approx(1 - 4.0 / 2.0)
    # overall, two targets: scaled units decide (errors a: 1, 2, .5; b: .4, .2, 1)
    assert report["verdict_units"] == "scaled"
    assert report["best_baseline"] == "mean"  # mean sq. (0.25 + 1) / 2 < naive (4 + 0.04) / 2


def test_quality_gate() -> None:
    report = _two_step_report()
    check_skill(report, 0.0)  # the model beats naive
    with pytest.raises(QualityGateError, match="not above"):
        check_skill({**report, "skill_vs_best_baseline": 0.0}, 0.0)  # a tie is not a win
    with pytest.raises(QualityGateError, match="not above the required"):
        check_skill(report, 0.9)
    with pytest.raises(QualityGateError, match="undefined"):
        check_skill({**report, "skill_vs_best_baseline": None}, 0.0)
