"""ETTh1 under the long-horizon forecasting literature's protocol, through rnncast's own code.

Reproduces the evaluation of the Informer / Autoformer / DLinear / PatchTST data loaders on
ETTh1 (see ``../shared/data/README.md``) and prints rnncast's MSE/MAE beside the published
numbers:

- split by row index: train [0, 8640), validation [8640, 11520), test [11520, 14400); later
  rows are never used;
- every column z-scored with the mean and population std (ddof=0) of the training rows; all
  errors on scaled values;
- stride-1 windows whose inputs may reach back before a split boundary, so the first test
  target is row 11520 and a test set has 2881 - H windows;
- MSE/MAE averaged over windows x H x channels: all 7 columns ("M") or OT alone ("S");
- the papers' test loaders dropped the last incomplete batch (32 for DLinear and Informer);
  both that ("drop-last") and every window ("all") are scored and labelled.

The "repeat the last value" forecast (rnncast's ``naive`` baseline) must reproduce the
published "Repeat" row; the script exits 1 if it does not. With ``--train`` it also trains
rnncast's network with :func:`rnncast.fitting.fit_on_history` on rows [0, 11520) (its own
scaler is fitted on rows [0, 8640), the protocol's statistics) and scores it on the test set.

Run from the project root::

    python benchmarks/etth1_protocol.py                 # baselines, all H, S and M
    python benchmarks/etth1_protocol.py --train          # + LSTM at H=96, S and M
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnncast.baselines import naive_forecast, seasonal_naive_forecast
from rnncast.config import CELL_TYPES, DEVICES, TrainConfig
from rnncast.data import load_series
from rnncast.metrics import mae, mse
from rnncast.windows import Scaler, default_segment, target_windows

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "ETTh1.csv"

# Row borders of the papers' loaders (12 / 4 / 4 thirty-day months of hourly rows).
TRAIN_END = 8640
VAL_END = 11520
TEST_END = 14400
HORIZONS = (96, 192, 336, 720)
HOURLY_SEASON = 24
ALL_COLUMNS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT")
TARGETS = {"M": ALL_COLUMNS, "S": ("OT",)}
# The Repeat check: |rnncast naive - published| must stay within this.
TOLERANCE = 0.005
# Which windows the published Repeat figures were scored on, per setting.
CHECK_WINDOWS = {"M": "drop-last", "S": "all"}

# Published ETTh1 results, MSE / MAE on scaled data, as (lookback, windows scored, {H: (mse, mae)}).
# Sources (figures only, transcribed from ../shared/data/README.md):
#   DLinear, NLinear, FEDformer, Autoformer, Informer, Repeat: Zeng et al., "Are Transformers
#     Effective for Time Series Forecasting?" (AAAI 2023), Tables 1-2 (L = 336 for the linear
#     models; the Transformers as reported there, with their own default lookbacks: "own");
#   PatchTST/64 (L = 512), PatchTST/42 (L = 336): Nie et al., "A Time Series is Worth 64 Words"
#     (ICLR 2023), Table 3;
#   "@L96" rows: the SegRNN repository's "Comparison Results for Lookback L = 96" (Lin et al.,
#     2023, arXiv 2308.11200), every test window scored; the non-SegRNN rows there come from
#     the iTransformer paper.
# ETTh1 itself: Zhou et al., "Informer" (AAAI 2021), CC BY-ND 4.0.
# The S "Repeat" figures are the README's protocol check values (all windows scored).
PUBLISHED: dict[str, dict[str, tuple[str, str, dict[int, tuple[float, float]]]]] = {
    "M": {
        "Repeat": (
            "L=1",
            "drop-last",
            {96: (1.295, 0.713), 192: (1.325, 0.733), 336: (1.323, 0.744), 720: (1.339, 0.756)},
        ),
        "SegRNN@L96": (
            "L=96",
            "all",
            {96: (0.368, 0.395), 192: (0.408, 0.419), 336: (0.444, 0.440), 720: (0.446, 0.457)},
        ),
        "iTransformer@L96": (
            "L=96",
            "all",
            {96: (0.386, 0.405), 192: (0.441, 0.436), 336: (0.487, 0.458), 720: (0.503, 0.491)},
        ),
        "PatchTST@L96": (
            "L=96",
            "all",
            {96: (0.414, 0.419), 192: (0.460, 0.445), 336: (0.501, 0.466), 720: (0.500, 0.488)},
        ),
        "DLinear@L96": (
            "L=96",
            "all",
            {96: (0.386, 0.400), 192: (0.437, 0.432), 336: (0.481, 0.459), 720: (0.519, 0.516)},
        ),
        "PatchTST/64": (
            "L=512",
            "drop-last",
            {96: (0.370, 0.400), 192: (0.413, 0.429), 336: (0.422, 0.440), 720: (0.447, 0.468)},
        ),
        "PatchTST/42": (
            "L=336",
            "drop-last",
            {96: (0.375, 0.399), 192: (0.414, 0.421), 336: (0.431, 0.436), 720: (0.449, 0.466)},
        ),
        "DLinear": (
            "L=336",
            "drop-last",
            {96: (0.375, 0.399), 192: (0.405, 0.416), 336: (0.439, 0.443), 720: (0.472, 0.490)},
        ),
        "FEDformer": (
            "own",
            "drop-last",
            {96: (0.376, 0.419), 192: (0.420, 0.448), 336: (0.459, 0.465), 720: (0.506, 0.507)},
        ),
        "Informer": (
            "own",
            "drop-last",
            {96: (0.865, 0.713), 192: (1.008, 0.792), 336: (1.107, 0.809), 720: (1.181, 0.865)},
        ),
    },
    "S": {
        "Repeat": (
            "L=1",
            "all",
            {96: (0.069, 0.203), 192: (0.092, 0.236), 336: (0.113, 0.265), 720: (0.129, 0.283)},
        ),
        "DLinear": (
            "L=336",
            "drop-last",
            {96: (0.056, 0.180), 192: (0.071, 0.204), 336: (0.098, 0.244), 720: (0.189, 0.359)},
        ),
        "NLinear": (
            "L=336",
            "drop-last",
            {96: (0.053, 0.177), 192: (0.069, 0.204), 336: (0.081, 0.226), 720: (0.080, 0.226)},
        ),
        "FEDformer-f": (
            "own",
            "drop-last",
            {96: (0.079, 0.215), 192: (0.104, 0.245), 336: (0.119, 0.270), 720: (0.142, 0.299)},
        ),
        "Autoformer": (
            "own",
            "drop-last",
            {96: (0.071, 0.206), 192: (0.114, 0.262), 336: (0.107, 0.258), 720: (0.126, 0.283)},
        ),
        "Informer": (
            "own",
            "drop-last",
            {96: (0.193, 0.377), 192: (0.217, 0.395), 336: (0.202, 0.381), 720: (0.183, 0.355)},
        ),
    },
}


@dataclass(frozen=True)
class Scores:
    """MSE and MAE of one forecast on the drop-last and on all test windows."""

    mse_drop_last: float
    mae_drop_last: float
    mse_all: float
    mae_all: float
    windows_drop_last: int
    windows_all: int

    def on(self, windows: str) -> tuple[float, float]:
        """``(mse, mae)`` on ``"drop-last"`` or ``"all"`` windows."""
        if windows == "drop-last":
            return self.mse_drop_last, self.mae_drop_last
        return self.mse_all, self.mae_all


@dataclass(frozen=True)
class Dataset:
    """One setting's raw values (rows x columns, targets first) and protocol scaler."""

    setting: str
    columns: tuple[str, ...]
    n_targets: int
    values: np.ndarray
    scaler: Scaler
    fingerprint: dict[str, Any]

    @property
    def scaled(self) -> np.ndarray:
        """Rows [0, TEST_END) z-scored with the training rows' statistics."""
        return self.scaler.transform(self.values[:TEST_END])


