"""Forecasting windows whose actuals are known, and scoring them.

The model and every baseline forecast exactly the same windows; the results feed
:func:`rnncast.evaluation.score_forecasts` and the report directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnncast.config import TrainConfig
from rnncast.data import SeriesData
from rnncast.evaluation import (
    ScoredWindows,
    evaluation_notes,
    mase_denominator,
    score_forecasts,
    windows_with_baselines,
)
from rnncast.frequency import seasonal_period
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
    from rnncast.forecasting import predict_windows

    values = series.frame.to_numpy()
    # Inputs of the last window end the row before it starts: nothing later is even scaled.
    known = scaler.transform(values[: int(starts[-1])])
    predicted = scaler.inverse(predict_windows(model, known, starts, config.lookback), series.targets)
    return with_baselines(predicted, scaler, series, starts, config, history)


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
    n_targets = len(series.targets)
    values = series.frame.to_numpy()
    period = season_of(config, series)
    target_values = values[:, :n_targets]
    actual, forecasts = windows_with_baselines(target_values, starts, predicted, config.lookback, period)
    observed = target_values.copy()
    if series.filled is not None and series.filled.any():
        # Values --fill made up were never observed: no forecast is scored against them.
        observed[series.filled] = np.nan
        actual = np.where(target_windows(series.filled, starts, config.horizon), np.nan, actual)
    mase_scale, mase_period = mase_denominator(observed[history], period)
    shape = (len(starts), 1, n_targets)
    return WindowForecasts(
        actual,
        forecasts,
        np.broadcast_to(scaler.scale_of(series.targets), shape),
        np.broadcast_to(mase_scale, shape),
        mase_period,
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
) -> tuple[dict[str, Any], ScoredWindows]:
    """Score the model and the baselines on the windows whose targets start at ``starts``;
    the rows before ``history_end`` (at most ``starts[0]``) are the in-sample data of MASE."""
    windows = forecast_windows(model, scaler, series, starts, config, slice(0, history_end))
    scores = score_forecasts(
        windows.actual, windows.forecasts, series.targets, windows.unit_scale, windows.mase_scale
    )
    report = {
        "split": "test",
        **window_summary(series, starts, config),
        "mase_period": windows.mase_period,
        **scores,
        "evaluation_notes": evaluation_notes(
            windows.forecasts, windows.actual, season_of(config, series), config.lookback
        ),
    }
    scored = ScoredWindows(
        series.index,
        starts,
        windows.actual,
        windows.forecasts,
        series.targets,
        np.ones(len(starts), dtype=np.int64),
        windows.unit_scale,
    )
    return report, scored


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
    return f"{config.layers} x {text}" if config.layers > 1 else text
