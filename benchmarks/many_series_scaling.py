"""One global model over many series: train + forecast wall time at 10, 100 and 1,000 series.

Generates a long file (``id,date,value``) of N daily series of 2,000 rows each — random walks
with a weekly season, their own level, scale and noise, some trending — then times, each in a
fresh process through the CLI, ``rnncast train FILE --id-col id`` with default settings and
``rnncast forecast`` of every series. The reference for the scaling is the 10-series run of the
same invocation (ratios), and ``python -c "import tensorflow"`` is timed too, since every
command pays it once.

    python benchmarks/many_series_scaling.py                     # 10, 100, 1000 series
    python benchmarks/many_series_scaling.py --series 10 100 --json-out /tmp/many.json

Target (issue 6): 1,000 series of 2,000 rows, train + forecast, under 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROWS = 2_000


def write_series(path: Path, count: int, rows: int = ROWS, seed: int = 0) -> None:
    """``count`` daily series of ``rows`` rows in long format, written series by series."""
    rng = np.random.default_rng(seed)
    dates = np.datetime_as_string(np.arange("2015-01-01", rows, dtype="datetime64[D]")[:rows], unit="D")
    week = np.sin(2 * np.pi * np.arange(rows) / 7)
    with path.open("w") as handle:
        handle.write("id,date,value\n")
        for number in range(count):
            level = rng.uniform(50, 5_000)
            steps = rng.normal(rng.normal(0, 0.002), rng.uniform(0.002, 0.02), rows)
            season = rng.uniform(0, 0.05) * week
            noise = rng.normal(0, rng.uniform(0.001, 0.01), rows)
            values = level * np.exp(np.cumsum(steps) + season + noise)
            name = f"S{number:04d}"
            handle.writelines(f"{name},{d},{v:.3f}\n" for d, v in zip(dates, values, strict=True))


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of the child and its stdout; fails loudly."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return seconds, peak, done.stdout


def run(count: int, work: Path) -> dict[str, Any]:
    """Generate, train and forecast ``count`` series; their figures."""
    data = work / f"series_{count}.csv"
    write_series(data, count)
    rnncast = [sys.executable, "-m", "rnncast"]
    bundle = work / f"model_{count}"
    train_s, train_rss, out = timed(
        [*rnncast, "train", str(data), "--id-col", "id", "--out", str(bundle), "--json", "--quiet"], work
    )
    trained = json.loads(out)
    forecast_csv = work / f"forecast_{count}.csv"
    forecast_s, forecast_rss, _ = timed(
        [*rnncast, "forecast", "--model", str(bundle), "--output", str(forecast_csv), "--quiet"], work
    )
    forecast_rows = sum(1 for _ in forecast_csv.open()) - 1
    return {
        "series": count,
        "rows": count * ROWS,
        "file_mib": data.stat().st_size / 2**20,
        "train_seconds": train_s,
        "forecast_seconds": forecast_s,
        "total_seconds": train_s + forecast_s,
        "epochs_run": trained["training"]["epochs_run"],
        "training_seconds_in_process": trained["training"]["seconds"],
        "peak_rss_mib": max(train_rss, forecast_rss),
        "forecast_rows": forecast_rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    import_tf = time.perf_counter() - started
    results = []
    with tempfile.TemporaryDirectory() as temp:
        for count in args.series:
            results.append(run(count, Path(temp)))
            print(f"{count} series done: {results[-1]['total_seconds']:.0f} s", file=sys.stderr, flush=True)
    first = results[0]
    print(f"{platform.node()} · {os.cpu_count()} CPUs · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"`import tensorflow`: {import_tf:.1f} s\n")
    print(
        "| series | rows | train (s) | epochs | forecast (s) | total (s) | × smallest | peak RSS (MiB) "
        "| < 10 min |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['series']:,} | {r['rows']:,} | {r['train_seconds']:.1f} | {r['epochs_run']} | "
            f"{r['forecast_seconds']:.1f} | {r['total_seconds']:.1f} | "
            f"{r['total_seconds'] / first['total_seconds']:.1f} | {r['peak_rss_mib']:,.0f} | "
            f"{'yes' if r['total_seconds'] < 600 else 'NO'} |"
        )
    if args.json_out:
        args.json_out.write_text(json.dumps({"import_tensorflow": import_tf, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
