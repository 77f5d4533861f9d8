"""Start-up time of the commands that must answer at once: help, info, refused inputs.

Trains a tiny bundle in a temporary directory (one epoch, 4 units, on the MSFT sample), then
times each command in fresh processes (the median of ``--repeats`` runs):

- ``rnncast --help``, ``rnncast info BUNDLE``, ``rnncast info`` (runs/latest) and
  ``rnncast info DATA`` (the sketch of a data file);
- three refusals: a data file that does not exist, a bad flag value (``--units 0``), a
  ``--target`` the file does not have;

beside references measured in the same run: ``python -c pass``, importing typer and rich, running
a one-option Typer app (the real floor of a Typer CLI: typer validates arguments with pydantic,
which it imports on the first call), importing pandas, importing tensorflow. Prints a markdown table of the
seconds, each as a multiple of the typer+rich import, and whether each targeted command (all but
the sketch, which parses the file's ends with pandas) finished within 0.5 s. Run from the
project root::

    python benchmarks/startup.py [--repeats 7] [--json-out startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 0.5
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "msft_daily.csv"
TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def main(n: int = 1) -> None:
    pass
app(["--n", "0"])
"""


def rnncast_command() -> list[str]:
    """The console script beside this interpreter (what users run), else ``python -m rnncast``."""
    script = Path(sys.executable).parent / "rnncast"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rnncast"]


def cases(cli: list[str], bundle: Path) -> list[tuple[str, list[str], int | None, bool]]:
    """(name, command, expected exit code or None for a reference, whether 0.5 s is its target),
    in the order they are timed."""
    python = sys.executable
    return [
        ("python -c pass", [python, "-c", "pass"], None, False),
        ("import typer, rich", [python, "-c", "import typer, rich.console"], None, False),
        ("one-option Typer app", [python, "-c", TYPER_APP], 0, False),
        ("import pandas", [python, "-c", "import pandas"], None, False),
        ("import tensorflow", [python, "-c", "import tensorflow"], None, False),
        ("rnncast --help", [*cli, "--help"], 0, True),
        ("rnncast info BUNDLE", [*cli, "info", str(bundle)], 0, True),
        ("rnncast info (runs/latest)", [*cli, "info"], 0, True),
        ("rnncast info DATA (sketch)", [*cli, "info", str(SAMPLE)], 0, False),
        ("refused: missing data file", [*cli, "train", "missing.csv"], 3, True),
        ("refused: --units 0", [*cli, "train", str(SAMPLE), "--units", "0"], 2, True),
        ("refused: missing --target", [*cli, "train", str(SAMPLE), "--target", "Nope"], 2, True),
    ]


def time_runs(command: list[str], expected: int | None, repeats: int, cwd: Path) -> list[float]:
    """Wall seconds of ``repeats`` fresh runs of ``command``; each must exit ``expected``."""
    seconds = []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if expected is not None and done.returncode != expected:
            raise SystemExit(f"{command} exited {done.returncode}, not {expected}: {done.stderr.strip()}")
    return seconds


def table(rows: list[dict[str, object]], floor: float) -> str:
    lines = [
        f"| what | median s | best s | x typer+rich | within {LIMIT_S} s |",
        "|---|---:|---:|---:|:---:|",
    ]
    for row in rows:
        verdict = "" if row["pass"] is None else ("pass" if row["pass"] else "FAIL")
        seconds = float(row["seconds"])  # type: ignore[arg-type]
        best = min(row["runs"])  # type: ignore[call-overload]
        lines.append(f"| {row['name']} | {seconds:.3f} | {best:.3f} | {seconds / floor:.1f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh runs per command (median)")
    parser.add_argument("--json-out", type=Path, help="also write the figures here as JSON")
    options = parser.parse_args()
    cli = rnncast_command()
    with tempfile.TemporaryDirectory(prefix="rnncast-startup-") as scratch:
        work = Path(scratch)
        print("training a tiny bundle ...", file=sys.stderr)
        trained = subprocess.run(
            [*cli, "train", str(SAMPLE), "--epochs", "1", "--units", "4", "--quiet"], cwd=work, check=False
        )
        if trained.returncode != 0:
            raise SystemExit("training the tiny bundle failed")
        bundle = work / "runs" / SAMPLE.stem
        rows: list[dict[str, object]] = []
        for name, command, expected, targeted in cases(cli, bundle):
            print(f"timing {name} ...", file=sys.stderr)
            runs = time_runs(command, expected, options.repeats, work)
            median = statistics.median(runs)
            rows.append(
                {
                    "name": name,
                    "command": command,
                    "seconds": median,
                    "runs": runs,
                    "pass": median < LIMIT_S if targeted else None,
                }
            )
    floor = float(next(row["seconds"] for row in rows if row["name"] == "import typer, rich"))  # type: ignore[arg-type]
    for row in rows:
        row["ratio_to_typer_rich"] = float(row["seconds"]) / floor  # type: ignore[arg-type]
    print(
        f"\n{platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work "
        f"slows every row alike), Python {platform.python_version()}, {options.repeats} fresh processes\n"
    )
    print(table(rows, floor))
    if options.json_out is not None:
        figures = {
            "machine": {
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "python": platform.python_version(),
                "system": platform.platform(),
            },
            "repeats": options.repeats,
            "limit_s": LIMIT_S,
            "rows": rows,
        }
        options.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
