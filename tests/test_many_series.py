"""One global model over many series (--id-col / --series-columns), on the real sample files.

Each trained bundle is shared by the tests of this module: training runs a handful of times.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.errors import ExitCode
from tests.conftest import FAST, SAMPLE_DATA
from tests.test_cli import assert_one_line_error, run

STOCKS = SAMPLE_DATA / "stocks_monthly.csv"  # symbol,date,price: 5 tickers, GOOG from 2004
TICKERS = {"MSFT", "AMZN", "IBM", "GOOG", "AAPL"}
FLAGS = [f"--{name.replace('_', '-')}={value}" for name, value in FAST.items()]
FLAGS += ["--lookback", "12", "--horizon", "3"]
WIDE_COLUMNS = ["Open", "High", "Low", "Close"]
SCALED_ID = "MSFT ×1000, k"  # a space, a comma and a non-ASCII sign in one id


def train(data: Path, out: Path, *flags: str) -> object:
    result = run("train", data, "--out", out, *flags, *FLAGS)
    assert result.exit_code == 0, result.output
    return result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def forecast_rows(bundle: Path, *flags: str | Path) -> list[dict[str, str]]:
    result = run("forecast", "-m", bundle, "-o", "-", *flags)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def stocks() -> pd.DataFrame:
    return pd.read_csv(STOCKS)


def training_rows(rows: int) -> int:
    """Rows before validation under the default 15% / 15% split (each at least the horizon 3)."""
    return rows - 2 * max(round(rows * 0.15), 3)


def month_rows(symbol: str, start: str, values: list[float], freq: str = "MS") -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(values), freq=freq).strftime("%b %-d %Y")
    return pd.DataFrame({"symbol": symbol, "date": dates, "price": values})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("many")


@pytest.fixture(scope="module")
def long_bundle(data_dir: Path) -> Path:
    out = data_dir / "long"
    train(STOCKS, out, "--id-col", "symbol")
    return out


@pytest.fixture(scope="module")
def wide_csv(prices_csv: Path) -> Path:
    return prices_csv  # the last 400 days of the real MSFT file: Date,Open,High,Low,Close,Volume


@pytest.fixture(scope="module")
def wide_bundle(wide_csv: Path, data_dir: Path) -> Path:
    out = data_dir / "wide"
    train(wide_csv, out, "--series-columns", ",".join(WIDE_COLUMNS))
    return out


@pytest.fixture(scope="module")
def mixed_csv(data_dir: Path) -> Path:
    """The real tickers, IBM cut 6 months short, MSFT x 1000 under an awkward id, and series
    that cannot be trained on: constant, 2 rows, daily, and two too short for a split."""
    frame = stocks()
    dates = pd.to_datetime(frame["date"], format="%b %d %Y")
    frame = frame[~((frame["symbol"] == "IBM") & (dates > "2009-09-01"))]
    scaled = frame[frame["symbol"] == "MSFT"].assign(symbol=SCALED_ID)
    scaled["price"] = scaled["price"] * 1000
    extra = [
        month_rows("FLAT", "2000-01-01", [5.0] * 123),
        month_rows("TINY", "2010-02-01", [1.0, 2.0]),
        month_rows("DAILY", "2009-01-01", list(np.sin(np.arange(200)) + 3), freq="D"),
        month_rows("SHORT", "2008-08-01", [10.0 + i + (i % 3) for i in range(20)]),
        month_rows("STUB", "2009-08-01", [10.0 + i for i in range(8)]),
    ]
    path = data_dir / "mixed.csv"
    pd.concat([frame, scaled, *extra]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def mixed_training(mixed_csv: Path, data_dir: Path) -> tuple[Path, object]:
    out = data_dir / "mixed"
    return out, train(mixed_csv, out, "--id-col", "symbol")


# --- training and the bundle -------------------------------------------------------------


def test_long_training_fits_one_scaler_per_series_on_its_own_training_rows(long_bundle: Path) -> None:
    assert read_json(long_bundle / "metadata.json")["format_version"] == 2
    scalers = read_json(long_bundle / "scaler.json")["series"]
    assert set(scalers) == TICKERS
    frame = stocks()
    for symbol in ("MSFT", "GOOG"):  # GOOG starts in 2004: its own, shorter split
        prices = frame.loc[frame["symbol"] == symbol, "price"].to_numpy()
        train_rows = training_rows(len(prices))
        fitted = scalers[symbol]["price"]
        assert fitted["offset"] == pytest.approx(prices[:train_rows].mean(), rel=1e-9)
        assert fitted["scale"] == pytest.approx(prices[:train_rows].std(ddof=0), rel=1e-9)
        assert fitted["offset"] != pytest.approx(prices.mean(), rel=1e-3)  # not every row
    assert (training_rows(123), training_rows(68)) == (87, 48)
    metadata = read_json(long_bundle / "metadata.json")
    assert metadata["series"]["trained_on"] == 5 and metadata["series"]["id_col"] == "symbol"
    assert metadata["split"]["test_starts"]["GOOG"].startswith("2009-06-01")  # row 58 of 68


def test_wide_training_scales_each_column_on_its_own(wide_bundle: Path, wide_csv: Path) -> None:
    assert read_json(wide_bundle / "metadata.json")["format_version"] == 2
    scalers = read_json(wide_bundle / "scaler.json")["series"]
    assert list(scalers) == WIDE_COLUMNS
    close = pd.read_csv(wide_csv)["Close"].to_numpy()
    fitted = scalers["Close"]["value"]
    assert fitted["offset"] == pytest.approx(close[: training_rows(400)].mean(), rel=1e-9)
    assert fitted["scale"] == pytest.approx(close[: training_rows(400)].std(ddof=0), rel=1e-9)
    assert scalers["High"]["value"]["offset"] > scalers["Low"]["value"]["offset"]


def test_a_single_series_bundle_stays_format_1(prices_csv: Path, tmp_path: Path) -> None:
    train(prices_csv, tmp_path / "one")
    assert read_json(tmp_path / "one" / "metadata.json")["format_version"] == 1
    assert "series" not in read_json(tmp_path / "one" / "scaler.json")


# --- forecast ------------------------------------------------------------------------------


def test_long_forecast_writes_every_series_with_its_id_first(long_bundle: Path) -> None:
    result = run("forecast", "-m", long_bundle, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "symbol,date,price"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["symbol"] for row in rows} == TICKERS and len(rows) == 5 * 3
    for symbol in TICKERS:  # every ticker's own last row is March 2010
        assert [r["date"] for r in rows if r["symbol"] == symbol] == [
            "2010-04-01",
            "2010-05-01",
            "2010-06-01",
        ]
    assert all(float(row["price"]) > 0 for row in rows)


def test_forecast_json_names_the_series_of_every_record(long_bundle: Path) -> None:
    result = run("forecast", "-m", long_bundle, "--json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["forecast"]
    assert len(records) == 15
    assert all(set(record) == {"symbol", "date", "price"} for record in records)
    assert {record["symbol"] for record in records} == TICKERS


def test_wide_forecast_names_each_column_as_a_series(wide_bundle: Path) -> None:
    result = run("forecast", "-m", wide_bundle, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "series,Date,value"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["series"] for row in rows] == [name for name in WIDE_COLUMNS for _ in range(3)]
    assert {row["Date"] for row in rows} == {"2017-11-13", "2017-11-14", "2017-11-15"}


def test_each_series_is_forecast_from_its_own_last_row(mixed_training: tuple[Path, object]) -> None:
    bundle, _ = mixed_training
    rows = forecast_rows(bundle)
    dates = {key: [r["date"] for r in rows if r["symbol"] == key] for key in {r["symbol"] for r in rows}}
    assert dates["IBM"] == ["2009-10-01", "2009-11-01", "2009-12-01"]  # IBM's data ends in September
    assert dates["MSFT"] == dates[SCALED_ID] == ["2010-04-01", "2010-05-01", "2010-06-01"]
    assert dates["SHORT"] == ["2010-04-01", "2010-05-01", "2010-06-01"]  # forecast, never trained on


def test_scaling_is_per_series(mixed_training: tuple[Path, object]) -> None:
    bundle, _ = mixed_training
    rows = forecast_rows(bundle)
    msft = np.array([float(r["price"]) for r in rows if r["symbol"] == "MSFT"])
    scaled = np.array([float(r["price"]) for r in rows if r["symbol"] == SCALED_ID])
    assert len(msft) == len(scaled) == 3
    np.testing.assert_allclose(scaled, 1000 * msft, rtol=1e-4)  # same scaled inputs, own units
    series = read_json(bundle / "scaler.json")["series"]
    assert series[SCALED_ID]["price"]["scale"] == pytest.approx(1000 * series["MSFT"]["price"]["scale"])


def test_awkward_ids_survive_the_round_trip(mixed_training: tuple[Path, object]) -> None:
    bundle, _ = mixed_training
    result = run("forecast", "-m", bundle, "-o", "-")
    assert f'"{SCALED_ID}",2010-04-01,' in result.stdout  # quoted, because of its comma
    payload = json.loads(run("forecast", "-m", bundle, "--json").stdout)
    assert SCALED_ID in {record["symbol"] for record in payload["forecast"]}


# --- series that cannot be used ------------------------------------------------------------


def test_unusable_series_are_left_out_with_a_note(mixed_training: tuple[Path, object]) -> None:
    bundle, result = mixed_training
    notes = result.stderr
    assert "series 'FLAT' left out: column 'price' is constant" in notes
    assert "series 'TINY' left out: has 2 usable row(s)" in notes
    assert "series 'DAILY' left out: is 'D'-spaced, most series are 'MS'-spaced" in notes
    assert "too short to train on (forecast only): 'SHORT', 'STUB'" in notes
    metadata = read_json(bundle / "metadata.json")
    assert set(metadata["series"]["left_out"]) == {"FLAT", "TINY", "DAILY"}
    assert metadata["series"]["forecast_only"] == ["SHORT", "STUB"]
    assert metadata["series"]["trained_on"] == 6
    assert set(read_json(bundle / "scaler.json")["series"]) == TICKERS | {SCALED_ID, "SHORT", "STUB"}
    forecast = run("forecast", "-m", bundle, "-o", "-")
    assert "series 'STUB' not forecast: has 8 rows, the model reads the last 12" in forecast.stderr
    # A constant series is forecast as any series the model never saw (scaled by its own rows).
    assert "1 series the model was not trained on, scaled by their own rows: 'FLAT'" in forecast.stderr
    rows = list(csv.DictReader(io.StringIO(forecast.stdout)))
    assert {row["symbol"] for row in rows} == TICKERS | {SCALED_ID, "SHORT", "FLAT"}
    flat = [float(row["price"]) for row in rows if row["symbol"] == "FLAT"]
    assert flat == pytest.approx([5.0] * 3, abs=0.1)


def test_a_file_of_only_unusable_series_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.concat(
        [month_rows("FLAT", "2000-01-01", [5.0] * 60), month_rows("TINY", "2001-01-01", [1.0, 2.0])]
    ).to_csv(path, index=False)
    for command in ("train", "check"):
        result = run(command, path, "--id-col", "symbol", *FLAGS)
        assert_one_line_error(result, ExitCode.DATA, "no series in bad.csv is usable", "'FLAT'", "'TINY'")


def test_conflicting_duplicate_timestamps_leave_only_that_series_out(tmp_path: Path) -> None:
    frame = stocks()
    again = frame[frame["symbol"] == "IBM"].head(3).assign(price=lambda f: f["price"] + 1)
    path = tmp_path / "dupes.csv"
    pd.concat([frame, again]).to_csv(path, index=False)
    result = run("check", path, "--id-col", "symbol", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    left_out = json.loads(result.stdout)["series"]["left_out"]
    assert list(left_out) == ["IBM"] and "duplicate timestamp" in left_out["IBM"]


def test_a_text_column_of_a_wide_file_is_left_out_by_its_own_name(wide_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "wide_text.csv"
    pd.read_csv(wide_csv).assign(Note="x").to_csv(path, index=False)
    result = run("check", path, "--series-columns", "Open,Note,Close", *FLAGS)
    assert result.exit_code == 0, result.output
    assert "series 'Note' left out: column 'Note' holds text" in result.stderr


def test_rows_without_an_id_exit_3(tmp_path: Path) -> None:
    frame = stocks()
    frame.loc[5, "symbol"] = None
    path = tmp_path / "no_id.csv"
    frame.to_csv(path, index=False)
    result = run("check", path, "--id-col", "symbol", *FLAGS)
    assert_one_line_error(result, ExitCode.DATA, "without a series id in 'symbol'", "data row 6")


# --- settings that cannot work ---------------------------------------------------------------


def test_bad_id_col_settings_exit_2() -> None:
    result = run("train", STOCKS, "--id-col", "nope", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--id-col 'nope'", "'symbol', 'date', 'price'")
    result = run("check", STOCKS, "--id-col", "date", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--id-col 'date' is the time column")
    result = run("train", STOCKS, "--id-col", "symbol", "--series-columns", "price", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--id-col and --series-columns")
    result = run("check", SAMPLE_DATA / "msft_daily.csv", "--series-columns", "Date", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--series-columns names the time column")


def test_an_id_col_of_values_says_so(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    stocks().head(40).to_csv(path, index=False)
    result = run("check", path, "--id-col", "price", *FLAGS)
    assert_one_line_error(
        result, ExitCode.DATA, "no series in", "--id-col 'price' cuts the file into 37 series"
    )


# --- backtest of a global model ------------------------------------------------------------


def backtest_json(data: Path, *flags: str) -> dict:
    result = run("backtest", data, "--json", *flags, *FLAGS)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backtest_scores_every_series_on_its_last_horizon_as_m4_did() -> None:
    report = backtest_json(STOCKS, "--id-col", "symbol", "--folds", "1", "--step", "1")
    frame = stocks()
    assert report["kind"] == "backtest" and report["series_scored"] == 5
    assert report["windows"] == 5  # one origin per series: its last 3 rows
    assert {row["series"] for row in report["per_series"]} == TICKERS
    assert all(row["windows"] == 1 for row in report["per_series"])
    last = pd.to_datetime(frame["date"], format="%b %d %Y").max()
    assert pd.Timestamp(report["last_target_time"]) == last
    fold = report["folds"][0]
    # Each series trained on all but its last 3 rows.
    assert fold["history_rows"] == len(frame) - 5 * 3
    model = report["metrics"]["model"]["original"]
    naive2 = report["metrics"]["naive2"]["original"]
    assert naive2["owa"] == pytest.approx(1.0)
    expected = 0.5 * (model["smape"] / naive2["smape"] + model["mase"] / naive2["mase"])
    assert model["owa"] == pytest.approx(expected)


def test_backtest_folds_pool_every_series_window() -> None:
    report = backtest_json(STOCKS, "--id-col", "symbol", "--folds", "2", "--step", "4", "--refit", "never")
    assert [fold["windows"] for fold in report["folds"]] == [20, 20]
    assert report["windows"] == 40
    assert [fold["trained"] for fold in report["folds"]] == [True, False]
    first, second = report["folds"]
    assert first["last_target_time"] < second["last_target_time"]
    assert sum(row["windows"] for row in report["per_series"]) == 40


def test_backtest_leaves_out_series_too_short_for_the_folds(tmp_path: Path) -> None:
    frame = stocks()
    short = frame[frame["symbol"] != "GOOG"]
    goog = frame[frame["symbol"] == "GOOG"].head(20)
    path = tmp_path / "short_goog.csv"
    pd.concat([short, goog]).to_csv(path, index=False)
    result = run("backtest", path, "--id-col", "symbol", "--folds", "2", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    assert "1 series too short for the folds (not backtested): 'GOOG'" in result.stderr
    report = json.loads(result.stdout)
    assert {row["series"] for row in report["per_series"]} == TICKERS - {"GOOG"}


def test_backtest_of_many_series_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    result = run("backtest", STOCKS, "--id-col", "symbol", "--window", "sliding", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--window sliding is not supported with --id-col")
    result = run("backtest", STOCKS, "--id-col", "symbol", "--report-dir", tmp_path / "r", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "--report-dir is not supported yet")
    assert not (tmp_path / "r").exists()
    result = run("backtest", STOCKS, "--id-col", "symbol", "--folds", "40", "--step", "10", *FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "no series is long enough for 40 fold(s)")


# --- ids as the user wrote them -------------------------------------------------------------


def test_numeric_ids_are_kept_as_written(tmp_path: Path) -> None:
    frame = stocks()
    frame["symbol"] = frame["symbol"].map({"MSFT": 1, "AMZN": 2.5, "IBM": 3, "GOOG": float("inf"), "AAPL": 5})
    path = tmp_path / "numbers.csv"
    frame.to_csv(path, index=False)
    result = run("check", path, "--id-col", "symbol", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    # pandas wrote the float column as 1.0, 2.5, ...: ids are the file's text, never re-spelled
    assert list(json.loads(result.stdout)["data"]["series"]) == ["1.0", "2.5", "3.0", "inf", "5.0"]


def test_ids_with_leading_zeros_or_missing_value_spellings_stay_text(tmp_path: Path) -> None:
    frame = stocks()
    frame["symbol"] = frame["symbol"].map(
        {"MSFT": "007", "AMZN": "008", "IBM": "NA", "GOOG": "None", "AAPL": "-"}
    )
    path = tmp_path / "zeros.csv"
    frame.to_csv(path, index=False)
    result = run("check", path, "--id-col", "symbol", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["data"]["series"]) == ["007", "008", "NA", "None", "-"]


def test_a_parquet_long_file_reads_like_its_csv(tmp_path: Path) -> None:
    path = tmp_path / "stocks.parquet"
    stocks().to_parquet(path)
    from_parquet = json.loads(run("check", path, "--id-col", "symbol", "--json", *FLAGS).stdout)
    from_csv = json.loads(run("check", STOCKS, "--id-col", "symbol", "--json", *FLAGS).stdout)
    assert from_parquet["windows"] == from_csv["windows"] == {"train": 326, "val": 72, "test": 72}
    assert from_parquet["series"] == from_csv["series"]


def test_interleaved_rows_train_the_same_model(long_bundle: Path, tmp_path: Path) -> None:
    shuffled = tmp_path / "shuffled.csv"
    stocks().sample(frac=1.0, random_state=3).to_csv(shuffled, index=False)
    train(shuffled, tmp_path / "shuffled", "--id-col", "symbol")
    assert read_json(tmp_path / "shuffled" / "scaler.json") == read_json(long_bundle / "scaler.json")
    ours = {(r["symbol"], r["date"]): float(r["price"]) for r in forecast_rows(tmp_path / "shuffled")}
    theirs = {(r["symbol"], r["date"]): float(r["price"]) for r in forecast_rows(long_bundle)}
    assert ours.keys() == theirs.keys()
    np.testing.assert_allclose([ours[k] for k in theirs], list(theirs.values()), rtol=1e-6)


@pytest.mark.parametrize("time_name", ["series", "Value"])
def test_a_wide_time_column_named_like_the_outputs(wide_csv: Path, tmp_path: Path, time_name: str) -> None:
    from rnncast.config import TrainConfig
    from rnncast.panel import split_table

    frame = pd.read_csv(wide_csv)[["Date", "Open", "Close"]].rename(columns={"Date": time_name})
    path = tmp_path / "named.csv"
    frame.to_csv(path, index=False)
    # The forecast's id column and the shared target must not take the time column's name.
    tables, id_col, targets, _ = split_table(frame, path, TrainConfig(series_columns=("Open", "Close")))
    assert id_col.lower() != time_name.lower() and targets[0].lower() != time_name.lower()
    assert list(tables["Close"].columns) == [time_name, targets[0]]
    result = run("check", path, "--series-columns", "Open,Close", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["series"]["trained_on"] == 2


# --- check and evaluate ----------------------------------------------------------------------


def test_check_of_many_series_imports_no_tensorflow(wide_csv: Path, tmp_path: Path) -> None:
    script = f"""
