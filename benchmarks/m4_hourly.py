"""Many hourly series under the M4 competition's protocol, through ``rnncast backtest``.

The protocol of the M4 hourly set: every series is forecast once, 48 hours ahead from the end
of its training part; errors are sMAPE and MASE (in-sample seasonal-naive scale, m = 24),
averaged over the 48 steps and then over the series, and OWA relates both to the Naive2
benchmark. rnncast runs it as ``rnncast backtest --id-col id --folds 1 --step 1 --horizon 48
--seasonal-period 24``: one global model trained on every series' rows before its last 48,
each series scored on its last 48 (the Naive2 and seasonal-naive rows come from rnncast's own
baselines on the same series).

The M4 files are not on this machine (no download here): pass them with ``--m4-train`` /
``--m4-test`` (the competition's ``Hourly-train.csv`` / ``Hourly-test.csv``: an id column,
then the values of each series in a row). Without them the script runs a stand-in of real
hourly series of M4-hourly length cut from ``../shared/data/ETTh1.csv`` (oil temperature) and
``sample_data/seattle_temps_hourly.csv``, which shows the protocol but is not the competition.

Run from the project root::

    python benchmarks/m4_hourly.py                                   # stand-in
    python benchmarks/m4_hourly.py --m4-train Hourly-train.csv --m4-test Hourly-test.csv
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.config import CELL_TYPES, TrainConfig
from rnncast.pipeline import backtest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ETTH1 = PROJECT_ROOT.parent / "shared" / "data" / "ETTh1.csv"
SEATTLE = PROJECT_ROOT / "sample_data" / "seattle_temps_hourly.csv"
HORIZON = 48
SEASON = 24
# Stand-in series: consecutive pieces of this many hours (M4 hourly training parts hold 700 to
# 960 values, plus the 48 scored).
PIECE_HOURS = 1008
# Published M4 hourly scores (sMAPE %, MASE, OWA) of the competition's winner, Smyl's hybrid
# ES-RNN (submission 118), as the official evaluation gives them.
ES_RNN = (9.328, 0.893, 0.440)
SHOWN = ("model", "naive2", "seasonal_naive", "naive")


def m4_long(train: Path, test: Path) -> pd.DataFrame:
    """The competition's wide files (one series a row) as one long frame: id, time, value,
    each series' training values followed by its 48 test values, on an hourly clock."""
    rows = []
    for train_row, test_row in zip(_wide_rows(train), _wide_rows(test), strict=True):
        if train_row[0] != test_row[0]:
            raise SystemExit(f"the files list different series: {train_row[0]} vs {test_row[0]}")
        values = np.concatenate([train_row[1], test_row[1]])
        rows.append(_series_frame(str(train_row[0]), values))
    return pd.concat(rows, ignore_index=True)


def _wide_rows(path: Path) -> list[tuple[str, np.ndarray]]:
    frame = pd.read_csv(path)
    return [
        (str(row.iloc[0]), row.iloc[1:].dropna().to_numpy(dtype=np.float64)) for _, row in frame.iterrows()
    ]


def stand_in_long() -> pd.DataFrame:
    """Real hourly series of M4-hourly length: ETTh1's oil temperature and Seattle's air
    temperature cut into consecutive :data:`PIECE_HOURS`-hour pieces."""
    sources = {
        "ot": pd.read_csv(ETTH1)["OT"].to_numpy(dtype=np.float64),
        "seattle": pd.read_csv(SEATTLE)["temp"].ffill().to_numpy(dtype=np.float64),
    }
    rows = []
    for name, values in sources.items():
        for number, first in enumerate(range(0, len(values) - PIECE_HOURS + 1, PIECE_HOURS), start=1):
            rows.append(_series_frame(f"{name}-{number:02d}", values[first : first + PIECE_HOURS]))
    return pd.concat(rows, ignore_index=True)


def _series_frame(key: str, values: np.ndarray) -> pd.DataFrame:
    times = pd.date_range("2000-01-01", periods=len(values), freq="h")
    return pd.DataFrame({"id": key, "time": times.strftime("%Y-%m-%d %H:%M"), "value": values})


def run(frame: pd.DataFrame, config: TrainConfig, folds: int, step: int) -> tuple[dict[str, Any], float]:
    """The backtest report of ``frame`` (long: id, time, value) and its wall time in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hourly_long.csv"
        frame.to_csv(path, index=False)
        started = time.perf_counter()
        report = backtest(path, config, folds=folds, step=step)
        return report, time.perf_counter() - started


def table(report: dict[str, Any]) -> list[str]:
    """sMAPE / MASE / OWA of the model and the baselines, and ES-RNN's published row."""
    lines = [
        f"{'forecaster':<24} {'sMAPE %':>8} {'MASE':>7} {'OWA':>6}",
        f"{'-' * 24} {'-' * 8} {'-' * 7} {'-' * 6}",
    ]
    for name in SHOWN:
        scores = report["metrics"].get(name, {}).get("original")
        if scores is not None:
            label = "rnncast " + report["model_description"] if name == "model" else name
            lines.append(f"{label:<24} {scores['smape']:>8.3f} {scores['mase']:>7.3f} {scores['owa']:>6.3f}")
    smape, mase, owa = ES_RNN
    lines.append(f"{'ES-RNN (M4, published)':<24} {smape:>8.3f} {mase:>7.3f} {owa:>6.3f}")
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--m4-train", type=Path, help="the competition's Hourly-train.csv")
    parser.add_argument("--m4-test", type=Path, help="the competition's Hourly-test.csv")
    defaults = TrainConfig()
    parser.add_argument("--lookback", type=int, default=168, help="hours the network reads (default a week)")
    parser.add_argument("--model", default=defaults.model, choices=CELL_TYPES)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--window-norm", default=defaults.window_norm, help="e.g. season")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--folds",
        type=int,
        default=1,
        help="1 (the protocol): each series scored once; more: also the origins before, each fold retrained",
    )
    parser.add_argument("--step", type=int, default=1, help="origins per series and fold (protocol: 1)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if (args.m4_train is None) != (args.m4_test is None):
        parser.error("--m4-train and --m4-test go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.m4_train is not None:
        frame, source = m4_long(args.m4_train, args.m4_test), "M4 hourly"
    else:
        frame, source = stand_in_long(), "stand-in (ETTh1 OT + Seattle temperature pieces, not M4)"
    config = TrainConfig(
        id_col="id",
        time_col="time",
        target=("value",),
        lookback=args.lookback,
        horizon=HORIZON,
        seasonal_period=SEASON,
        model=args.model,
        bidirectional=args.bidirectional,
        window_norm=args.window_norm,
        epochs=args.epochs,
        seed=args.seed,
    )
    report, wall = run(frame, config, args.folds, args.step)
    print(
        f"{source}: {report['series_scored']} series, {report['windows']} forecasts of {HORIZON} hours "
        f"({args.folds} fold(s) of {args.step} origin(s) per series), lookback {args.lookback}"
    )
    print("\n".join(table(report)))
    print(f"training + scoring wall time {wall:.0f} s on {os.cpu_count()} CPUs ({platform.platform()})")
    if args.json_out is not None:
        summary = {
            "source": source,
            "command": " ".join(sys.argv),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "wall_seconds": wall,
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "report": report,
        }
        args.json_out.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
