"""The RNN toolbox (issue 7) on real series: intervals, detect, transfer learning and tune.

Each experiment runs the CLI in a fresh process, as a user would, on series rnncast's tests
never see. The series come from packages on PyPI (read where they are unpacked; nothing is
copied into the project) and from ETTh1 in ``../shared/data``::

    pip download --no-deps vega-datasets==0.9.0 statsmodels==0.15.0
    unzip -q -o vega_datasets-0.9.0-py3-none-any.whl -d /tmp/wheels/x
    unzip -q -o statsmodels-0.15.0-*.whl -d /tmp/wheels/x
    python benchmarks/toolbox.py --wheels /tmp/wheels/x [--only intervals,detect,transfer,tune]

Experiments:

- ``intervals``: ``train --intervals 80,95`` (conformal) and, on one series, mc-dropout; the
  empirical coverage and mean width of each level on the test split, from the bundle's report.
- ``detect``: 10 spikes of ±5 standard deviations of the one-step change injected into a real
  series at seeded positions; ``train --intervals 99`` (on the clean series, and on the spiked
  copy) then ``detect`` on the spiked copy with the robust z-score
  and with ``--score interval``; how many spikes were flagged and how many other rows were
  (rows right after a spike, whose input window holds it, counted apart), at several
  thresholds (one run each).
- ``transfer``: a bundle trained on one city's hourly temperatures fine-tuned on another's
  (``--init-from``) against training from scratch, both for a fixed number of epochs without
  early stopping; epochs each needs to reach the scratch run's best validation loss.
- ``tune``: ``rnncast tune --search random`` within a trial and minute budget; the default
  configuration's validation loss (trial 0) against the best trial's, and the best bundle's
  test verdict.

Prints one JSON document (also written to ``--out``) that RESULTS.md tabulates.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
ETTH1 = ROOT.parent / "shared" / "data" / "ETTh1.csv"
SEATTLE = ROOT / "sample_data" / "seattle_temps_hourly.csv"
EXPERIMENTS = ("intervals", "detect", "transfer", "tune")
# detect's model is trained on the series before the spikes went in (the usual case: a model
# from history, new data scored), or on the spiked copy itself (anomalies in its own validation
# split widen its intervals).
SOURCES = ("clean", "spiked")


def rnncast(*args: str, cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[int, str, float]:
    """Run the CLI; return its exit code, stdout and wall seconds (failing on other codes)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "rnncast", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"rnncast {' '.join(args)} exited {result.returncode}: {result.stderr[-3000:]}")
    return result.returncode, result.stdout, seconds


def real_series(wheels: Path, work: Path) -> dict[str, Path]:
    """CSV files of the real series, written under ``work`` from where the packages unpack."""
    vega = wheels / "vega_datasets" / "_data"
    out: dict[str, Path] = {}
    sf = pd.read_csv(vega / "sf-temps.csv")[["date", "temp"]]
    out["sf_temps_hourly"] = work / "sf_temps_hourly.csv"
    sf.to_csv(out["sf_temps_hourly"], index=False)
    weather = pd.read_csv(vega / "seattle-weather.csv")[["date", "temp_max"]]
    out["seattle_tmax_daily"] = work / "seattle_tmax_daily.csv"
    weather.to_csv(out["seattle_tmax_daily"], index=False)
    co2 = pd.read_csv(wheels / "statsmodels" / "datasets" / "co2" / "co2.csv")
    co2.columns = ["date", "co2"]
    co2["date"] = pd.to_datetime(co2["date"].astype(str), format="%Y%m%d")
    out["co2_weekly"] = work / "co2_weekly.csv"
    co2.to_csv(out["co2_weekly"], index=False)
    if ETTH1.is_file():
        out["etth1_ot_hourly"] = work / "etth1_ot.csv"
        pd.read_csv(ETTH1)[["date", "OT"]].to_csv(out["etth1_ot_hourly"], index=False)
    return out


def bundle_report(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "report.json").read_text())


def bundle_metadata(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "metadata.json").read_text())


