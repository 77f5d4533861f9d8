"""rnncast tune: the default trial first, the trials table, resuming, budgets, the search space
file, and an objective that never sees the test split. Tiny series, one epoch, 2-3 trials."""

from __future__ import annotations

import csv
import io
import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import rnncast
from rnncast import tuning
from rnncast.bundle_files import BUNDLE_FILES
from rnncast.cli import app
from rnncast.config import TrainConfig
from rnncast.errors import TrainingError, UsageError
from rnncast.search_space import Dimension, SpaceContext, build_space, read_space_file
from tests.test_cli import assert_one_line_error
from tests.test_startup import run_fresh

FAST = {"epochs": 1, "units": 4, "batch_size": 32, "patience": 0, "lookback": 10, "horizon": 3}
FAST_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every network a trial fits: the rows it was handed and its settings (the final bundle's
    training goes through the pipeline, not through here)."""
    calls: list[dict[str, Any]] = []
    real = tuning.fit_on_history

    def recording(
        history: np.ndarray, columns: Any, n_targets: int, val_rows: int, config: TrainConfig
    ) -> Any:
        calls.append({"history": history, "val_rows": val_rows, "config": config})
        return real(history, columns, n_targets, val_rows, config)

    monkeypatch.setattr(tuning, "fit_on_history", recording)
    return calls


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_state_is_json(state_dir: Path, rnncast_state: bool = True) -> None:
    """Everything the search keeps on disk is JSON: no pickle, no saved model."""
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    expected = {"oracle.json", "tuner0.json", "trial.json"} | ({"rnncast.json"} if rnncast_state else set())
    assert {p.name for p in files} >= expected
    for path in files:
        assert path.suffix == ".json", path
        json.loads(path.read_text(encoding="utf-8"))


def test_random_search_writes_the_trials_table_default_first_and_a_bundle_that_forecasts(
    prices_csv: Path, tmp_path: Path
) -> None:
    space = write(
        tmp_path / "space.toml", "units = [4, 8]\nlearning_rate = {min = 1e-3, max = 1e-2, log = true}\n"
    )
    out = tmp_path / "runs" / "tuned"
    args = ["tune", str(prices_csv), "--trials", "3", "--space", str(space), "--out", str(out), "--json"]
    result = CliRunner().invoke(app, [*args, *FAST_FLAGS])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # keras-tuner's own prints stay off stdout

    rows = read_table(out.with_name("tuned.trials.csv"))
    assert [row["trial"] for row in rows] == ["default", "1", "2"]
    assert list(rows[0]) == [
        "trial",
        "units",
        "learning_rate",
        "val_loss",
        "epochs",
        "best_epoch",
        "seconds",
        "status",
        "note",
    ]
    # The default trial: the flags as given (--units 4), rnncast's defaults for the rest.
    assert rows[0]["units"] == "4" and float(rows[0]["learning_rate"]) == 1e-3
    for row in rows[1:]:
        assert row["units"] in ("4", "8") and 1e-3 <= float(row["learning_rate"]) <= 1e-2
    assert all(row["status"] == "completed" and float(row["val_loss"]) > 0 for row in rows)

    best = min(rows, key=lambda row: float(row["val_loss"]))
    metadata = json.loads((out / "metadata.json").read_text())
    section = metadata["tuning"]
    assert section["best_trial"] == best["trial"] == summary["tuning"]["best_trial"]
    assert section["default_val_loss"] == float(rows[0]["val_loss"])
    assert section["best_val_loss"] == float(best["val_loss"])
    assert section["trials_run"] == 3 and section["search"] == "random" and section["stopped_by"] == "trials"
    assert metadata["config"]["units"] == int(best["units"])
    assert "model" in summary["report"]["metrics"]  # scored on the test split beside the baselines
    assert_state_is_json(out.with_name("tuned.tuning"))
    assert {p.name for p in out.iterdir()} <= set(BUNDLE_FILES)  # the search's files sit beside it
    forecast = rnncast.forecast(out, ledger=False)
    assert len(forecast.frame) == 3

    # The bundle carries the search: info says how it went, and an evaluation report has a
    # section with every trial (the CSV's rows, read from the bundle alone).
    assert [t["trial"] for t in section["trials"]] == ["default", "1", "2"]
    shown = CliRunner().invoke(app, ["info", str(out)])
    assert shown.exit_code == 0, shown.output
    assert f"best trial {best['trial']}" in shown.stdout and "random search, 3 trials" in shown.stdout
    report_dir = tmp_path / "report"
    evaluated = CliRunner().invoke(app, ["evaluate", "--model", str(out), "--report-dir", str(report_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    search = markdown.split("## Hyperparameter search", 1)[1].split("\n## ", 1)[0]
    assert f"| {best['trial']} (best) |" in search
    assert sum(line.startswith("| ") for line in search.splitlines()) == 1 + 3  # header + trials


def test_grid_search_runs_exactly_the_listed_configurations(
    prices_csv: Path, tmp_path: Path, fits: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    space = read_space_file(write(tmp_path / "space.toml", "units = [4, 8]\n"))
    real = tuning.fit_on_history

    def diverging_for_8(
        history: np.ndarray, columns: Any, n_targets: int, val_rows: int, config: TrainConfig
    ) -> Any:
        if config.units == 8:  # a trial that fails is recorded and the search goes on
            fits.append({"history": history, "val_rows": val_rows, "config": config})
            raise TrainingError("training diverged: the loss became NaN", "lower --learning-rate")
        return real(history, columns, n_targets, val_rows, config)

    monkeypatch.setattr(tuning, "fit_on_history", diverging_for_8)
    result = tuning.tune(
        prices_csv, search="grid", trials=10, space=space, out=tmp_path / "grid", link_latest=False, **FAST
    )
    trials = {t["trial"]: t for t in result.trials}
    assert [t["values"]["units"] for t in result.trials] == [4, 4, 8]
    assert trials["1"]["status"] == "same as default"  # the grid starts at the default: not trained twice
    assert trials["1"]["val_loss"] == trials["default"]["val_loss"]
    assert trials["2"]["status"] == "failed" and "diverged" in trials["2"]["note"]
    assert [call["config"].units for call in fits] == [4, 8]  # units 4 trained once: the default trial
    assert result.tuning["stopped_by"] == "space exhausted" and result.tuning["best_trial"] == "default"

    console = Console(width=160, record=True, file=io.StringIO())
    for renderable in tuning.summary_renderables(result):
        console.print(renderable)
    text = console.export_text()
    assert "Grid search, 3 trials (every configuration of the space tried)" in text
    assert "no trial beat the default configuration" in text and "best configuration: units=4" in text
    assert "held-out test windows" in text  # the bundle's verdict on the test split


def test_resume_runs_only_the_new_trial_and_the_objective_never_sees_the_test_split(
    prices_csv: Path, tmp_path: Path, fits: list[dict[str, Any]]
) -> None:
    space = read_space_file(
        write(tmp_path / "space.toml", "units = [4, 8]\ndropout = {min = 0, max = 0.3, step = 0.1}\n")
    )
    out = tmp_path / "runs" / "resumed"
    first = tuning.tune(prices_csv, trials=2, space=space, out=out, link_latest=False, **FAST)
    assert [t["trial"] for t in first.trials] == ["default", "1"] and len(fits) == 2
    second = tuning.tune(prices_csv, trials=3, space=space, out=out, link_latest=False, **FAST)
    assert len(fits) == 3  # only trial 2 trained: the finished ones were kept
    assert second.tuning["trials_run"] == 3 and second.tuning["trials_run_now"] == 1
    assert second.trials[:2] == first.trials
    assert [row["trial"] for row in read_table(out.with_name("resumed.trials.csv"))] == ["default", "1", "2"]

    # Every trial was handed the training and validation rows only, and scored on the same
    # validation rows, which end before the test split begins.
    split = json.loads((out / "metadata.json").read_text())["split"]
    assert {len(call["history"]) for call in fits} == {split["train_rows"] + split["val_rows"]}
    assert {call["val_rows"] for call in fits} == {split["val_rows"]}
    frame = pd.read_csv(prices_csv)
    assert np.array_equal(fits[-1]["history"][:, 0], frame["Close"].to_numpy()[: len(fits[-1]["history"])])
    validation = second.tuning["validation"]
    assert validation["first"] == split["val_start"]
    assert (
        pd.Timestamp(validation["last"])
        < pd.Timestamp(split["test_start"])
        == pd.Timestamp(validation["test_start"])
    )

    # Another space, or other data, with the same --out is refused before any training.
    other = read_space_file(write(tmp_path / "other.toml", "units = [4, 16]\n"))
    with pytest.raises(
        UsageError, match=r"another search space.*Use a new --out, or delete .*resumed\.tuning"
    ):
        tuning.tune(prices_csv, trials=3, space=other, out=out, link_latest=False, **FAST)
    shorter = tmp_path / "shorter.csv"
    frame.head(380).to_csv(shorter, index=False)
    with pytest.raises(UsageError, match="other data"):
        tuning.tune(shorter, trials=3, space=space, out=out, link_latest=False, **FAST)
    assert len(fits) == 3


def test_a_tiny_time_budget_runs_only_the_default_trial(
    prices_csv: Path, tmp_path: Path, fits: list[dict[str, Any]]
) -> None:
    # The default trial always runs; the budget is checked before each later trial starts, and
    # one trial takes far longer than 0.001 minutes (60 ms), so no searched trial starts.
    out = tmp_path / "budget"
    result = CliRunner().invoke(
        app,
        [
            "tune",
            str(prices_csv),
            "--trials",
            "3",
            "--max-minutes",
            "0.001",
            "--out",
            str(out),
            "--json",
            *FAST_FLAGS,
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [t["trial"] for t in summary["trials"]] == ["default"] and len(fits) == 1
    tuned = summary["tuning"]
    assert tuned["stopped_by"] == "time budget" and tuned["budget"] == {"trials": 3, "max_minutes": 0.001}
    assert tuned["best_trial"] == "default" and tuned["beat_default"] is False
    assert summary["config"]["units"] == 4  # the bundle is the default configuration
    # Without --space the default space is searched, less the settings given as flags.
    assert list(tuned["space"]) == [
        "model",
        "bidirectional",
        "layers",
        "dropout",
        "learning_rate",
        "attention",
        "layer_norm",
        "optimizer",
        "window_norm",
        "linear_skip",
    ]


def test_the_default_space_and_a_space_file_that_amends_it(tmp_path: Path) -> None:
    context = SpaceContext(lookback=60, max_lookback=100)
    space = {d.name: d for d in build_space(None, context)}
    assert space["lookback"].values == (30, 60)  # 120 would not fit the series
    assert space["units"].values == (16, 32, 64, 128) and space["learning_rate"].log
    assert "units" not in {d.name for d in build_space(None, context, pinned={"units"})}

    amended = read_space_file(
        write(tmp_path / "s.toml", "default_space = true\nunits = 8\nlayers = [1, 3]\n")
    )
    dims = {d.name: d for d in build_space(amended, context, pinned={"layers"})}
    assert dims["units"].kind == "fixed" and not dims["units"].searched
    assert dims["layers"].values == (1, 3)  # the space file wins over a pinning flag
    assert set(dims) >= {"model", "dropout", "lookback"}
    only = read_space_file(write(tmp_path / "o.toml", "units = [8, 16]\n"))
    assert [d.name for d in build_space(only, context)] == ["units"]  # replaces the default space
    levers = read_space_file(
        write(tmp_path / "l.toml", 'window_norm = ["last", "mean"]\nsegment = [1, 12]\nchannels = "mixed"\n')
    )
    dims = {d.name: d for d in build_space(levers, context)}
    assert dims["window_norm"].values == ("last", "mean") and dims["segment"].values == (1, 12)
    for refused in ("loss", "transform"):
        with pytest.raises(UsageError, match=f"{refused} cannot be searched"):
            read_space_file(write(tmp_path / f"{refused}.toml", f'{refused} = ["mse", "mae"]\n'))


def test_bayesian_search_runs_two_trials(
    prices_csv: Path, tmp_path: Path, fits: list[dict[str, Any]]
) -> None:
    space = read_space_file(
        write(tmp_path / "space.toml", "learning_rate = {min = 1e-3, max = 1e-2, log = true}\n")
    )
    out = tmp_path / "bayes"
    result = tuning.tune(
        prices_csv, search="bayesian", trials=2, space=space, out=out, link_latest=False, **FAST
    )
    assert [t["status"] for t in result.trials] == ["completed", "completed"] and len(fits) == 2
    assert 1e-3 <= result.trials[1]["values"]["learning_rate"] <= 1e-2
    assert_state_is_json(out.with_name("bayes.tuning"))


def test_bayesian_oracle_models_the_losses_and_proposes_new_settings(tmp_path: Path) -> None:
    """keras-tuner's Bayesian oracle with the NumPy Gaussian process, on a cheap objective."""
    dimension = Dimension("learning_rate", "float", low=1e-4, high=1e-2, log=True)
    proposed: list[float] = []

    def run_search_trial(trial_id: str, values: dict[str, Any]) -> tuning.TrialRecord:
        proposed.append(values["learning_rate"])
        loss = (np.log10(values["learning_rate"]) + 2.5) ** 2  # best at 10 ** -2.5
        return tuning.TrialRecord(str(int(trial_id) + 1), values, "completed", val_loss=float(loss))

    runner = types.SimpleNamespace(
        searched=(dimension,), default_config=TrainConfig(), run_search_trial=run_search_trial
    )
    stopped = tuning._run_search(runner, "bayesian", 9, tmp_path / "state", 42, lambda: False)  # type: ignore[arg-type]
    assert stopped == "trials" and len(proposed) == 8 and len(set(proposed)) == 8
    assert all(1e-4 <= value <= 1e-2 for value in proposed)
    # After two random points the process steers towards the optimum.
    assert min(abs(np.log10(value) + 2.5) for value in proposed[2:]) < 0.1
    assert_state_is_json(tmp_path / "state", rnncast_state=False)

    process = tuning.GaussianProcess().fit(np.array([[0.1], [0.5], [0.9]]), np.array([1.0, 0.0, 1.0]))
    mean, std = process.predict(np.array([[0.5], [0.3]]), return_std=True)
    assert abs(mean[0]) < 0.05 and std[0] < std[1]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("unitz = [32, 64]\n", ["space.toml: unknown setting 'unitz'", "Did you mean 'units'"]),
        (
            "dropout = {min = 0, maks = 0.3}\n",
            ["space.toml: dropout has an unknown key 'maks'", "min, max, step, log"],
        ),
        ("horizon = [3, 5]\n", ["space.toml: horizon cannot be searched", "--horizon"]),
        ("units = [32, 6.5]\n", ["space.toml: units = 6.5 has the wrong type", "whole numbers"]),
        ("dropout = [0.1, 1.5]\n", ["space.toml: dropout = 1.5 must be in [0.0, 1.0)"]),
        (
            "model = {min = 1, max = 2}\n",
            [
                "space.toml: model = {min = 1, max = 2} is a range, but model is not a number",
                "List the choices",
            ],
        ),
        ("units = [32, 64\n", ["space.toml is not valid TOML"]),
        ("lookback = [10, 500]\n", ["space.toml: lookback 500 does not fit the data", "at most 2"]),
        ("units = 8\n", ["space.toml searches nothing: every setting in it is fixed"]),
    ],
)
def test_a_bad_space_file_is_a_usage_error_naming_the_key(
    prices_csv: Path, tmp_path: Path, text: str, fragments: list[str]
) -> None:
    space = write(tmp_path / "space.toml", text)
    result = CliRunner().invoke(
        app, ["tune", str(prices_csv), "--space", str(space), "--out", str(tmp_path / "t")]
    )
    assert_one_line_error(result, 2, *fragments)
    assert not (tmp_path / "t.tuning").exists()


def test_space_file_refusals_load_no_tensorflow(prices_csv: Path, tmp_path: Path) -> None:
    space = write(tmp_path / "space.toml", "unitz = [32, 64]\n")
    [result] = run_fresh([["tune", prices_csv, "--space", space]], tmp_path)
    assert result["code"] == 2 and "Did you mean 'units'" in result["error"]
    assert result["loaded"] == []
