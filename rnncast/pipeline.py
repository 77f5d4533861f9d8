"""The Python API: ``train``, ``check``, ``forecast``, ``evaluate``, ``backtest``, ``info`` and ``sketch``.

Each function composes the single-concern modules; the CLI and, later, cron jobs call these and
nothing below them. Notes for the user (filled values, shortened lookback, ...) go to the
``rnncast`` logger; per-epoch progress to an optional hook.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast import __version__, backend
from rnncast.bundle import (
    Bundle,
    attach_model,
    check_bundle_target,
    load_bundle,
    read_history,
    save_bundle,
)
from rnncast.bundle_files import describe_bundle, training_data_path
from rnncast.config import TrainConfig
from rnncast.data import SeriesData, check_variation, load_series
from rnncast.errors import DataError, UsageError
from rnncast.evaluation import VERDICT_KEYS, ScoredWindows, evaluation_notes, score_forecasts
from rnncast.fileio import is_replaceable_link, point_link, safe_file_name
from rnncast.fitting import fit_on_history, history_split
from rnncast.folds import REFIT_POLICIES, default_step, plan_folds, validation_rows
from rnncast.frequency import seasonal_period
from rnncast.intervals import FoldIntervals, calibrate_fitted, calibration_of
from rnncast.locking import exclusive
from rnncast.panel import is_many_series
from rnncast.report import write_forecast_csv
from rnncast.reporting import check_report_target, write_report_dir
from rnncast.resources import RunSize, check_file_fits_in_memory, check_fits_in_memory, estimate_bytes
from rnncast.scoring import (
    WindowForecasts,
    describe_model,
    forecast_windows,
    pool_windows,
    score_windows,
    season_of,
    window_summary,
)
from rnncast.training import EpochHook
from rnncast.transfer import adopt_source_architecture
from rnncast.transforms import check_transformable
from rnncast.windows import (
    Split,
    chronological_split,
    default_segment,
    default_window_lengths,
    fit_lookback_to_rows,
)

logger = logging.getLogger("rnncast")

DEFAULT_RUNS_DIR = Path("runs")
LATEST_LINK = "latest"


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced."""

    bundle_path: Path
    metadata: dict[str, Any]
    report: dict[str, Any]


@dataclass(frozen=True)
class ForecastResult:
    """What :func:`forecast` produced: the dated forecast and where it came from."""

    frame: pd.DataFrame
    bundle_path: Path
    data_path: Path
    time_format: str | None = None  # the data file's own spelling of its timestamps


def train(
    data: str | Path,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    on_epoch: EpochHook | None = None,
    wait: float = 0.0,
    link_latest: bool = True,
    **settings: Any,
) -> TrainResult:
    """Train a model on the series in ``data`` and save a bundle.

    Args:
        data: CSV or Parquet file.
        config: settings; keyword ``settings`` (same names) override its fields.
        out: bundle directory; ``runs/<data file stem>`` by default. ``runs/latest``
            (under the working directory) is pointed at it.
        on_epoch: called after every epoch with (epoch, epochs, losses).
        wait: seconds to wait while another run writes the same bundle.
        link_latest: point ``runs/latest`` at the new bundle (batch runs leave it alone).

    Returns:
        The bundle's path, metadata and held-out report.

    Raises:
        LockedError: another run kept writing the bundle for ``wait`` seconds.
    """
    config = config or TrainConfig()
    if settings:
        config = config.replace(**settings)
    data_path = Path(data)
    bundle_path = Path(out) if out is not None else default_bundle_path(data_path)
    if bundle_path.name == LATEST_LINK:
        raise UsageError(
            f"a bundle cannot be named {LATEST_LINK!r} (that name is the link to the newest)",
            "choose another --out",
        )
    # Everything that could refuse the output is checked before minutes of training.
    check_bundle_target(bundle_path)
    latest = DEFAULT_RUNS_DIR / LATEST_LINK if link_latest else None
    if latest is not None and not is_replaceable_link(latest):
        raise UsageError(
            f"{latest} exists and is not rnncast's link to the newest bundle",
            "move it away; rnncast keeps runs/latest pointing at the newest model",
        )
    _ensure_writable_directory(bundle_path.parent)

    # Everything the data can refuse is checked before the lock: bad data leaves no trace.
    if is_many_series(config):
        from rnncast.many_series import prepare_panel, save_trained_panel, train_panel

        prepared = prepare_panel(data_path, config)
        with exclusive(bundle_path, wait=wait):
            trained = train_panel(prepared, on_epoch)
            save_trained_panel(bundle_path, trained)
            _point_latest(latest, bundle_path)
        return TrainResult(bundle_path, trained.metadata, trained.report)

    config = adopt_source_architecture(config)  # --init-from: a bad source is refused here
    series = load_training_series(data_path, config)
    config, split = plan_training(series, config)
    with exclusive(bundle_path, wait=wait):
        return train_locked(series, config, split, bundle_path, latest, on_epoch)


