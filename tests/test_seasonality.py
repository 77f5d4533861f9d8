"""The M4 competition's seasonality test, classical decomposition and Naive2, and OWA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.baselines import baseline_forecasts, naive_forecast
from rnncast.evaluation import in_sample, score_forecasts
from rnncast.metrics import mae, owa
from rnncast.seasonality import autocorrelation, classical_indices, is_seasonal, seasonal_adjustment

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
SEASON = np.array([0.8, 0.9, 1.0, 1.1, 1.3, 0.9])  # mean 1.0, period 6


def test_constant_level_times_a_season_recovers_the_season() -> None:
    values = 50.0 * np.tile(SEASON, 20)
    assert is_seasonal(values, 6)
    indices = classical_indices(values, 6, multiplicative=True)
    np.testing.assert_allclose(indices, SEASON, rtol=1e-12)


def test_indices_follow_absolute_row_positions() -> None:
    values = 50.0 * np.tile(SEASON, 20)
    later = seasonal_adjustment(values[4:, None], 6, first_row=4)
    np.testing.assert_allclose(later.indices[:, 0], SEASON, rtol=1e-12)


def test_odd_season_uses_a_plain_moving_average() -> None:
    season = np.array([0.7, 1.0, 1.3])
    values = 20.0 * np.tile(season, 30)
    np.testing.assert_allclose(classical_indices(values, 3, multiplicative=True), season, rtol=1e-12)


def test_naive2_reseasonalises_the_adjusted_last_value() -> None:
    values = 50.0 * np.tile(SEASON, 20)
    adjustment = seasonal_adjustment(values[:90, None], 6)
    values[84:] *= 1.2  # a new level: Naive2 carries it, with the season on top
    forecast = adjustment.naive2(values[:, None], np.array([90]), 12)
    np.testing.assert_allclose(forecast[0, :, 0], values[90:102], rtol=1e-9)


def test_white_noise_is_not_seasonal_and_naive2_is_naive() -> None:
    rng = np.random.default_rng(0)
    values = 100.0 + rng.normal(size=(400, 1))
    adjustment = seasonal_adjustment(values, 24)
    assert not adjustment.seasonal[0]
    starts = np.array([300, 350])
    np.testing.assert_allclose(adjustment.naive2(values, starts, 5), naive_forecast(values, starts, 5))


def test_too_short_a_history_is_not_tested() -> None:
    values = 50.0 * np.tile(SEASON, 2)  # two seasons: the test needs three
    assert not is_seasonal(values, 6)


def test_non_positive_history_is_adjusted_additively() -> None:
    additive = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 0.0])
    values = np.tile(additive, 20)[:, None] - 2.0  # negative values: no ratios
    adjustment = seasonal_adjustment(values, 6)
    assert adjustment.seasonal[0] and not adjustment.multiplicative[0]
    np.testing.assert_allclose(adjustment.indices[:, 0], additive, atol=1e-12)
    forecast = adjustment.naive2(values, np.array([100]), 6)
    np.testing.assert_allclose(forecast[0, :, 0], values[100:106, 0], atol=1e-9)


def test_autocorrelation_of_a_constant_is_undefined_and_not_seasonal() -> None:
    values = np.full(100, 7.0)
    assert np.isnan(autocorrelation(values, 3))
    assert not is_seasonal(values, 6)


def test_autocorrelation_leaves_out_unobserved_rows() -> None:
    values = 50.0 * np.tile(SEASON, 20)
    gappy = values.copy()
    gappy[[10, 31]] = np.nan
    assert is_seasonal(gappy, 6)
    np.testing.assert_allclose(classical_indices(gappy, 6, multiplicative=True), SEASON, rtol=1e-2)


def test_naive2_beats_naive_on_real_hourly_temperatures() -> None:
    temps = pd.read_csv(SAMPLE / "seattle_temps_hourly.csv")["temp"].to_numpy(dtype=np.float64)[:, None]
    history_end = 2000
    known = in_sample(temps[:history_end], 24)
    assert known.adjustment.seasonal[0]
    starts = np.arange(history_end, history_end + 500)
    baselines = baseline_forecasts(temps, starts, 24, 48, 24, known.adjustment)
    actual = np.stack([temps[s : s + 24] for s in starts])
    assert mae(actual, baselines["naive2"]) < mae(actual, baselines["naive"])


def test_no_naive2_without_a_season() -> None:
    values = np.arange(1.0, 101.0)[:, None]
    known = in_sample(values[:80], 1)
    assert "naive2" not in baseline_forecasts(values, np.array([80]), 5, 10, 1, known.adjustment)


def test_owa_is_the_mean_of_the_relative_smape_and_mase() -> None:
    assert owa(10.0, 0.8, 20.0, 1.0) == pytest.approx(0.5 * (0.5 + 0.8))
    assert np.isnan(owa(10.0, 0.8, 0.0, 1.0))


def test_reports_give_owa_against_naive2() -> None:
    rng = np.random.default_rng(1)
    actual = 100 + rng.normal(size=(40, 6, 1))
    forecasts = {
        "model": actual + rng.normal(scale=0.5, size=actual.shape),
        "naive": actual + rng.normal(scale=2.0, size=actual.shape),
        "naive2": actual + rng.normal(scale=1.0, size=actual.shape),
    }
    report = score_forecasts(actual, forecasts, ("y",), np.ones((1, 1, 1)), np.ones((1, 1, 1)))
    overall = report["metrics"]
    assert overall["naive2"]["original"]["owa"] == pytest.approx(1.0)
    expected = 0.5 * (
        overall["model"]["original"]["smape"] / overall["naive2"]["original"]["smape"]
        + overall["model"]["original"]["mase"] / overall["naive2"]["original"]["mase"]
    )
    assert overall["model"]["original"]["owa"] == pytest.approx(expected)
    assert overall["model"]["original"]["owa"] < 1.0 < overall["naive"]["original"]["owa"]
    assert report["per_target"]["y"]["model"]["scaled"]["owa"] == pytest.approx(expected)
