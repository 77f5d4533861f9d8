"""``rnncast forecast`` wall time against a bare ``import tensorflow``, NumPy and Keras paths.

Trains two small bundles in a temporary directory (the MSFT daily closes, and one global model
over ``stocks_monthly.csv`` with ``--id-col symbol``), then times, each in a fresh process and
interleaved, the median of ``--repeats`` runs (after one untimed warm-up of each):

- ``import tensorflow``: ``python -c "import tensorflow"``, the reference;
- ``forecast (Keras)``: ``rnncast forecast`` with ``RNNCAST_INFERENCE=keras``;
- ``forecast (NumPy)``: ``rnncast forecast`` as shipped (rnncast.inference, no TensorFlow).

Targets (issue 6): a forecast costs at most 1.3x the reference; the stretch, the NumPy path
under 1 s. Both paths' forecasts must agree to 1e-5 of each target's scale. Prints a markdown
table; exits 1 if the default (NumPy) path misses 1.3x, imports TensorFlow, or disagrees with
Keras. Machine load moves every figure: compare the ratios. Run from the project root::

    python benchmarks/forecast_latency.py [--repeats 5] [--epochs 2] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {
    "msft_daily": (ROOT / "sample_data" / "msft_daily.csv", []),
    "stocks_monthly (global)": (ROOT / "sample_data" / "stocks_monthly.csv", ["--id-col", "symbol"]),
}
TARGET_RATIO = 1.3
STRETCH_SECONDS = 1.0
AGREEMENT = 1e-5  # of each target's scale
# Runs the CLI as the console script does, then reports whether TensorFlow was imported.
_PROBE = """
import sys
from rnncast.cli import main
sys.argv = ["rnncast", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("tensorflow" in sys.modules, file=sys.stderr)
"""


def rnncast_command() -> list[str]:
    """The ``rnncast`` console script of this interpreter's environment, else ``python -m``."""
    script = Path(sys.executable).parent / "rnncast"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rnncast"]


def environment(inference: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RNNCAST_INFERENCE"}
    if inference is not None:
        env["RNNCAST_INFERENCE"] = inference
    return env


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one fresh process; fails loudly if it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return seconds


def train(data: Path, flags: list[str], out: Path, epochs: int, cwd: Path) -> None:
    command = [
        *rnncast_command(),
        "train",
        str(data),
        *flags,
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "-q",
    ]
    subprocess.run(command, cwd=cwd, check=True)


def row_scales(bundle: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    """Each forecast row's scale of ``column``: its series' for a global model."""
    scaler = json.loads((bundle / "scaler.json").read_text())
    if "series" not in scaler:
        return np.full(len(frame), scaler["columns"][column]["scale"])
    metadata = json.loads((bundle / "metadata.json").read_text())
    id_col = metadata["config"]["id_col"]
    return frame[id_col].astype(str).map(lambda key: scaler["series"][key][column]["scale"]).to_numpy()


def compare(numpy_csv: Path, keras_csv: Path, bundle: Path) -> tuple[float, float]:
    """Max |NumPy - Keras| over the forecast numbers, raw and in units of each target's scale."""
    ours, theirs = pd.read_csv(numpy_csv), pd.read_csv(keras_csv)
    numbers = ours.select_dtypes("number").columns
    if ours.columns.tolist() != theirs.columns.tolist() or not ours.drop(columns=numbers).equals(
        theirs.drop(columns=numbers)
    ):
        raise SystemExit(f"the two paths wrote different times, ids or columns for {bundle.name}")
    worst_abs = worst_scaled = 0.0
    for column in numbers:
        difference = np.abs(ours[column].to_numpy() - theirs[column].to_numpy())
        worst_abs = max(worst_abs, float(difference.max()))
        worst_scaled = max(worst_scaled, float((difference / row_scales(bundle, ours, column)).max()))
    return worst_abs, worst_scaled


def imports_tensorflow(bundle: Path, output: Path, cwd: Path) -> bool:
    command = [sys.executable, "-c", _PROBE, "forecast", "-m", str(bundle), "-o", str(output), "-q"]
    done = subprocess.run(command, env=environment(None), cwd=cwd, capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] == "True"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command (median)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of the bundles")
    parser.add_argument("--json-out", type=Path, help="also write every figure here as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rnncast-latency-") as work:
        cwd = Path(work)
        reference_command = [sys.executable, "-c", "import tensorflow"]
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "import tensorflow": (reference_command, environment(None))
        }
        bundles = {}
        for name, (data, flags) in DATASETS.items():
            bundle = cwd / name.split()[0]
            train(data, flags, bundle, args.epochs, cwd)
            bundles[name] = bundle
            for label, inference in (("Keras", "keras"), ("NumPy", None)):
                output = cwd / f"{bundle.name}-{label}.csv"
                forecast = [*rnncast_command(), "forecast", "-m", str(bundle), "-o", str(output), "-q"]
                commands[f"{name}: forecast ({label})"] = (forecast, environment(inference))

        samples: dict[str, list[float]] = {label: [] for label in commands}
        for command, env in commands.values():
            timed(command, env, cwd)  # warm-up: file caches, .pyc files
        for _ in range(args.repeats):
            for label, (command, env) in commands.items():  # interleaved: load drifts hit all alike
                samples[label].append(timed(command, env, cwd))
        medians = {label: statistics.median(times) for label, times in samples.items()}
        reference = medians["import tensorflow"]

        agreement = {}
        for name, bundle in bundles.items():
            worst_abs, worst_scaled = compare(
                cwd / f"{bundle.name}-NumPy.csv", cwd / f"{bundle.name}-Keras.csv", bundle
            )
            agreement[name] = {
                "max_abs_difference": worst_abs,
                "max_difference_over_scale": worst_scaled,
                "numpy_path_imports_tensorflow": imports_tensorflow(bundle, cwd / "probe.csv", cwd),
            }

    rows = []
    for label, seconds in medians.items():
        name = label.split(":")[0]
        row = {
            "case": label,
            "seconds": seconds,
            "runs": samples[label],
            "ratio_to_import_tensorflow": seconds / reference,
            "within_1_3x": seconds <= TARGET_RATIO * reference,
            "under_1s": seconds < STRETCH_SECONDS,
        }
        if label != "import tensorflow":
            row.update(agreement[name])
        rows.append(row)

    header = f"median s ({args.repeats} runs) | × import tensorflow | ≤ 1.3× | < 1 s | max diff (÷ scale)"
    print(f"| case | {header} |")
    print("|---|---:|---:|:---:|:---:|---:|")
    for row in rows:
        difference = (
            f"{row['max_abs_difference']:.2e} ({row['max_difference_over_scale']:.1e})"
            if "max_abs_difference" in row
            else "reference"
        )
        print(
            f"| {row['case']} | {row['seconds']:.2f} | {row['ratio_to_import_tensorflow']:.2f} | "
            f"{'pass' if row['within_1_3x'] else 'FAIL'} | {'pass' if row['under_1s'] else 'fail'} | "
            f"{difference} |"
        )
    for name, figures in agreement.items():
        print(f"{name}: the NumPy path imports TensorFlow: {figures['numpy_path_imports_tensorflow']}")

    shipped = [row for row in rows if row["case"].endswith("(NumPy)")]  # the default path is judged
    ok = all(row["within_1_3x"] for row in shipped) and all(
        figures["max_difference_over_scale"] <= AGREEMENT and not figures["numpy_path_imports_tensorflow"]
        for figures in agreement.values()
    )
    if args.json_out is not None:
        payload = {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "repeats": args.repeats,
            "epochs": args.epochs,
            "rows": rows,
            "ok": ok,
        }
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
