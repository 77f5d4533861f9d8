"""Report directories: complete, self-contained, consistent with forecasts.csv, atomic."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.errors import UsageError
from tests.conftest import FAST

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    bundle = tmp_path_factory.mktemp("runs") / "prices"
    rnncast.train(prices_csv, out=bundle, lookback=20, horizon=5, **FAST)
    report_dir = tmp_path_factory.mktemp("reports") / "prices"
    return rnncast.evaluate(bundle, report_dir=report_dir), report_dir


def test_report_directory_holds_every_document_and_plot(evaluation: tuple[dict, Path]) -> None:
    _, report_dir = evaluation
    names = {p.name for p in report_dir.iterdir()}
    assert {"report.json", "report.md", "report.html", "forecasts.csv"} <= names
    assert {"forecast_Close.png", "error_by_step.png", "loss_curves.png"} <= names
    for png in report_dir.glob("*.png"):
        assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert not [p for p in report_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_report_json_has_every_metric_for_every_forecaster(evaluation: tuple[dict, Path]) -> None:
    report, report_dir = evaluation
    stored = json.loads((report_dir / "report.json").read_text())
    assert stored["report_format"] == 1
    assert set(stored["metrics"]) == {"model", "naive", "seasonal_naive", "naive2", "drift", "mean"}
    for units in ("original", "scaled"):
        assert set(stored["metrics"]["model"][units]) == {
            "mse",
            "rmse",
            "mae",
            "mape",
            "smape",
            "mase",
            "skill",
            "owa",
        }
        assert len(stored["per_step"]["naive"][units]["rmse"]) == 5
    assert stored["per_target"]["Close"]["drift"]["original"]["mae"] > 0
    assert stored["mase_period"] == 5  # business days
    assert stored["metrics"] == report["metrics"]
    assert stored["loss_history"][0]["val_loss"]


def test_forecasts_csv_reproduces_the_reported_metrics(evaluation: tuple[dict, Path]) -> None:
    report, report_dir = evaluation
    forecasts = pd.read_csv(report_dir / "forecasts.csv")
    assert len(forecasts) == report["windows"] * 5
    assert list(forecasts.columns[:7]) == ["fold", "origin", "time", "step", "target", "actual", "scale"]
    for name in report["metrics"]:
        errors = forecasts["actual"] - forecasts[name]
        assert np.sqrt(np.mean(errors**2)) == pytest.approx(
            report["metrics"][name]["original"]["rmse"], rel=1e-6
        )
        assert np.mean(np.abs(errors)) == pytest.approx(report["metrics"][name]["original"]["mae"], rel=1e-6)
    step_two = forecasts[forecasts["step"] == 2]
    rmse = np.sqrt(np.mean((step_two["actual"] - step_two["naive"]) ** 2))
    assert rmse == pytest.approx(report["per_step"]["naive"]["original"]["rmse"][1], rel=1e-6)
    scaled_errors = (forecasts["actual"] - forecasts["model"]) / forecasts["scale"]
    assert np.sqrt(np.mean(scaled_errors**2)) == pytest.approx(
        report["metrics"]["model"]["scaled"]["rmse"], rel=1e-6
    )


def test_forecast_origins_are_the_last_known_rows(evaluation: tuple[dict, Path], prices_csv: Path) -> None:
    report, report_dir = evaluation
    forecasts = pd.read_csv(report_dir / "forecasts.csv")
    dates = list(pd.read_csv(prices_csv)["Date"])
    first_target = dates.index(report["first_target_time"][:10])
    first = forecasts.iloc[0]
    assert (first["origin"], first["time"]) == (dates[first_target - 1], dates[first_target])
    later = forecasts[(forecasts["step"] == 3)].iloc[10]  # window 11, third step
    assert (later["origin"], later["time"]) == (dates[first_target + 9], dates[first_target + 12])


def test_html_report_is_self_contained(evaluation: tuple[dict, Path]) -> None:
    report, report_dir = evaluation
    page = (report_dir / "report.html").read_text()
    assert "<link" not in page and "<script" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) == len(list(report_dir.glob("*.png")))
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    best = report["best_baseline"]
    assert best in page and "seasonal_naive" in page and "lookback" in page


def test_markdown_states_the_verdict_and_links_the_plots(evaluation: tuple[dict, Path]) -> None:
    report, report_dir = evaluation
    text = (report_dir / "report.md").read_text()
    verdict = "beats the best baseline" if report["model_beats_best_baseline"] else "does NOT beat"
    assert verdict in text
    assert "](error_by_step.png)" in text
    assert "| model |" in text and "| naive |" in text


def test_an_earlier_report_is_replaced_but_other_directories_are_refused(
    evaluation: tuple[dict, Path], tmp_path: Path
) -> None:
    _, report_dir = evaluation
    bundle = json.loads((report_dir / "report.json").read_text())["model_path"]
    rnncast.evaluate(bundle, report_dir=report_dir)  # nightly rerun: replaced in place
    assert (report_dir / "report.html").exists()
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not an rnncast report"):
        rnncast.evaluate(bundle, report_dir=precious)
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    with pytest.raises(UsageError, match="inside a model bundle"):
        rnncast.evaluate(bundle, report_dir=Path(bundle) / "report")
    (report_dir / ".DS_Store").write_bytes(b"\0")  # a desktop looked at the folder
    rnncast.evaluate(bundle, report_dir=report_dir)
    a_file = tmp_path / "report.txt"
    a_file.write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        rnncast.evaluate(bundle, report_dir=a_file)
    with pytest.raises(UsageError, match="cannot be created"):
        rnncast.backtest(a_file.parent / "data.csv", report_dir=a_file / "sub")  # before any loading


def test_several_targets_get_a_plot_and_a_table_each(prices_csv: Path, tmp_path: Path) -> None:
    report = rnncast.backtest(
        prices_csv,
        target="Close,Open",
        folds=2,
        step=10,
        refit="never",
        lookback=20,
        horizon=5,
        report_dir=tmp_path / "report",
        **FAST,
    )
    assert set(report["per_target"]) == {"Close", "Open"}
    names = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"forecast_Close.png", "forecast_Open.png", "fold_errors.png"} <= names
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Per target" in text and "## Backtest folds" in text


def test_evaluate_on_recent_rows_still_has_an_in_sample_mase(
    evaluation: tuple[dict, Path], prices_csv: Path
) -> None:
    report, _ = evaluation
    recent = pd.read_csv(prices_csv).tail(120)
    path = Path(report["model_path"]).parent / "recent.csv"
    recent.to_csv(path, index=False)
    fresh = rnncast.evaluate(report["model_path"], data=path)
    assert fresh["mase_period"] == 5
    # in-sample = the rows of this file before its first scored window, never the scored ones
    first = list(recent["Date"]).index(fresh["first_target_time"][:10])
    history = recent["Close"].to_numpy()[:first]
    scale = np.mean(np.abs(history[5:] - history[:-5]))
    naive_mae = fresh["metrics"]["naive"]["original"]["mae"]
    assert fresh["metrics"]["naive"]["original"]["mase"] == pytest.approx(naive_mae / scale, rel=1e-9)
