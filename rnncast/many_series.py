"""``train``, ``check``, ``forecast`` and ``evaluate`` for one global model over many series.

:mod:`rnncast.pipeline` hands over here when the settings name ``id_col`` or
``series_columns`` or the bundle holds per-series scalers; the single-concern work lives in
:mod:`rnncast.panel`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.bundle import Bundle, attach_model, save_bundle
from rnncast.bundle_files import training_data_path
from rnncast.config import TrainConfig
from rnncast.errors import DataError, UsageError
from rnncast.panel import (
    Panel,
    check_transformable_members,
    fit_panel,
    fit_scalers,
    forecast_panel,
    load_panel,
    plan_panel,
    score_panel,
)
from rnncast.resources import RunSize, check_file_fits_in_memory, check_fits_in_memory, estimate_bytes
from rnncast.windows import Scaler, Split

logger = logging.getLogger("rnncast")


@dataclass(frozen=True)
class TrainedPanel:
    """What training a global model produced, ready for :func:`rnncast.bundle.save_bundle`."""

    model: Any
    scaler: Scaler  # identity over the model's columns; the real ones are per series
    series_scalers: dict[str, Scaler]
    metadata: dict[str, Any]
    report: dict[str, Any]
    history: dict[str, list[float]]


def load_training_panel(path: Path, config: TrainConfig) -> Panel:
    """The panel the config selects from ``path``, its notes logged."""
    check_file_fits_in_memory(path)
    panel = load_panel(path, config)
    for note in panel.notes:
        logger.warning(note)
    return panel


def plan_panel_training(panel: Panel, config: TrainConfig) -> tuple[TrainConfig, dict[str, Split]]:
    """Resolve lookback and horizon (from a series of median length) and split every series;
    check that training fits in memory."""
    from rnncast.pipeline import resolve_window

    lengths = sorted(panel.members, key=lambda key: len(panel.members[key]))
    typical = panel.members[lengths[len(lengths) // 2]]
    chosen = config.lookback is not None or config.horizon is not None
    config = resolve_window(config, typical)
    try:
        splits = plan_panel(panel, config)
    except DataError as error:
        if chosen:
            raise UsageError(error.message, error.hint) from error
        raise
    check_transformable_members(panel, config.transform)
    check_fits_in_memory(_run_size(panel, config, splits), "training")
    return config, splits


def _run_size(panel: Panel, config: TrainConfig, splits: dict[str, Split]) -> RunSize:
    assert config.lookback is not None and config.horizon is not None
    return RunSize(
        rows=panel.rows,
        columns=len(panel.columns),
        targets=len(panel.targets),
        lookback=config.lookback,
        horizon=config.horizon,
        scored_windows=sum(len(split.starts("test")) for split in splits.values()),
        batch_size=config.batch_size,
        units=config.units,
        layers=config.layers,
        directions=2 if config.bidirectional else 1,
        gates={"simple_rnn": 1, "gru": 3, "lstm": 4}[config.model],
    )


def check_panel(path: Path, config: TrainConfig) -> dict[str, Any]:
    """What training on ``path`` would use (see :func:`rnncast.pipeline.check`)."""
    panel = load_training_panel(path, config)
    config, splits = plan_panel_training(panel, config)
    return {
        "data": panel.fingerprint(),
        "data_notes": list(panel.notes),
        "targets": list(panel.targets),
        "features": list(panel.features),
        "lookback": config.lookback,
        "horizon": config.horizon,
        "series": _series_summary(panel, splits),
        "split": _split_summary(panel, splits),
        "windows": {
            part: sum(len(split.starts(part)) for split in splits.values())
            for part in ("train", "val", "test")
        },
        "memory_bytes": estimate_bytes(_run_size(panel, config, splits)),
        "config": config.to_dict(),
    }


@dataclass(frozen=True)
class PreparedPanel:
    """A validated panel with resolved settings and splits: ready to train."""

    panel: Panel
    config: TrainConfig
    splits: dict[str, Split]


def prepare_panel(path: Path, config: TrainConfig) -> PreparedPanel:
    """Load, validate and split ``path`` for training: everything that can refuse it."""
    panel = load_training_panel(path, config)
    config, splits = plan_panel_training(panel, config)
    return PreparedPanel(panel, config, splits)


def train_panel(prepared: PreparedPanel, on_epoch: Any = None) -> TrainedPanel:
    """Train one network over every series; score it on each one's test split."""
    from rnncast.pipeline import _versions

    panel, config, splits = prepared.panel, prepared.config, prepared.splits
    scalers = fit_scalers(panel, config, splits)
    model, summary = fit_panel(panel, config, splits, scalers, on_epoch)
    test_starts = {key: split.starts("test") for key, split in splits.items()}
    history_ends = {key: split.train_rows + split.val_rows for key, split in splits.items()}
    report = score_panel(model, scalers, panel, test_starts, config, history_ends)
    columns = panel.columns
    identity = Scaler(config.scaler, columns, np.zeros(len(columns)), np.ones(len(columns)))
    metadata = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "config": config.to_dict(),
        "data": panel.fingerprint(),
        "data_notes": list(panel.notes),
        "series": _series_summary(panel, splits),
        "split": _split_summary(panel, splits),
        "model": {
            "cell": config.model,
            "bidirectional": config.bidirectional,
            "targets": list(panel.targets),
            "features": list(panel.features),
            "lookback": config.lookback,
            "horizon": config.horizon,
            "parameters": int(model.count_params()),
        },
        "training": summary.to_dict(),
    }
    return TrainedPanel(model, identity, scalers, metadata, report, summary.history)


