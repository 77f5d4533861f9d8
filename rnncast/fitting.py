"""Fitting a scaler and a network on the rows known at one forecast origin.

:func:`fit_on_history` receives only the history (the rows before the origin), so nothing
computed after the origin can reach the scaler or the model: leakage is ruled out by what the
function is given, not by care at each call site. ``train`` calls it once with the rows before
the test split; ``backtest`` once per fold.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast import backend
from rnncast.config import TrainConfig
from rnncast.errors import DataError
from rnncast.training import EpochHook, TrainingSummary
from rnncast.transforms import check_transformable, to_changes
from rnncast.windows import Scaler, Split, check_scalable, window_dataset

logger = logging.getLogger("rnncast")


@dataclass(frozen=True)
class FittedModel:
    """A trained network with the scaler it was trained with."""

    model: Any  # keras.Model; typed loosely so this module imports no Keras
    scaler: Scaler
    summary: TrainingSummary
    split: Split


def history_split(rows: int, val_rows: int, lookback: int, horizon: int) -> Split:
    """Train / validation split of ``rows`` history rows, the last ``val_rows`` validating.

    Raises:
        DataError: the training part cannot hold one window.
    """
    train_rows = rows - val_rows
    if train_rows < lookback + horizon or val_rows < horizon:
        raise DataError(
            f"{rows} rows of history are too few for lookback {lookback} + horizon {horizon} "
            f"with {val_rows} validation rows",
            "use more data or lower --lookback / --horizon",
        )
    return Split(train_rows, val_rows, 0, lookback, horizon)


def fit_on_history(
    history: np.ndarray,
    columns: tuple[str, ...],
    n_targets: int,
    val_rows: int,
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
) -> FittedModel:
    """Fit the scaler on the training rows of ``history`` and the network on its windows.

    Args:
        history: rows x columns (targets first), every row known at the origin.
        columns: column names of ``history``.
        n_targets: how many leading columns are targets.
        val_rows: the last rows of ``history`` whose windows only validate (early stopping).
        config: settings with lookback and horizon resolved.
        on_epoch: progress hook.

    Raises:
        DataError: too little history; TrainingError: training diverged or no GPU.
    """
    assert config.lookback is not None and config.horizon is not None
    split = history_split(len(history), val_rows, config.lookback, config.horizon)
    backend.keras().backend.clear_session()  # free earlier folds' models and graphs
    check_scalable(history, columns)
    check_transformable(history, columns[:n_targets], config.transform)
    learned = to_changes(history, n_targets, config.transform)  # the history itself without --transform
    scaler = Scaler.fit(config.scaler, columns, learned[: split.train_rows])  # training rows only
    scaled = scaler.transform(learned)
    model, summary = fit_network(
        scaled, len(columns), n_targets, split.starts("train"), split.starts("val"), config, on_epoch
    )
    return FittedModel(model, scaler, summary, split)


# XLA compiles the training and validation steps once, for a few seconds; it then runs an epoch
# in about half the time. Below this many windows per epoch the compilation costs more than it
# saves over a typical run (benchmarks/training_speed.py measures both).
XLA_MIN_WINDOWS = 4_000


def use_xla(config: TrainConfig, device: str, windows_per_epoch: int) -> bool:
    """Whether to compile training with XLA: on a CPU, as ``config.xla`` says, or by default
    when an epoch holds at least :data:`XLA_MIN_WINDOWS` windows.

    On a GPU, LSTM and GRU run NVIDIA's cuDNN kernels instead, which XLA cannot compile.
    """
    if device != "cpu":
        return False
    if config.xla is not None:
        return config.xla
    return windows_per_epoch >= XLA_MIN_WINDOWS


# An epoch is the unit of early stopping. Beyond this many training windows (hundreds of series,
# or years of minutes) a full pass takes many minutes and early stopping reacts late, so by
# default each epoch draws this many windows at random, a fresh draw each time.
AUTO_EPOCH_WINDOWS = 50_000
# Validation loss is measured on at most this many windows (a fixed, seeded sample): enough to
# rank epochs, and a 300,000-window validation split no longer costs more than training.
VALIDATION_WINDOWS = 20_000


def epoch_size(windows: int, config: TrainConfig) -> int:
    """Training windows one epoch sees: ``--epoch-windows`` (0: all), by default all up to
    :data:`AUTO_EPOCH_WINDOWS`."""
    if config.epoch_windows is None:
        return min(windows, AUTO_EPOCH_WINDOWS)
    return min(windows, config.epoch_windows or windows)


def validation_sample(starts: np.ndarray, seed: int) -> np.ndarray:
    """At most :data:`VALIDATION_WINDOWS` of the validation windows, the same ones every epoch."""
    if len(starts) <= VALIDATION_WINDOWS:
        return starts
    chosen = np.random.default_rng(seed).choice(len(starts), VALIDATION_WINDOWS, replace=False)
    return starts[np.sort(chosen)]


def _note_device_settings(model: Any, config: TrainConfig, device: str) -> None:
    """Say when a setting cannot take effect on this device, so a slow run is no mystery."""
    if config.mixed_precision and device != "gpu":
        logger.warning("--mixed-precision applies on a GPU only; training in float32 on the CPU")
    if device == "gpu":
        from rnncast.cudnn import cudnn_problems

        for problem in cudnn_problems(model):
            logger.warning("%s (training falls back to a much slower kernel)", problem)


def fit_network(
    scaled: np.ndarray,
    n_columns: int,
    n_targets: int,
    train_starts: np.ndarray,
    val_starts: np.ndarray,
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
    callbacks: Sequence[Any] = (),
) -> tuple[Any, TrainingSummary]:
    """Build a network for ``config`` and train it on the windows of ``scaled`` whose targets
    start at ``train_starts``, stopping early on those at ``val_starts``.

    ``scaled`` may hold several series one after another: windows never cross from one to the
    next as long as every start lies ``lookback`` rows after its series began.

    The returned model always maps ``(lookback, n_columns)`` to ``(horizon, n_targets)``: with
    ``--strategy recursive`` it is the trained one-step network unrolled over the horizon.
    With ``--init-from`` the network starts from the source bundle's weights (the summary's
    ``lineage`` says which), its recurrent layers frozen with ``--freeze recurrent``.

    With ``--ensemble N`` (N > 1) N networks are trained, seeded ``seed``, ``seed + 1``, ...,
    and the returned model averages their forecasts (:func:`rnncast.models.average_members`);
    the summary is the first member's, with every member's time and the ensemble's own
    validation loss.

    Raises:
        UsageError, BundleError: the ``--init-from`` bundle cannot seed this network.
        TrainingError: training diverged or no GPU.
    """
    if config.ensemble <= 1:
        return _fit_one(scaled, n_columns, n_targets, train_starts, val_starts, config, on_epoch, callbacks)
    from rnncast.models import average_members

    members, summaries = [], []
    for number in range(config.ensemble):
        member_config = config.replace(seed=config.seed + number, ensemble=1)
        model, summary = _fit_one(
            scaled, n_columns, n_targets, train_starts, val_starts, member_config, on_epoch, callbacks
        )
        members.append(model)
        summaries.append(summary)
    ensemble = average_members(members)
    assert config.lookback is not None and config.horizon is not None
    validation = window_dataset(
        scaled,
        scaled[:, :n_targets],
        validation_sample(val_starts, config.seed),
        config.lookback,
        config.horizon,
        config.batch_size,
        shuffle=False,
        seed=config.seed,
    )
    ensemble.compile(loss=config.loss, jit_compile=False)
    val_loss = float(ensemble.evaluate(validation, verbose=0))
    first = summaries[0]
    summary = dataclasses.replace(
        first,
        seconds=sum(s.seconds for s in summaries),
        best_val_loss=val_loss,
        epochs_run=sum(s.epochs_run for s in summaries),
    )
    return ensemble, summary


def _fit_one(
    scaled: np.ndarray,
    n_columns: int,
    n_targets: int,
    train_starts: np.ndarray,
    val_starts: np.ndarray,
    config: TrainConfig,
    on_epoch: EpochHook | None,
    callbacks: Sequence[Any],
) -> tuple[Any, TrainingSummary]:
    """One network of :func:`fit_network`, trained with ``config.seed``."""
    from rnncast.models import (
        ModelShape,
        build_for_config,
        compile_model,
        schedule_callbacks,
        training_shape,
        unroll_recursive,
    )
    from rnncast.training import fit_model, seed_everything, select_device

    assert config.lookback is not None and config.horizon is not None
    device = select_device(config.device)
    seed_everything(config.seed)
    # --strategy recursive trains a one-step network (horizon-1 windows) and unrolls it below.
    shape = training_shape(ModelShape(config.lookback, config.horizon, n_columns, n_targets), config)
    model = build_for_config(shape, config, mixed_precision=config.mixed_precision and device == "gpu")
    lineage = None
    if config.init_from is not None:
        from rnncast.transfer import initialise_from_source

        # Before compiling: Keras fixes which weights train when the model is compiled.
        lineage = initialise_from_source(model, config)
    windows_per_epoch = epoch_size(len(train_starts), config)
    compile_model(
        model,
        config.learning_rate,
        config.clipnorm,
        xla=use_xla(config, device, windows_per_epoch),
        loss_scaling=config.mixed_precision and device == "gpu",
        optimizer=config.optimizer,
        weight_decay=config.weight_decay,
        schedule=config.lr_schedule,
        decay_steps=config.epochs * math.ceil(windows_per_epoch / config.batch_size),
        loss=config.loss,
    )
    _note_device_settings(model, config, device)
    datasets = {
        part: window_dataset(
            scaled,
            scaled[:, :n_targets],
            starts,
            config.lookback,
            shape.horizon,
            config.batch_size,
            shuffle=part == "train",
            seed=config.seed,
            epoch_windows=windows_per_epoch if part == "train" else None,
        )
        for part, starts in (("train", train_starts), ("val", validation_sample(val_starts, config.seed)))
    }
    summary = fit_model(
        model,
        datasets["train"],
        datasets["val"],
        epochs=config.epochs,
        patience=config.patience,
        device=device,
        on_epoch=on_epoch,
        callbacks=[*callbacks, *schedule_callbacks(config.lr_schedule, config.patience)],
    )
    if config.strategy == "recursive":
        step = model
        model = unroll_recursive(step, config.horizon)
        # The optimizer that trained the step (its settings are saved with the model).
        model.compile(optimizer=step.optimizer, loss="mse", jit_compile=False)
    if lineage is not None:
        summary = dataclasses.replace(summary, lineage=lineage)
    return model, summary
