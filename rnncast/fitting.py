"""Fitting a scaler and a network on the rows known at one forecast origin.

:func:`fit_on_history` receives only the history (the rows before the origin), so nothing
computed after the origin can reach the scaler or the model: leakage is ruled out by what the
function is given, not by care at each call site. ``train`` calls it once with the rows before
the test split; ``backtest`` once per fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast import backend
from rnncast.config import TrainConfig
from rnncast.errors import DataError
from rnncast.training import EpochHook, TrainingSummary
from rnncast.windows import Scaler, Split, check_scalable, window_dataset


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
    scaler = Scaler.fit(config.scaler, columns, history[: split.train_rows])  # training rows only
    scaled = scaler.transform(history)
    model, summary = fit_network(
        scaled, len(columns), n_targets, split.starts("train"), split.starts("val"), config, on_epoch
    )
    return FittedModel(model, scaler, summary, split)


def fit_network(
    scaled: np.ndarray,
    n_columns: int,
    n_targets: int,
    train_starts: np.ndarray,
    val_starts: np.ndarray,
    config: TrainConfig,
    on_epoch: EpochHook | None = None,
) -> tuple[Any, TrainingSummary]:
    """Build a network for ``config`` and train it on the windows of ``scaled`` whose targets
    start at ``train_starts``, stopping early on those at ``val_starts``.

    ``scaled`` may hold several series one after another: windows never cross from one to the
    next as long as every start lies ``lookback`` rows after its series began.
    """
    from rnncast.models import ModelShape, build_model, compile_model
    from rnncast.training import fit_model, seed_everything, select_device

    assert config.lookback is not None and config.horizon is not None
    device = select_device(config.device)
    seed_everything(config.seed)
    shape = ModelShape(config.lookback, config.horizon, n_columns, n_targets)
    model = build_model(
        shape,
        cell=config.model,
        bidirectional=config.bidirectional,
        units=config.units,
        layers=config.layers,
        dropout=config.dropout,
        residual=config.residual,
    )
    compile_model(model, config.learning_rate, config.clipnorm)
    datasets = {
        part: window_dataset(
            scaled,
            scaled[:, :n_targets],
            starts,
            config.lookback,
            config.horizon,
            config.batch_size,
            shuffle=part == "train",
            seed=config.seed,
        )
        for part, starts in (("train", train_starts), ("val", val_starts))
    }
    summary = fit_model(
        model,
        datasets["train"],
        datasets["val"],
        epochs=config.epochs,
        patience=config.patience,
        device=device,
        on_epoch=on_epoch,
    )
    return model, summary
