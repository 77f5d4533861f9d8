"""Forecast error metrics in plain numpy.

Every function takes ``actual`` and ``predicted`` of the same shape and an optional ``axis``
(``None``: one number over everything; a tuple: one number per remaining position, e.g.
``axis=(0, 1)`` on ``windows x horizon x targets`` gives one value per target). NaN actuals
(values that were never observed) are left out of every mean. Undefined values (no usable
actuals, a zero denominator) come back as NaN; reports write them as null.
"""

from __future__ import annotations

import warnings

import numpy as np

Axis = int | tuple[int, ...] | None


def mse(actual: np.ndarray, predicted: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Mean squared error: ``mean((y - ŷ)²)``."""
    return _nanmean(squared_errors(actual, predicted), axis)


def squared_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``(y - ŷ)²`` per point: what :func:`mse` averages."""
    return (np.asarray(actual) - np.asarray(predicted)) ** 2


def rmse(actual: np.ndarray, predicted: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Root mean squared error: ``sqrt(mean((y - ŷ)²))``."""
    return np.sqrt(mse(actual, predicted, axis))


def mae(actual: np.ndarray, predicted: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Mean absolute error: ``mean(|y - ŷ|)``."""
    return _nanmean(absolute_errors(actual, predicted), axis)


def absolute_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``|y - ŷ|`` per point: what :func:`mae` averages."""
    return np.abs(np.asarray(actual) - np.asarray(predicted))


def mape(actual: np.ndarray, predicted: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Mean absolute percentage error: ``100 · mean(|y - ŷ| / |y|)`` over the points with
    ``y != 0`` (a zero actual has no percentage error; :func:`zero_actuals` counts them)."""
    return 100.0 * _nanmean(relative_errors(actual, predicted), axis)


def relative_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``|y - ŷ| / |y|`` per point, NaN where ``y`` is 0: what :func:`mape` averages (x 100)."""
    actual = np.asarray(actual, dtype=np.float64)
    usable = actual != 0
    ratios = np.abs(actual - predicted) / np.where(usable, np.abs(actual), 1.0)
    return np.where(usable, ratios, np.nan)


def zero_actuals(actual: np.ndarray) -> int:
    """How many actual values are exactly zero (skipped by :func:`mape`)."""
    return int(np.count_nonzero(np.asarray(actual) == 0))


def smape(actual: np.ndarray, predicted: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Symmetric MAPE as in the M4 competition: ``mean(200 · |y - ŷ| / (|y| + |ŷ|))``.

    A point where both ``y`` and ``ŷ`` are zero is a perfect forecast and counts as 0.
    """
    return _nanmean(symmetric_percentage_errors(actual, predicted), axis)


def symmetric_percentage_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``200 · |y - ŷ| / (|y| + |ŷ|)`` per point (0 where both are 0): what :func:`smape` averages."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    denominator = np.abs(actual) + np.abs(predicted)
    return 200.0 * np.abs(actual - predicted) / np.where(denominator > 0, denominator, 1.0)


def seasonal_naive_mae(history: np.ndarray, period: int) -> np.ndarray:
    """In-sample MAE of the seasonal-naive forecast, per column of ``history`` (rows x columns):
    ``mean(|y_t - y_(t-m)|)`` over ``t = m .. n-1``. The MASE denominator."""
    history = np.asarray(history, dtype=np.float64)
    if period < 1 or len(history) <= period:
        return np.full(history.shape[1:], np.nan)
    return _nanmean(np.abs(history[period:] - history[:-period]), 0)


def mase(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray, axis: Axis = None) -> np.ndarray:
    """Mean absolute scaled error: ``mean(|y - ŷ| / s)``, where ``s`` is the in-sample
    seasonal-naive MAE (:func:`seasonal_naive_mae`), broadcast against ``actual``.

    Below 1: better than the seasonal-naive forecast was in sample. A zero or NaN ``s``
    (a constant history) makes the affected values NaN.
    """
    return _nanmean(scaled_errors(actual, predicted, scale), axis)


def scaled_errors(actual: np.ndarray, predicted: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``|y - ŷ| / s`` per point, NaN where ``s`` is not a positive number: what :func:`mase`
    averages."""
    scale = np.asarray(scale, dtype=np.float64)
    usable = np.isfinite(scale) & (scale > 0)
    return np.abs(np.asarray(actual) - np.asarray(predicted)) / np.where(usable, scale, np.nan)


def skill(model_rmse: np.ndarray | float, baseline_rmse: np.ndarray | float) -> np.ndarray:
    """Skill score ``1 - RMSE_model / RMSE_baseline``: above 0 the model helps, 0 it ties,
    below 0 the baseline is better. NaN where the baseline's RMSE is 0."""
    model_rmse = np.asarray(model_rmse, dtype=np.float64)
    baseline_rmse = np.asarray(baseline_rmse, dtype=np.float64)
    usable = baseline_rmse > 0
    return np.where(usable, 1.0 - model_rmse / np.where(usable, baseline_rmse, 1.0), np.nan)


def owa(
    smape_value: np.ndarray | float,
    mase_value: np.ndarray | float,
    reference_smape: np.ndarray | float,
    reference_mase: np.ndarray | float,
) -> np.ndarray:
    """Overall weighted average as the M4 competition defined it: the mean of sMAPE and MASE
    each relative to a reference's (Naive2 there): ``(sMAPE / sMAPE_ref + MASE / MASE_ref) / 2``.
    Below 1: better than the reference. NaN where a reference value is 0 or undefined."""
    ratios = []
    for value, reference in ((smape_value, reference_smape), (mase_value, reference_mase)):
        value = np.asarray(value, dtype=np.float64)
        reference = np.asarray(reference, dtype=np.float64)
        usable = np.isfinite(reference) & (reference > 0)
        ratios.append(np.where(usable, value / np.where(usable, reference, 1.0), np.nan))
    return 0.5 * (ratios[0] + ratios[1])


def _nanmean(values: np.ndarray, axis: Axis) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are reported as NaN
        return np.nanmean(values, axis=axis)
