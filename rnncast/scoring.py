"""Forecasting windows whose actuals are known, and scoring them.

The model and every baseline forecast exactly the same windows; the results feed
:func:`rnncast.evaluation.score_forecasts` and the report directory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast.config import TrainConfig
from rnncast.data import SeriesData
from rnncast.evaluation import (
    InSample,
    MetricSums,
    ScoredWindows,
    in_sample,
    notes_on_scores,
    window_parts,
    windows_with_baselines,
)
from rnncast.frequency import seasonal_period
from rnncast.intervals import Bounds, IntervalCalibration, IntervalSums, window_bounds
from rnncast.transforms import to_levels, window_changes
from rnncast.windows import Scaler, target_windows


@dataclass(frozen=True)
class WindowForecasts:
    """The model's and the baselines' forecasts of some windows, with what scoring needs."""

    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    unit_scale: np.ndarray  # windows x 1 x targets: the scaler's scale
    mase_scale: np.ndarray  # windows x 1 x targets: in-sample seasonal-naive MAE
    mase_period: int


def forecast_windows(
    model: Any,
    scaler: Scaler,
    series: SeriesData,
    starts: np.ndarray,
    config: TrainConfig,
    history: slice,
) -> WindowForecasts:
    """Forecast the windows whose targets start at ``starts`` with the model and every
    baseline; ``history`` (rows before the first start) is the in-sample data of MASE."""
    values = series.frame.to_numpy()
    predicted = np.concatenate(
        [
            predict_part(
                model, scaler, values, series.targets, starts[part], config.lookback, config.transform
            )
            for part in window_parts(len(starts), config.horizon * len(series.targets))
        ]
    )
    return with_baselines(predicted, scaler, series, starts, config, history)


def predict_part(
    model: Any,
    scaler: Scaler,
    values: np.ndarray,
    targets: tuple[str, ...],
    starts: np.ndarray,
    lookback: int,
    transform: str = "none",
) -> np.ndarray:
    """The model's forecasts (original units) of the windows whose targets start at the sorted
    ``starts`` in ``values`` (rows x the scaler's columns), scaling only the rows their inputs
    read: nothing after the last one's, so no window sees its future, and no copy of it all.
    A model trained with ``--transform`` reads the targets' changes and its forecasts are put
    back into levels from each window's last value."""
    from rnncast.forecasting import predict_windows

    first = int(starts[0]) - lookback if len(starts) else 0
    end = int(starts[-1]) if len(starts) else 0
    known = scaler.transform(window_changes(values, first, end, len(targets), transform))
    predicted = scaler.inverse(predict_windows(model, known, starts - first, lookback), targets)
    return to_levels(predicted, values[starts - 1, : len(targets)], transform)


def with_baselines(
    predicted: np.ndarray,
    scaler: Scaler,
    series: SeriesData,
    starts: np.ndarray,
    config: TrainConfig,
    history: slice,
) -> WindowForecasts:
    """The model's ``predicted`` windows (original units) beside the baselines' forecasts of
    the same windows and the actual values, ready for scoring."""
    known = in_sample_of(series, history, config)
    return _with_baselines(predicted, scaler, series, series.frame.to_numpy(), starts, config, known)


def in_sample_of(series: SeriesData, history: slice, config: TrainConfig) -> InSample:
    """The MASE scale and Naive2's seasonal adjustment of ``series``' observed ``history`` rows."""
    return in_sample(observed_targets(series, history), season_of(config, series), history.start or 0)


def observed_targets(series: SeriesData, rows: slice) -> np.ndarray:
    """The target values of ``rows`` (rows x targets), NaN where ``--fill`` made them up: they
    were never observed, so no forecast is scored against them."""
    observed = series.frame.to_numpy()[rows, : len(series.targets)].astype(np.float64)  # a copy
    if series.filled is not None and series.filled.any():
        observed[series.filled[rows]] = np.nan
    return observed


def _with_baselines(
    predicted: np.ndarray,
    scaler: Scaler,
    series: SeriesData,
    values: np.ndarray,
    starts: np.ndarray,
    config: TrainConfig,
    known: InSample,
) -> WindowForecasts:
    """:func:`with_baselines` given the series' ``values`` and what its in-sample rows fix."""
    n_targets = len(series.targets)
    target_values = values[:, :n_targets]
    actual, forecasts = windows_with_baselines(
        target_values, starts, predicted, config.lookback, season_of(config, series), known.adjustment
    )
    if series.filled is not None and series.filled.any():
        # Values --fill made up were never observed: no forecast is scored against them.
        actual = np.where(target_windows(series.filled, starts, config.horizon), np.nan, actual)
    shape = (len(starts), 1, n_targets)
    # Scaled units are the scaler's, unless it scaled changes (--transform): then the spread of
    # the in-sample levels, so scaled errors stay comparable between targets and series.
    unit_scale = scaler.scale_of(series.targets) if config.transform == "none" else known.level_scale
    return WindowForecasts(
        actual,
        forecasts,
        np.broadcast_to(unit_scale, shape),
        np.broadcast_to(known.mase_scale, shape),
        known.mase_period,
    )


def pool_windows(parts: list[WindowForecasts]) -> WindowForecasts:
    """Windows scored in several parts (folds, series) as one: the forecasts every part has,
    and each part's own scales kept per window."""
    names = [name for name in parts[0].forecasts if all(name in part.forecasts for part in parts)]
    return WindowForecasts(
        np.concatenate([part.actual for part in parts]),
        {name: np.concatenate([part.forecasts[name] for part in parts]) for name in names},
        np.concatenate([part.unit_scale for part in parts]),
        np.concatenate([part.mase_scale for part in parts]),
        parts[-1].mase_period,
    )


def score_windows(
    model: Any,
    scaler: Scaler,
    series: SeriesData,
    starts: np.ndarray,
    config: TrainConfig,
    history_end: int,
    *,
    keep_windows: bool = True,
    intervals: IntervalCalibration | None = None,
) -> tuple[dict[str, Any], ScoredWindows | None]:
    """Score the model and the baselines on the windows whose targets start at the sorted
    ``starts``; the rows before ``history_end`` (at most ``starts[0]``) are the in-sample data
    of MASE.

    The windows are forecast and scored a part at a time, so memory stays bounded however many
    there are. With ``keep_windows``, every window's forecasts are also returned (for
    forecasts.csv and plots, which need them all); without, the second item is None. With
    ``intervals``, the model's prediction intervals are put around every window and their
    coverage and width reported under ``intervals`` (mc-dropout needs ``model`` to be Keras).
    """
    period = season_of(config, series)
    known = in_sample_of(series, slice(0, history_end), config)
    values = series.frame.to_numpy()
    sums = MetricSums()
    covered = IntervalSums(intervals.method, intervals.labels) if intervals is not None else None
    kept: list[WindowForecasts] = []
    kept_bounds: list[Bounds] = []
    for part in window_parts(len(starts), config.horizon * len(series.targets)):
        predicted = predict_part(
            model, scaler, values, series.targets, starts[part], config.lookback, config.transform
        )
        windows = _with_baselines(predicted, scaler, series, values, starts[part], config, known)
        # Baselines are those of the first windows (seasonal_naive needs a season before them).
        forecasts = {name: windows.forecasts[name] for name in sums.names or windows.forecasts}
        sums.add(windows.actual, forecasts, windows.unit_scale, windows.mase_scale)
        if intervals is not None and covered is not None:
            bounds = window_bounds(
                intervals, model, scaler, values, series.targets, starts[part], config.lookback, predicted
            )
            covered.add(windows.actual, bounds, windows.unit_scale)
            if keep_windows:
                kept_bounds.append(bounds)
        if keep_windows:
            kept.append(dataclasses.replace(windows, forecasts=forecasts))
    report = {
        "split": "test",
        **window_summary(series, starts, config),
        "mase_period": known.mase_period,
        **sums.report(series.targets),
        "evaluation_notes": notes_on_scores(sums.names, sums.finite_actuals, period, config.lookback),
    }
    if intervals is not None and covered is not None:
        covered.calibration_windows = intervals.calibration_windows
        report["intervals"] = covered.report(series.targets)
    if not keep_windows:
        return report, None
    windows = pool_windows(kept)
    scored = ScoredWindows(
        series.index,
        starts,
        windows.actual,
        windows.forecasts,
        series.targets,
        np.ones(len(starts), dtype=np.int64),
        windows.unit_scale,
        pool_bounds(kept_bounds),
    )
    return report, scored


def pool_bounds(parts: list[Bounds]) -> Bounds:
    """Intervals of windows computed in several parts (or folds) as one, by level label."""
    if not parts:
        return {}
    return {
        label: (
            np.concatenate([part[label][0] for part in parts]),
            np.concatenate([part[label][1] for part in parts]),
        )
        for label in parts[0]
    }


def season_of(config: TrainConfig, series: SeriesData) -> int:
    """The season ``m`` of the seasonal-naive baseline and MASE: the user's, or by frequency."""
    return config.seasonal_period or seasonal_period(series.frequency)


def window_summary(series: SeriesData, starts: np.ndarray, config: TrainConfig) -> dict[str, Any]:
    return {
        "windows": len(starts),
        "first_target_time": series.index[int(starts[0])].isoformat(),
        "last_target_time": series.index[int(starts[-1]) + config.horizon - 1].isoformat(),
        "lookback": config.lookback,
        "horizon": config.horizon,
        "targets": list(series.targets),
        "frequency": series.frequency,
        "seasonal_period": season_of(config, series),
    }


def describe_model(config: TrainConfig) -> str:
    """A short name for the network, e.g. ``LSTM 64 units`` or ``2 x bidirectional GRU 32 units``."""
    cell = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[config.model]
    text = f"{'bidirectional ' if config.bidirectional else ''}{cell} {config.units} units"
    text = f"{config.layers} x {text}" if config.layers > 1 else text
    return f"{text}, ensemble of {config.ensemble}" if config.ensemble > 1 else text
