"""``rnncast update`` against a full retrain, on appended rows of a real series.

Trains a bundle on the MSFT sample without its last ``--new-rows`` rows, then, each in a fresh
process through the CLI (as cron runs them, so both pay the same TensorFlow start-up):

- ``update``: ``rnncast update --model M --data FULL`` (fine-tune on the appended rows);
- ``retrain`` (the reference): ``rnncast train FULL --out R`` with the same settings.

It reports both wall times and their ratio, checks that the updated forecast starts after the
new last row, and scores both models' next forecast against nothing (the future is unknown):
only speed is compared here; the ledger (``rnncast history``) judges accuracy over time.

Also times the batch runner: ``rnncast run`` twice on the same job (train, then skip).

Run from the project root::

    python benchmarks/update_vs_retrain.py [--data sample_data/x.csv] [--new-rows 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "msft_daily.csv"


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Wall time of ``command`` (which must succeed) and its stdout."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SAMPLE, help="a sample series (default: MSFT daily)")
    parser.add_argument("--new-rows", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rnncast = [sys.executable, "-m", "rnncast"]
    work = Path(tempfile.mkdtemp(prefix="rnncast-update-bench-"))
    try:
        frame = pd.read_csv(args.data)
        time_col = frame.columns[0]
        old, full = work / "old.csv", work / "full.csv"
        frame.iloc[: -args.new_rows].to_csv(old, index=False)
        frame.to_csv(full, index=False)
        timed([*rnncast, "train", str(old), "--out", "base", "-q"], work)
        update_times, retrain_times = [], []
        for _ in range(args.repeats):
            shutil.rmtree(work / "updated", ignore_errors=True)
            shutil.copytree(work / "base", work / "updated")
            seconds, _ = timed([*rnncast, "update", "--model", "updated", "--data", str(full), "-q"], work)
            update_times.append(seconds)
            seconds, _ = timed([*rnncast, "train", str(full), "--out", "retrained", "-q"], work)
            retrain_times.append(seconds)
        _, out = timed([*rnncast, "forecast", "--model", "updated", "--data", str(full), "--json"], work)
        first = json.loads(out)["forecast"][0][time_col]
        assert pd.Timestamp(first) > pd.Timestamp(frame[time_col].iloc[-1]), first

        job = work / "job.toml"
        job.write_text(f'[data]\npaths = ["{full}"]\n[output]\ndir = "job-out"\n', encoding="utf-8")
        first_run, _ = timed([*rnncast, "run", str(job), "-q"], work)
        second_run, _ = timed([*rnncast, "run", str(job), "-q"], work)

        update_s, retrain_s = statistics.median(update_times), statistics.median(retrain_times)
        appended = f"{len(frame)} rows ({args.new_rows} appended)"
        print(f"{args.data.name}: {appended}, repeats: {args.repeats} (medians)")
        print(f"update  : {update_s:6.2f} s  (all: {', '.join(f'{t:.2f}' for t in update_times)})")
        print(f"retrain : {retrain_s:6.2f} s  (all: {', '.join(f'{t:.2f}' for t in retrain_times)})")
        print(f"update / retrain: {update_s / retrain_s:.2f}")
        print(f"updated forecast starts {first}, after the new last row {frame[time_col].iloc[-1]}")
        print(f"run job: first {first_run:.2f} s (trains), second {second_run:.2f} s (skips, unchanged)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