import json, sys
from typer.testing import CliRunner
from rnncast.cli import app
runner = CliRunner()
flags = ["--lookback", "12", "--horizon", "3", "--json"]
result = runner.invoke(app, ["check", {str(STOCKS)!r}, "--id-col", "symbol", *flags])
assert result.exit_code == 0, result.output
assert json.loads(result.stdout)["series"]["count"] == 5
result = runner.invoke(app, ["check", {str(wide_csv)!r}, "--series-columns", "Open,Close", *flags])
assert result.exit_code == 0, result.output
sliding = ["backtest", {str(STOCKS)!r}, "--id-col", "symbol", "--window", "sliding"]
assert runner.invoke(app, sliding).exit_code == 2
assert "tensorflow" not in sys.modules, "tensorflow was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def test_check_reports_each_series_and_the_pooled_split() -> None:
    result = run("check", STOCKS, "--id-col", "symbol", "--json", *FLAGS)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["series"] == {
        "id_col": "symbol",
        "count": 5,
        "trained_on": 5,
        "forecast_only": [],
        "left_out": {},
    }
    assert report["data"]["series"]["GOOG"]["rows"] == 68
    # Each series is split on its own: 18 + 18 test rows for the long ones, 10 for GOOG.
    assert report["split"]["test_rows"] == 4 * 18 + 10
    assert report["split"]["test_starts"]["MSFT"].startswith("2008-10-01")


