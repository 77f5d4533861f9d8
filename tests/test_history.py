"""The forecast ledger end to end: ``rnncast forecast`` records, ``rnncast history`` scores the
recorded forecasts against the MSFT closes that arrived later, checked against hand arithmetic."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rnncast import ledger as ledger_module
from rnncast.errors import ExitCode
from tests.test_cli import assert_one_line_error, run

OLD_ROWS = 300
FAST_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]
FAST_FLAGS += ["--patience", "0"]

# The MSFT closes around the forecasts (rows 295..310 of the 400-row sample).
CLOSE = {
    "2017-06-15": 69.530,
    "2017-06-16": 69.629,
    "2017-06-19": 70.494,
    "2017-06-20": 69.540,
    "2017-06-21": 69.898,  # the old file's last row: the first origin
    "2017-06-22": 69.888,
    "2017-06-23": 70.833,  # the mid file's last row: the second origin
    "2017-06-26": 70.156,
    "2017-06-27": 68.843,
    "2017-06-28": 69.430,
}


@pytest.fixture(scope="module")
def files(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """old: 300 rows (to 2017-06-21); mid: 302 (to 06-23); new: 310 (to 07-06); short: 290."""
    prices = pd.read_csv(prices_csv)
    directory = tmp_path_factory.mktemp("history_data")
    paths = {}
    for name, rows in {"old": OLD_ROWS, "mid": OLD_ROWS + 2, "new": OLD_ROWS + 10, "short": 290}.items():
        paths[name] = directory / f"{name}.csv"
        prices.head(rows).to_csv(paths[name], index=False)
    return paths


@pytest.fixture(scope="module")
def bundle(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("history_runs") / "msft"
    result = run("train", files["old"], "--out", out, *FAST_FLAGS, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def near(value: object) -> object:
    """Equal up to float rounding (1e-12): hand arithmetic in decimals against binary floats."""
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def ledger_of(bundle: Path) -> Path:
    return bundle.parent / f"{bundle.name}.ledger.csv"


def copy_of(bundle: Path, target: Path) -> Path:
    return Path(shutil.copytree(bundle, target))


@pytest.fixture(scope="module")
def recorded(bundle: Path, files: dict[str, Path]) -> Path:
    """Forecasts from three origins: 2017-06-21 and 06-23 (realised in the new file) and
    2017-07-06 (the new file's last row: pending)."""
    for name in ("old", "mid", "new"):
        result = run("forecast", "--model", bundle, "--data", files[name], "--output", "-")
        assert result.exit_code == 0, result.output
    return ledger_of(bundle)


def test_each_forecast_is_recorded_beside_the_bundle_with_its_baselines(recorded: Path) -> None:
    ledger = pd.read_csv(recorded, dtype={"series": str}, keep_default_na=False)
    assert list(ledger.columns) == [
        "series",
        "target",
        "origin",
        "step",
        "time",
        "forecast",
        "naive",
        "seasonal_naive",
        "model",
        "written_at",
    ]
    assert len(ledger) == 9 and set(ledger["series"]) == {""} and set(ledger["target"]) == {"Close"}
    first = ledger[ledger["origin"] == "2017-06-21T00:00:00"]
    assert first["time"].tolist() == ["2017-06-22T00:00:00", "2017-06-23T00:00:00", "2017-06-26T00:00:00"]
    assert first["step"].tolist() == [1, 2, 3]
    # naive: the origin's close; seasonal naive (period 5 for trading days): the close 5 rows
    # before each target time, i.e. 06-15, 06-16, 06-19
    assert first["naive"].tolist() == near([69.898] * 3)
    assert first["seasonal_naive"].tolist() == near([69.530, 69.629, 70.494])
    second = ledger[ledger["origin"] == "2017-06-23T00:00:00"]
    assert second["naive"].tolist() == near([70.833] * 3)
    assert second["seasonal_naive"].tolist() == near([70.494, 69.540, 69.898])
    assert set(ledger["origin"]) == {"2017-06-21T00:00:00", "2017-06-23T00:00:00", "2017-07-06T00:00:00"}


def test_history_matches_the_errors_worked_out_by_hand(
    bundle: Path, recorded: Path, files: dict[str, Path]
) -> None:
    result = run("history", "--model", bundle, "--data", files["new"], "--json")
    assert result.exit_code == 0, result.output
    history = json.loads(result.stdout)
    assert history["recorded"] == 9 and history["overall"]["n"] == 6
    assert history["pending"] == history["overall"]["pending"] == 3  # the 07-06 origin's 3 steps

    # The model's errors, forecast - actual, from the ledger and the closes above.
    ledger = pd.read_csv(recorded, keep_default_na=False)
    model = {
        (row.origin[:10], row.step): row.forecast - CLOSE[row.time[:10]]
        for row in ledger.itertuples()
        if row.origin != "2017-07-06T00:00:00"
    }
    # The naive errors (origin's close - actual), by hand:
    #   origin 06-21 (69.898): 69.898 - 69.888 = 0.010, 69.898 - 70.833 = -0.935, 69.898 - 70.156 = -0.258
    #   origin 06-23 (70.833): 70.833 - 70.156 = 0.677, 70.833 - 68.843 = 1.990, 70.833 - 69.430 = 1.403
    naive = {1: (0.010, 0.677), 2: (-0.935, 1.990), 3: (-0.258, 1.403)}
    # Seasonal naive (the close five rows earlier) - actual:
    #   06-21: 69.530 - 69.888 = -0.358, 69.629 - 70.833 = -1.204, 70.494 - 70.156 = 0.338
    #   06-23: 70.494 - 70.156 = 0.338, 69.540 - 68.843 = 0.697, 69.898 - 69.430 = 0.468
    seasonal = {1: (-0.358, 0.338), 2: (-1.204, 0.697), 3: (0.338, 0.468)}

    for row in history["by_step"]:
        step = row["step"]
        e1, e2 = model[("2017-06-21", step)], model[("2017-06-23", step)]
        assert row["n"] == 2
        assert row["model_rmse"] == near(math.sqrt((e1**2 + e2**2) / 2))
        assert row["model_mae"] == near((abs(e1) + abs(e2)) / 2)
        n1, n2 = naive[step]
        assert row["naive_rmse"] == near(math.sqrt((n1**2 + n2**2) / 2))
        assert row["naive_mae"] == near((abs(n1) + abs(n2)) / 2)
        s1, s2 = seasonal[step]
        assert row["seasonal_naive_rmse"] == near(math.sqrt((s1**2 + s2**2) / 2))
    # e.g. step 1 naive: sqrt((0.010^2 + 0.677^2) / 2) = sqrt(0.458429 / 2) = 0.4787635...
    assert history["by_step"][0]["naive_rmse"] == near(math.sqrt(0.458429 / 2))
    # step 2 naive MAE: (0.935 + 1.990) / 2 = 1.4625
    assert history["by_step"][1]["naive_mae"] == near(1.4625)

    all_naive = [e for pair in naive.values() for e in pair]
    # sum of squares: 0.0001 + 0.458329 + 0.874225 + 3.9601 + 0.066564 + 1.968409 = 7.327727
    assert sum(e * e for e in all_naive) == near(7.327727)
    naive_rmse = math.sqrt(7.327727 / 6)  # 1.10511892...
    model_rmse = math.sqrt(sum(e * e for e in model.values()) / 6)
    overall = history["overall"]
    assert overall["naive_rmse"] == near(naive_rmse)
    # (0.010 + 0.677 + 0.935 + 1.990 + 0.258 + 1.403) / 6 = 5.273 / 6
    assert overall["naive_mae"] == near(5.273 / 6)
    assert overall["model_rmse"] == near(model_rmse)
    assert overall["model_mae"] == near(sum(abs(e) for e in model.values()) / 6)
    assert overall["skill_vs_naive"] == near(1 - model_rmse / naive_rmse)

    by_origin = {row["origin"]: row for row in history["by_origin"]}
    assert list(by_origin) == ["2017-06-21T00:00:00", "2017-06-23T00:00:00"]
    first = [model[("2017-06-21", step)] for step in (1, 2, 3)]
    assert by_origin["2017-06-21T00:00:00"]["model_rmse"] == near(math.sqrt(sum(e * e for e in first) / 3))
    # 06-23 naive: sqrt((0.677^2 + 1.990^2 + 1.403^2) / 3) = sqrt((0.458329 + 3.9601 + 1.968409) / 3)
    #   = sqrt(6.386838 / 3) = 1.4590908...
    assert by_origin["2017-06-23T00:00:00"]["naive_rmse"] == near(math.sqrt(6.386838 / 3))
    assert history["by_series"] == [
        {
            "series": "",
            "n": 6,
            "model_rmse": near(model_rmse),
            "naive_rmse": near(naive_rmse),
            "seasonal_naive_rmse": near(overall["seasonal_naive_rmse"]),
        }
    ]
    # seasonal naive squares: 0.128164 + 1.449616 + 0.114244 + 0.114244 + 0.485809 + 0.219024 = 2.511101
    assert overall["seasonal_naive_rmse"] == near(math.sqrt(2.511101 / 6))

    # Decay: the realised RMSE of the latest (at most 10) origins against the held-out test RMSE.
    test_rmse = json.loads((bundle / "report.json").read_text())["metrics"]["model"]["original"]["rmse"]
    assert history["test_rmse"] == near(test_rmse)
    assert history["decay"] == {
        "realised_rmse": near(model_rmse),
        "test_rmse": near(test_rmse),
        "ratio": near(model_rmse / test_rmse - 1),
        "origins": 2,
        "forecasts": 6,
        "series": 1,
    }


def test_history_text_summarises_the_same_numbers(
    bundle: Path, recorded: Path, files: dict[str, Path]
) -> None:
    result = run("history", "--model", bundle, "--data", files["new"])
    assert result.exit_code == 0, result.output
    assert "9 forecast rows recorded" in result.stdout
    assert "realised RMSE over 6 forecasts" in result.stdout and "(3 pending)" in result.stdout
    assert "naive 1.1051," in result.stdout  # sqrt(7.327727 / 6), worked out above
    assert "By horizon step" in result.stdout and "By forecast origin" in result.stdout


def test_repeating_a_forecast_does_not_grow_the_ledger(
    bundle: Path, recorded: Path, files: dict[str, Path]
) -> None:
    before = recorded.read_bytes()
    for name in ("old", "new"):
        assert run("forecast", "--model", bundle, "--data", files[name], "--json").exit_code == 0
    assert recorded.read_bytes() == before


def test_history_of_the_training_file_has_nothing_realised_yet(bundle: Path, recorded: Path) -> None:
    # Without --data: the training file (old), where no forecast time has an actual yet.
    result = run("history", "--model", bundle)
    assert result.exit_code == 0, result.output
    assert "no realised forecasts yet (9 waiting for their actual values)" in result.stdout


def test_history_json_has_one_shape_with_or_without_forecasts(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    fresh = copy_of(bundle, tmp_path / "fresh")
    empty = json.loads(run("history", "--model", fresh, "--json").stdout)
    assert empty["recorded"] == 0 and empty["overall"]["n"] == 0 and empty["pending"] == 0
    assert empty["by_step"] == empty["by_origin"] == empty["by_series"] == [] and "decay" not in empty
    assert not ledger_of(fresh).exists()  # history only reads

    assert run("forecast", "--model", fresh, "--data", files["old"], "--json").exit_code == 0
    history = json.loads(run("history", "--model", fresh, "--data", files["new"], "--json").stdout)
    assert set(empty) | {"decay"} == set(history)
    assert {"model", "ledger", "recorded", "overall", "pending", "by_step", "by_origin", "by_series"} <= set(
        history
    )
    assert history["model"] == str(fresh) and history["ledger"] == str(ledger_of(fresh))
    assert set(history["overall"]) == set(empty["overall"])
    assert set(history["by_step"][0]) == {
        "step",
        "n",
        "model_rmse",
        "model_mae",
        "naive_rmse",
        "naive_mae",
        "seasonal_naive_rmse",
        "seasonal_naive_mae",
    }
    assert set(history["by_origin"][0]) == {"origin", "n", "model_rmse", "naive_rmse", "seasonal_naive_rmse"}
    assert history["decay"]["origins"] == 1 and history["decay"]["forecasts"] == 3


def test_no_ledger_writes_none(bundle: Path, files: dict[str, Path], tmp_path: Path) -> None:
    fresh = copy_of(bundle, tmp_path / "quiet")
    result = run("forecast", "--model", fresh, "--data", files["new"], "--no-ledger", "--output", "-")
    assert result.exit_code == 0, result.output
    assert not ledger_of(fresh).exists()
    assert not any(path.name.startswith(".quiet.ledger") for path in tmp_path.iterdir())


def test_a_forecast_from_before_the_models_data_ended_is_not_recorded(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    # Its actuals were in the data the model was made from: scoring it would flatter the model.
    fresh = copy_of(bundle, tmp_path / "hindcast")
    result = run("forecast", "--model", fresh, "--data", files["short"], "--output", "-")
    assert result.exit_code == 0, result.output
    assert "not added to the ledger" in result.stderr and "before the model's data ended" in result.stderr
    assert not ledger_of(fresh).exists()


def test_a_garbage_ledger_costs_the_forecast_a_warning_and_history_one_error_line(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    fresh = copy_of(bundle, tmp_path / "damaged")
    garbage = b"\x00\x01 this is not a ledger\nat,all\n"
    ledger_of(fresh).write_bytes(garbage)
    result = run("forecast", "--model", fresh, "--data", files["old"], "--output", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Date,Close\n") and len(result.stdout.splitlines()) == 4
    assert "note: the forecast was not added to the ledger" in result.stderr
    assert ledger_of(fresh).read_bytes() == garbage  # left alone
    history = run("history", "--model", fresh, "--data", files["new"])
    assert_one_line_error(history, ExitCode.DATA, "is not an rnncast forecast ledger", "Move the file away")


def test_a_ledger_with_damaged_fields_is_one_error_line(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    fresh = copy_of(bundle, tmp_path / "fields")
    header = "series,target,origin,step,time,forecast,naive,seasonal_naive,model,written_at\n"
    ledger_of(fresh).write_text(header + ",Close,2017-06-21,1,2017-06-22,not-a-number,69.898,,m,w\n")
    assert_one_line_error(
        run("history", "--model", fresh, "--data", files["new"]), ExitCode.DATA, "is damaged", "not-a-number"
    )
    ledger_of(fresh).write_text(header + ",Close,yesterday,1,2017-06-22,70.0,69.898,,m,w\n")
    result = run("history", "--model", fresh, "--data", files["new"])
    assert_one_line_error(result, ExitCode.DATA, "origin column holds text that is not an ISO timestamp")
    assert (
        "yesterday" in result.stderr and "You might want to try:" not in result.stderr
    )  # no dangling advice


def test_a_directory_at_the_ledger_path(bundle: Path, files: dict[str, Path], tmp_path: Path) -> None:
    fresh = copy_of(bundle, tmp_path / "blocked")
    ledger_of(fresh).mkdir()
    result = run("forecast", "--model", fresh, "--data", files["old"], "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["forecast"]) == 3
    assert "not added to the ledger" in result.stderr and "Is a directory" in result.stderr
    assert_one_line_error(run("history", "--model", fresh), ExitCode.DATA, "is a directory")


def test_a_read_only_directory_costs_the_forecast_only_a_warning(
    bundle: Path, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = copy_of(bundle, tmp_path / "ro" / "model")
    fresh.parent.chmod(0o555)
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        # Root (CI containers) writes through 0o555: refuse the new ledger file as the
        # kernel refuses everyone else, so the same path through rnncast is exercised.
        def refused(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(ledger_module, "_create", refused)
    try:
        result = run("forecast", "--model", fresh, "--data", files["old"], "--json")
        assert result.exit_code == 0, result.output
        assert "not added to the ledger" in result.stderr
        assert not ledger_of(fresh).exists()
    finally:
        fresh.parent.chmod(0o755)


def test_the_ledger_outlives_an_update_in_place(bundle: Path, files: dict[str, Path], tmp_path: Path) -> None:
    fresh = copy_of(bundle, tmp_path / "live")
    assert run("forecast", "--model", fresh, "--data", files["old"], "--json").exit_code == 0
    result = run("update", "--model", fresh, "--data", files["mid"], "--epochs", "1", "--quiet")
    assert result.exit_code == 0, result.output
    assert run("forecast", "--model", fresh, "--data", files["mid"], "--json").exit_code == 0
    ledger = pd.read_csv(ledger_of(fresh), keep_default_na=False)
    assert ledger.groupby("origin")["model"].nunique().tolist() == [1, 1]
    assert ledger["model"].nunique() == 2  # the parent's forecasts, then the updated model's
    history = json.loads(run("history", "--model", fresh, "--data", files["new"], "--json").stdout)
    assert history["overall"]["n"] == 6 and history["pending"] == 0


def test_decay_of_many_series_is_judged_per_series_in_its_own_units() -> None:
    from rnncast.accountability import check_decay, latest_decay_by_series
    from rnncast.errors import QualityGateError

    origin = pd.Timestamp("2010-03-01")
    # A $30 stock off by 3 (test RMSE 1.5: ratio +100%), a $600 stock off by 12 (test RMSE 24:
    # ratio -50%), a $100 stock off by 2 (test RMSE 1: ratio +100%). Pooled, the big stock's
    # errors would swamp the others; per series, the median ratio is +100%.
    scored = pd.DataFrame(
        {
            "series": ["MSFT", "MSFT", "GOOG", "GOOG", "IBM", "IBM"],
            "origin": [origin] * 6,
            "forecast": [33.0, 27.0, 612.0, 588.0, 102.0, 98.0],
            "actual": [30.0, 30.0, 600.0, 600.0, 100.0, 100.0],
        }
    )
    decay = latest_decay_by_series(scored, {"MSFT": 1.5, "GOOG": 24.0, "IBM": 1.0, "AAPL": 9.0})
    assert decay is not None
    assert (decay.series, decay.origins, decay.forecasts) == (3, 1, 6)
    assert decay.ratio == pytest.approx(1.0)  # sorted ratios -0.5, +1.0, +1.0: the median is +1.0
    check_decay(decay, 1.0)  # not past the bound
    with pytest.raises(QualityGateError, match="median of 3 series"):
        check_decay(decay, 0.5)
