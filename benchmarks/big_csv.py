"""Big CSV files: fast loading and bounded memory when training on 10 million rows.

Writes a realistic CSV file (default 10,000,000 rows: ISO timestamps one minute apart and 8
numeric columns, random walks with a daily season and noise, about 0.8 GB), then measures, each
run in a fresh Python process so that one run's memory never flatters the next:

- loading, median and best of ``--repeats`` rounds (loaders take turns in each round), with CPU
  time (every thread's): ``pyarrow.csv.read_csv`` (default allocator, and the C library's, which
  rnncast uses) and ``pandas.read_csv`` (default C engine) as the raw-parser references,
  rnncast's ``read_table`` (the file read into a raw table; pyarrow parses it on 4+ cores, and in
  a second row whatever the cores) and ``load_series`` (read and fully validated, as ``rnncast
  check`` does), and the ``rnncast check FILE --target c1`` command; times exclude imports (the
  command's do not);
- training: ``rnncast train FILE --target c1 --lookback 96 --horizon 24 --epochs 1
  --epoch-windows N``, with the target alone and with the 7 other columns as ``--features``:
  wall time and the peak RSS of the process (``ru_maxrss`` from ``wait4``).

Ratios compare timings of the same run, so they hold on a busy machine where seconds do not.
Run from the project root::

    python benchmarks/big_csv.py                        # 10M rows in a temporary directory
    python benchmarks/big_csv.py --rows 1000000 --skip-train
    python benchmarks/big_csv.py --keep /tmp/bigcsv --json-out /tmp/big_csv.json  # reuses the file
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = tuple(f"c{i}" for i in range(1, 9))
CHUNK_ROWS = 500_000
STEP_SECONDS = 60
# What each loader runs in its own process (``--worker NAME FILE``): the call timed.
LOADERS = {
    "pyarrow.csv.read_csv": "raw parser, multi-threaded",
    "pyarrow.csv.read_csv, system allocator": "as rnncast calls it",
    "pandas.read_csv": "raw parser, default C engine",
    "rnncast read_table": "rnncast's read: sniffing, parsing, clean-up",
    "rnncast read_table, pyarrow path forced": "as on a machine of 4+ cores",
    "rnncast load_series": "read and validated (what check does)",
}


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write ``rows`` rows to ``path`` in chunks (memory stays at one chunk): ``time`` one minute
    apart from 2000-01-01, and ``c1`` .. ``c8``, random walks with a daily season and noise."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    levels = rng.uniform(50, 500, len(COLUMNS))
    amplitudes = rng.uniform(1, 20, len(COLUMNS))
    start = np.datetime64("2000-01-01T00:00:00", "s")
    schema = pa.schema([("time", pa.timestamp("s")), *((name, pa.float64()) for name in COLUMNS)])
    options = pacsv.WriteOptions(quoting_style="none")  # values unquoted (the header is quoted)
    with pacsv.CSVWriter(str(path), schema, write_options=options) as writer:
        for first in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - first)
            steps = np.arange(first, first + count)
            season = np.sin(2 * np.pi * (steps % 1440) / 1440)
            walks = levels + np.cumsum(rng.normal(0, 0.05, (count, len(COLUMNS))), axis=0)
            levels = walks[-1]
            values = walks + amplitudes * season[:, None] + rng.normal(0, 0.5, (count, len(COLUMNS)))
            stamps = start + steps * np.timedelta64(STEP_SECONDS, "s")
            arrays = [pa.array(stamps), *(pa.array(np.round(values[:, i], 3)) for i in range(len(COLUMNS)))]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def run_worker(name: str, path: Path) -> None:
    """Time one load of ``path`` by ``name`` (imports excluded); print seconds and rows as JSON."""
    if name == "pyarrow.csv.read_csv":
        import pyarrow.csv as pacsv

        def load() -> int:
            return pacsv.read_csv(path).num_rows
    elif name == "pyarrow.csv.read_csv, system allocator":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        def load() -> int:
            return pacsv.read_csv(path, memory_pool=pa.system_memory_pool()).num_rows
    elif name == "pandas.read_csv":
        import pandas as pd

        def load() -> int:
            return len(pd.read_csv(path))
    elif name == "rnncast read_table":
        from rnncast.reading import read_table

        def load() -> int:
            return len(read_table(path)[0])
    elif name == "rnncast read_table, pyarrow path forced":
        from rnncast import reading

        reading.FAST_PATH_CPUS = 1

        def load() -> int:
            return len(reading.read_table(path)[0])
    elif name == "rnncast load_series":
        from rnncast.data import load_series

        def load() -> int:
            return len(load_series(path, target=("c1",)))
    else:
        raise SystemExit(f"unknown loader {name!r}")
    started, cpu = time.perf_counter(), time.process_time()
    rows = load()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": rows}))


def run_measured(command: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Run ``command``; its wall and CPU time, peak RSS (MiB, from wait4), exit status and output."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, text=True)
        # wait4, not wait(): it also returns this child's own resource usage (its peak RSS).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "returncode": process.returncode,
        "stdout": stdout,
        "stderr": stderr,
    }


def measure_loads(path: Path, repeats: int) -> dict[str, dict[str, Any]]:
    """Median seconds (and the largest peak RSS) of every loader and of ``rnncast check``; the
    loaders take turns in each round, so a busy spell slows them all alike."""
    check = "rnncast check (command)"
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*LOADERS, check]}
    for _ in range(repeats):
        for name in LOADERS:
            run = run_measured([sys.executable, __file__, "--worker", name, str(path)])
            if run["returncode"] != 0:
                raise SystemExit(f"{name} failed:\n{run['stderr']}")
            runs[name].append({**json.loads(run["stdout"]), "peak_rss_mib": run["peak_rss_mib"]})
        run = run_measured([*_rnncast(), "check", str(path), "--target", "c1", "--quiet"])
        if run["returncode"] != 0:
            raise SystemExit(f"rnncast check failed:\n{run['stderr']}")
        runs[check].append({**run, "seconds": run["wall_seconds"]})
        print(
            "  " + ", ".join(f"{name}: {r[-1]['seconds']:.2f} s" for name, r in runs.items()), file=sys.stderr
        )
    return {name: _summary(done) for name, done in runs.items()}


def measure_training(path: Path, epoch_windows: int, work: Path) -> dict[str, dict[str, Any]]:
    """One ``rnncast train`` with the target alone and one with every column as input."""
    settings = ["--target", "c1", "--lookback", "96", "--horizon", "24", "--epochs", "1", "--quiet"]
    if epoch_windows:
        settings += ["--epoch-windows", str(epoch_windows)]
    results = {}
    for label, extra in (
        ("target only (1 input)", []),
        ("all 8 columns as inputs", ["--features", ",".join(COLUMNS[1:])]),
    ):
        out = work / f"bundle_{len(results)}"
        # A scratch working directory: train points runs/latest there, not in the project.
        run = run_measured([*_rnncast(), "train", str(path), *settings, *extra, "--out", str(out)], cwd=work)
        if run["returncode"] != 0:
            raise SystemExit(f"rnncast train ({label}) failed:\n{run['stderr'][-3000:]}")
        results[label] = {key: run[key] for key in ("wall_seconds", "peak_rss_mib")}
        summary = f"{run['wall_seconds']:.0f} s, {run['peak_rss_mib']:.0f} MiB"
        print(f"  train, {label}: {summary}", file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
    return results


def supports_epoch_windows() -> bool:
    """Whether this rnncast's ``train`` has ``--epoch-windows``."""
    help_text = subprocess.run([*_rnncast(), "train", "--help"], capture_output=True, text=True).stdout
    return "--epoch-windows" in help_text


