"""Training throughput and time-to-accuracy: rnncast's default path against the tutorial way.

The setting of issue 6: ETTh1, univariate OT, lookback 96, horizon 24, LSTM(64) -> Dense(24),
Adam 1e-3, z-scored on the training rows, the 12/4/4-month split (train rows [0, 8640),
validation targets in [8640, 11520), test targets in [11520, 14400)).

Every runner trains in its own fresh process (so none inherits another's TensorFlow state) and
reports, per epoch, its wall time and the test MSE after that epoch (the time spent scoring
the test split is left out of the clock). From these the script prints:

- windows/s: training windows per second over the steady epochs (the median of epochs 2..N;
  epoch 1 also pays tracing / XLA compilation). rnncast's epochs include its validation pass
  (what a user gets: early stopping needs it); the tutorial's do not.
- test MSE after the last epoch, and time-to-accuracy: the training wall time (compilation
  included) until the test MSE first reaches the tutorial's final test MSE of the same run.
- peak RSS of the runner's process.

Runners: ``tutorial`` (numpy windows copied into memory, ``model.fit``, batch 32),
``tutorial-xla`` (the same with ``jit_compile=True``), ``rnncast-b32`` (rnncast's default
training path forced to batch 32), ``rnncast`` (rnncast's defaults, its own batch size),
``rnncast-no-xla-b32`` (to show XLA's share). Peers, when their packages are importable by
``--peer-python`` (default: this interpreter): ``keras-jax`` (the tutorial code on Keras' JAX
backend), ``darts`` (BlockRNNModel) and ``neuralforecast`` (LSTM); the script says when one is
not installed.

    python benchmarks/training_speed.py                 # ~5 minutes on 2 CPU cores
    python benchmarks/training_speed.py --epochs 10 --peer-python /tmp/peers/bin/python \
        --json-out /tmp/speed.json

The data file is read by path (default ``../shared/data/ETTh1.csv``), never copied.
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

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ETTh1.csv"
LOOKBACK, HORIZON, UNITS = 96, 24, 64
TRAIN_END, VAL_END, TEST_END = 12 * 30 * 24, 16 * 30 * 24, 20 * 30 * 24
OURS = ("rnncast-b32", "rnncast", "rnncast-no-xla-b32")
TUTORIALS = ("tutorial", "tutorial-xla")
PEERS = ("keras-jax", "darts", "neuralforecast")
PEER_MODULES = {"keras-jax": "jax", "darts": "darts", "neuralforecast": "neuralforecast"}


def load_scaled(data: Path) -> np.ndarray:
    """ETTh1's OT column, z-scored with the training rows' mean and deviation."""
    import csv

    with data.open() as handle:
        values = np.array([float(row["OT"]) for row in csv.DictReader(handle)], dtype=np.float64)
    values = values[:TEST_END]
    train = values[:TRAIN_END]
    return (values - train.mean()) / train.std()


def starts(first: int, end: int) -> np.ndarray:
    """Target-start rows of the windows whose targets lie in ``[first, end)``."""
    return np.arange(max(first, LOOKBACK), end - HORIZON + 1)


def materialise(z: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial way: every window copied into one array."""
    x = np.stack([z[t - LOOKBACK : t] for t in at])[..., None].astype(np.float32)
    y = np.stack([z[t : t + HORIZON] for t in at]).astype(np.float32)
    return x, y


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class EpochClock:
    """Per-epoch wall times and test MSEs, the scoring time kept off the clock."""

    def __init__(self, score: Any) -> None:
        self.score = score
        self.epoch_seconds: list[float] = []
        self.elapsed: list[float] = []  # training time since fit began, at each epoch's end
        self.test_mse: list[float] = []
        self.started = self.epoch_started = 0.0
        self.off_clock = 0.0

    def begin_fit(self) -> None:
        self.started = time.perf_counter()

    def begin_epoch(self) -> None:
        self.epoch_started = time.perf_counter()

    def end_epoch(self, model: Any) -> None:
        now = time.perf_counter()
        self.epoch_seconds.append(now - self.epoch_started)
        self.elapsed.append(now - self.started - self.off_clock)
        self.test_mse.append(float(self.score(model)))
        self.off_clock += time.perf_counter() - now


