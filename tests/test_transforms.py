"""--transform diff|log|pct: the network learns changes; forecasts and scores are in levels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.config import TrainConfig
from rnncast.errors import DataError, ExitCode, UsageError
from rnncast.transforms import check_transformable, to_changes, to_levels, window_changes
from tests.conftest import FAST, SAMPLE_DATA
from tests.test_cli import assert_one_line_error, run

LOOKBACK, HORIZON = 20, 5
TRANSFORMS = ["diff", "log", "pct"]


def msft_close() -> np.ndarray:
    return pd.read_csv(SAMPLE_DATA / "msft_daily.csv")["Close"].to_numpy(dtype=np.float64)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_levels_are_recovered_exactly_from_their_changes(transform: str) -> None:
    prices = msft_close()[-300:, None]
    changes = to_changes(prices, 1, transform)
    assert changes[0, 0] == 0.0  # no change into the first row
    starts = np.array([50, 120, 280])
    future = np.stack([changes[s : s + HORIZON] for s in starts])
    levels = to_levels(future, prices[starts - 1], transform)
    np.testing.assert_allclose(levels, np.stack([prices[s : s + HORIZON] for s in starts]), rtol=1e-12)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_a_window_s_changes_read_only_its_rows_and_the_one_before(transform: str) -> None:
    values = np.column_stack([msft_close()[-200:], np.arange(200.0)])  # a target and a feature
    whole = to_changes(values, 1, transform)
    np.testing.assert_array_equal(window_changes(values, 40, 90, 1, transform), whole[40:90])
    np.testing.assert_array_equal(window_changes(values, 0, 30, 1, transform), whole[:30])
    np.testing.assert_array_equal(whole[:, 1], values[:, 1])  # features are read as they are


def test_no_transform_leaves_values_untouched() -> None:
    values = msft_close()[:50, None]
    assert to_changes(values, 1, "none") is values
    changes = np.ones((2, 3, 1))
    assert to_levels(changes, values[:2], "none") is changes


@pytest.mark.parametrize("transform", ["log", "pct"])
def test_ratio_transforms_refuse_values_at_or_below_zero(transform: str) -> None:
    values = np.array([[3.0], [2.0], [0.0], [1.0]])
    with pytest.raises(DataError, match=r"'y' is 0 at row 3"):
        check_transformable(values, ("y",), transform)
    check_transformable(values, ("y",), "diff")


def test_mc_dropout_intervals_are_refused_with_a_transform() -> None:
    with pytest.raises(UsageError, match="mc-dropout samples changes"):
        TrainConfig(transform="log", intervals=(90.0,), interval_method="mc-dropout", dropout=0.1)


@pytest.fixture(scope="module")
def log_bundle(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("transform") / "log"
    rnncast.train(prices_csv, out=out, lookback=LOOKBACK, horizon=HORIZON, transform="log", **FAST)
    return out


def test_forecast_is_the_network_s_log_returns_compounded_from_the_last_price(
    log_bundle: Path, prices_csv: Path
) -> None:
    frame = rnncast.forecast(log_bundle, ledger=False).frame
    bundle = load_bundle(log_bundle)
    assert bundle.config.transform == "log"
    close = pd.read_csv(prices_csv)["Close"].to_numpy(dtype=np.float64)
    returns = np.log(close[-LOOKBACK:] / close[-LOOKBACK - 1 : -1])[None, :, None]
    scaled = bundle.scaler.transform(returns).astype(np.float32)
    predicted = bundle.scaler.inverse(bundle.model.predict(scaled, verbose=0), ("Close",))[0, :, 0]
    expected = close[-1] * np.exp(np.cumsum(predicted))
    np.testing.assert_allclose(frame["Close"].to_numpy(), expected, rtol=1e-5)


def test_scores_are_in_prices_and_scaled_by_the_spread_of_prices(log_bundle: Path) -> None:
    report = json.loads((log_bundle / "report.json").read_text())
    naive = report["metrics"]["naive"]
    model = report["metrics"]["model"]
    # The naive baseline reads prices, whatever the model learned: its MAE is that of prices.
    assert naive["original"]["mae"] > 0.1
    ratio = naive["original"]["mse"] / naive["scaled"]["mse"]
    assert ratio == pytest.approx(model["original"]["mse"] / model["scaled"]["mse"])
    assert 1.0 < ratio < 1e4  # a price spread squared, not a daily return's (about 1e-4)


def test_evaluate_reproduces_the_training_report(log_bundle: Path) -> None:
    report = json.loads((log_bundle / "report.json").read_text())
    again = rnncast.evaluate(log_bundle)
    assert again["metrics"]["model"]["original"]["mse"] == pytest.approx(
        report["metrics"]["model"]["original"]["mse"], rel=1e-5
    )


def test_cli_refuses_log_returns_of_a_series_that_goes_negative(tmp_path: Path) -> None:
    frame = pd.read_csv(SAMPLE_DATA / "msft_daily.csv").tail(200)
    frame["Close"] = frame["Close"] - frame["Close"].mean()  # half of it below zero
    path = tmp_path / "centred.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "never"
    result = run("train", path, "--transform", "log", "--out", out, "--lookback", "20", "--horizon", "5")
    assert_one_line_error(result, ExitCode.DATA, "--transform log needs target values above zero")
    assert not out.exists()


def test_many_series_learn_percentage_returns(tmp_path: Path) -> None:
    out = tmp_path / "stocks"
    result = run(
        "train",
        SAMPLE_DATA / "stocks_monthly.csv",
        "--id-col",
        "symbol",
        "--transform",
        "pct",
        "--out",
        out,
        "--lookback",
        "12",
        "--horizon",
        "3",
        *[f"--{name.replace('_', '-')}={value}" for name, value in FAST.items()],
    )
    assert result.exit_code == 0, result.output
    forecast = rnncast.forecast(out, ledger=False).frame
    assert len(forecast) == 5 * 3
    assert (forecast["price"] > 0).all()
    last = pd.read_csv(SAMPLE_DATA / "stocks_monthly.csv").groupby("symbol")["price"].last()
    first_step = forecast.groupby("symbol")["price"].first()
    # A month's percentage return from the last price: the same order of magnitude.
    assert ((first_step / last[first_step.index]).between(0.5, 2.0)).all()


def test_check_refuses_a_series_log_returns_cannot_take_and_names_it(tmp_path: Path) -> None:
    frame = pd.read_csv(SAMPLE_DATA / "stocks_monthly.csv")
    frame.loc[frame.index[frame["symbol"] == "IBM"][5], "price"] = -1.0  # one bad price
    path = tmp_path / "bad_ibm.csv"
    frame.to_csv(path, index=False)
    result = run(
        "check", path, "--id-col", "symbol", "--transform", "log", "--lookback", "12", "--horizon", "3"
    )
    assert_one_line_error(
        result, ExitCode.DATA, "series 'IBM': --transform log needs target values above zero"
    )