def test_evaluate_pools_every_series_windows(long_bundle: Path) -> None:
    result = run("evaluate", "-m", long_bundle, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    per_series = {entry["series"]: entry for entry in report["per_series"]}
    assert set(per_series) == TICKERS and report["series_scored"] == 5
    # Test windows: 18 test rows - horizon 3 + 1 each; GOOG's 10 test rows give 8.
    assert {key: entry["windows"] for key, entry in per_series.items()} == {
        "MSFT": 16,
        "AMZN": 16,
        "IBM": 16,
        "GOOG": 8,
        "AAPL": 16,
    }
    assert report["windows"] == 72
    assert {"model", "naive", "seasonal_naive"} <= set(report["metrics"])
    assert all(entry["model_rmse"] > 0 and entry["naive_rmse"] > 0 for entry in per_series.values())
    # The pooled report matches the one made at training time.
    trained = read_json(long_bundle / "report.json")
    for units in ("original", "scaled"):
        assert report["metrics"]["model"][units] == pytest.approx(trained["metrics"]["model"][units])
    text = run("evaluate", "-m", long_bundle)
    assert text.exit_code == 0, text.output


def test_update_fine_tunes_the_global_model_on_every_series_new_rows(tmp_path: Path) -> None:
    from rnncast.bundle import load_bundle

    frame = stocks()
    frame["when"] = pd.to_datetime(frame["date"], format="%b %d %Y")
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    frame[frame["when"] < "2010-02-01"].drop(columns="when").to_csv(old, index=False)
    frame.drop(columns="when").to_csv(new, index=False)
    bundle = tmp_path / "global"
    train(old, bundle, "--id-col", "symbol")
    scalers_before = (bundle / "scaler.json").read_bytes()
    weights_before = load_bundle(bundle).model.get_weights()

    result = run("update", "-m", bundle, "--data", new, "--epochs", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["rows_added"]) == ("updated", 10)  # 2 months x 5 tickers
    assert summary["lineage"][-1]["series_updated"] == 5
    assert (bundle / "scaler.json").read_bytes() == scalers_before  # each series' scaler kept
    weights_after = load_bundle(bundle).model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(weights_before, weights_after, strict=True))
    rows = forecast_rows(bundle, "--data", new)
    assert {row["symbol"] for row in rows} == TICKERS
    assert min(pd.Timestamp(row["date"]) for row in rows) == pd.Timestamp("2010-04-01")  # after 2010-03

    # One ticker's old price edited: that series' history was rewritten, and nothing changes.
    edited = frame.drop(columns="when")
    edited.loc[edited.index[(edited["symbol"] == "IBM").to_numpy()][5], "price"] += 1.0
    rewritten = tmp_path / "rewritten.csv"
    edited.to_csv(rewritten, index=False)
    before = {path.name: path.read_bytes() for path in bundle.iterdir()}
    result = run("update", "-m", bundle, "--data", rewritten)
    assert_one_line_error(result, ExitCode.DATA, "series 'IBM'", "--retrain")
    assert {path.name: path.read_bytes() for path in bundle.iterdir()} == before