def keras_callback(clock: EpochClock) -> Any:
    """A Keras callback driving ``clock``."""
    import keras

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            clock.begin_fit()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            clock.begin_epoch()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            clock.end_epoch(self.model)

    return Clock()


def run_tutorial(z: np.ndarray, epochs: int, batch: int, xla: bool) -> dict[str, Any]:
    """The usual Keras recipe (on whatever backend KERAS_BACKEND names)."""
    import keras

    x, y = materialise(z, starts(0, TRAIN_END))
    x_test, y_test = materialise(z, starts(VAL_END, TEST_END))
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((LOOKBACK, 1)), keras.layers.LSTM(UNITS), keras.layers.Dense(HORIZON)]
    )
    model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=xla if xla else "auto")
    clock = EpochClock(lambda m: np.mean((m.predict(x_test, batch_size=512, verbose=0) - y_test) ** 2))
    model.fit(
        x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[keras_callback(clock)]
    )
    return report(clock, len(x), batch, keras.backend.backend(), xla=xla)


def run_rnncast(z: np.ndarray, epochs: int, batch: int | None, xla: bool | None) -> dict[str, Any]:
    """rnncast's default training path (``fit_network``: the network, XLA choice, tf.data
    pipeline and early-stopping loop that ``rnncast train`` uses), patience 0 to run all epochs."""
    from rnncast.config import TrainConfig
    from rnncast.fitting import epoch_size, fit_network, use_xla
    from rnncast.windows import window_dataset

    settings: dict[str, Any] = {"lookback": LOOKBACK, "horizon": HORIZON, "units": UNITS}
    settings |= {"epochs": epochs, "patience": 0, "xla": xla}
    if batch is not None:
        settings["batch_size"] = batch
    config = TrainConfig(**settings)
    scaled = z[:, None]
    train, val, test = starts(0, TRAIN_END), starts(TRAIN_END, VAL_END), starts(VAL_END, TEST_END)
    test_inputs = window_dataset(scaled, None, test, LOOKBACK, HORIZON, 512)
    y_test = np.stack([z[t : t + HORIZON] for t in test])[..., None]
    clock = EpochClock(lambda m: np.mean((m.predict(test_inputs, verbose=0) - y_test) ** 2))
    fit_network(scaled, 1, 1, train, val, config, callbacks=[keras_callback(clock)])
    return report(
        clock,
        len(train),
        config.batch_size,
        "tensorflow",
        xla=use_xla(config, "cpu", epoch_size(len(train), config)),
    )


def run_darts(z: np.ndarray, epochs: int, batch: int) -> dict[str, Any]:
    """Darts' BlockRNNModel (PyTorch Lightning), LSTM(64), one linear layer to 24 outputs."""
    from darts import TimeSeries
    from darts.models import BlockRNNModel
    from pytorch_lightning.callbacks import Callback

    x_test, y_test = materialise(z, starts(VAL_END, TEST_END))
    train = TimeSeries.from_values(z[:TRAIN_END].astype(np.float32))
    clock = EpochClock(lambda m: float("nan"))

    class Clock(Callback):
        def on_train_start(self, trainer: Any, module: Any) -> None:
            clock.begin_fit()

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            clock.begin_epoch()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            clock.end_epoch(module)

    model = BlockRNNModel(
        input_chunk_length=LOOKBACK,
        output_chunk_length=HORIZON,
        model="LSTM",
        hidden_dim=UNITS,
        n_rnn_layers=1,
        hidden_fc_sizes=[],
        batch_size=batch,
        n_epochs=epochs,
        optimizer_kwargs={"lr": 1e-3},
        random_state=0,
        pl_trainer_kwargs={"accelerator": "cpu", "callbacks": [Clock()], "enable_progress_bar": False},
    )
    model.fit(train, verbose=False)
    # Darts scores through its own predict, once at the end (per epoch would dominate the run):
    # its test MSE is the last epoch's, earlier epochs show NaN.
    windows = [TimeSeries.from_values(x.reshape(LOOKBACK)) for x in x_test]
    predicted = model.predict(n=HORIZON, series=windows, verbose=False, batch_size=512)
    out = np.stack([p.values().reshape(HORIZON) for p in predicted])
    clock.test_mse[-1] = float(np.mean((out - y_test) ** 2))
    return report(clock, len(starts(0, TRAIN_END)), batch, "torch (darts)", xla=False)


