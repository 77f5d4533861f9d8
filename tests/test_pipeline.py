"""The Python API end to end, on small slices of real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import BUNDLE_FILES
from rnncast.errors import DataError
from tests.conftest import FAST


@pytest.fixture(scope="module")
def price_bundle(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "prices"
    rnncast.train(prices_csv, out=out, lookback=20, horizon=5, **FAST)
    return out


def test_bundle_holds_exactly_the_documented_files(price_bundle: Path) -> None:
    assert sorted(p.name for p in price_bundle.iterdir()) == sorted(BUNDLE_FILES)
    metadata = json.loads((price_bundle / "metadata.json").read_text())
    assert metadata["format_version"] == 1
    assert metadata["data"]["frequency"] == "B"
    assert metadata["model"]["targets"] == ["Close"]
    assert set(metadata["versions"]) >= {"rnncast", "tensorflow", "keras", "python"}
    assert metadata["training"]["epochs_run"] == 1


def test_runs_latest_follows_the_newest_bundle_wherever_it_is(prices_csv: Path, tmp_path: Path) -> None:
    rnncast.train(prices_csv, out=tmp_path / "one", lookback=10, horizon=2, **FAST)
    assert Path("runs/latest").resolve() == (tmp_path / "one").resolve()
    rnncast.train(prices_csv, out=tmp_path / "elsewhere" / "two", lookback=10, horizon=2, **FAST)
    assert Path("runs/latest").resolve() == (tmp_path / "elsewhere" / "two").resolve()
    assert rnncast.info()["path"] == str((tmp_path / "elsewhere" / "two").resolve())


def test_scaler_is_fitted_on_training_rows_only(price_bundle: Path, prices_csv: Path) -> None:
    metadata = json.loads((price_bundle / "metadata.json").read_text())
    scaler = json.loads((price_bundle / "scaler.json").read_text())
    close = pd.read_csv(prices_csv)["Close"]
    train_rows = metadata["split"]["train_rows"]
    assert scaler["columns"]["Close"]["offset"] == pytest.approx(close[:train_rows].mean())
    assert scaler["columns"]["Close"]["scale"] == pytest.approx(close[:train_rows].std(ddof=0))
    assert scaler["columns"]["Close"]["offset"] != pytest.approx(close.mean())


def test_forecast_continues_on_business_days(price_bundle: Path, prices_csv: Path) -> None:
    result = rnncast.forecast(price_bundle)
    last = pd.read_csv(prices_csv)["Date"].iloc[-1]  # 2017-11-10, a Friday
    expected = pd.bdate_range(pd.Timestamp(last) + pd.offsets.BDay(), periods=5)
    assert list(result.frame.index) == list(expected)
    assert all(day.day_of_week < 5 for day in result.frame.index)
    assert list(result.frame.columns) == ["Close"]
    values = result.frame["Close"].to_numpy()
    assert np.isfinite(values).all()
    close = pd.read_csv(prices_csv)["Close"]
    assert close.min() * 0.5 < values.mean() < close.max() * 1.5  # original units, not scaled


def test_forecast_from_a_newer_file_starts_after_its_last_row(
    price_bundle: Path, prices_csv: Path, tmp_path: Path
) -> None:
    older = pd.read_csv(prices_csv).iloc[:-10]
    path = tmp_path / "older.csv"
    older.to_csv(path, index=False)
    result = rnncast.forecast(price_bundle, data=path)
    assert result.frame.index[0] == pd.Timestamp(older["Date"].iloc[-1]) + pd.offsets.BDay()


def test_forecast_refuses_a_file_without_the_trained_columns(price_bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    pd.DataFrame({"Date": pd.bdate_range("2020-01-01", periods=100), "Price": np.arange(100.0)}).to_csv(
        path, index=False
    )
    with pytest.raises(DataError, match="does not match the model"):
        rnncast.forecast(price_bundle, data=path)


def test_forecast_refuses_data_of_another_frequency(price_bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "hourly.csv"
    stamps = pd.date_range("2020-01-01", periods=200, freq="h")
    pd.DataFrame({"Date": stamps, "Close": np.arange(200.0)}).to_csv(path, index=False)
    with pytest.raises(DataError, match="'B'"):
        rnncast.forecast(price_bundle, data=path)


def test_evaluate_reproduces_the_training_report(price_bundle: Path) -> None:
    stored = json.loads((price_bundle / "report.json").read_text())
    fresh = rnncast.evaluate(price_bundle)
    assert fresh["windows"] == stored["windows"]
    for name in ("model", "naive", "seasonal_naive"):
        for units in ("original", "scaled"):
            assert fresh["metrics"][name][units]["mse"] == pytest.approx(
                stored["metrics"][name][units]["mse"], rel=1e-5
            )


def test_info_reads_the_bundle_without_tensorflow(price_bundle: Path) -> None:
    details = rnncast.info(price_bundle)
    assert details["model"]["lookback"] == 20
    assert details["report"]["metrics"]["naive"]["original"]["rmse"] > 0


def test_month_end_trading_days_forecast_month_ends(tmp_path: Path) -> None:
    """Monthly closes on the last trading day (2019-11-29 was a Friday) continue as such."""
    stamps = pd.date_range("2012-01-01", "2019-12-31", freq="BME")
    path = tmp_path / "monthly_closes.csv"
    pd.DataFrame({"Date": stamps, "Close": 100 + np.arange(len(stamps)) * 0.7}).to_csv(path, index=False)
    rnncast.train(path, out=tmp_path / "m", lookback=12, horizon=3, **FAST)
    frame = rnncast.forecast(tmp_path / "m").frame
    assert [str(d.date()) for d in frame.index] == ["2020-01-31", "2020-02-28", "2020-03-31"]


def test_mid_month_series_forecasts_the_same_day_of_month(tmp_path: Path) -> None:
    stamps = pd.date_range("2015-01-01", periods=90, freq="MS") + pd.Timedelta(days=14)  # the 15th
    path = tmp_path / "mid_month.csv"
    pd.DataFrame({"date": stamps, "value": np.sin(np.arange(90) / 2) + 5}).to_csv(path, index=False)
    rnncast.train(path, out=tmp_path / "m", lookback=12, horizon=2, **FAST)
    frame = rnncast.forecast(tmp_path / "m").frame
    assert list(frame.index) == [pd.Timestamp("2022-07-15"), pd.Timestamp("2022-08-15")]


def test_hourly_multistep_forecast_crosses_midnight(hourly_csv: Path, tmp_path: Path) -> None:
    rnncast.train(hourly_csv, out=tmp_path / "temps", lookback=24, horizon=6, **FAST)
    frame = rnncast.forecast(tmp_path / "temps").frame
    last = pd.Timestamp(pd.read_csv(hourly_csv)["date"].iloc[-1].replace("/", "-"))
    assert list(frame.index) == list(pd.date_range(last + pd.Timedelta(hours=1), periods=6, freq="h"))


def test_monthly_crlf_series_forecasts_month_starts(monthly_crlf_csv: Path, tmp_path: Path) -> None:
    result = rnncast.train(monthly_crlf_csv, out=tmp_path / "monthly", **FAST)
    assert result.metadata["model"]["lookback"] <= 24 and result.metadata["model"]["horizon"] == 12
    frame = rnncast.forecast(tmp_path / "monthly").frame
    assert frame.index[0] == pd.Timestamp("2015-01-01")
    assert list(frame.index) == list(pd.date_range("2015-01-01", periods=12, freq="MS"))


def test_several_targets_and_features(prices_csv: Path, tmp_path: Path) -> None:
    result = rnncast.train(
        prices_csv,
        out=tmp_path / "multi",
        target="Close,Open",
        features=("Volume",),
        lookback=10,
        horizon=3,
        **FAST,
    )
    assert result.metadata["model"]["targets"] == ["Close", "Open"]
    assert result.metadata["model"]["features"] == ["Volume"]
    assert set(result.report["per_target"]) == {"Close", "Open"}
    frame = rnncast.forecast(tmp_path / "multi").frame
    assert list(frame.columns) == ["Close", "Open"] and frame.shape == (3, 2)


@pytest.mark.parametrize("cell", ["gru", "simple_rnn"])
def test_same_seed_gives_the_same_numbers(prices_csv: Path, tmp_path: Path, cell: str) -> None:
    settings = {**FAST, "epochs": 2, "lookback": 10, "horizon": 2, "model": cell, "residual": False}
    first = rnncast.train(prices_csv, out=tmp_path / "a", **settings).report
    second = rnncast.train(prices_csv, out=tmp_path / "b", **settings).report
    assert first["metrics"]["model"]["scaled"]["mse"] == second["metrics"]["model"]["scaled"]["mse"]


def test_retraining_replaces_the_bundle_whole(prices_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "prices"
    rnncast.train(prices_csv, out=out, lookback=10, horizon=2, **FAST)
    rnncast.train(prices_csv, out=out, lookback=12, horizon=2, **FAST)
    assert rnncast.info(out)["model"]["lookback"] == 12
    # No temp dirs left; the lock file stays (removing it would race with a waiting run).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".prices.lock", "prices"]
