"""``rnncast update``: fine-tuning a saved bundle on the rows appended to its data, on real MSFT
prices (an 'old' file of the first rows and 'new' files with more rows after them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.bundle import load_bundle
from rnncast.errors import ExitCode
from tests.test_cli import assert_one_line_error, run

OLD_ROWS = 300
ADDED = 10
FAST_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]
FAST_FLAGS += ["--patience", "0"]


@pytest.fixture(scope="module")
def prices(prices_csv: Path) -> pd.DataFrame:
    return pd.read_csv(prices_csv)


@pytest.fixture(scope="module")
def files(prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """old: the first 300 rows; new: 10 rows more; newer: 30 rows more; edited: new with one old
    close changed by a cent; deleted: new without an old row; only_new: just the 10 new rows;
    weekly: every fifth row (another frequency)."""
    directory = tmp_path_factory.mktemp("update_data")
    edited = prices.head(OLD_ROWS + ADDED).copy()
    edited.loc[50, "Close"] = round(edited.loc[50, "Close"] + 0.01, 3)
    frames = {
        "old": prices.head(OLD_ROWS),
        "new": prices.head(OLD_ROWS + ADDED),
        "newer": prices.head(OLD_ROWS + 3 * ADDED),
        "edited": edited,
        "deleted": prices.head(OLD_ROWS + ADDED).drop(index=120),
        "only_new": prices.iloc[OLD_ROWS : OLD_ROWS + ADDED],
        "weekly": prices.iloc[::5],
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = directory / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


@pytest.fixture(scope="module")
def base(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle trained on the old file; tests work on copies of it."""
    out = tmp_path_factory.mktemp("update_runs") / "base"
    result = run("train", files["old"], "--out", out, *FAST_FLAGS, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def copy_of(bundle: Path, target: Path) -> Path:
    shutil.copytree(bundle, target)
    return target


def snapshot(bundle: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(bundle.iterdir())}


def metadata_of(bundle: Path) -> dict:
    return json.loads((bundle / "metadata.json").read_text())


@pytest.fixture(scope="module")
def updated(base: Path, files: dict[str, Path]) -> tuple[Path, dict]:
    """The base bundle updated on the new file into a new directory (--out), as JSON."""
    out = base.parent / "updated" / "nested"
    result = run("update", "--model", base, "--data", files["new"], "--out", out, "--epochs", "2", "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_update_fine_tunes_on_the_new_rows_and_keeps_the_scaler(
    base: Path, updated: tuple[Path, dict], prices: pd.DataFrame
) -> None:
    before = snapshot(base)
    out, summary = updated
    assert summary["status"] == "updated" and summary["rows_added"] == ADDED
    assert summary["bundle"] == str(out)
    # --out leaves the original bundle as it was
    assert snapshot(base) == before
    old_weights = load_bundle(base).model.get_weights()
    new_weights = load_bundle(out).model.get_weights()
    assert [w.shape for w in old_weights] == [w.shape for w in new_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(old_weights, new_weights, strict=True))
    assert (out / "scaler.json").read_bytes() == (base / "scaler.json").read_bytes()
    assert (out / "report.json").read_bytes() == (base / "report.json").read_bytes()

    metadata, parent = metadata_of(out), metadata_of(base)
    new_last = pd.Timestamp(prices["Date"].iloc[OLD_ROWS + ADDED - 1]).isoformat()
    assert metadata["data"]["rows"] == OLD_ROWS + ADDED
    assert metadata["data"]["last_timestamp"] == new_last == "2017-07-06T00:00:00"
    assert metadata["split"]["trained_through"] == new_last
    assert metadata["split"]["test_start"] == parent["split"]["test_start"]
    assert metadata["created_at"] >= parent["created_at"]
    (step,) = metadata["lineage"]
    assert step["rows_added"] == ADDED
    assert step["parent_created_at"] == parent["created_at"]
    assert step["parent_model_sha256"] == parent["files"]["model.keras"]
    assert step["data_last_timestamp_before"] == parent["data"]["last_timestamp"] == "2017-06-21T00:00:00"
    assert step["data_last_timestamp_after"] == new_last
    # every window whose targets reach a new row, topped up to one batch of the latest older ones
    assert step["windows"] == 32 and step["epochs"] == 2 and step["scaler"] == "kept"
    assert step["learning_rate"] == pytest.approx(parent["config"]["learning_rate"] / 10)
    assert summary["lineage"] == metadata["lineage"]


def test_the_updated_bundle_forecasts_after_the_new_last_row(
    updated: tuple[Path, dict], files: dict[str, Path]
) -> None:
    out, _ = updated
    result = run("forecast", "--model", out, "--data", files["new"], "--no-ledger", "--json")
    assert result.exit_code == 0, result.output
    dates = [row["Date"] for row in json.loads(result.stdout)["forecast"]]
    # 2017-07-06 is a Thursday: the next three trading days
    assert dates == ["2017-07-07", "2017-07-10", "2017-07-11"]


def test_evaluate_after_an_update_scores_only_windows_after_trained_through(
    base: Path, updated: tuple[Path, dict], files: dict[str, Path], prices: pd.DataFrame
) -> None:
    out, _ = updated
    # the new file is all trained on now: nothing held out is left in it
    result = run("evaluate", "--model", out, "--data", files["new"])
    assert_one_line_error(result, ExitCode.DATA, "no complete 3-step window after 2017-07-06T00:00:00")
    report = json.loads(run("evaluate", "--model", out, "--data", files["newer"], "--json").stdout)
    # 330 rows, trained through row 310: targets start at rows 311..328 (3 steps each)
    assert report["windows"] == 2 * ADDED - 3 + 1 == 18
    first_new = pd.Timestamp(prices["Date"].iloc[OLD_ROWS + ADDED])
    assert pd.Timestamp(report["first_target_time"]) == first_new
    # the parent bundle still counts its test split (and the new rows) as held out
    parent = json.loads(run("evaluate", "--model", base, "--data", files["newer"], "--json").stdout)
    assert parent["windows"] > report["windows"]


def test_a_second_update_extends_the_lineage(
    updated: tuple[Path, dict], files: dict[str, Path], tmp_path: Path
) -> None:
    bundle = copy_of(updated[0], tmp_path / "twice")
    first = metadata_of(bundle)
    result = run("update", "--model", bundle, "--data", files["newer"], "--epochs", "1", "--quiet")
    assert result.exit_code == 0, result.output
    metadata = metadata_of(bundle)
    assert len(metadata["lineage"]) == 2
    assert metadata["lineage"][0] == first["lineage"][0]
    second = metadata["lineage"][1]
    assert second["parent_created_at"] == first["created_at"]
    assert second["rows_added"] == 2 * ADDED
    assert second["data_last_timestamp_before"] == "2017-07-06T00:00:00"
    assert metadata["data"]["rows"] == OLD_ROWS + 3 * ADDED


def test_refit_scaler_refits_on_every_row(
    base: Path, files: dict[str, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    bundle = copy_of(base, tmp_path / "refit")
    result = run("update", "--model", bundle, "--data", files["new"], "--epochs", "1", "--refit-scaler")
    assert result.exit_code == 0, result.output
    old, new = (json.loads((b / "scaler.json").read_text())["columns"]["Close"] for b in (base, bundle))
    closes = prices["Close"].head(OLD_ROWS + ADDED).to_numpy()
    assert new["offset"] == pytest.approx(closes.mean()) and new["scale"] == pytest.approx(closes.std())
    # the original was fitted on the 210 training rows only
    assert old["offset"] == pytest.approx(closes[:210].mean())
    assert metadata_of(bundle)["lineage"][0]["scaler"] == "refit"


@pytest.mark.parametrize("name", ["edited", "deleted"])
def test_rewritten_history_is_refused_and_the_bundle_left_alone(
    base: Path, files: dict[str, Path], tmp_path: Path, name: str
) -> None:
    bundle = copy_of(base, tmp_path / "model")
    before = snapshot(bundle)
    result = run("update", "--model", bundle, "--data", files[name], "--epochs", "1")
    assert_one_line_error(result, ExitCode.DATA, "history was rewritten", "--retrain")
    assert snapshot(bundle) == before


def test_a_file_of_only_the_new_rows_asks_for_the_whole_history(
    base: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    bundle = copy_of(base, tmp_path / "model")
    before = snapshot(bundle)
    result = run("update", "--model", bundle, "--data", files["only_new"])
    assert_one_line_error(
        result, ExitCode.DATA, "history was rewritten", "starts at 2017-06-22", "whole history"
    )
    assert snapshot(bundle) == before


def test_data_of_another_frequency_is_refused(base: Path, files: dict[str, Path], tmp_path: Path) -> None:
    bundle = copy_of(base, tmp_path / "model")
    before = snapshot(bundle)
    result = run("update", "--model", bundle, "--data", files["weekly"])
    assert_one_line_error(result, ExitCode.DATA, "trained on 'B' data")
    assert snapshot(bundle) == before


def test_retrain_trains_a_new_model_on_the_rewritten_file(
    base: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    # (rnncast update holds the bundle's lock: retraining used to wait for that lock, exit 75)
    bundle = copy_of(base, tmp_path / "model")
    result = run("update", "--model", bundle, "--data", files["edited"], "--retrain", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "retrained" and summary["lineage"] == []
    assert "retraining from scratch" in result.stderr
    metadata = metadata_of(bundle)
    assert metadata["data"]["path"] == str(files["edited"].resolve())
    assert metadata["data"]["rows"] == OLD_ROWS + ADDED
    assert "lineage" not in metadata and "trained_through" not in metadata["split"]
    # a fresh split of the whole file: its test split starts later than the old one
    assert metadata["split"]["test_start"] > metadata_of(base)["split"]["test_start"]
    assert metadata["config"]["lookback"] == 10 and metadata["config"]["horizon"] == 3
    assert not (Path("runs") / "latest").exists() or (Path("runs") / "latest").resolve() != bundle.resolve()


def test_no_new_rows_is_up_to_date_and_changes_nothing(
    base: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    bundle = copy_of(base, tmp_path / "model")
    before = snapshot(bundle)
    result = run("update", "--model", bundle, "--data", files["old"])
    assert result.exit_code == 0, result.output
    assert "is up to date: no rows after 2017-06-21T00:00:00" in result.stderr
    summary = json.loads(run("update", "--model", bundle, "--data", files["old"], "--json").stdout)
    assert summary["status"] == "up-to-date" and summary["rows_added"] == 0
    assert snapshot(bundle) == before


def test_update_without_data_reads_the_training_file_as_it_is_now(
    base: Path, prices: pd.DataFrame, tmp_path: Path
) -> None:
    # The usual cron set-up: rows are appended to the file the bundle last learnt from.
    bundle = copy_of(base, tmp_path / "live")
    assert "up to date" in run("update", "--model", bundle).stderr  # base's file is unchanged
    data = tmp_path / "live.csv"
    prices.head(OLD_ROWS + 4).to_csv(data, index=False)
    assert run("update", "--model", bundle, "--data", data, "--epochs", "1", "--quiet").exit_code == 0
    prices.head(OLD_ROWS + 7).to_csv(data, index=False)
    result = run("update", "--model", bundle, "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_added"] == 3 and summary["data"]["rows"] == OLD_ROWS + 7
    assert [step["rows_added"] for step in summary["lineage"]] == [4, 3]


def test_zero_epochs_is_a_usage_error(base: Path, files: dict[str, Path]) -> None:
    result = run("update", "--model", base, "--data", files["new"], "--epochs", "0")
    assert result.exit_code == ExitCode.USAGE


def test_an_out_that_is_not_a_bundle_is_refused_before_fine_tuning(
    base: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    victim = tmp_path / "notes.txt"
    victim.write_text("keep me\n")
    result = run("update", "--model", base, "--data", files["new"], "--out", victim)
    assert_one_line_error(result, ExitCode.USAGE, "is not a model bundle")
    assert victim.read_text() == "keep me\n"
    assert "epoch" not in result.stderr  # refused before any training
