from __future__ import annotations

import numpy as np
import pytest

from rnncast.evaluation import (
    baseline_forecasts,
    mae,
    mse,
    naive_forecast,
    rmse,
    score_forecasts,
    seasonal_naive_forecast,
)


def test_metrics_match_hand_computed_values() -> None:
    actual = np.array([1.0, 2.0, 4.0])
    predicted = np.array([2.0, 2.0, 1.0])
    # errors -1, 0, 3: squared 1, 0, 9
    assert mse(actual, predicted) == pytest.approx(10 / 3)
    assert rmse(actual, predicted) == pytest.approx(np.sqrt(10 / 3))
    assert mae(actual, predicted) == pytest.approx(4 / 3)


def test_naive_repeats_the_row_before_the_window() -> None:
    values = np.arange(10.0)[:, None]
    forecast = naive_forecast(values, np.array([3, 7]), horizon=2)
    assert forecast[:, :, 0].tolist() == [[2.0, 2.0], [6.0, 6.0]]


def test_seasonal_naive_takes_the_same_point_last_season() -> None:
    values = np.arange(20.0)[:, None]
    forecast = seasonal_naive_forecast(values, np.array([10]), horizon=5, period=3)
    # steps 1..5 from t=10 repeat rows 7, 8, 9, 7, 8
    assert forecast[0, :, 0].tolist() == [7.0, 8.0, 9.0, 7.0, 8.0]


def test_seasonal_naive_is_left_out_without_a_full_season_of_history() -> None:
    values = np.arange(20.0)[:, None]
    assert set(baseline_forecasts(values, np.array([2, 3]), 2, period=7)) == {"naive"}
    assert set(baseline_forecasts(values, np.array([8, 9]), 2, period=7)) == {"naive", "seasonal_naive"}


def test_scores_report_both_units_and_the_verdict() -> None:
    actual = np.array([[[10.0], [12.0]]])
    report = score_forecasts(
        actual,
        {"model": np.array([[[10.0], [11.0]]]), "naive": np.array([[[9.0], [9.0]]])},
        ("price",),
        scale=np.array([2.0]),
    )
    assert report["metrics"]["model"]["original"]["mse"] == pytest.approx(0.5)
    assert report["metrics"]["model"]["scaled"]["mse"] == pytest.approx(0.125)
    assert report["per_target"]["price"]["naive"]["original"]["mae"] == pytest.approx(2.0)
    assert report["best_baseline"] == "naive"
    assert report["model_beats_best_baseline"] is True
    assert report["skill_vs_best_baseline"] == pytest.approx(1 - np.sqrt(0.5) / np.sqrt(5.0))