def load_setting(path: Path, setting: str) -> Dataset:
    """Load ETTh1 for ``setting`` ("M": all 7 columns as targets, "S": OT alone)."""
    series = load_series(path, target=TARGETS[setting], fill="ffill")
    if len(series) < TEST_END:
        sys.exit(f"{path} has {len(series)} rows; the protocol needs {TEST_END}")
    if series.notes:
        print(f"note ({setting}): " + "; ".join(series.notes))
    values = series.frame[list(series.columns)].to_numpy(dtype=np.float64)
    scaler = Scaler.fit("standard", series.columns, values[:TRAIN_END])
    check_population_std(scaler, values[:TRAIN_END])
    return Dataset(setting, series.columns, len(series.targets), values, scaler, series.fingerprint)


def check_population_std(scaler: Scaler, train: np.ndarray) -> None:
    """Confirm rnncast's standard scaler uses the protocol's mean and ddof=0 std."""
    if not (
        np.allclose(scaler.offset, train.mean(axis=0), rtol=0, atol=1e-12)
        and np.allclose(scaler.scale, train.std(axis=0, ddof=0), rtol=1e-12, atol=0)
    ):
        sys.exit("rnncast's Scaler does not use mean and population std (ddof=0)")


def evaluation_starts(horizon: int) -> np.ndarray:
    """Target-start rows of every test window: 11520 .. 14400 - H (2881 - H windows)."""
    return np.arange(VAL_END, TEST_END - horizon + 1, dtype=np.int64)


