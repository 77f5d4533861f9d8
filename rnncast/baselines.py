"""Naive forecasts every model must beat, computed on exactly the model's windows.

Arrays are ``rows x targets`` (``values``) and ``windows x horizon x targets`` (forecasts). A
window is named by the row ``t`` where its targets start; a baseline reads only rows before
``t``, and ``naive``, ``drift`` and ``mean`` read only the model's own lookback window
``[t - lookback, t)``.
"""

from __future__ import annotations

import numpy as np

from rnncast.seasonality import SeasonalAdjustment


def naive_forecast(values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Last value: every step of window ``t`` repeats row ``t - 1``."""
    last = np.asarray(values)[starts - 1]  # windows x targets
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive_forecast(values: np.ndarray, starts: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Same point last season: step ``k`` (1-based) of window ``t`` repeats row
    ``t - 1 + k - m · ceil(k / m)`` for period ``m``."""
    steps = np.arange(1, horizon + 1)
    lags = steps - 1 - period * np.ceil(steps / period).astype(np.int64)  # in [-m, -1]
    rows = starts[:, None] + lags[None, :]
    return np.asarray(values)[rows]


def drift_forecast(values: np.ndarray, starts: np.ndarray, horizon: int, lookback: int) -> np.ndarray:
    """The line through the first and last value of the lookback window, extended:
    ``y_(t-1) + k · (y_(t-1) - y_(t-L)) / (L - 1)`` at step ``k``."""
    values = np.asarray(values)
    last = values[starts - 1]
    slope = (last - values[starts - lookback]) / (lookback - 1)
    steps = np.arange(1, horizon + 1, dtype=np.float64)
    return last[:, None, :] + steps[None, :, None] * slope[:, None, :]


def mean_forecast(values: np.ndarray, starts: np.ndarray, horizon: int, lookback: int) -> np.ndarray:
    """Mean of the lookback window, repeated over the horizon."""
    # Running sums up to the last window's inputs only: each is the same whatever rows follow.
    used = values[: int(starts.max())] if len(starts) else values[:0]
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(used, axis=0)])
    means = (cumulative[starts] - cumulative[starts - lookback]) / lookback
    return np.repeat(means[:, None, :], horizon, axis=1)


def baseline_forecasts(
    values: np.ndarray,
    starts: np.ndarray,
    horizon: int,
    lookback: int,
    period: int,
    adjustment: SeasonalAdjustment | None = None,
) -> dict[str, np.ndarray]:
    """Every baseline that is defined for these windows, by name: ``naive``,
    ``seasonal_naive`` (period above 1 and a full season before every window), ``naive2``
    (the M4 competition's seasonally adjusted naive, given the ``adjustment`` of a season above
    1 fitted on the in-sample rows), ``drift`` (lookback of at least 2) and ``mean``."""
    values = np.asarray(values, dtype=np.float64)
    starts = np.asarray(starts, dtype=np.int64)
    baselines = {"naive": naive_forecast(values, starts, horizon)}
    if period > 1 and len(starts) and int(starts.min()) >= period:
        baselines["seasonal_naive"] = seasonal_naive_forecast(values, starts, horizon, period)
    if adjustment is not None and adjustment.period > 1:
        baselines["naive2"] = adjustment.naive2(values, starts, horizon)
    if lookback >= 2:
        baselines["drift"] = drift_forecast(values, starts, horizon, lookback)
    baselines["mean"] = mean_forecast(values, starts, horizon, lookback)
    return baselines
