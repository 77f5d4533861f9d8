"""rnncast detect: injected spikes are flagged (robust z and interval scores), outputs are atomic, exit 9."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import rnncast
from rnncast.cli import app
from rnncast.detection import detect, robust_scores, zscore_scorer
from rnncast.echoes import clear_echoes
from rnncast.errors import ExitCode
from tests.test_cli import assert_one_line_error
from tests.test_startup import run_fresh

LOOKBACK, HORIZON = 24, 3
ROWS, TRAINED_ROWS = 720, 600
SPIKES = [300, 377, 450, 523, 600, 719]  # the last row too; 600 on are rows the model never saw


def run(*args: str | Path) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def seasonal(rows: int = ROWS) -> pd.DataFrame:
    """An hourly load with a daily cycle, a slow trend and noise."""
    rng = np.random.default_rng(1)
    t = np.arange(rows)
    load = 20 + 5 * np.sin(2 * np.pi * t / 24) + 0.02 * t + rng.normal(0, 0.3, rows)
    stamps = pd.date_range("2024-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M")
    return pd.DataFrame({"time": stamps, "load": load.round(3)})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The clean training file (600 rows), and the full 720 rows with spikes of 10 standard
    deviations of the one-step change, alternately down and up."""
    root = tmp_path_factory.mktemp("detect")
    clean = seasonal()
    spiked = clean.copy()
    size = 10 * clean["load"].diff().std()
    for number, row in enumerate(SPIKES):
        spiked.loc[row, "load"] += size if number % 2 else -size
    made = {"train": root / "train.csv", "spiked": root / "spiked.csv", "quiet_end": root / "quiet_end.csv"}
    clean.head(TRAINED_ROWS).to_csv(made["train"], index=False)
    spiked.to_csv(made["spiked"], index=False)
    spiked.head(ROWS - 1).to_csv(made["quiet_end"], index=False)  # ends before the last spike
    return made