def run_neuralforecast(z: np.ndarray, epochs: int, batch: int) -> dict[str, Any]:
    """NeuralForecast's LSTM (encoder LSTM(64), MLP decoder) on the same windows; it trains by
    steps, so an "epoch" here is ceil(windows / batch) steps (its throughput: the whole fit's)."""
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM
    from pytorch_lightning.callbacks import Callback

    windows = len(starts(0, TRAIN_END))
    steps_per_epoch = -(-windows // batch)
    clock = EpochClock(lambda m: float("nan"))

    class Clock(Callback):
        # Lightning's step counting differs between its loops: time the whole fit and spread
        # it evenly over the epochs (the first epoch's extra cost is then averaged in).
        def on_train_start(self, trainer: Any, module: Any) -> None:
            clock.begin_fit()

        def on_train_end(self, trainer: Any, module: Any) -> None:
            total = time.perf_counter() - clock.started
            clock.epoch_seconds = [total / epochs] * epochs
            clock.elapsed = [total * (k + 1) / epochs for k in range(epochs)]
            clock.test_mse = [float("nan")] * epochs

    frame = pd.DataFrame(
        {"unique_id": "OT", "ds": pd.date_range("2016-07-01", periods=TEST_END, freq="h"), "y": z}
    )
    model = LSTM(
        h=HORIZON,
        input_size=LOOKBACK,
        encoder_hidden_size=UNITS,
        encoder_n_layers=1,
        decoder_hidden_size=UNITS,
        decoder_layers=1,
        max_steps=epochs * steps_per_epoch,
        batch_size=1,
        windows_batch_size=batch,
        learning_rate=1e-3,
        scaler_type="identity",
        random_seed=0,
        accelerator="cpu",
        enable_progress_bar=False,
        callbacks=[Clock()],
    )
    forecaster = NeuralForecast(models=[model], freq="h")
    forecaster.fit(frame.iloc[:TRAIN_END])
    # Score the last epoch with NeuralForecast's own rolling predictions over the test split.
    test = starts(VAL_END, TEST_END)
    predicted = forecaster.cross_validation(frame, n_windows=len(test), step_size=1, refit=False, val_size=0)
    out = predicted["LSTM"].to_numpy().reshape(len(test), HORIZON)
    actual = predicted["y"].to_numpy().reshape(len(test), HORIZON)
    clock.test_mse[-1] = float(np.mean((out - actual) ** 2))
    return report(clock, windows, batch, "torch (neuralforecast)", xla=False)


def report(clock: EpochClock, windows: int, batch: int, backend: str, *, xla: bool) -> dict[str, Any]:
    """One runner's figures."""
    steady = clock.epoch_seconds[1:] or clock.epoch_seconds
    return {
        "windows": windows,
        "batch_size": batch,
        "backend": backend,
        "xla": bool(xla),
        "epoch_seconds": [round(s, 3) for s in clock.epoch_seconds],
        "elapsed": [round(s, 3) for s in clock.elapsed],
        "test_mse": [round(m, 5) for m in clock.test_mse],
        "windows_per_second": windows / float(np.median(steady)),
        "first_epoch_seconds": clock.epoch_seconds[0],
        "wall_seconds": clock.elapsed[-1],
        "final_test_mse": round(clock.test_mse[-1], 5),
        "peak_rss_mib": peak_rss_mib(),
    }


def run_one(name: str, data: Path, epochs: int) -> dict[str, Any]:
    """Run one runner in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    z = load_scaled(data)
    if name == "tutorial":
        return run_tutorial(z, epochs, 32, xla=False)
    if name == "tutorial-xla":
        return run_tutorial(z, epochs, 32, xla=True)
    if name == "keras-jax":
        return run_tutorial(z, epochs, 32, xla=True)
    if name == "rnncast-b32":
        return run_rnncast(z, epochs, 32, xla=None)
    if name == "rnncast-no-xla-b32":
        return run_rnncast(z, epochs, 32, xla=False)
    if name == "rnncast":
        return run_rnncast(z, epochs, None, xla=None)
    if name == "darts":
        return run_darts(z, epochs, 32)
    if name == "neuralforecast":
        return run_neuralforecast(z, epochs, 32)
    raise SystemExit(f"unknown runner {name}")


def spawn(name: str, data: Path, epochs: int, python: str) -> dict[str, Any] | str:
    """Run ``name`` in a fresh process; its figures, or why it did not run."""
    env = dict(os.environ)
    if name in PEERS:
        probe = subprocess.run([python, "-c", f"import {PEER_MODULES[name]}"], capture_output=True, env=env)
        if probe.returncode != 0:
            return f"not installed for {python}"
        if name == "keras-jax":
            env["KERAS_BACKEND"] = "jax"
    else:
        python = sys.executable
    script = str(Path(__file__).resolve())
    command = [python, script, "--run", name, "--data", str(data.resolve()), "--epochs", str(epochs)]
    # Peers write logs (lightning_logs/) into the working directory: keep them out of the checkout.
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=scratch)
    if done.returncode != 0:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_to(result: dict[str, Any], target: float) -> float | None:
    """Training seconds until the test MSE first reached ``target``."""
    for seconds, mse in zip(result["elapsed"], result["test_mse"], strict=True):
        if mse <= target:
            return seconds
    return None


def table(results: dict[str, dict[str, Any] | str]) -> str:
    """The markdown table, ratios against the tutorial of the same run."""
    tutorial = results.get("tutorial")
    assert isinstance(tutorial, dict), "the tutorial reference must run"
    target = tutorial["final_test_mse"]
    lines = [
        "| runner | batch | XLA | windows/s | × tutorial | first epoch (s) | test MSE | "
        f"time to MSE ≤ {target:.4f} (s) | ÷ tutorial wall | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        if isinstance(result, str):
            lines.append(f"| {name} | – | – | {result} | | | | | | |")
            continue
        reached = time_to(result, target)
        speed = result["windows_per_second"] / tutorial["windows_per_second"]
        share = f"{tutorial['wall_seconds'] / reached:.1f}×" if reached else "not reached"
        lines.append(
            f"| {name} ({result['backend']}) | {result['batch_size']} | {'on' if result['xla'] else 'off'} | "
            f"{result['windows_per_second']:,.0f} | {speed:.2f} | {result['first_epoch_seconds']:.1f} | "
            f"{result['final_test_mse']:.4f} | {f'{reached:.1f}' if reached else '–'} | {share} | "
            f"{result['peak_rss_mib']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ETTh1.csv")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runners", nargs="+", default=[*TUTORIALS, *OURS, *PEERS])
    parser.add_argument("--peer-python", default=sys.executable, help="interpreter with the peers installed")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--run", help=argparse.SUPPRESS)  # internal: run one runner here
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.data, args.epochs)))
        return
    if not args.data.is_file():
        raise SystemExit(f"{args.data} not found: pass --data PATH/ETTh1.csv")
    runners = ["tutorial", *[r for r in args.runners if r != "tutorial"]]
    results: dict[str, dict[str, Any] | str] = {}
    for name in runners:
        started = time.perf_counter()
        results[name] = spawn(name, args.data, args.epochs, args.peer_python)
        print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"{platform.node()} · {os.cpu_count()} CPUs · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{args.epochs} epochs each, ETTh1 OT, lookback {LOOKBACK}, horizon {HORIZON}, LSTM({UNITS})\n")
    print(table(results))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
