"""--indicators: values against hand computations, no look-ahead, and the whole train -> forecast path."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from rnncast.bundle import load_bundle
from rnncast.cli import app
from rnncast.errors import ExitCode, UsageError
from rnncast.indicators import compute_indicators, indicator_names, warm_up_rows
from tests.test_cli import assert_one_line_error

ALL = ("returns", "log_returns", "sma:3", "ema:3", "rsi:3", "volatility:3")
PRICES = np.array([10.0, 11.0, 10.5, 12.0, 12.0, 11.0, 13.0])


def run(*args: str | Path) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_values_match_hand_computations() -> None:
    got = compute_indicators(PRICES, ALL)
    assert list(got.columns) == ["returns", "log_returns", "sma_3", "ema_3", "rsi_3", "volatility_3"]
    nan = math.nan
    np.testing.assert_allclose(got["returns"], [nan, 0.1, -0.5 / 11, 1.5 / 10.5, 0.0, -1 / 12, 2 / 11])
    logs = [nan, *(math.log(b / a) for a, b in itertools.pairwise(PRICES))]
    np.testing.assert_allclose(got["log_returns"], logs)
    np.testing.assert_allclose(got["sma_3"], [nan, nan, 31.5 / 3, 33.5 / 3, 34.5 / 3, 35 / 3, 36 / 3])
    # alpha = 2 / (3 + 1) = 0.5 from y0 = x0; the first 2 rows are warm-up.
    np.testing.assert_allclose(got["ema_3"], [nan, nan, 10.5, 11.25, 11.625, 11.3125, 12.15625])
    # Wilder: changes +1, -0.5, +1.5 seed gain 2.5/3 and loss 0.5/3 (RS 5); then avg = (2 avg + x) / 3.
    gain, loss, rsi = 2.5 / 3, 0.5 / 3, []
    rsi.append(100 - 100 / (1 + gain / loss))
    for change in (0.0, -1.0, 2.0):
        gain, loss = (2 * gain + max(change, 0)) / 3, (2 * loss + max(-change, 0)) / 3
        rsi.append(100 - 100 / (1 + gain / loss))
    np.testing.assert_allclose(got["rsi_3"], [nan, nan, nan, *rsi])
    volatility = [nan, nan, nan, *(np.std(logs[i - 2 : i + 1], ddof=1) for i in range(3, 7))]
    np.testing.assert_allclose(got["volatility_3"], volatility)
    for spec in ALL:  # exactly the warm-up rows are undefined
        column = got[indicator_names([spec])[0]].to_numpy()
        assert (
            np.isnan(column[: warm_up_rows(spec)]).all() and np.isfinite(column[warm_up_rows(spec) :]).all()
        )


def test_rsi_of_spans_without_losses_gains_or_either() -> None:
    rising = compute_indicators(np.arange(1.0, 8.0), ["rsi:3"])["rsi_3"].to_numpy()
    falling = compute_indicators(np.arange(8.0, 1.0, -1), ["rsi:3"])["rsi_3"].to_numpy()
    flat = compute_indicators(np.full(7, 5.0), ["rsi:3"])["rsi_3"].to_numpy()
    assert (rising[3:] == 100).all() and (falling[3:] == 0).all() and (flat[3:] == 50).all()


def test_no_indicator_reads_a_value_after_its_row() -> None:
    rng = np.random.default_rng(0)
    prices = 50 + np.cumsum(rng.normal(0, 1, 80))
    specs = (*ALL, "sma:10", "ema:10", "rsi:14", "volatility:10")
    before = compute_indicators(prices, specs).to_numpy()
    for t in range(0, 79, 7):
        changed = prices.copy()
        changed[t + 1 :] += rng.normal(0, 5, len(prices) - t - 1)  # every later row, not the past
        after = compute_indicators(changed, specs).to_numpy()
        np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
        assert not np.allclose(after[t + 1 :], before[t + 1 :], equal_nan=True)  # the change is seen


def test_repeated_indicators_are_refused() -> None:
    with pytest.raises(UsageError, match="names sma_20 twice"):
        indicator_names(["sma:20", "SMA:20"])


@pytest.fixture(scope="module")
def ohlc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny OHLC-like daily price file: 260 business days of a noisy trend."""
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0.001, 0.01, 260)))
    frame = pd.DataFrame(
        {
            "Date": pd.bdate_range("2023-01-02", periods=260).strftime("%Y-%m-%d"),
            "Open": close * (1 + rng.normal(0, 0.002, 260)),
            "High": close * 1.01,
            "Low": close * 0.99,
            "Close": close,
            "Volume": rng.integers(1_000, 5_000, 260),
        }
    ).round(4)
    path = tmp_path_factory.mktemp("ohlc") / "ohlc.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_forecast_detect_and_update_with_indicators(ohlc: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "m"
    specs = "returns,log_returns,sma:5,ema:5,rsi:5,volatility:5"
    flags = ["--lookback", "10", "--horizon", "2", "--epochs", "1", "--units", "4", "--batch-size", "32"]
    trained = run("train", ohlc, "--out", bundle, "--features", "Volume", "--indicators", specs, *flags)
    assert trained.exit_code == 0, trained.output
    assert "dropped the first 5 row(s)" in trained.stderr  # rsi:5 and volatility:5 need 5 changes
    metadata = load_bundle(bundle, with_model=False).metadata
    names = ["returns", "log_returns", "sma_5", "ema_5", "rsi_5", "volatility_5"]
    assert metadata["model"]["features"] == ["Volume", *names]  # after the user's features
    assert metadata["config"]["indicators"] == specs.split(",")
    assert metadata["data"]["rows"] == 255 and metadata["data"]["first_timestamp"].startswith("2023-01-09")

    # A new file holds only the file's own columns; the indicators are computed again.
    newer = pd.read_csv(ohlc)[["Date", "Close", "Volume"]].tail(60)
    newer_path = tmp_path / "newer.csv"
    newer.to_csv(newer_path, index=False)
    forecast = run("forecast", "-m", bundle, "--data", newer_path, "--json", "--no-ledger")
    assert forecast.exit_code == 0, forecast.output
    rows = json.loads(forecast.stdout)["forecast"]
    assert len(rows) == 2 and all(math.isfinite(row["Close"]) for row in rows)

    detected = run(
        "detect", "-m", bundle, "--data", newer_path, "-o", tmp_path / "a.csv", "--json", "--no-plot"
    )
    assert detected.exit_code == 0, detected.output
    assert json.loads(detected.stdout)["rows_scored"] == 60 - 5 - 10  # warm-up, then the lookback

    # update recomputes the same rows (same digest) and fine-tunes on the appended ones.
    longer = pd.concat([pd.read_csv(ohlc), newer.tail(1).assign(Date="2024-01-01")])
    longer_path = tmp_path / "longer.csv"
    longer.to_csv(longer_path, index=False)
    updated = run("update", "-m", bundle, "--data", longer_path, "--epochs", "1", "--json")
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.stdout)["status"] == "updated"