def score(actual: np.ndarray, predicted: np.ndarray, drop_batch: int) -> Scores:
    """Score windows x H x channels forecasts on all windows and without the last partial batch."""
    kept = (len(actual) // drop_batch) * drop_batch
    return Scores(
        mse_drop_last=float(mse(actual[:kept], predicted[:kept])),
        mae_drop_last=float(mae(actual[:kept], predicted[:kept])),
        mse_all=float(mse(actual, predicted)),
        mae_all=float(mae(actual, predicted)),
        windows_drop_last=kept,
        windows_all=len(actual),
    )


def naive_scores(data: Dataset, horizon: int, drop_batch: int) -> Scores:
    """rnncast's naive (repeat the last input value) forecast, scored on the test windows."""
    scaled = data.scaled[:, : data.n_targets]
    starts = evaluation_starts(horizon)
    return score(target_windows(scaled, starts, horizon), naive_forecast(scaled, starts, horizon), drop_batch)


def seasonal_naive_scores(data: Dataset, horizon: int, drop_batch: int) -> Scores:
    """rnncast's seasonal-naive forecast (the same hour a day earlier), on the test windows."""
    scaled = data.scaled[:, : data.n_targets]
    starts = evaluation_starts(horizon)
    forecast = seasonal_naive_forecast(scaled, starts, horizon, HOURLY_SEASON)
    return score(target_windows(scaled, starts, horizon), forecast, drop_batch)


def repeat_check(setting: str, horizon: int, scores: Scores) -> tuple[bool, str]:
    """Whether rnncast's naive matches the published Repeat row within :data:`TOLERANCE`."""
    windows = CHECK_WINDOWS[setting]
    if horizon not in PUBLISHED[setting]["Repeat"][2]:
        return True, "unpublished H"
    published = PUBLISHED[setting]["Repeat"][2][horizon]
    measured = scores.on(windows)
    ok = all(abs(m - p) <= TOLERANCE for m, p in zip(measured, published, strict=True))
    return ok, windows


@dataclass(frozen=True)
class ModelRun:
    """A trained network's test scores and what training took."""

    setting: str
    horizon: int
    config: dict[str, Any]
    scores: Scores
    wall_seconds: float
    fit_seconds: float
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    device: str


def train_and_score(data: Dataset, config: TrainConfig, drop_batch: int) -> ModelRun:
    """Train with :func:`rnncast.fitting.fit_on_history` on rows [0, 11520), then score the test set.

    The history is passed raw: ``fit_on_history`` fits its own scaler on the first
    ``11520 - 2880 = 8640`` rows, the protocol's training statistics (checked here).
    """
    from rnncast.fitting import fit_on_history
    from rnncast.forecasting import predict_windows

    assert config.lookback is not None and config.horizon is not None

    def progress(epoch: int, epochs: int, logs: dict[str, float]) -> None:
        print(
            f"    epoch {epoch:>3}/{epochs}  loss {logs.get('loss', float('nan')):.4f}  "
            f"val_loss {logs.get('val_loss', float('nan')):.4f}  "
            f"{time.perf_counter() - started:7.1f} s",
            flush=True,
        )

    started = time.perf_counter()
    fitted = fit_on_history(
        data.values[:VAL_END], data.columns, data.n_targets, VAL_END - TRAIN_END, config, progress
    )
    wall = time.perf_counter() - started
    if not (
        np.allclose(fitted.scaler.offset, data.scaler.offset)
        and np.allclose(fitted.scaler.scale, data.scaler.scale)
    ):
        sys.exit("fit_on_history's scaler differs from the protocol's training statistics")

    scaled = fitted.scaler.transform(data.values[:TEST_END])
    starts = evaluation_starts(config.horizon)
    predicted = predict_windows(fitted.model, scaled, starts, config.lookback)
    actual = target_windows(scaled[:, : data.n_targets], starts, config.horizon)
    summary = fitted.summary
    return ModelRun(
        setting=data.setting,
        horizon=config.horizon,
        config=config.to_dict(),
        scores=score(actual, predicted, drop_batch),
        wall_seconds=wall,
        fit_seconds=summary.seconds,
        epochs_run=summary.epochs_run,
        best_epoch=summary.best_epoch,
        best_val_loss=summary.best_val_loss,
        device=summary.device,
    )


def pair(values: tuple[float, float], digits: int = 3) -> str:
    """``0.123 / 0.456``."""
    return f"{values[0]:.{digits}f} / {values[1]:.{digits}f}"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain aligned text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for line in (header, ["-" * w for w in widths], *rows):
        print("  " + "  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


def print_baselines(results: dict[str, dict[int, Scores]], drop_batch: int) -> bool:
    """Print rnncast naive beside the published Repeat row; return whether every check passed."""
    rows = []
    passed = True
    for setting, by_horizon in results.items():
        for horizon, scores in by_horizon.items():
            ok, windows = repeat_check(setting, horizon, scores)
            passed &= ok
            rows.append(
                [
                    setting,
                    str(horizon),
                    f"{scores.windows_all} ({scores.windows_drop_last})",
                    pair(scores.on("drop-last")),
                    pair(scores.on("all")),
                    pair(PUBLISHED[setting]["Repeat"][2].get(horizon, (float("nan"),) * 2)),
                    f"{'PASS' if ok else 'FAIL'} ({windows})",
                ]
            )
    print_table(
        f"Repeat (rnncast naive_forecast) vs published Repeat, MSE / MAE; drop-last = first "
        f"floor(n/{drop_batch})*{drop_batch} windows; check tolerance {TOLERANCE}",
        ["set", "H", "windows (drop-last)", "rnncast drop-last", "rnncast all", "published", "check"],
        rows,
    )
    return passed


def print_model_run(run: ModelRun, naive: Scores, seasonal: Scores) -> None:
    """Print one trained model beside rnncast's naive and seasonal naive and every published
    model for its H."""
    name = f"rnncast {run.config['model']}@L{run.config['lookback']}"
    rows = [
        [name, f"L={run.config['lookback']}", "drop-last", pair(run.scores.on("drop-last"), 4)],
        [name, f"L={run.config['lookback']}", "all", pair(run.scores.on("all"), 4)],
        ["rnncast naive", "L=1", "all", pair(naive.on("all"), 4)],
        ["rnncast seasonal_naive", f"L={HOURLY_SEASON}", "all", pair(seasonal.on("all"), 4)],
    ]
    for model, (lookback, windows, figures) in PUBLISHED[run.setting].items():
        if run.horizon in figures:
            rows.append([model + " (published)", lookback, windows, pair(figures[run.horizon])])
    print_table(
        f"ETTh1 {run.setting}, H={run.horizon}: MSE / MAE on the test set "
        f"(training wall {run.wall_seconds:.1f} s, fit {run.fit_seconds:.1f} s, "
        f"{run.epochs_run} epochs, best {run.best_epoch}, best val_loss {run.best_val_loss:.4f}, "
        f"{run.device})",
        ["model", "lookback", "windows", "MSE / MAE"],
        rows,
    )


def machine() -> dict[str, Any]:
    """Where this ran."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ETTh1.csv (default: %(default)s)")
    parser.add_argument(
        "--horizons", type=int, nargs="+", default=list(HORIZONS), help="the published ones: 96 192 336 720"
    )
    parser.add_argument("--settings", nargs="+", default=["S", "M"], choices=["S", "M"])
    parser.add_argument(
        "--drop-batch",
        type=int,
        default=32,
        help="the papers' test batch size: drop-last scores leave out its last partial batch "
        "(32: DLinear, Informer; 128: PatchTST)",
    )
    defaults = TrainConfig()  # rnncast's own defaults, except the lookback
    model = parser.add_argument_group("model (trained only with --train or --epochs)")
    model.add_argument("--train", action="store_true", help="also train rnncast's network")
    model.add_argument(
        "--epochs", type=int, default=None, help=f"implies --train (default {defaults.epochs})"
    )
    model.add_argument("--model-horizons", type=int, nargs="+", default=[96], help="any, e.g. 24 96 720")
    model.add_argument("--lookback", type=int, default=96)
    model.add_argument("--model", default=defaults.model, choices=CELL_TYPES)
    model.add_argument("--units", type=int, default=defaults.units)
    model.add_argument("--layers", type=int, default=defaults.layers)
    model.add_argument("--patience", type=int, default=defaults.patience)
    model.add_argument("--batch-size", type=int, default=defaults.batch_size)
    model.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    model.add_argument("--seed", type=int, default=defaults.seed)
    model.add_argument("--device", default=defaults.device, choices=DEVICES)
    model.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other TrainConfig setting, e.g. --set segment=24 --set window_norm=none (repeatable)",
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write every figure as JSON")
    args = parser.parse_args(argv)
    if args.drop_batch < 1:
        parser.error("--drop-batch must be at least 1")
    args.train = args.train or args.epochs is not None
    args.epochs = args.epochs or defaults.epochs
    return args


def train_config(args: argparse.Namespace, horizon: int) -> TrainConfig:
    """The rnncast settings for one training run."""
    settings = parse_settings(args.set)
    # What `rnncast train` resolves for hourly data when --segment is not given.
    settings.setdefault("segment", default_segment(args.lookback, HOURLY_SEASON))
    return TrainConfig(
        **settings,
        lookback=args.lookback,
        horizon=horizon,
        model=args.model,
        units=args.units,
        layers=args.layers,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        device=args.device,
        scaler="standard",
    )


def parse_settings(pairs: Sequence[str]) -> dict[str, Any]:
    """``["segment=24", "linear_skip=false"]`` -> ``{"segment": 24, "linear_skip": False}``."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        lowered = text.strip().lower()
        value: Any = text
        if lowered in ("true", "false"):
            value = lowered == "true"
        elif lowered == "null":
            value = None
        else:
            for kind in (int, float):
                try:
                    value = kind(text)
                    break
                except ValueError:
                    continue
        settings[key.strip()] = value
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the protocol; exit 1 if rnncast's naive does not reproduce the published Repeat."""
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(f"command:  {command}")
    print(f"date:     {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    info = machine()
    print(f"machine:  {info['platform']}, {info['cpu_count']} CPUs, Python {info['python']}")
    print(
        f"protocol: train [0, {TRAIN_END}), val [{TRAIN_END}, {VAL_END}), test [{VAL_END}, {TEST_END}); "
        "z-score on training rows (ddof=0); scaled MSE/MAE; stride 1"
    )

    datasets = {setting: load_setting(args.data, setting) for setting in args.settings}
    first = next(iter(datasets.values())).fingerprint
    print(f"data:     {first['path']} ({first['rows']} rows, sha256 {first['sha256'][:16]}...)")

    baselines = {
        setting: {h: naive_scores(data, h, args.drop_batch) for h in args.horizons}
        for setting, data in datasets.items()
    }
    passed = print_baselines(baselines, args.drop_batch)
    print(f"\nRepeat check: {'PASS' if passed else 'FAIL'}")

    runs: list[ModelRun] = []
    if args.train:
        for setting, data in datasets.items():
            for horizon in args.model_horizons:
                print(
                    f"\ntraining {args.model} on ETTh1 {setting}, L={args.lookback}, H={horizon}", flush=True
                )
                run = train_and_score(data, train_config(args, horizon), args.drop_batch)
                naive = baselines[setting].get(horizon) or naive_scores(data, horizon, args.drop_batch)
                print_model_run(run, naive, seasonal_naive_scores(data, horizon, args.drop_batch))
                runs.append(run)

    if args.json_out:
        write_json(args.json_out, command, info, baselines, runs, passed, args.drop_batch)
    return 0 if passed else 1


def write_json(
    path: Path,
    command: str,
    info: dict[str, Any],
    baselines: dict[str, dict[int, Scores]],
    runs: list[ModelRun],
    passed: bool,
    drop_batch: int,
) -> None:
    """Every measured and published figure as JSON."""
    payload = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "drop_batch": drop_batch,
        "repeat_check_passed": passed,
        "naive": {s: {str(h): asdict(v) for h, v in by_h.items()} for s, by_h in baselines.items()},
        "models": [asdict(run) for run in runs],
        "published": {
            s: {
                m: {"lookback": lb, "windows": w, "mse_mae": {str(h): v for h, v in f.items()}}
                for m, (lb, w, f) in models.items()
            }
            for s, models in PUBLISHED.items()
        },
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(main())
