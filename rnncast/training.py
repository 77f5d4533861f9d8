"""Fitting a model: device choice, seeds, early stopping, divergence checks, progress hooks."""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast import backend
from rnncast.errors import TrainingError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# Called after every epoch with (epoch number from 1, total epochs, {"loss": ..., "val_loss": ...}).
EpochHook = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainingSummary:
    """What happened during fitting, as stored in the bundle's metadata."""

    epochs_run: int
    best_epoch: int
    best_val_loss: float
    final_loss: float
    stopped_early: bool
    device: str
    seconds: float
    history: dict[str, list[float]] = field(repr=False)
    # Where the starting weights came from (--init-from), for the bundle's lineage; None when
    # training started from random weights.
    lineage: dict[str, Any] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the per-epoch history goes to history.csv instead)."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "final_loss": self.final_loss,
            "stopped_early": self.stopped_early,
            "device": self.device,
            "seconds": round(self.seconds, 3),
        }


def select_device(requested: str) -> str:
    """Resolve ``auto|cpu|gpu`` to the device TensorFlow will use (``"cpu"`` or ``"gpu"``).

    Raises:
        TrainingError: ``gpu`` was asked for and TensorFlow sees none.
    """
    tf = backend.tensorflow()

    gpus = tf.config.list_physical_devices("GPU")
    if requested == "gpu" and not gpus:
        raise TrainingError(
            "--device gpu was requested but TensorFlow sees no GPU",
            "install a CUDA build (pip install 'rnncast[gpu]') with an NVIDIA driver, "
            "or use --device auto/cpu",
        )
    if requested == "cpu" and gpus:
        # If GPUs were already initialised in this process, fit_model pins the ops instead.
        with contextlib.suppress(RuntimeError):
            tf.config.set_visible_devices([], "GPU")
    return "gpu" if gpus and requested != "cpu" else "cpu"


def seed_everything(seed: int) -> None:
    """Make runs repeatable: Python, NumPy and TensorFlow seeds plus deterministic ops."""
    keras = backend.keras()
    tf = backend.tensorflow()

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit_model(
    model: keras.Model,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset | None,
    *,
    epochs: int,
    patience: int,
    device: str,
    on_epoch: EpochHook | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingSummary:
    """Train with early stopping on validation loss, restoring the best epoch's weights.

    ``patience`` 0 trains all ``epochs`` (the best weights are still restored). Without
    ``val_data`` (fine-tuning) every epoch runs and the last weights are kept. ``callbacks``
    are extra Keras callbacks (benchmarks use one to score the test split after each epoch).

    Raises:
        TrainingError: the loss became NaN or infinite.
    """
    keras = backend.keras()
    tf = backend.tensorflow()

    class EpochEnd(keras.callbacks.Callback):
        # Checked once per epoch, not per batch: reading a batch's loss forces the host to wait
        # for the device at every step, which costs more than the step itself for small RNNs.
        # An epoch's mean loss is NaN or infinite as soon as one batch's was. (Keras'
        # TerminateOnNaN would also print to stdout and corrupt --json output.)
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            values = {k: float(v) for k, v in (logs or {}).items()}
            if not all(math.isfinite(v) for v in values.values()):
                self.model.stop_training = True
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, values)

    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience or epochs, restore_best_weights=True
    )
    all_callbacks = [*callbacks, EpochEnd()] if val_data is None else [*callbacks, stopper, EpochEnd()]
    started = time.perf_counter()
    with (
        tf.device("/GPU:0" if device == "gpu" else "/CPU:0"),
        warnings.catch_warnings(),
        np.errstate(all="ignore"),
    ):
        # A diverging run overflows float casts; the non-finite check below reports it once.
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(
            train_data,
            validation_data=val_data,
            epochs=epochs,
            callbacks=all_callbacks,
            shuffle=False,  # the dataset shuffles itself, reproducibly
            verbose=0,
        )
    seconds = time.perf_counter() - started

    losses = {k: [float(v) for v in values] for k, values in history.history.items()}
    observed = losses.get("loss", []) + losses.get("val_loss", [])
    if not observed or not all(math.isfinite(v) for v in observed):
        raise TrainingError(
            f"training diverged: the loss became NaN or infinite after {len(losses.get('loss', []))} "
            "epoch(s)",
            "lower --learning-rate or --clipnorm, or check the data for extreme values",
        )
    val = losses.get("val_loss", losses["loss"])
    best = min(range(len(val)), key=val.__getitem__) if val_data is not None else len(val) - 1
    return TrainingSummary(
        epochs_run=len(val),
        best_epoch=best + 1,
        best_val_loss=val[best] if val_data is not None else math.nan,
        final_loss=losses["loss"][-1],
        stopped_early=len(val) < epochs,
        device=device,
        seconds=seconds,
        history=losses,
    )