def interval_rows(series: dict[str, Path], work: Path, epochs: int) -> list[dict[str, Any]]:
    """Test-split coverage of 80% and 95% intervals per series (and mc-dropout on one)."""
    runs = [(name, path, "conformal") for name, path in series.items()]
    runs.append(("sf_temps_hourly", series["sf_temps_hourly"], "mc-dropout"))
    rows = []
    for name, path, method in runs:
        bundle = work / f"intervals-{name}-{method}"
        extra = ["--dropout", "0.2"] if method == "mc-dropout" else []
        _, _, seconds = rnncast(
            "train", str(path), "--out", str(bundle), "--intervals", "80,95", "--interval-method", method,
            "--epochs", str(epochs), "--quiet", *extra, cwd=work,
        )  # fmt: skip
        report = bundle_report(bundle)
        block = report["intervals"]
        for level, scores in block["levels"].items():
            rows.append(
                {
                    "series": name,
                    "method": method,
                    "level": float(level),
                    "coverage": scores["coverage"],
                    "mean_width": scores["mean_width"],
                    "test_windows": report.get("windows"),
                    "seconds": round(seconds, 1),
                }
            )
    return rows


def spiked_copy(path: Path, out: Path, spikes: int, size: float, seed: int) -> tuple[list[int], str]:
    """``path`` with ``spikes`` single-row spikes of ``size`` one-step-change deviations added
    in its second half; returns the spiked row numbers and the target column."""
    frame = pd.read_csv(path)
    column = frame.columns[-1]
    values = frame[column].to_numpy(dtype=float)
    sigma = float(np.nanstd(np.diff(values)))
    rng = np.random.default_rng(seed)
    half = len(values) // 2
    # Spread out: one spike per equal slice of the second half, at a random place in it.
    edges = np.linspace(half, len(values) - 2, spikes + 1).astype(int)
    rows = [int(rng.integers(lo + 5, hi - 5)) for lo, hi in itertools.pairwise(edges)]
    signs = rng.choice([-1.0, 1.0], size=spikes)
    frame.loc[rows, column] = values[rows] + signs * size * sigma
    frame.to_csv(out, index=False)
    return rows, column


def detect_rows(series: dict[str, Path], work: Path, epochs: int) -> list[dict[str, Any]]:
    """Injected spikes flagged by detect, per series and score (robust z, and the error over
    the 99% conformal interval's half-width)."""
    rows = []
    for name, trained_on in itertools.product(
        ("sf_temps_hourly", "seattle_tmax_daily", "co2_weekly"), SOURCES
    ):
        spiked = work / f"{name}-spiked.csv"
        positions, _ = spiked_copy(series[name], spiked, spikes=10, size=5.0, seed=7)
        bundle = work / f"detect-{name}-{trained_on}"
        rnncast(
            "train", str(spiked if trained_on == "spiked" else series[name]), "--out", str(bundle),
            "--epochs", str(epochs), "--intervals", "99", "--quiet", cwd=work,
        )  # fmt: skip
        times = pd.to_datetime(pd.read_csv(spiked).iloc[:, 0])
        spike_times = {times[p] for p in positions}
        after = {times[p + 1] for p in positions}
        for score, thresholds in (("zscore", (4.0, 5.0, 6.0, 8.0)), ("interval", (1.0, 1.5, 2.0, 3.0))):
            row: dict[str, Any] = {"series": name, "trained_on": trained_on, "score": score}
            # One run per threshold: the second look (echoes) depends on which rows were flagged.
            for threshold in thresholds:
                table = work / f"{name}-{trained_on}-{score}-{threshold:g}.csv"
                _, stdout, seconds = rnncast(
                    "detect", "--model", str(bundle), "--data", str(spiked), "--output", str(table),
                    "--score", score, "--threshold", str(threshold), "--json", "--no-plot", cwd=work,
                )  # fmt: skip
                found = pd.read_csv(table)
                flagged = set(pd.to_datetime(found.loc[found["flag"], "timestamp"]))
                row.update(rows_scored=len(found), spikes=len(positions), detect_seconds=round(seconds, 1))
                row[f">{threshold:g}"] = {
                    "spikes_flagged": len(spike_times & flagged),
                    "right_after_a_spike": len(after & flagged),
                    "other_flags": len(flagged - spike_times - after),
                    "echoes_cleared": json.loads(stdout)["echoes_cleared"],
                }
            rows.append(row)
    return rows


def val_curve(bundle: Path) -> list[float]:
    return pd.read_csv(bundle / "history.csv")["val_loss"].tolist()