def _rnncast() -> list[str]:
    return [sys.executable, "-m", "rnncast"]


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and best wall time, median CPU time (every thread's) and the largest peak RSS."""
    seconds = [run["seconds"] for run in runs]
    return {
        "seconds": statistics.median(seconds),
        "best_seconds": min(seconds),
        "all_seconds": seconds,
        "cpu_seconds": statistics.median(run["cpu_seconds"] for run in runs),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
    }


def markdown(facts: dict[str, Any]) -> str:
    """The results as markdown tables."""
    lines = [
        f"File: {facts['rows']:,} rows x {len(COLUMNS) + 1} columns, {facts['size_mib']:.0f} MiB "
        f"(generated in {facts['generate_seconds']:.0f} s).",
        "",
        "| loading | median s | speed-up (median) | best s | speed-up (best) | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    loads = facts["loads"]
    reference = loads["pandas.read_csv"]
    for name, result in loads.items():
        median, best = result["seconds"], result["best_seconds"]
        lines.append(
            f"| {name} | {median:.2f} | {reference['seconds'] / median:.2f}x | {best:.2f} | "
            f"{reference['best_seconds'] / best:.2f}x | {result['cpu_seconds']:.1f} | "
            f"{result['peak_rss_mib']:.0f} |"
        )
    lines.append("")
    lines.append("Speed-ups are against pandas.read_csv (default C engine) in the same run.")
    if facts.get("training"):
        lines += ["", "| rnncast train | wall s | peak RSS MiB |", "|---|---|---|"]
        for label, result in facts["training"].items():
            lines.append(f"| {label} | {result['wall_seconds']:.0f} | {result['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the generated file")
    parser.add_argument("--keep", type=Path, help="write the file here and keep it (reused when present)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per loader (the median is shown)")
    parser.add_argument("--epoch-windows", type=int, default=20_000, help="training windows per epoch")
    parser.add_argument("--skip-train", action="store_true", help="measure loading only")
    parser.add_argument("--skip-load", action="store_true", help="measure training only")
    parser.add_argument("--json-out", type=Path, help="also write every figure here as JSON")
    args = parser.parse_args()

    directory = args.keep or Path(tempfile.mkdtemp(prefix="rnncast_big_csv_"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"big_{args.rows}.csv"
    try:
        started = time.perf_counter()
        if not path.exists():
            print(f"writing {path} ...", file=sys.stderr)
            generate(path.with_suffix(".part"), args.rows)
            path.with_suffix(".part").rename(path)
        facts: dict[str, Any] = {
            "rows": args.rows,
            "size_mib": path.stat().st_size / 2**20,
            "generate_seconds": time.perf_counter() - started,
            "loads": {},
        }
        if not args.skip_load:
            facts["loads"] = measure_loads(path, args.repeats)
        if not args.skip_train:
            epoch_windows = args.epoch_windows if supports_epoch_windows() else 0
            if not epoch_windows:
                print("rnncast train has no --epoch-windows: one epoch covers every window", file=sys.stderr)
            facts["epoch_windows"] = epoch_windows or None
            with tempfile.TemporaryDirectory(prefix="rnncast_big_train_") as work:
                facts["training"] = measure_training(path, epoch_windows, Path(work))
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
    if facts["loads"]:
        print(markdown(facts))
    elif facts.get("training"):
        print(json.dumps(facts["training"], indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
