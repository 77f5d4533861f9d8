"""Baselines read only the rows before each window, on exactly the model's windows."""

from __future__ import annotations

import numpy as np

from rnncast.baselines import (
    baseline_forecasts,
    drift_forecast,
    mean_forecast,
    naive_forecast,
    seasonal_naive_forecast,
)


def test_naive_repeats_the_row_before_the_window() -> None:
    values = np.arange(10.0)[:, None]
    forecast = naive_forecast(values, np.array([3, 7]), horizon=2)
    assert forecast[:, :, 0].tolist() == [[2.0, 2.0], [6.0, 6.0]]


def test_seasonal_naive_takes_the_same_point_last_season() -> None:
    values = np.arange(20.0)[:, None]
    forecast = seasonal_naive_forecast(values, np.array([10]), horizon=5, period=3)
    # steps 1..5 from t=10 repeat rows 7, 8, 9, 7, 8
    assert forecast[0, :, 0].tolist() == [7.0, 8.0, 9.0, 7.0, 8.0]


def test_drift_extends_the_line_through_the_lookback_window() -> None:
    values = np.array([[1.0], [2.0], [4.0], [7.0], [50.0]])
    # window t=4, lookback 3: rows 1..3 = 2, 4, 7 -> slope (7 - 2) / 2 = 2.5
    forecast = drift_forecast(values, np.array([4]), horizon=2, lookback=3)
    assert forecast[0, :, 0].tolist() == [9.5, 12.0]


def test_mean_averages_the_lookback_window() -> None:
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0], [7.0, 70.0]])
    forecast = mean_forecast(values, np.array([3]), horizon=2, lookback=2)
    assert forecast[0].tolist() == [[3.0, 30.0], [3.0, 30.0]]


def test_defined_baselines_only() -> None:
    values = np.arange(20.0)[:, None]
    short = baseline_forecasts(values, np.array([2, 3]), 2, lookback=2, period=7)
    assert set(short) == {"naive", "drift", "mean"}  # no full season before row 2
    full = baseline_forecasts(values, np.array([8, 9]), 2, lookback=2, period=7)
    assert set(full) == {"naive", "seasonal_naive", "drift", "mean"}
    assert "drift" not in baseline_forecasts(values, np.array([8]), 2, lookback=1, period=1)


def test_baselines_never_read_the_window_or_later_rows() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 2))
    starts = np.arange(30, 50)
    before = baseline_forecasts(values, starts, 4, lookback=12, period=7)
    changed = values.copy()
    changed[30:] = 1e6  # everything from the first window's targets on
    after = baseline_forecasts(changed, starts[:1], 4, lookback=12, period=7)
    for name, forecast in after.items():
        np.testing.assert_array_equal(forecast, before[name][:1])
