"""Prediction intervals: the conformal arithmetic, coverage on a series of known noise, the
forecast columns, mc-dropout, evaluate / backtest coverage, and bundles that carry a forged or
no calibration."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rnncast
from rnncast.accountability import history
from rnncast.cli import app
from rnncast.config import TrainConfig
from rnncast.errors import DataError, ExitCode
from rnncast.intervals import (
    IntervalCalibration,
    IntervalSums,
    calibration_problem,
    conformal_quantile,
    window_bounds,
    window_scale,
)
from rnncast.ledger import ledger_path, read_ledger
from rnncast.windows import Scaler
from tests.conftest import FAST

COMMITTED_BUNDLE = Path(__file__).parent / "data" / "bundle_v1"
SYNTHETIC = {"lookback": 24, "horizon": 3, "units": 8, "batch_size": 32, "patience": 0}
BOUND_COLUMNS = ["y_lower_80", "y_upper_80", "y_lower_95", "y_upper_95"]


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


# ---------------------------------------------------------------- the arithmetic, no network


def test_the_quantile_is_the_finite_sample_corrected_rank() -> None:
    scores = np.arange(1.0, 11.0)[:, None]  # n = 10 scores 1..10
    for level, rank in ((80, 9), (50, 6), (90, 10)):  # ceil(11 * level / 100)
        quantile, capped = conformal_quantile(scores, level)
        assert quantile.tolist() == [float(rank)] and not capped
    quantile, capped = conformal_quantile(scores, 95)  # ceil(10.45) = 11 > n: the largest, noted
    assert quantile.tolist() == [10.0] and capped


def test_the_quantile_skips_unobserved_scores_per_step_and_target() -> None:
    scores = np.array([[[3.0, 1.0]], [[1.0, np.nan]], [[2.0, 5.0]], [[np.nan, 2.0]]])  # 4 x 1 x 2
    quantile, capped = conformal_quantile(scores, 50)
    # First target: n = 3 of (3, 1, 2), rank ceil(2) = 2 -> 2; second: n = 3 of (1, 5, 2) -> 2.
    assert quantile.tolist() == [[2.0, 2.0]] and not capped
    with pytest.raises(DataError, match="no observed validation value"):
        conformal_quantile(np.full((3, 1, 1), np.nan), 80)


def test_the_window_scale_is_the_mean_absolute_change_of_its_inputs_with_a_floor() -> None:
    values = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 10.0, 10.0, 10.0])[:, None]
    # Window of the start 4 reads rows 1..3 (changes 2 and 3); start 8 reads the flat rows 5..7.
    scale = window_scale(values, np.array([4, 8]), lookback=3, floor=np.array([0.25]))
    assert scale.tolist() == [[2.5], [0.25]]
    assert window_scale(values, np.array([4]), lookback=1, floor=np.array([0.25])).tolist() == [[0.25]]


def test_conformal_bounds_widen_with_the_volatility_of_each_window() -> None:
    calm = np.linspace(0.0, 4.0, 5)  # changes of 1
    wild = 4.0 + np.array([3.0, 0.0, 3.0, 0.0, 3.0])  # changes of 3
    values = np.concatenate([calm, wild])[:, None]
    calibration = IntervalCalibration(
        "conformal",
        (80.0,),
        10,
        quantiles={"80": np.array([[2.0], [4.0]])},
        scale_floor=np.array([0.1]),
    )
    predicted = np.zeros((2, 2, 1))
    bounds = window_bounds(
        calibration,
        None,
        Scaler.fit("standard", ("y",), values),
        values,
        ("y",),
        np.array([5, 10]),
        5,
        predicted,
    )
    lower, upper = bounds["80"]
    # forecast ± q[step] * s(x): s = 1 for the calm window, 3 for the wild one.
    assert upper[:, :, 0].tolist() == [[2.0, 4.0], [6.0, 12.0]]
    assert np.array_equal(lower, -upper)


def test_interval_sums_pool_parts_exactly() -> None:
    actual = np.array([[[1.0]], [[5.0]], [[np.nan]], [[2.0]]])
    bounds = {"80": (np.zeros((4, 1, 1)), np.full((4, 1, 1), 3.0))}
    whole, parts = IntervalSums("conformal", ["80"]), IntervalSums("conformal", ["80"])
    whole.add(actual, bounds, np.ones((4, 1, 1)))
    for part in (slice(0, 1), slice(1, 4)):
        parts.add(actual[part], {"80": tuple(b[part] for b in bounds["80"])}, np.ones((1, 1, 1)))
    assert whole.report(("y",)) == parts.report(("y",))
    entry = whole.report(("y",))["levels"]["80"]
    assert entry["coverage"] == pytest.approx(2 / 3)  # the NaN actual is not counted
    assert entry["mean_width"] == 3.0 and entry["per_target"]["y"]["coverage"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- one series of known noise


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A daily cycle plus Gaussian noise (sd 1): 2000 hourly rows, and the first 1900."""
    rng = np.random.default_rng(7)
    rows = 2000
    hours = np.arange(rows)
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2021-01-01", periods=rows, freq="h"),
            "y": 20 + 5 * np.sin(2 * np.pi * hours / 24) + rng.normal(0.0, 1.0, rows),
        }
    )
    directory = tmp_path_factory.mktemp("noisy")
    paths = {"full": directory / "full.csv", "head": directory / "head.csv"}
    frame.to_csv(paths["full"], index=False)
    frame.head(1900).to_csv(paths["head"], index=False)
    return paths