def train_locked(
    series: SeriesData,
    config: TrainConfig,
    split: Split,
    bundle_path: Path,
    latest: Path | None,
    on_epoch: EpochHook | None,
    extra_metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on a validated series and save the bundle at ``bundle_path``; point ``latest`` at it
    unless None. The caller holds the bundle's lock (``update --retrain`` and ``tune`` call this
    directly because they already hold it: :func:`train` would wait for itself).
    ``extra_metadata`` adds sections to metadata.json (``tune`` records its search there)."""
    values = series.frame.to_numpy()
    test_start = split.train_rows + split.val_rows
    # The network and the scaler see only the rows before the test split.
    fitted = fit_on_history(
        values[:test_start], series.columns, len(series.targets), split.val_rows, config, on_epoch
    )
    model, summary = fitted.model, fitted.summary
    calibration = calibrate_fitted(fitted, series, slice(0, test_start), config)  # None without
    report, _ = score_windows(
        model,
        fitted.scaler,
        series,
        split.starts("test"),
        config,
        test_start,
        keep_windows=False,
        intervals=calibration,
    )
    metadata = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "config": config.to_dict(),
        "data": series.fingerprint,
        "data_notes": list(series.notes),
        "split": _split_summary(split, series.index),
        "model": {
            "cell": config.model,
            "bidirectional": config.bidirectional,
            "targets": list(series.targets),
            "features": list(series.features),
            "lookback": config.lookback,
            "horizon": config.horizon,
            "parameters": int(model.count_params()),
        },
        "training": summary.to_dict(),
    }
    if calibration is not None:
        metadata["intervals"] = calibration.to_metadata()
    if summary.lineage is not None:
        # The weights' ancestry; `update` appends its fine-tuning steps after this record.
        metadata["lineage"] = [summary.lineage]
    metadata.update(extra_metadata or {})
    save_bundle(
        bundle_path,
        model=model,
        scaler=fitted.scaler,
        metadata=metadata,
        report=report,
        history=summary.history,
    )
    _point_latest(latest, bundle_path)
    return TrainResult(bundle_path, metadata, report)


def _point_latest(latest: Path | None, bundle_path: Path) -> None:
    if latest is None:
        return
    try:
        point_link(latest, bundle_path)
    except OSError as exc:  # the bundle is saved: a read-only cwd costs only the shortcut
        logger.warning("saved %s, but could not point %s at it (%s)", bundle_path, latest, exc.strerror)


def check(data: str | Path, config: TrainConfig | None = None, **settings: Any) -> dict[str, Any]:
    """Validate ``data`` and the settings exactly as :func:`train` would, without training.

    Reads and validates the whole file, resolves the windows, checks the split and the memory
    estimate; imports no TensorFlow. Notes go to the ``rnncast`` logger.

    Returns:
        What training would use: the series' facts, the resolved settings and the split.

    Raises:
        DataError, UsageError, ResourceError: exactly what ``train`` would raise before training.
    """
    config = config or TrainConfig()
    if settings:
        config = config.replace(**settings)
    if is_many_series(config):
        from rnncast.many_series import check_panel

        return check_panel(Path(data), config)
    config = adopt_source_architecture(config)
    series = load_training_series(Path(data), config)
    config, split = plan_training(series, config)
    return {
        "data": series.fingerprint,
        "data_notes": list(series.notes),
        "targets": list(series.targets),
        "features": list(series.features),
        "lookback": config.lookback,
        "horizon": config.horizon,
        "split": _split_summary(split, series.index),
        "windows": {part: len(split.starts(part)) for part in ("train", "val", "test")},
        "memory_bytes": estimate_bytes(_run_size(series, config, len(split.starts("test")))),
        "config": config.to_dict(),
    }


def plan_training(series: SeriesData, config: TrainConfig) -> tuple[TrainConfig, Split]:
    """Resolve the windows and the chronological split of ``series``, and check that training
    fits in memory: everything that can refuse a training run, done before it starts.

    Raises:
        UsageError: the user's lookback/horizon cannot fit this file, or the model would have
            more input columns than training windows to learn them from.
        DataError: the file is too short for the default windows.
        ResourceError: the run would not fit in memory.
    """
    window_was_chosen = config.lookback is not None or config.horizon is not None
    config = resolve_window(config, series)
    assert config.lookback is not None and config.horizon is not None
    try:
        split = chronological_split(
            len(series), config.lookback, config.horizon, config.val_fraction, config.test_fraction
        )
    except DataError as error:
        if window_was_chosen:  # the user's settings are impossible for this file
            raise UsageError(error.message, error.hint) from error
        raise
    check_learnable(series, len(split.starts("train")), split.train_rows)
    check_transformable(series.frame.to_numpy(), series.targets, config.transform)
    _training_size_check(series, config, split)
    return config, split


def check_learnable(series: SeriesData, windows: int, rows: int) -> None:
    """Refuse more input columns than training windows: the network could not learn them.

    Raises:
        UsageError: ``windows`` training windows (from ``rows`` rows) for more input columns.
    """
    if len(series.columns) > windows:
        fewer = "use fewer --features (or none)" if series.features else "forecast fewer --target columns"
        raise UsageError(
            f"{len(series.columns)} input columns ({len(series.targets)} target(s) and "
            f"{len(series.features)} feature(s)) but only {windows} training windows (from "
            f"{rows} training rows): more inputs than examples to learn them from",
            f"{fewer}, or train on more rows",
        )


def _training_size_check(series: SeriesData, config: TrainConfig, split: Split) -> int:
    """The memory estimate of training on ``series`` and scoring its test split (checked)."""
    return check_fits_in_memory(_run_size(series, config, len(split.starts("test"))), "training")


def _run_size(series: SeriesData, config: TrainConfig, scored_windows: int) -> RunSize:
    assert config.lookback is not None and config.horizon is not None
    return RunSize(
        rows=len(series),
        columns=len(series.columns),
        targets=len(series.targets),
        lookback=config.lookback,
        horizon=config.horizon,
        scored_windows=scored_windows,
        batch_size=config.batch_size,
        units=config.units,
        layers=config.layers,
        directions=2 if config.bidirectional else 1,
        gates={"simple_rnn": 1, "gru": 3, "lstm": 4}[config.model],
    )


def forecast(
    model: str | Path = DEFAULT_RUNS_DIR / LATEST_LINK,
    data: str | Path | None = None,
    output: str | Path | None = None,
    *,
    ledger: bool = True,
) -> ForecastResult:
    """Forecast the steps after the newest row of ``data`` (the training file by default).

    With ``output``, the forecast CSV is also written there atomically. With ``ledger``, the
    forecast is appended to the bundle's ledger (``<bundle>.ledger.csv``) for ``history``.
    rnncast's networks run in NumPy without importing TensorFlow (:mod:`rnncast.inference`);
    ``RNNCAST_INFERENCE=keras`` in the environment runs them in Keras instead.
    """
    bundle = load_bundle(model, with_model=False)
    if bundle.many_series:
        from rnncast.many_series import forecast_bundle

        frame, panel = forecast_bundle(bundle, data)
        data_path = Path(panel.source["path"])
        time_format = panel.first.time_format
        if output is not None:
            write_forecast_csv(frame, output, data_path, time_format)
        if ledger:
            _record(bundle, frame, dict(panel.members))
        return ForecastResult(frame, bundle.path, data_path, time_format)
    series = load_for_bundle(bundle, data)  # bad data fails before TensorFlow loads
    config = bundle.config
    from rnncast.forecasting import forecast_future, with_intervals
    from rnncast.inference import forecast_network

    network = forecast_network(bundle)  # NumPy, no TensorFlow, unless RNNCAST_INFERENCE=keras
    frame = forecast_future(network, bundle.scaler, series, config.lookback, config.horizon, config.transform)
    frame = with_intervals(frame, bundle, series)  # as it is for a bundle without intervals
    data_path = Path(series.fingerprint["path"])
    if output is not None:
        write_forecast_csv(frame, output, data_path, series.time_format)
    if ledger:
        from rnncast.accountability import SINGLE_SERIES_ID

        _record(bundle, frame, {SINGLE_SERIES_ID: series})
    return ForecastResult(frame, bundle.path, data_path, series.time_format)


def _record(bundle: Bundle, frame: pd.DataFrame, members: dict[str, SeriesData]) -> None:
    """Append the forecast to the bundle's ledger; a ledger that cannot be written costs a
    warning, not the forecast."""
    from rnncast.accountability import record_forecast
    from rnncast.errors import RnncastError

    try:
        record_forecast(bundle, frame, members)
    except (OSError, RnncastError) as exc:
        reason = exc.one_line() if isinstance(exc, RnncastError) else (exc.strerror or str(exc))
        logger.warning("the forecast was not added to the ledger: %s", reason)


def evaluate(
    model: str | Path = DEFAULT_RUNS_DIR / LATEST_LINK,
    data: str | Path | None = None,
    report_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Held-out metrics of the model beside the baselines, optionally written as a report.

    Scores every window whose targets start at or after the bundle's test split began: on the
    training file that is exactly the test split; a newer file adds its new rows. With
    ``report_dir``, report.json/.md/.html, forecasts.csv and plots are written there.
    """
    bundle = load_bundle(model, with_model=False)
    if bundle.many_series:
        if report_dir is not None:
            raise UsageError(
                "--report-dir is not supported yet for a model of many series",
                "use --json for the pooled and per-series scores",
            )
        from rnncast.many_series import evaluate_bundle

        scores, panel = evaluate_bundle(bundle, data)
        return {
            "kind": "evaluation",
            "data_path": panel.source["path"],
            "series": Path(panel.source["path"]).stem,
            "model_description": describe_model(bundle.config),
            "data": bundle.metadata["data"] if data is None else panel.fingerprint(),
            "config": bundle.config.to_dict(),
            "model_path": str(bundle.path),
            "training": bundle.metadata["training"],
            **scores,
        }
    series = load_for_bundle(bundle, data)
    if report_dir is not None:
        check_report_target(Path(report_dir))
    test_start = pd.Timestamp(bundle.metadata["split"]["test_start"])
    first = int(series.index.searchsorted(test_start))
    trained_through = bundle.metadata["split"].get("trained_through")
    if isinstance(trained_through, str):  # rnncast update trained on rows up to here
        first = max(first, int(series.index.searchsorted(pd.Timestamp(trained_through), side="right")))
    config = bundle.config
    starts = np.arange(max(first, config.lookback), len(series) - config.horizon + 1)
    if len(starts) == 0:
        held_out = (
            f"after {test_start}" if not isinstance(trained_through, str) else f"after {trained_through}"
        )
        raise DataError(
            f"the data has no complete {config.horizon}-step window {held_out} (the held-out period)",
            "pass a file that covers the held-out period to --data (after an update, rows "
            "newer than the update; rnncast history scores past forecasts)",
        )
    check_fits_in_memory(_run_size(series, config, len(starts)), "evaluation")
    if config.fill == "interpolate" and series.filled is not None and series.filled.any():
        logger.warning(
            "gaps were interpolated from the values after them, so some inputs know a little of "
            "their future: scores near those gaps are optimistic (--fill ffill avoids this)"
        )
    scores, scored = score_windows(
        attach_model(bundle).model,
        bundle.scaler,
        series,
        starts,
        config,
        history_end=int(starts[0]),
        intervals=calibration_of(bundle.metadata),
    )
    report = {
        **_report_header("evaluation", series, config),
        "model_path": str(bundle.path),
        "training": bundle.metadata["training"],
        **scores,
    }
    if isinstance(bundle.metadata.get("tuning"), dict):  # a bundle rnncast tune chose
        report["tuning"] = bundle.metadata["tuning"]
    if report_dir is not None:
        write_report_dir(Path(report_dir), report, scored, [read_history(bundle)])
    return report


