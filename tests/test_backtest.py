"""Rolling-origin backtests: fold plans, leakage, refit policies and their reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.errors import DataError, UsageError
from rnncast.folds import default_step, plan_folds
from tests.conftest import FAST

WINDOW = {"lookback": 20, "horizon": 5}


def test_folds_end_at_the_last_origin_with_a_full_horizon() -> None:
    plan = plan_folds(rows=100, horizon=5, folds=3, step=10, window="expanding", minimum_history=30)
    origins = np.concatenate([fold.origins for fold in plan])
    assert origins.tolist() == list(range(66, 96))  # the last origin's targets are rows 95..99
    assert [fold.origin for fold in plan] == [66, 76, 86]
    assert all(fold.history_start == 0 for fold in plan)


def test_sliding_folds_keep_the_first_folds_history_length() -> None:
    plan = plan_folds(rows=100, horizon=5, folds=3, step=10, window="sliding", minimum_history=30)
    assert [(fold.history_start, fold.origin) for fold in plan] == [(0, 66), (10, 76), (20, 86)]


def test_folds_that_leave_too_little_history_are_refused() -> None:
    with pytest.raises(UsageError, match="fewer --folds"):
        plan_folds(rows=100, horizon=5, folds=10, step=10, window="expanding", minimum_history=30)


def test_default_step_shares_the_test_fraction_between_folds() -> None:
    assert default_step(1000, 5, 0.15) == 30
    assert default_step(10, 5, 0.15) == 1


@pytest.fixture(scope="module")
def backtest_report(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    report_dir = tmp_path_factory.mktemp("reports") / "backtest"
    report = rnncast.backtest(prices_csv, folds=2, step=15, report_dir=report_dir, **WINDOW, **FAST)
    return report, report_dir


def test_backtest_reports_each_fold_and_the_pooled_windows(backtest_report: tuple[dict, Path]) -> None:
    report, _ = backtest_report
    assert [fold["fold"] for fold in report["folds"]] == [1, 2]
    assert [fold["windows"] for fold in report["folds"]] == [15, 15]
    assert report["windows"] == 30
    assert report["folds"][1]["history_rows"] == report["folds"][0]["history_rows"] + 15
    assert set(report["metrics"]) == {"model", "naive", "seasonal_naive", "naive2", "drift", "mean"}
    assert report["last_target_time"] == "2017-11-10T00:00:00"  # the file's last row
    assert all(fold["trained"] for fold in report["folds"])


def test_forecasts_csv_reproduces_the_reported_rmse(backtest_report: tuple[dict, Path]) -> None:
    report, report_dir = backtest_report
    forecasts = pd.read_csv(report_dir / "forecasts.csv")
    assert len(forecasts) == 30 * 5
    for name in ("model", "naive", "drift"):
        rmse = np.sqrt(np.mean((forecasts["actual"] - forecasts[name]) ** 2))
        assert rmse == pytest.approx(report["metrics"][name]["original"]["rmse"], rel=1e-6)
    fold_two = forecasts[forecasts["fold"] == 2]
    rmse = np.sqrt(np.mean((fold_two["actual"] - fold_two["model"]) ** 2))
    assert rmse == pytest.approx(report["folds"][1]["metrics"]["model"]["original"]["rmse"], rel=1e-6)


def test_nothing_after_an_origin_reaches_its_fold(prices_csv: Path, tmp_path: Path) -> None:
    """Rows from fold 2's first origin on are replaced by wild values: every forecast whose
    inputs end before that row must be bit-for-bit the same (same scaler, same network)."""
    frame = pd.read_csv(prices_csv)
    first_origin_of_fold_two = len(frame) - 5 + 1 - 15
    changed = frame.copy()
    numeric = ["Open", "High", "Low", "Close", "Volume"]
    changed.loc[first_origin_of_fold_two:, numeric] *= 7.0
    changed_csv = tmp_path / "changed.csv"
    changed.to_csv(changed_csv, index=False)
    runs = {}
    for name, path in (("real", prices_csv), ("changed", changed_csv)):
        report_dir = tmp_path / name
        rnncast.backtest(path, folds=2, step=15, report_dir=report_dir, **WINDOW, **FAST)
        runs[name] = pd.read_csv(report_dir / "forecasts.csv")
    real, other = runs["real"], runs["changed"]
    fold_one = real["fold"] == 1
    first_of_fold_two = (real["fold"] == 2) & (
        real["origin"] == real.loc[real["fold"] == 2, "origin"].iloc[0]
    )
    unaffected = fold_one | first_of_fold_two
    assert unaffected.sum() == 16 * 5
    np.testing.assert_array_equal(real.loc[unaffected, "model"], other.loc[unaffected, "model"])
    np.testing.assert_array_equal(real.loc[unaffected, "naive"], other.loc[unaffected, "naive"])
    # ... while the changed rows really do reach the later windows' inputs
    assert not np.allclose(real.loc[~unaffected, "model"], other.loc[~unaffected, "model"])


def test_refit_never_trains_once_and_slides_the_origin(prices_csv: Path) -> None:
    report = rnncast.backtest(
        prices_csv, folds=3, step=10, refit="never", seasonal_period=3, **WINDOW, **FAST
    )
    assert [fold["trained"] for fold in report["folds"]] == [True, False, False]
    assert report["seasonal_period"] == report["mase_period"] == 3  # the user's season, not 5
    assert report["backtest"]["refit"] == "never"
    history = {fold["training"]["seconds"] for fold in report["folds"]}
    assert len(history) == 1  # the same training run serves every fold


def test_unknown_refit_policy_is_a_usage_error(prices_csv: Path) -> None:
    with pytest.raises(UsageError, match="--refit"):
        rnncast.backtest(prices_csv, refit="sometimes", **WINDOW, **FAST)


def test_values_filled_by_fill_are_never_scored(prices_csv: Path, tmp_path: Path) -> None:
    gappy = pd.read_csv(prices_csv)
    blanks = gappy.index[-60::7]  # closing prices missing in the scored span
    gappy.loc[blanks, "Close"] = np.nan
    path = tmp_path / "gappy.csv"
    gappy.to_csv(path, index=False)
    report = rnncast.backtest(path, folds=2, step=15, report_dir=tmp_path / "report", **WINDOW, **FAST)
    assert report["unobserved_actuals_skipped"] > 0
    assert any("forward-filled" in note for note in report["data_notes"])
    forecasts = pd.read_csv(tmp_path / "report" / "forecasts.csv")
    missing_times = set(forecasts.loc[forecasts["actual"].isna(), "time"])
    assert missing_times  # exactly the filled values that fall in the scored span:
    assert missing_times == set(gappy.loc[blanks, "Date"]) & set(forecasts["time"])
    scored = forecasts.dropna(subset=["actual"])
    rmse = np.sqrt(np.mean((scored["actual"] - scored["naive"]) ** 2))
    assert rmse == pytest.approx(report["metrics"]["naive"]["original"]["rmse"], rel=1e-6)
    with pytest.raises(UsageError, match="interpolate"):
        rnncast.backtest(path, folds=2, step=15, fill="interpolate", **WINDOW, **FAST)


def test_several_targets_are_judged_in_scaled_units(prices_csv: Path) -> None:
    report = rnncast.backtest(
        prices_csv, target="Close,Volume", folds=2, step=10, refit="never", **WINDOW, **FAST
    )
    assert report["verdict_units"] == "scaled"
    for target, best in report["per_target_best_baseline"].items():
        assert report["per_target"][target][best]["original"]["skill"] == pytest.approx(0.0)


@pytest.mark.parametrize(("folds", "step"), [(0, None), (2, 0)])
def test_folds_and_step_must_be_positive(prices_csv: Path, folds: int, step: int | None) -> None:
    with pytest.raises(UsageError, match="at least 1"):
        rnncast.backtest(prices_csv, folds=folds, step=step, **WINDOW, **FAST)


def test_too_short_for_the_defaults_is_a_data_error(prices_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    pd.read_csv(prices_csv).head(20).to_csv(path, index=False)  # a month of trading days
    with pytest.raises(DataError, match="rows of history"):
        rnncast.backtest(path, **FAST)


def test_left_out_baselines_are_named(prices_csv: Path) -> None:
    report = rnncast.backtest(prices_csv, folds=1, step=5, seasonal_period=1, refit="never", **WINDOW, **FAST)
    assert "seasonal_naive" not in report["metrics"]
    notes = " ".join(report["evaluation_notes"])
    assert "seasonal_naive is left out" in notes and "only 25 actual values" in notes