@pytest.fixture(scope="module")
def conformal(noisy: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A bundle trained through the CLI with 80% and 95% conformal intervals."""
    out = tmp_path_factory.mktemp("runs") / "conformal"
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in SYNTHETIC.items()]
    result = run("train", noisy["head"], "--out", out, "--intervals", "80,95", "--epochs", "3", *flags)
    assert result.exit_code == 0, result.output
    return out, result


def test_training_stores_the_calibration_and_reports_test_coverage(conformal: tuple[Path, Any]) -> None:
    bundle, result = conformal
    metadata = json.loads((bundle / "metadata.json").read_text())
    intervals = metadata["intervals"]
    assert intervals["method"] == "conformal" and intervals["levels"] == [80.0, 95.0]
    assert intervals["calibration_windows"] == 285 - 3 + 1  # the validation split's windows
    assert sorted(intervals["quantiles"]) == ["80", "95"]
    q80, q95 = np.array(intervals["quantiles"]["80"]), np.array(intervals["quantiles"]["95"])
    assert q80.shape == (3, 1) and (q95 > q80).all() and (q80 > 0).all()
    assert "Prediction intervals" in result.stderr  # the terminal shows the coverage at once
    report = json.loads((bundle / "report.json").read_text())
    assert report["intervals"]["method"] == "conformal"
    assert len(report["intervals"]["levels"]["80"]["coverage_by_step"]) == 3
    info = run("info", "--model", bundle)
    assert info.exit_code == 0 and "intervals: conformal 80%, 95%; test coverage 80% " in info.stdout


def test_coverage_on_gaussian_noise_is_near_the_level(conformal: tuple[Path, Any]) -> None:
    report = json.loads((conformal[0] / "report.json").read_text())
    levels = report["intervals"]["levels"]
    assert report["windows"] == 283  # enough test windows for a coverage within a few points
    assert abs(levels["80"]["coverage"] - 0.80) < 0.08, levels["80"]
    assert abs(levels["95"]["coverage"] - 0.95) < 0.05, levels["95"]
    assert levels["95"]["mean_width"] > levels["80"]["mean_width"] > 0
    # The noise alone (sd 1) needs a width of 2.56 for 80%: nothing narrower can cover it.
    assert levels["80"]["mean_width"] > 2.0


def test_forecast_has_ordered_bounds_in_named_columns(conformal: tuple[Path, Any], tmp_path: Path) -> None:
    bundle = conformal[0]
    frame = rnncast.forecast(bundle, ledger=False).frame
    assert list(frame.columns) == ["y", *BOUND_COLUMNS]
    assert (frame["y_lower_95"] < frame["y_lower_80"]).all()
    assert (frame["y_lower_80"] <= frame["y"]).all() and (frame["y"] <= frame["y_upper_80"]).all()
    assert (frame["y_upper_80"] < frame["y_upper_95"]).all()
    out = tmp_path / "forecast.csv"
    assert run("forecast", "--model", bundle, "--no-ledger", "--output", out).exit_code == 0
    written = pd.read_csv(out)
    assert list(written.columns) == ["time", "y", *BOUND_COLUMNS]
    assert np.allclose(written[BOUND_COLUMNS].to_numpy(), frame[BOUND_COLUMNS].to_numpy())


def test_conformal_forecasts_need_no_tensorflow(conformal: tuple[Path, Any]) -> None:
    script = f"""
import sys
import rnncast
frame = rnncast.forecast({str(conformal[0])!r}, ledger=False).frame
assert "y_upper_95" in frame.columns
assert "tensorflow" not in sys.modules, "tensorflow was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True)


def test_evaluate_reports_the_same_coverage_and_writes_it(
    conformal: tuple[Path, Any], tmp_path: Path
) -> None:
    bundle = conformal[0]
    report = rnncast.evaluate(bundle, report_dir=tmp_path / "report")
    stored = json.loads((bundle / "report.json").read_text())
    assert report["intervals"] == stored["intervals"]  # the same test windows, the same intervals
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "## Prediction intervals" in markdown and "| 80% |" in markdown
    scored = pd.read_csv(tmp_path / "report" / "forecasts.csv")
    assert (scored["model_lower_80"] <= scored["model"]).all()
    assert (scored["model"] <= scored["model_upper_80"]).all()
    inside = (scored["actual"] >= scored["model_lower_80"]) & (scored["actual"] <= scored["model_upper_80"])
    assert inside.mean() == pytest.approx(report["intervals"]["levels"]["80"]["coverage"])
    shown = run("evaluate", "--model", bundle)
    assert shown.exit_code == 0 and "Prediction intervals" in shown.stdout


def test_the_ledger_and_history_keep_the_point_forecast(
    conformal: tuple[Path, Any], noisy: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(conformal[0], copy)
    frame = rnncast.forecast(copy).frame
    ledger = read_ledger(ledger_path(copy))
    assert len(ledger) == 3 and np.allclose(ledger["forecast"].to_numpy(), frame["y"].to_numpy())
    realised = history(copy, noisy["full"])
    assert realised["overall"]["n"] == 3


# ---------------------------------------------------------------- forged and older bundles


@pytest.mark.parametrize(
    ("forge", "fragment"),
    [
        (lambda i: i["quantiles"].pop("95"), "quantiles must hold exactly"),
        (lambda i: i["quantiles"]["80"][0].__setitem__(0, -1.0), "quantiles.80"),
        (lambda i: i["quantiles"].__setitem__("80", [[1.0]]), "quantiles.80"),
        (lambda i: i.__setitem__("method", "bootstrap"), "method"),
        (lambda i: i.__setitem__("levels", [80.0, 90.0]), "levels"),
        (lambda i: i.__setitem__("scale_floor", [0.0]), "scale_floor"),
        (lambda i: i.__setitem__("calibration_windows", "many"), "calibration_windows"),
    ],
)
def test_a_forged_calibration_is_refused_with_exit_4(
    conformal: tuple[Path, Any], tmp_path: Path, forge: Any, fragment: str
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(conformal[0], copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    forge(metadata["intervals"])
    (copy / "metadata.json").write_text(json.dumps(metadata))
    result = run("forecast", "--model", copy, "--no-ledger")
    assert result.exit_code == ExitCode.MODEL, result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "intervals" in error and fragment in error, error


def test_calibration_problem_knows_a_sound_mc_dropout_entry() -> None:
    config = TrainConfig(lookback=4, horizon=2, intervals=(90,), interval_method="mc-dropout", dropout=0.2)
    entry = {
        "method": "mc-dropout",
        "levels": [90.0],
        "calibration_windows": 5,
        "noise_variance": [[0.5], [0.7]],
        "samples": 100,
        "seed": 42,
    }
    assert calibration_problem(entry, config, 1) is None
    assert "noise_variance" in calibration_problem({**entry, "noise_variance": [[0.5]]}, config, 1)
    assert "samples" in calibration_problem({**entry, "samples": True}, config, 1)
    assert "table" in calibration_problem([], config, 1)


def test_bundles_without_intervals_forecast_as_before(
    conformal: tuple[Path, Any], prices_csv: Path, tmp_path: Path
) -> None:
    old = rnncast.forecast(COMMITTED_BUNDLE, data=prices_csv, ledger=False).frame
    assert list(old.columns) == ["Close"]
    copy = tmp_path / "bundle"
    shutil.copytree(conformal[0], copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    del metadata["intervals"]
    (copy / "metadata.json").write_text(json.dumps(metadata))
    assert list(rnncast.forecast(copy, ledger=False).frame.columns) == ["y"]
    assert "intervals" not in rnncast.evaluate(copy)


# ---------------------------------------------------------------- other networks and methods


@pytest.mark.parametrize(
    "settings",
    [
        {"model": "gru", "target": "Close,Open"},
        {"model": "simple_rnn", "bidirectional": True},
        {"model": "lstm", "bidirectional": True, "target": "Close,Open"},
    ],
)
def test_every_cell_and_several_targets_get_intervals(
    prices_csv: Path, tmp_path: Path, settings: dict[str, Any]
) -> None:
    result = rnncast.train(
        prices_csv, out=tmp_path / "m", lookback=10, horizon=3, intervals=(80, 95), **FAST, **settings
    )
    targets = str(settings.get("target", "Close")).split(",")
    frame = rnncast.forecast(result.bundle_path, ledger=False).frame
    expected = targets + [
        f"{t}_{side}_{level}" for t in targets for level in (80, 95) for side in ("lower", "upper")
    ]
    assert list(frame.columns) == expected
    for target in targets:
        assert (frame[f"{target}_lower_80"] <= frame[target]).all()
        assert (frame[target] <= frame[f"{target}_upper_80"]).all()
    per_target = result.report["intervals"]["levels"]["80"]["per_target"]
    assert list(per_target) == targets and all(0 <= v["coverage"] <= 1 for v in per_target.values())


def test_mc_dropout_samples_the_network_and_adds_the_noise(noisy: dict[str, Path], tmp_path: Path) -> None:
    result = rnncast.train(
        noisy["head"],
        out=tmp_path / "mc",
        intervals=(80, 95),
        interval_method="mc-dropout",
        dropout=0.2,
        epochs=1,
        **SYNTHETIC,
    )
    intervals = result.metadata["intervals"]
    assert intervals["method"] == "mc-dropout" and intervals["samples"] == 100
    noise = np.array(intervals["noise_variance"])
    assert noise.shape == (3, 1) and (noise > 0).all()
    first = rnncast.forecast(result.bundle_path, ledger=False).frame
    again = rnncast.forecast(result.bundle_path, ledger=False).frame
    pd.testing.assert_frame_equal(first, again)  # seeded: the same data, the same intervals
    assert list(first.columns) == ["y", *BOUND_COLUMNS]
    assert (first["y_upper_80"] - first["y_lower_80"] > 0).all()
    assert (first["y_lower_95"] <= first["y_lower_80"]).all()
    assert (first["y_lower_80"] <= first["y"]).all() and (first["y"] <= first["y_upper_80"]).all()
    # At least the noise: the half-width of 80% is z(0.9) * sqrt(noise) or more.
    half = (first["y_upper_80"] - first["y_lower_80"]).to_numpy() / 2
    assert (half >= 1.2815 * np.sqrt(noise[:, 0]) - 1e-9).all()
    evaluated = rnncast.evaluate(result.bundle_path)
    assert evaluated["intervals"] == result.report["intervals"]
    assert 0.5 < evaluated["intervals"]["levels"]["95"]["coverage"] <= 1


def test_backtest_calibrates_each_fold_and_pools_the_coverage(prices_csv: Path, tmp_path: Path) -> None:
    report = rnncast.backtest(
        prices_csv,
        folds=2,
        step=15,
        lookback=10,
        horizon=3,
        intervals=(80,),
        report_dir=tmp_path / "report",
        **FAST,
    )
    folds = report["folds"]
    assert all(0 <= fold["interval_coverage"]["80"] <= 1 for fold in folds)
    pooled = report["intervals"]["levels"]["80"]["coverage"]
    assert pooled == pytest.approx(np.mean([fold["interval_coverage"]["80"] for fold in folds]))
    assert report["intervals"]["calibration_windows"] > 0
    assert "## Prediction intervals" in (tmp_path / "report" / "report.md").read_text()
    assert "model_upper_80" in pd.read_csv(tmp_path / "report" / "forecasts.csv").columns