def first_epoch_at(curve: list[float], level: float) -> int | None:
    return next((i + 1 for i, value in enumerate(curve) if value <= level), None)


def transfer_rows(series: dict[str, Path], work: Path, epochs: int) -> list[dict[str, Any]]:
    """Epochs to the scratch run's best validation loss: fine-tuned from another series' bundle
    against from scratch."""
    pairs = [("seattle_temps_hourly", SEATTLE, "sf_temps_hourly")]
    if "etth1_ot_hourly" in series:
        pairs.append(("seattle_temps_hourly", SEATTLE, "etth1_ot_hourly"))
    rows = []
    for source_name, source_path, target_name in pairs:
        source = work / f"source-{source_name}"
        if not source.is_dir():
            rnncast("train", str(source_path), "--out", str(source), "--epochs", "30", "--quiet", cwd=work)
        fixed = ["--epochs", str(epochs), "--patience", "0", "--quiet"]
        target = str(series[target_name])
        scratch, tuned = work / f"scratch-{target_name}", work / f"tuned-{target_name}"
        _, _, scratch_s = rnncast("train", target, "--out", str(scratch), *fixed, cwd=work)
        init = ["--init-from", str(source)]
        _, _, tuned_s = rnncast("train", target, "--out", str(tuned), *init, *fixed, cwd=work)
        scratch_curve, tuned_curve = val_curve(scratch), val_curve(tuned)
        best = min(scratch_curve)
        rows.append(
            {
                "source": source_name,
                "target": target_name,
                "epochs": epochs,
                "scratch_best_val_loss": best,
                "scratch_epochs_to_best": first_epoch_at(scratch_curve, best),
                "finetuned_epochs_to_scratch_best": first_epoch_at(tuned_curve, best),
                "finetuned_best_val_loss": min(tuned_curve),
                "scratch_first_epoch_val_loss": scratch_curve[0],
                "finetuned_first_epoch_val_loss": tuned_curve[0],
                "scratch_test_mse": bundle_report(scratch)["metrics"]["model"]["original"]["mse"],
                "finetuned_test_mse": bundle_report(tuned)["metrics"]["model"]["original"]["mse"],
                "scratch_seconds": round(scratch_s, 1),
                "finetuned_seconds": round(tuned_s, 1),
            }
        )
    return rows


def tune_rows(series: dict[str, Path], work: Path, trials: int, minutes: float, epochs: int) -> list[dict]:
    """Default against best validation loss within the budget."""
    rows = []
    for name in ("seattle_tmax_daily", "sf_temps_hourly"):
        out = work / f"tuned-search-{name}"
        _, stdout, seconds = rnncast(
            "tune", str(series[name]), "--out", str(out), "--trials", str(trials), "--max-minutes",
            str(minutes), "--search", "random", "--epochs", str(epochs), "--json", "--quiet", cwd=work,
        )  # fmt: skip
        json.loads(stdout)  # --json keeps stdout parseable (keras-tuner prints nothing there)
        tuning = bundle_metadata(out)["tuning"]
        report = bundle_report(out)
        rows.append(
            {
                "series": name,
                "trials_run": tuning.get("trials_run"),
                "default_val_loss": tuning.get("default_val_loss"),
                "best_val_loss": tuning.get("best_val_loss"),
                "best_trial": tuning.get("best_trial"),
                "best_values": tuning.get("best_values"),
                "stopped_by": tuning.get("stopped_by"),
                "test_verdict": {
                    k: report.get(k)
                    for k in ("best_baseline", "model_beats_best_baseline", "skill_vs_best_baseline")
                },
                "seconds": round(seconds, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, required=True, help="where the PyPI wheels are unpacked")
    parser.add_argument("--only", default=",".join(EXPERIMENTS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    work = Path(tempfile.mkdtemp(prefix="rnncast-toolbox-"))
    series = real_series(args.wheels, work)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "work": str(work)}
    if "intervals" in chosen:
        results["intervals"] = interval_rows(series, work, args.epochs)
    if "detect" in chosen:
        results["detect"] = detect_rows(series, work, args.epochs)
    if "transfer" in chosen:
        results["transfer"] = transfer_rows(series, work, args.epochs)
    if "tune" in chosen:
        results["tune"] = tune_rows(series, work, args.trials, args.max_minutes, args.epochs)
    text = json.dumps(results, indent=2, default=str)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
