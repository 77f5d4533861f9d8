"""``update``: fine-tune a saved model on the rows added since it was trained.

The bundle remembers the last timestamp of its data and a digest of every row up to it
(:func:`rnncast.data.rows_digest`). New data must extend those rows unchanged: then the network
continues training, from its saved weights and with a tenth of its learning rate, on the
windows whose targets reach into the new rows (plus the most recent older windows, at least one
batch, so a single new day does not become the whole lesson). Rewritten history is refused:
fine-tuning on top of different old rows would make a model nobody trained.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.bundle import (
    Bundle,
    attach_model,
    check_bundle_target,
    load_bundle,
    read_history,
    save_bundle,
)
from rnncast.bundle_files import training_data_path
from rnncast.data import SeriesData, rows_digest
from rnncast.errors import DataError, HistoryRewrittenError, UsageError
from rnncast.training import EpochHook
from rnncast.transforms import check_transformable, to_changes
from rnncast.windows import Scaler, check_scalable

logger = logging.getLogger("rnncast")

UPDATE_EPOCHS = 5
LEARNING_RATE_FACTOR = 0.1  # fine-tuning steps are small: the weights already fit the old rows


@dataclass(frozen=True)
class UpdateResult:
    """What :func:`update` did: ``status`` is ``updated``, ``up-to-date`` or ``retrained``."""

    status: str
    bundle_path: Path
    rows_added: int
    metadata: dict[str, Any]
    seconds: float = 0.0


def appended_rows(bundle: Bundle, series: SeriesData) -> int:
    """How many rows ``series`` has after the bundle's data ended, checking that the rows up to
    then are exactly those the model was trained on.

    Raises:
        DataError: the history was rewritten (rows changed, added or removed before the end).
    """
    recorded = bundle.metadata["data"]
    last = pd.Timestamp(recorded["last_timestamp"])
    kept = int(series.index.searchsorted(last, side="right"))
    digest = recorded.get("rows_sha256")
    what = None
    hint = "pass --retrain to train a new model on the whole file"
    first = recorded.get("first_timestamp")
    if len(series) and first is not None and series.index[0] > pd.Timestamp(first):
        # A file of only the newest rows (or a rolling window) is not the history trained on.
        what = (
            f"it starts at {series.index[0].isoformat()}, after the model's data began at "
            f"{pd.Timestamp(first).isoformat()}"
        )
        hint = (
            "pass the whole history, old rows and new, to --data (or --retrain to train on this file alone)"
        )
    elif kept != recorded["rows"]:
        what = f"{kept} rows up to {last.isoformat()} now, {recorded['rows']} when the model was trained"
    elif digest is None:
        logger.warning("the bundle predates row digests: cannot check that the old rows are unchanged")
    elif rows_digest(series.frame, kept) != digest:
        what = f"values up to {last.isoformat()} differ from those the model was trained on"
    if what is not None:
        raise HistoryRewrittenError(f"the data's history was rewritten ({what})", hint)
    return len(series) - kept


def update(
    model: str | Path,
    data: str | Path | None = None,
    *,
    out: str | Path | None = None,
    epochs: int = UPDATE_EPOCHS,
    refit_scaler: bool = False,
    retrain: bool = False,
    on_epoch: EpochHook | None = None,
) -> UpdateResult:
    """Fine-tune the bundle at ``model`` on the rows ``data`` added after its training data.

    Args:
        model: the bundle directory.
        data: the newest data (default: the bundle's training file, as it is now).
        out: where to write the updated bundle (default: replace ``model`` in place).
        epochs: fine-tuning epochs.
        refit_scaler: refit the scaler on every row (default: keep the original one, so the
            network's inputs mean what they meant in training).
        retrain: when the history was rewritten, train a new model on the whole file instead
            of refusing.

    Raises:
        DataError: the history was rewritten (without ``retrain``), or the data does not fit.
        UsageError: ``epochs`` below 1, or ``out`` is not a bundle directory.

    The caller holds the lock of the output bundle (``rnncast update`` does).
    """
    from rnncast.pipeline import load_for_bundle, load_training_series, plan_training, train_locked

    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    bundle = load_bundle(model, with_model=False)
    target = Path(out) if out is not None else bundle.path
    check_bundle_target(target)  # before minutes of fine-tuning, not after
    path = training_data_path(bundle.metadata, data)
    if bundle.many_series:
        return _update_panel(bundle, path, target, epochs, refit_scaler, retrain, on_epoch)
    series = load_for_bundle(bundle, path)
    try:
        added = appended_rows(bundle, series)
    except HistoryRewrittenError:
        if not retrain:
            raise
        logger.warning("the data's history was rewritten: retraining from scratch (--retrain)")
        config = bundle.config.replace(time_col=series.time_col)  # the window is kept as it was
        # Not pipeline.train: it takes the bundle's lock, which the caller (rnncast update)
        # already holds, so it would wait for itself; and an update leaves runs/latest alone.
        fresh = load_training_series(path, config)
        config, split = plan_training(fresh, config)
        result = train_locked(fresh, config, split, target, None, on_epoch)
        return UpdateResult("retrained", result.bundle_path, len(fresh), result.metadata)
    if added == 0:
        return UpdateResult("up-to-date", bundle.path, 0, bundle.metadata)

    started = time.perf_counter()
    config = bundle.config
    assert config.lookback is not None and config.horizon is not None
    values = series.frame.to_numpy()
    check_scalable(values, series.columns)
    check_transformable(values, series.targets, config.transform)
    values = to_changes(values, len(series.targets), config.transform)  # what the network learns
    scaler = Scaler.fit(config.scaler, series.columns, values) if refit_scaler else bundle.scaler
    last_start = len(series) - config.horizon
    count = max(added, config.batch_size)
    starts = np.arange(max(config.lookback, last_start + 1 - count), last_start + 1, dtype=np.int64)
    if len(starts) == 0:
        raise DataError(
            f"the data has {len(series)} rows, too few for one lookback {config.lookback} + "
            f"horizon {config.horizon} window",
            "pass the whole history to --data",
        )
    summary = fine_tune_windows(
        attach_model(bundle), scaler.transform(values), len(series.targets), starts, epochs, on_epoch
    )
    seconds = time.perf_counter() - started
    step = _lineage_step(
        bundle, series.fingerprint, added, len(starts), epochs, refit_scaler, summary, seconds
    )
    # Windows up to here have been trained on: evaluate no longer counts them as held out.
    split = {**bundle.metadata["split"], "trained_through": series.fingerprint["last_timestamp"]}
    metadata = _updated_metadata(bundle, series.fingerprint, split, step)
    history = read_history(bundle)
    save_bundle(
        target,
        model=bundle.model,
        scaler=scaler,
        metadata=metadata,
        report=bundle.report,
        history=history,
    )
    return UpdateResult("updated", target, added, metadata, seconds)


def fine_tune_windows(
    bundle: Bundle,
    scaled: np.ndarray,
    n_targets: int,
    starts: np.ndarray,
    epochs: int,
    on_epoch: EpochHook | None,
) -> dict[str, float]:
    """Continue training the bundle's network on the windows at ``starts`` (weights kept)."""
    from rnncast.errors import TrainingError
    from rnncast.fitting import epoch_size, use_xla
    from rnncast.models import compile_model
    from rnncast.training import fit_model, seed_everything, select_device
    from rnncast.windows import window_dataset

    config = bundle.config
    assert config.lookback is not None and config.horizon is not None
    device = select_device(config.device)
    seed_everything(config.seed)
    model = bundle.model
    compile_model(
        model,
        config.learning_rate * LEARNING_RATE_FACTOR,
        config.clipnorm,
        xla=use_xla(config, device, epoch_size(len(starts), config)),
    )
    dataset = window_dataset(
        scaled,
        scaled[:, :n_targets],
        starts,
        config.lookback,
        config.horizon,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
    )
    try:
        summary = fit_model(model, dataset, None, epochs=epochs, patience=0, device=device, on_epoch=on_epoch)
    except TrainingError:
        raise TrainingError(
            "fine-tuning diverged: the loss became NaN or infinite",
            "retrain the model (rnncast train), or lower its --learning-rate",
        ) from None
    return {"final_loss": summary.final_loss}


def _lineage_step(
    bundle: Bundle,
    data: dict[str, Any],
    rows_added: int,
    windows: int,
    epochs: int,
    refit_scaler: bool,
    summary: dict[str, float],
    seconds: float,
) -> dict[str, Any]:
    """The record of one update that the bundle's ``lineage`` keeps (``data``: the new fingerprint)."""
    config = bundle.config
    return {
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "parent_created_at": bundle.metadata["created_at"],
        "parent_model_sha256": bundle.metadata.get("files", {}).get("model.keras"),
        "data_last_timestamp_before": bundle.metadata["data"]["last_timestamp"],
        "data_last_timestamp_after": data["last_timestamp"],
        "rows_added": rows_added,
        "windows": windows,
        "epochs": epochs,
        "learning_rate": config.learning_rate * LEARNING_RATE_FACTOR,
        "scaler": "refit" if refit_scaler else "kept",
        "final_loss": summary["final_loss"],
        "seconds": round(seconds, 3),
    }


def _updated_metadata(
    bundle: Bundle, data: dict[str, Any], split: dict[str, Any], step: dict[str, Any]
) -> dict[str, Any]:
    """The parent's metadata with the new data, split and lineage step; the files' checksums and
    the format version are left to :func:`rnncast.bundle.save_bundle`, which writes them anew."""
    metadata = {
        **bundle.metadata,
        "created_at": step["updated_at"],
        "data": data,
        "split": split,
        "lineage": [*bundle.metadata.get("lineage", []), step],
    }
    metadata.pop("files", None)
    metadata.pop("format_version", None)
    return metadata


def _update_panel(
    bundle: Bundle,
    path: Path,
    target: Path,
    epochs: int,
    refit_scaler: bool,
    retrain: bool,
    on_epoch: EpochHook | None,
) -> UpdateResult:
    """:func:`update` for one global model over many series (see :mod:`rnncast.panel_update`)."""
    from rnncast.many_series import panel_for_bundle, prepare_panel, save_trained_panel, train_panel
    from rnncast.panel_update import appended_panel_rows, fine_tune_panel, plan_panel_update

    panel = panel_for_bundle(bundle, path)
    config = bundle.config
    assert config.lookback is not None and config.horizon is not None and bundle.series_scalers is not None
    try:
        added = appended_panel_rows(bundle, panel)
    except HistoryRewrittenError:
        if not retrain:
            raise
        logger.warning("the data's history was rewritten: retraining from scratch (--retrain)")
        # Not pipeline.train, for the reason given in update()'s single-series retrain.
        trained = train_panel(prepare_panel(path, config), on_epoch)
        save_trained_panel(target, trained)
        return UpdateResult("retrained", target, panel.rows, trained.metadata)
    if not any(added.values()):
        return UpdateResult("up-to-date", bundle.path, 0, bundle.metadata)

    started = time.perf_counter()
    known = bundle.series_scalers
    scalers = dict(known)
    if refit_scaler:
        for key in known:
            member = panel.members[key]
            learned = to_changes(member.frame.to_numpy(), len(member.targets), config.transform)
            scalers[key] = Scaler.fit(config.scaler, member.columns, learned)
    plan = plan_panel_update(panel, added, config.lookback, config.horizon, config.batch_size)
    if not plan.starts:
        raise DataError(
            "no series has rows enough for one lookback + horizon window after its new rows",
            "pass the whole history to --data",
        )
    summary = fine_tune_panel(attach_model(bundle), panel, plan, scalers, epochs, on_epoch)
    seconds = time.perf_counter() - started
    fingerprint = panel.fingerprint()
    # Only series with a fitted scaler are the model's: the others stay "new" for the next update.
    fingerprint["series"] = {key: facts for key, facts in fingerprint["series"].items() if key in known}
    windows = int(sum(len(starts) for starts in plan.starts.values()))
    step = _lineage_step(
        bundle, fingerprint, plan.rows_added, windows, epochs, refit_scaler, summary, seconds
    )
    step["series_updated"] = len(plan.starts)
    # Only the series fine-tuned on lose their held-out rows: a series that did not grow keeps
    # its test windows (or its earlier update's limit), which the network has still never seen.
    trained_through = {
        **bundle.metadata["split"].get("trained_through_by_series", {}),
        **{key: fingerprint["series"][key]["last_timestamp"] for key in plan.starts},
    }
    split = {
        **bundle.metadata["split"],
        "trained_through": max(trained_through.values(), key=pd.Timestamp),
        "trained_through_by_series": trained_through,
    }
    metadata = _updated_metadata(bundle, fingerprint, split, step)
    save_bundle(
        target,
        model=bundle.model,
        scaler=bundle.scaler,
        metadata=metadata,
        report=bundle.report,
        history=read_history(bundle),
        series_scalers=scalers,
    )
    return UpdateResult("updated", target, plan.rows_added, metadata, seconds)
