"""Markdown tables of rnncast's ETTh1 runs beside the published numbers.

Reads the ``--json-out`` files of ``benchmarks/etth1_protocol.py`` (one per cell type and
setting) and prints, per setting and lookback, one row per horizon: every rnncast model's test
MSE / MAE (all windows), the best published model it is compared with, and the naive forecast.

    python benchmarks/etth1_tables.py /tmp/acc/*.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

# The published model each (setting, lookback) is compared with, as the issue states the targets.
REFERENCE = {
    ("S", 96): None,
    ("S", 336): "NLinear",
    ("M", 96): "SegRNN@L96",
    ("M", 336): "PatchTST/64",
}


def label(config: dict[str, Any]) -> str:
    """``LSTM``, ``GRU``, ``SimpleRNN`` or ``BiLSTM``."""
    cell = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}[config["model"]]
    return f"Bi{cell}" if config.get("bidirectional") else cell


def main() -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    runs: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    naive: dict[tuple[str, int], float] = {}
    published: dict[str, Any] = {}
    walls: dict[tuple[str, int], float] = defaultdict(float)
    for path in args.files:
        payload = json.loads(path.read_text())
        published = payload["published"]
        for setting, by_horizon in payload["naive"].items():
            for horizon, scores in by_horizon.items():
                naive[(setting, int(horizon))] = scores["mse_all"]
        for run in payload["models"]:
            key = (run["setting"], run["config"]["lookback"])
            runs[key][run["horizon"]][label(run["config"])] = run
            walls[key] += run["wall_seconds"]
    order = ["SimpleRNN", "LSTM", "GRU", "BiLSTM"]
    for key in sorted(runs, key=lambda k: (k[0] != "S", k[1])):
        setting, lookback = key
        reference = REFERENCE.get(key)
        cells = [c for c in order if any(c in by_cell for by_cell in runs[key].values())]
        header = ["H", *cells, *([f"{reference} (published)"] if reference else []), "naive"]
        print(f"\n#### ETTh1 {setting}, lookback {lookback}: test MSE / MAE, all windows")
        print(f"(training wall time, all runs of this table: {walls[key] / 60:.1f} min)\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for horizon in sorted(runs[key]):
            row = [str(horizon)]
            for cell in cells:
                run = runs[key][horizon].get(cell)
                row.append(f"{run['scores']['mse_all']:.4f} / {run['scores']['mae_all']:.3f}" if run else "—")
            if reference:
                figures = published[setting][reference]["mse_mae"].get(str(horizon))
                row.append(f"{figures[0]:.3f} / {figures[1]:.3f}" if figures else "—")
            row.append(f"{naive[(setting, horizon)]:.4f}" if (setting, horizon) in naive else "—")
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