def test_check_reports_indicator_features_and_rows(ohlc: Path) -> None:
    result = run("check", ohlc, "--target", "Close", "--indicators", "sma:20,rsi:14", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["features"] == ["sma_20", "rsi_14"]
    assert summary["data"]["rows"] == 260 - 19  # sma:20 needs 20 rows, rsi:14 only 15
    assert "dropped the first 19 row(s)" in result.stderr


def test_a_name_taken_by_a_column_is_refused(ohlc: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(ohlc)
    frame["SMA_5"] = frame["Close"]
    path = tmp_path / "taken.csv"
    frame.to_csv(path, index=False)
    result = run("check", path, "--target", "Close", "--features", "SMA_5", "--indicators", "sma:5")
    assert_one_line_error(result, ExitCode.USAGE, "feature named 'sma_5'", "column 'SMA_5'")
    again = run("check", ohlc, "--target", "Close", "--indicators", "ema:5,ema:5")
    assert_one_line_error(again, ExitCode.USAGE, "names ema_5 twice")


def test_values_at_or_below_zero_are_refused_where_a_log_or_ratio_needs_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=120, freq="D"), "pnl": rng.normal(0, 1, 120).round(3)}
    )
    frame.loc[7, "pnl"] = -2.5
    path = tmp_path / "pnl.csv"
    frame.to_csv(path, index=False)
    for spec in ("log_returns", "returns", "volatility:5"):
        result = run("check", path, "--indicators", f"sma:5,{spec}")
        assert_one_line_error(result, ExitCode.DATA, spec, "column 'pnl'", "at or below zero")
    fine = run("check", path, "--indicators", "sma:5,ema:5,rsi:5", "--json")  # defined for any values
    assert fine.exit_code == 0, fine.output