def backtest(
    data: str | Path,
    config: TrainConfig | None = None,
    *,
    folds: int = 5,
    step: int | None = None,
    window: str = "expanding",
    refit: str = "each-fold",
    report_dir: str | Path | None = None,
    on_fold: Callable[[int, int, str], None] | None = None,
    on_epoch: EpochHook | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Rolling-origin evaluation: per fold, fit the scaler and the model on the rows before
    the fold's first origin, then forecast ``horizon`` steps from each origin in the fold.

    Args:
        data: CSV or Parquet file.
        config: training settings (``settings`` override fields); ``test_fraction`` sizes
            the default ``step``, ``val_fraction`` the validation part of each fold's history.
        folds: number of folds.
        step: origins per fold (default: the last ``test_fraction`` of rows over the folds).
        window: ``expanding`` (all earlier rows) or ``sliding`` (as many rows as the first fold).
        refit: ``each-fold`` retrains per fold; ``never`` trains once before the first fold
            and slides the origin over every fold.
        report_dir: write report.json/.md/.html, forecasts.csv and plots there.
        on_fold: called with (fold number, folds, description) before each fold.
        on_epoch: progress hook for each training run.

    Returns:
        The report: ``folds`` (one score block each) and the pooled scores of every window.
    """
    config = config or TrainConfig()
    if settings:
        config = config.replace(**settings)
    if refit not in REFIT_POLICIES:
        raise UsageError(f"--refit {refit!r} is not supported", f"use one of: {', '.join(REFIT_POLICIES)}")
    if folds < 1 or (step is not None and step < 1):
        bad = "--folds" if folds < 1 else "--step"
        raise UsageError(f"{bad} must be at least 1, got {folds if folds < 1 else step}")
    if is_many_series(config):
        if report_dir is not None:
            raise UsageError(
                "--report-dir is not supported yet for a backtest of many series",
                "use --json for the pooled, per-fold and per-series scores",
            )
        from rnncast.panel_backtest import backtest_panel

        config = adopt_source_architecture(config)
        return backtest_panel(
            Path(data),
            config,
            folds=folds,
            step=step,
            window=window,
            refit=refit,
            on_fold=on_fold,
            on_epoch=on_epoch,
        )
    if report_dir is not None:
        check_report_target(Path(report_dir))
    config = adopt_source_architecture(config)
    series = load_training_series(Path(data), config)
    if config.fill == "interpolate" and series.filled is not None and series.filled.any():
        raise UsageError(
            "--fill interpolate fills a gap from the values after it, which would leak the future "
            "into backtest inputs",
            "use --fill ffill or --fill drop for backtests",
        )
    # Too little data for settings the user chose is a usage error; for the defaults, a data error.
    chosen = config.lookback is not None or config.horizon is not None or step is not None or folds != 5
    config = resolve_window(config, series)
    step = step if step is not None else default_step(len(series), folds, config.test_fraction)
    minimum_history = config.lookback + 2 * config.horizon + 1
    try:
        plan = plan_folds(len(series), config.horizon, folds, step, window, minimum_history)
        # Every fold's history is checked before the first one trains for minutes.
        val_rows = {
            fold.number: validation_rows(
                fold.origin - fold.history_start, config.val_fraction, config.horizon
            )
            for fold in plan
        }
        for fold in plan if refit == "each-fold" else plan[:1]:
            history_split(
                fold.origin - fold.history_start, val_rows[fold.number], config.lookback, config.horizon
            )
    except (UsageError, DataError) as error:
        hint = error.hint if isinstance(error, UsageError) else _fold_hint(folds)
        raise (UsageError if chosen else DataError)(error.message, hint) from error
    first = plan[0]
    first_train_rows = first.origin - first.history_start - val_rows[first.number]
    check_learnable(series, first_train_rows - config.lookback - config.horizon + 1, first_train_rows)
    scored_windows = sum(len(fold.origins) for fold in plan)
    check_fits_in_memory(_run_size(series, config, scored_windows), "the backtest")
    if refit == "never" and window == "sliding":
        logger.warning("--window sliding has no effect with --refit never (one model, trained once)")

    values = series.frame.to_numpy()
    n_targets = len(series.targets)
    fold_reports: list[dict[str, Any]] = []
    parts: list[WindowForecasts] = []
    histories: list[dict[str, list[float]]] = []
    intervals = FoldIntervals(config)  # does nothing without --intervals
    fitted = None
    for fold in plan:
        history = slice(fold.history_start, fold.origin)
        if fitted is None or refit == "each-fold":
            if on_fold is not None:
                on_fold(fold.number, len(plan), f"training on rows {fold.history_start}-{fold.origin - 1}")
            # Only the rows before the origin are handed over (leakage is impossible).
            fitted = fit_on_history(
                values[history], series.columns, n_targets, val_rows[fold.number], config, on_epoch
            )
            histories.append(fitted.summary.history)
            intervals.calibrate(fitted, series, history)  # on this fold's validation windows
        windows = forecast_windows(fitted.model, fitted.scaler, series, fold.origins, config, history)
        parts.append(windows)
        scores = score_forecasts(
            windows.actual, windows.forecasts, series.targets, windows.unit_scale, windows.mase_scale
        )
        fold_reports.append(
            {
                "fold": fold.number,
                "history_start": series.index[fold.history_start].isoformat(),
                "history_rows": fold.origin - fold.history_start,
                "trained": refit == "each-fold" or fold.number == 1,
                "training": fitted.summary.to_dict(),
                **window_summary(series, fold.origins, config),
                "mase_period": windows.mase_period,
                "metrics": scores["metrics"],
                **{key: scores[key] for key in VERDICT_KEYS if key in scores},
                **intervals.score_fold(fitted, series, fold.origins, windows),
            }
        )

    together = pool_windows(parts)
    actual, forecasts = together.actual, together.forecasts
    pooled = score_forecasts(actual, forecasts, series.targets, together.unit_scale, together.mase_scale)
    starts = np.concatenate([fold.origins for fold in plan])
    report = {
        **_report_header("backtest", series, config),
        "backtest": {"folds": len(plan), "step": step, "window": window, "refit": refit},
        "split": "backtest",
        **window_summary(series, starts, config),
        "mase_period": together.mase_period,
        **pooled,
        "evaluation_notes": evaluation_notes(forecasts, actual, season_of(config, series), config.lookback),
        **intervals.report(series.targets),
        "folds": fold_reports,
    }
    if report_dir is not None:
        scored = ScoredWindows(
            series.index,
            starts,
            actual,
            forecasts,
            series.targets,
            np.concatenate([np.full(len(fold.origins), fold.number) for fold in plan]),
            together.unit_scale,
            intervals.bounds(),
        )
        write_report_dir(Path(report_dir), report, scored, histories)
    return report


def info(model: str | Path = DEFAULT_RUNS_DIR / LATEST_LINK) -> dict[str, Any]:
    """What a bundle is: data, config, versions, training and metrics (no TensorFlow needed)."""
    return describe_bundle(model)


def sketch(data: str | Path) -> dict[str, Any]:
    """What a data file holds, from its first and last bytes only (instant for any size)."""
    from rnncast.sniffing import sketch_data_file

    return sketch_data_file(data)


def load_for_bundle(bundle: Bundle, data: str | Path | None) -> SeriesData:
    """Load ``data`` (default: the bundle's training file) the way the bundle was trained.

    Raises:
        DataError: the file is gone, or its columns or frequency differ from the bundle's.
    """
    path = training_data_path(bundle.metadata, data)
    check_file_fits_in_memory(path)
    config = bundle.config
    # Indicator features are not in the file: read the others, then compute them again.
    from rnncast.indicators import add_indicators, file_features

    try:
        series = load_series(
            path,
            time_col=bundle.metadata["data"].get("time_col"),
            target=bundle.targets,
            features=file_features(bundle.features, config.indicators),
            fill=config.fill,
            frequency=bundle.frequency,
            labels={
                "time_col": "the model's time column",
                "target": "the model's target",
                "features": "the model's feature",
            },
        )
    except UsageError as exc:
        raise DataError(
            f"{path.name} does not match the model in {bundle.path}: {exc.message}", exc.hint
        ) from exc
    trained_with_offsets = pd.Timestamp(bundle.metadata["split"]["test_start"]).tz is not None
    if (series.index.tz is not None) != trained_with_offsets:
        has, lacks = ("with", "without") if trained_with_offsets else ("without", "with")
        raise DataError(
            f"{path.name} has timestamps {lacks} UTC offsets, but the model in {bundle.path} was "
            f"trained on timestamps {has} them",
            "write the timestamps the way the training data did",
        )
    series = add_indicators(series, config.indicators)
    if data is None and series.fingerprint["sha256"] != bundle.metadata["data"].get("sha256"):
        logger.warning(
            "%s has changed since the model was trained (%d rows now, %d then); using it as it is now",
            path.name,
            len(series),
            bundle.metadata["data"]["rows"],
        )
    _log_notes(series)
    # Use the bundle's column names even where the file spells them in another case.
    frame = series.frame.set_axis(list(bundle.targets + bundle.features), axis=1)
    return dataclasses.replace(series, frame=frame, targets=bundle.targets, features=bundle.features)


def resolve_window(config: TrainConfig, series: SeriesData) -> TrainConfig:
    """Fill in a missing lookback, horizon or segment from the data's frequency and length,
    and resolve ``--channels auto`` from its targets and features."""
    config = _resolve_lookback_and_horizon(config, series)
    if config.segment is None:
        assert config.lookback is not None
        season = config.seasonal_period or seasonal_period(series.frequency)
        config = config.replace(segment=default_segment(config.lookback, season))
    if config.window_norm == "season":
        config = _resolve_season(config, series)
    if config.channels == "auto":  # recorded as resolved, so info and the bundle say which
        independent = len(series.targets) > 1 and not series.features
        config = config.replace(channels="independent" if independent else "mixed")
    return config


def _resolve_season(config: TrainConfig, series: SeriesData) -> TrainConfig:
    """``--window-norm season`` adds back the window's last season: record the season the
    network is built with (``--seasonal-period``, or the frequency's).

    Raises:
        UsageError: no season (m = 1), or one longer than the lookback.
    """
    assert config.lookback is not None
    season = config.seasonal_period or seasonal_period(series.frequency)
    if not 1 < season <= config.lookback:
        raise UsageError(
            f"--window-norm season repeats the window's last season, but the season is m = {season} "
            f"with a lookback of {config.lookback}",
            "set --seasonal-period to a season that fits the lookback, or use --window-norm last",
        )
    return config.replace(seasonal_period=season)


def _resolve_lookback_and_horizon(config: TrainConfig, series: SeriesData) -> TrainConfig:
    if config.lookback is not None and config.horizon is not None:
        return config
    default_lookback, default_horizon = default_window_lengths(series.frequency)
    horizon = config.horizon or default_horizon
    lookback = config.lookback
    if lookback is None:
        lookback = fit_lookback_to_rows(
            default_lookback, horizon, len(series), config.val_fraction, config.test_fraction
        )
        if lookback < default_lookback:
            logger.warning(
                "the series is short: lookback set to %d rows (default %d)",
                lookback,
                default_lookback,
            )
    return config.replace(lookback=lookback, horizon=horizon)


def _ensure_writable_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create {str(directory)!r} ({exc.strerror})", "choose a writable --out"
        ) from exc
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{str(directory)!r} is not writable", "choose a writable --out")


def default_bundle_path(data_path: Path) -> Path:
    """``runs/<file stem>``, the stem made a safe file name (no ``..``, no separators)."""
    return DEFAULT_RUNS_DIR / safe_file_name(data_path.stem, fallback="model")


def _split_summary(split: Split, index: pd.DatetimeIndex) -> dict[str, Any]:
    val_start = split.train_rows
    test_start = split.train_rows + split.val_rows
    return {
        "train_rows": split.train_rows,
        "val_rows": split.val_rows,
        "test_rows": split.test_rows,
        "train_end": index[val_start - 1].isoformat(),
        "val_start": index[val_start].isoformat(),
        "test_start": index[test_start].isoformat(),
    }


def _versions() -> dict[str, str]:
    keras = backend.keras()
    tf = backend.tensorflow()

    return {
        "rnncast": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def _fold_hint(folds: int) -> str:
    fewer = "use fewer --folds, a smaller --step" if folds > 1 else "use a smaller --step"
    return f"{fewer}, a shorter --lookback / --horizon, or more data"


def load_training_series(path: Path, config: TrainConfig) -> SeriesData:
    """The series the config's data settings select from ``path``, its notes logged."""
    check_file_fits_in_memory(path)
    series = load_series(
        path, time_col=config.time_col, target=config.target, features=config.features, fill=config.fill
    )
    if config.indicators:  # price features from the target, appended after the user's features
        from rnncast.indicators import add_indicators

        series = add_indicators(series, config.indicators)
    # Only for training: a constant target teaches nothing, yet a flat recent stretch is fine
    # input for forecasting or evaluating a trained model.
    variation_notes = check_variation(series.frame, series.targets, series.features)
    series = dataclasses.replace(series, notes=(*series.notes, *variation_notes))
    _log_notes(series)
    return series


def _report_header(kind: str, series: SeriesData, config: TrainConfig) -> dict[str, Any]:
    """What every evaluation or backtest report opens with: what was scored, on what data."""
    return {
        "kind": kind,
        "data_path": series.fingerprint["path"],
        "series": Path(series.fingerprint["path"]).stem,
        "model_description": describe_model(config),
        "data": series.fingerprint,
        "data_notes": list(series.notes),
        "config": config.to_dict(),
    }


def _log_notes(series: SeriesData) -> None:
    for note in series.notes:
        logger.warning(note)
