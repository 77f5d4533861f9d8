"""Seasonal adjustment as the M4 competition defined it for its Naive2 benchmark.

A target counts as seasonal when its autocorrelation at the season ``m`` is significant at
90% (``|r_m| > 1.645 · sqrt((1 + 2 · Σ_{k<m} r_k²) / n)``, with at least three seasons of
history). A seasonal target's indices come from a classical decomposition: the centred moving
average of order ``m`` (``2 x m`` when ``m`` is even) is the trend, and each position in the
season averages the ratio of the values to that trend (multiplicative), normalised to a mean
of 1. The competition's series were all positive; a target with a zero or negative value in its
history is decomposed additively instead (differences, normalised to a mean of 0).

Naive2 repeats the last seasonally adjusted value and puts the season back: on a target that is
not seasonal it is exactly the naive forecast.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

# The one-sided 90% critical value of the competition's seasonality test.
CRITICAL_VALUE = 1.645
# Seasons of history below which no target is tested (or adjusted).
MIN_SEASONS = 3


@dataclass(frozen=True)
class SeasonalAdjustment:
    """Per-target seasonal indices, by absolute row position modulo ``period``.

    Attributes:
        period: the season m.
        indices: ``period x targets``; row ``r``'s index is ``indices[r % period]``.
        multiplicative: per target, whether the indices divide (else they are subtracted).
        seasonal: per target, whether the test found a season (else the indices are neutral).
    """

    period: int
    indices: np.ndarray
    multiplicative: np.ndarray
    seasonal: np.ndarray

    def index_of(self, rows: np.ndarray) -> np.ndarray:
        """The indices of absolute ``rows`` (any shape), with a trailing targets axis."""
        return self.indices[np.asarray(rows) % self.period]

    def naive2(self, values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
        """Naive2 forecasts (windows x horizon x targets) of the windows whose targets start at
        ``starts`` in ``values`` (rows x targets, absolute row positions)."""
        starts = np.asarray(starts, dtype=np.int64)
        last = np.asarray(values, dtype=np.float64)[starts - 1]  # windows x targets
        last_index = self.index_of(starts - 1)
        future_index = self.index_of(starts[:, None] + np.arange(horizon)[None, :])
        divide = self.multiplicative
        with np.errstate(divide="ignore", invalid="ignore"):
            adjusted = np.where(divide, last / np.where(divide, last_index, 1.0), last - last_index)
        adjusted = adjusted[:, None, :]
        return np.where(divide, adjusted * future_index, adjusted + future_index)


def seasonal_adjustment(history: np.ndarray, period: int, first_row: int = 0) -> SeasonalAdjustment:
    """Test and decompose each column of ``history`` (rows x targets, NaN where unobserved),
    whose first row is absolute row ``first_row``; ``period`` below 2 adjusts nothing."""
    history = np.asarray(history, dtype=np.float64)
    targets = history.shape[1]
    period = max(int(period), 1)
    indices = np.ones((period, targets))
    multiplicative = np.ones(targets, dtype=bool)
    seasonal = np.zeros(targets, dtype=bool)
    for column in range(targets):
        values = history[:, column]
        finite = values[np.isfinite(values)]
        multiplicative[column] = bool(len(finite)) and bool(np.all(finite > 0))
        if not multiplicative[column]:
            indices[:, column] = 0.0
        if period < 2 or not is_seasonal(values, period):
            continue
        seasonal[column] = True
        indices[:, column] = classical_indices(
            values, period, first_row, multiplicative=multiplicative[column]
        )
    return SeasonalAdjustment(period, indices, multiplicative, seasonal)


def is_seasonal(values: np.ndarray, period: int) -> bool:
    """The competition's 90% autocorrelation test at lag ``period`` (NaNs left out)."""
    values = np.asarray(values, dtype=np.float64)
    observed = int(np.isfinite(values).sum())
    if period < 2 or observed < MIN_SEASONS * period:
        return False
    correlations = np.array([autocorrelation(values, lag) for lag in range(1, period + 1)])
    if not np.all(np.isfinite(correlations)):
        return False  # a constant history has no season
    limit = CRITICAL_VALUE * np.sqrt((1.0 + 2.0 * np.sum(correlations[:-1] ** 2)) / observed)
    return bool(abs(correlations[-1]) > limit)


def autocorrelation(values: np.ndarray, lag: int) -> float:
    """Sample autocorrelation at ``lag``: the lagged products of the deviations from the mean
    over the sum of squared deviations (pairs with a NaN left out); NaN for a constant series."""
    values = np.asarray(values, dtype=np.float64)
    deviations = values - np.nanmean(values)
    total = np.nansum(deviations**2)
    if total == 0 or lag >= len(values):
        return float("nan")
    return float(np.nansum(deviations[:-lag] * deviations[lag:]) / total)


def classical_indices(
    values: np.ndarray, period: int, first_row: int = 0, *, multiplicative: bool
) -> np.ndarray:
    """Seasonal indices (``period`` of them, by absolute row modulo ``period``) of a classical
    decomposition of ``values`` (one column; NaNs bridged linearly for the trend only)."""
    values = np.asarray(values, dtype=np.float64)
    bridged = _bridge(values)
    weights = np.ones(period + 1 if period % 2 == 0 else period)
    if period % 2 == 0:
        weights[[0, -1]] = 0.5  # the 2 x m moving average centres an even season
    weights /= period
    trend = np.convolve(bridged, weights, mode="valid")
    half = len(weights) // 2
    centred = values[half : half + len(trend)]
    detrended = centred / trend if multiplicative else centred - trend
    positions = (first_row + half + np.arange(len(trend))) % period
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a position with no ratio is NaN
        averages = np.array([np.nanmean(detrended[positions == p]) for p in range(period)])
    neutral = 1.0 if multiplicative else 0.0
    averages = np.where(np.isfinite(averages), averages, neutral)
    return averages / averages.mean() if multiplicative else averages - averages.mean()


def _bridge(values: np.ndarray) -> np.ndarray:
    """``values`` with NaNs replaced by straight lines between their observed neighbours."""
    finite = np.isfinite(values)
    if finite.all() or not finite.any():
        return values
    rows = np.arange(len(values))
    return np.interp(rows, rows[finite], values[finite])