@pytest.fixture(scope="module")
def bundle(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "load"
    settings = {"epochs": 3, "units": 8, "batch_size": 32, "patience": 0}
    rnncast.train(files["train"], out=out, lookback=LOOKBACK, horizon=HORIZON, link_latest=False, **settings)
    return out


def test_injected_spikes_are_flagged_and_little_else(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "anomalies.csv"
    result = run("detect", "-m", bundle, "--data", files["spiked"], "-o", output, "--json")
    assert result.exit_code == 0, result.output  # anomalies alone do not fail without --fail-on-new
    table = pd.read_csv(output, keep_default_na=False)
    assert list(table.columns) == ["timestamp", "actual", "expected", "score", "flag"]
    stamps = seasonal()["time"]
    assert table["timestamp"].tolist() == stamps[LOOKBACK:].tolist()  # every row with a forecast
    flagged = set(table.loc[table["flag"], "timestamp"])
    spikes = set(stamps[SPIKES])
    # A spike also misleads the next forecasts, made from it; scored again with the spike
    # replaced by its expected value, those normal rows are cleared: only the spikes remain.
    assert flagged == spikes
    assert (table["flag"] == (table["score"].abs() > 4.0)).all()
    summary = json.loads(result.stdout)
    assert summary["echoes_cleared"] >= 1
    assert summary["rows_scored"] == ROWS - LOOKBACK and summary["anomalies"] == len(flagged)
    assert summary["newest_anomalies"][0]["timestamp"] == stamps[ROWS - 1]
    assert summary["recent"]["rows"] == 1 and len(summary["recent"]["anomalies"]) == 1
    assert (tmp_path / "anomalies.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # beside the CSV
    assert summary["plot"] == str(tmp_path / "anomalies.png")


@pytest.mark.parametrize("step", [1, 2])
def test_expected_values_are_the_forecasts_made_step_rows_earlier(
    bundle: Path, files: dict[str, Path], tmp_path: Path, step: int
) -> None:
    found = detect(bundle, files["spiked"], tmp_path / "a.csv", step=step, draw_plot=False)
    frame = found.frame
    assert frame["row"].iloc[0] == LOOKBACK + step - 1 and frame["row"].iloc[-1] == ROWS - 1
    # The forecast rnncast forecast makes after row t - step, at its step ``step``.
    for row in (LOOKBACK + step - 1, 450, 651):
        history = tmp_path / f"upto{row}.csv"
        pd.read_csv(files["spiked"]).head(row - step + 1).to_csv(history, index=False)
        made = rnncast.forecast(bundle, history, ledger=False).frame
        expected = frame.loc[frame["row"] == row, "expected"].item()
        assert expected == pytest.approx(made.iloc[step - 1, 0], rel=1e-9)
    # Whatever the step, the largest scores are at the spikes or the rows read after them.
    largest = frame.loc[frame["score"].abs().nlargest(len(SPIKES)).index, "row"]
    assert all(any(0 <= r - s <= step for s in SPIKES) for r in largest)


def test_fail_on_new_exits_9_only_for_an_anomaly_among_the_newest_rows(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    spike = run("detect", "-m", bundle, "-d", files["spiked"], "-o", output, "--fail-on-new")
    assert_one_line_error(
        spike, ExitCode.ANOMALIES, "1 anomaly among the newest 1 row(s)", "2024-01-30 23:00"
    )
    assert spike.exit_code == 9  # the documented number, distinct from run's partial failure (8)
    assert output.is_file() and (tmp_path / "out.png").is_file()  # written before the exit
    assert "newest anomalies:" in spike.stdout

    quiet_end = run("detect", "-m", bundle, "-d", files["quiet_end"], "-o", output, "--fail-on-new", "-q")
    assert quiet_end.exit_code == 0, quiet_end.output
    assert quiet_end.stdout == "" and quiet_end.stderr == ""
    # The spike at row 600 is among the newest 150 rows.
    recent = run(
        "detect", "-m", bundle, "-d", files["quiet_end"], "-o", output, "--fail-on-new", "--recent", "150"
    )
    assert_one_line_error(recent, ExitCode.ANOMALIES, "among the newest 150 row(s)", "2024-01-26 00:00")


def test_refused_runs_leave_no_output(bundle: Path, files: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    base = ["detect", "-m", bundle, "-d", files["spiked"], "-o", output]
    usage = [
        (["--threshold", "0"], "--threshold must be above 0"),
        (["--threshold", "-3"], "--threshold must be above 0"),
        (["--threshold", "nan"], "--threshold must be a positive number"),
        (["--step", "4"], "beyond the model's horizon of 3"),
        (["--step", "0"], "--step must be a whole number of at least 1"),
        (["--recent", "0"], "--recent must be a whole number of at least 1"),
        (["--plot", output], "the plot would overwrite --output"),
        (["--plot", tmp_path / "no" / "p.png"], "does not exist"),
    ]
    for extra, fragment in usage:
        assert_one_line_error(run(*base, *extra), ExitCode.USAGE, fragment)
    assert_one_line_error(
        run("detect", "-m", bundle, "-d", files["spiked"], "-o", files["spiked"]),
        ExitCode.USAGE,
        "input data file",
    )
    short = tmp_path / "short.csv"
    seasonal(LOOKBACK).to_csv(short, index=False)
    assert_one_line_error(run(*base[:4], short, "-o", output), ExitCode.DATA, "no row can be scored")
    assert list(tmp_path.iterdir()) == [short]  # nothing written, not even a temporary file


def test_training_file_by_default_and_the_keras_path(
    bundle: Path, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = run("detect", "-m", bundle, "-o", tmp_path / "clean.csv", "--no-plot", "--json")
    assert clean.exit_code == 0, clean.output
    summary = json.loads(clean.stdout)
    assert summary["rows_scored"] == TRAINED_ROWS - LOOKBACK and summary["plot"] is None
    assert summary["anomalies"] <= 0.01 * summary["rows_scored"]  # noise, no spikes
    assert not (tmp_path / "clean.png").exists()

    numpy = detect(bundle, files["spiked"], tmp_path / "n.csv", draw_plot=False).frame
    monkeypatch.setenv("RNNCAST_INFERENCE", "keras")  # the path a network NumPy cannot run takes
    keras = detect(bundle, files["spiked"], tmp_path / "k.csv", draw_plot=False).frame
    np.testing.assert_allclose(keras["expected"], numpy["expected"], rtol=1e-5)
    assert (keras["flag"] == numpy["flag"]).all()


def test_several_targets_get_a_target_column_and_many_series_are_refused(tmp_path: Path) -> None:
    frame = seasonal(200).assign(other=lambda f: f["load"] * 2 + 1)
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    fast = {"epochs": 1, "units": 4, "batch_size": 32, "patience": 0, "lookback": 12, "horizon": 2}
    two = tmp_path / "two"
    rnncast.train(path, out=two, target=("load", "other"), link_latest=False, **fast)
    result = run("detect", "-m", two, "-o", tmp_path / "two.csv.out", "--no-plot")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "two.csv.out")
    assert list(table.columns) == ["timestamp", "target", "actual", "expected", "score", "flag"]
    assert table["target"].tolist()[:4] == ["load", "other", "load", "other"]
    assert len(table) == 2 * (200 - 12)

    panel = tmp_path / "panel"
    rnncast.train(path, out=panel, series_columns=("load", "other"), link_latest=False, **fast)
    refused = run("detect", "-m", panel, "-o", tmp_path / "p.csv")
    assert_one_line_error(refused, ExitCode.USAGE, "model of many series")
    assert not (tmp_path / "p.csv").exists()


def test_robust_scores() -> None:
    residuals = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [100.0, 0.0], [math.nan, 0.0]])
    scores, centre, scale = robust_scores(residuals)
    assert centre.tolist() == [3.0, 0.0]
    assert scale[0] == pytest.approx(1.4826)  # MAD of 1..4, 100 around 3 is 1
    assert scores[4, 0] == pytest.approx(97 / 1.4826) and math.isnan(scores[5, 0])
    assert (scores[:, 1] == 0).all()  # every residual equal: nothing stands out, nothing divides by 0
    # More than half equal (MAD 0): the mean absolute deviation stands in.
    mostly_equal = np.array([[0.0], [0.0], [0.0], [0.0], [8.0]])
    scores, _, scale = robust_scores(mostly_equal)
    assert scale[0] == pytest.approx(1.2533 * 8 / 5) and scores[4, 0] == pytest.approx(8 / scale[0])


def test_detect_help_and_a_bad_threshold_load_no_tensorflow(tmp_path: Path) -> None:
    results = run_fresh([["detect", "--help"], ["detect", "-o", "x.csv", "--threshold", "0"]], tmp_path)
    assert results[0]["code"] == 0 and "--fail-on-new" in results[0]["stdout"]
    assert results[1]["code"] == ExitCode.USAGE and "--threshold must be above 0" in results[1]["error"]
    assert all(result["loaded"] == [] for result in results)
    assert not (tmp_path / "x.csv").exists()


def test_interval_score_flags_the_spikes_and_needs_conformal_intervals(
    bundle: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    """--score interval: the error over the 95% interval's half-width for that window and step.
    The spikes sit far outside it; a bundle without intervals is refused with the fix."""
    intervals = tmp_path / "with-intervals"
    settings = {"epochs": 3, "units": 8, "batch_size": 32, "patience": 0}
    rnncast.train(
        files["train"], out=intervals, lookback=LOOKBACK, horizon=HORIZON, link_latest=False,
        intervals="80,95", **settings,
    )  # fmt: skip
    output = tmp_path / "anomalies.csv"
    result = run(
        "detect", "-m", intervals, "-d", files["spiked"], "-o", output, "--score", "interval", "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["score"] == "interval" and summary["interval_level"] == 95 and summary["threshold"] == 1.0
    table = pd.read_csv(output, keep_default_na=False)
    stamps = seasonal()["time"]
    flagged = set(table.loc[table["flag"], "timestamp"])
    assert set(stamps[SPIKES]) <= flagged
    assert (table["flag"] == (table["score"].abs() > 1.0)).all()
    # Clean rows fall outside a 95% interval about 5% of the time, not much more.
    clean = table[~table["timestamp"].isin(stamps[SPIKES])]
    assert clean["flag"].mean() < 0.1

    # The score is the error over q[step] * s(x): recompute one row from the calibration.
    metadata = json.loads((intervals / "metadata.json").read_text())
    q = metadata["intervals"]["quantiles"]["95"][0][0]
    values = pd.read_csv(files["spiked"])["load"].to_numpy()
    # A spike whose window holds no other flagged row: the second look rescores the others on
    # their window with that anomaly replaced, so their scale is not the raw window's.
    flagged_rows = set(np.flatnonzero(stamps.isin(flagged)))
    row = next(r for r in SPIKES if not flagged_rows & set(range(r - LOOKBACK, r)))
    window = values[row - LOOKBACK : row]
    scale = max(np.abs(np.diff(window)).mean(), metadata["intervals"]["scale_floor"][0])
    hit = table[table["timestamp"] == stamps[row]].iloc[0]
    assert math.isclose(hit["score"], (hit["actual"] - hit["expected"]) / (q * scale), rel_tol=1e-6)

    refused = run(
        "detect", "-m", bundle, "-d", files["spiked"], "-o", tmp_path / "no.csv", "--score", "interval"
    )
    assert_one_line_error(
        refused, ExitCode.USAGE, "--score interval needs prediction intervals", "--intervals"
    )
    assert not (tmp_path / "no.csv").exists()


def test_second_look_clears_echoes_but_keeps_level_shifts_and_runs_of_anomalies() -> None:
    """With the naive forecast (what a residual network starts as), a spike's next row is an
    echo and is cleared; a level shift is flagged once, not at every row of its new level;
    two anomalies in a row both stay."""
    rng = np.random.default_rng(3)
    values = (20 + np.sin(np.arange(400) / 6) + rng.normal(0, 0.05, 400)).reshape(-1, 1)
    values[100] += 5.0  # a spike
    values[200:202] += [[4.0], [-4.0]]  # two anomalies in a row
    values[300:] += 6.0  # a level shift
    lookback, step = 10, 1
    rows = np.arange(lookback, 400)
    expected = values[rows - 1]  # naive: the previous value

    def naive(data: np.ndarray, start: int) -> np.ndarray:
        return data[start - 1, :1]

    actual = values[rows]
    scores, centre, scale = robust_scores(actual - expected)
    first = set(rows[np.abs(scores[:, 0]) > 4])
    assert {100, 101, 200, 201, 202, 300} <= first  # the echoes of 100 and 201 among them
    second = clear_echoes(
        naive, values, rows, step, lookback, actual, expected, scores, 4.0, zscore_scorer(centre, scale)
    )
    assert set(rows[second.flags[:, 0]]) == {100, 200, 201, 300}
    assert second.cleared == len(first) - 4
    # The echo's expected value is now the forecast made with the spike replaced by its own.
    echo = int(np.flatnonzero(rows == 101)[0])
    assert second.expected[echo, 0] == pytest.approx(values[99, 0])
    assert (second.flags == (np.abs(second.scores) > 4)).all()