def save_trained_panel(target: Path, trained: TrainedPanel) -> Path:
    """Write a trained global model as a bundle at ``target`` (the caller holds its lock)."""
    return save_bundle(
        target,
        model=trained.model,
        scaler=trained.scaler,
        metadata=trained.metadata,
        report=trained.report,
        history=trained.history,
        series_scalers=trained.series_scalers,
    )


def _series_summary(panel: Panel, splits: dict[str, Split]) -> dict[str, Any]:
    return {
        "id_col": panel.id_col,
        "count": len(panel.members),
        "trained_on": len(splits),
        "forecast_only": sorted(set(panel.members) - set(splits)),
        "left_out": dict(panel.left_out),
    }


def _split_summary(panel: Panel, splits: dict[str, Split]) -> dict[str, Any]:
    """The pooled split, and where each series' test rows begin (evaluate scores from there)."""
    test_starts = {
        key: panel.members[key].index[split.train_rows + split.val_rows].isoformat()
        for key, split in splits.items()
    }
    val_starts = [panel.members[key].index[split.train_rows] for key, split in splits.items()]
    train_ends = [panel.members[key].index[split.train_rows - 1] for key, split in splits.items()]
    return {
        "train_rows": sum(split.train_rows for split in splits.values()),
        "val_rows": sum(split.val_rows for split in splits.values()),
        "test_rows": sum(split.test_rows for split in splits.values()),
        "train_end": max(train_ends).isoformat(),
        "val_start": min(val_starts).isoformat(),
        "test_start": min(pd.Timestamp(stamp) for stamp in test_starts.values()).isoformat(),
        "test_starts": test_starts,
    }


def panel_for_bundle(bundle: Bundle, data: str | Path | None) -> Panel:
    """Load ``data`` (default: the training file) the way the global model was trained."""
    path = training_data_path(bundle.metadata, data)
    check_file_fits_in_memory(path)
    config = bundle.config
    if not config.series_columns:
        config = config.replace(target=bundle.targets, features=bundle.features)
    # The model's timeline is tz-aware or not; new data written the other way cannot be compared.
    with_offsets = pd.Timestamp(bundle.metadata["split"]["test_start"]).tz is not None
    try:
        panel = load_panel(
            path, config, frequency=bundle.frequency, with_offsets=with_offsets, for_training=False
        )
    except UsageError as exc:
        raise DataError(
            f"{path.name} does not match the model in {bundle.path}: {exc.message}", exc.hint
        ) from exc
    for note in panel.notes:
        logger.warning(note)
    return panel


def forecast_bundle(bundle: Bundle, data: str | Path | None) -> tuple[pd.DataFrame, Panel]:
    """Every series' forecast from a global model's bundle, as one long frame."""
    assert bundle.series_scalers is not None
    from rnncast.inference import forecast_network

    panel = panel_for_bundle(bundle, data)
    model = forecast_network(bundle)  # NumPy, no TensorFlow, unless RNNCAST_INFERENCE=keras
    frame, skipped = forecast_panel(model, bundle.series_scalers, panel, bundle.config, bundle.scaler.kind)
    for key, why in skipped.items():
        logger.warning("series %r not forecast: %s", key, why)
    return frame, panel


def evaluate_bundle(bundle: Bundle, data: str | Path | None) -> tuple[dict[str, Any], Panel]:
    """Pooled held-out scores of a global model: every window of every known series whose
    targets start at or after that series' test split began."""
    assert bundle.series_scalers is not None
    panel = panel_for_bundle(bundle, data)
    config = bundle.config
    assert config.lookback is not None and config.horizon is not None
    test_starts = bundle.metadata["split"].get("test_starts", {})
    # After rnncast update, each series' rows up to here were trained on: no longer held out.
    trained_through = bundle.metadata["split"].get("trained_through_by_series", {})
    starts: dict[str, np.ndarray] = {}
    for key, member in panel.members.items():
        if key not in test_starts or key not in bundle.series_scalers:
            continue  # a series the model never held out cannot be scored honestly
        first = int(member.index.searchsorted(pd.Timestamp(test_starts[key])))
        if key in trained_through:
            first = max(
                first, int(member.index.searchsorted(pd.Timestamp(trained_through[key]), side="right"))
            )
        starts[key] = np.arange(max(first, config.lookback), len(member) - config.horizon + 1)
    history_ends = {key: int(s[0]) if len(s) else 0 for key, s in starts.items()}
    model = attach_model(bundle).model
    report = score_panel(model, bundle.series_scalers, panel, starts, config, history_ends)
    return report, panel
