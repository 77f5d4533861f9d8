"""Error metrics and naive baselines, scored on exactly the same windows as the model.

All arrays are ``windows x horizon x targets``. A window is named by the row ``t`` where its
targets start (see :mod:`rnncast.windows`); baselines only use rows before ``t``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def mse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean squared error: mean((y - ŷ)²)."""
    return float(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2))


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error: sqrt(mean((y - ŷ)²))."""
    return float(np.sqrt(mse(actual, predicted)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error: mean(|y - ŷ|)."""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(predicted))))


def point_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MSE, RMSE and MAE of one forecast."""
    return {
        "mse": mse(actual, predicted),
        "rmse": rmse(actual, predicted),
        "mae": mae(actual, predicted),
    }


def naive_forecast(values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Last value: every step of window ``t`` repeats row ``t - 1``."""
    last = np.asarray(values)[starts - 1]  # windows x targets
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive_forecast(values: np.ndarray, starts: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Same point last season: step k (1-based) of window ``t`` repeats row
    ``t - 1 + k - period * ceil(k / period)``."""
    steps = np.arange(1, horizon + 1)
    lags = steps - 1 - period * np.ceil(steps / period).astype(np.int64)  # in [-period, -1]
    rows = starts[:, None] + lags[None, :]
    return np.asarray(values)[rows]


def baseline_forecasts(
    values: np.ndarray, starts: np.ndarray, horizon: int, period: int
) -> dict[str, np.ndarray]:
    """The baselines every report shows: ``naive``, and ``seasonal_naive`` when the period
    is above one and every window has a full season of history."""
    baselines = {"naive": naive_forecast(values, starts, horizon)}
    if period > 1 and len(starts) and int(starts.min()) >= period:
        baselines["seasonal_naive"] = seasonal_naive_forecast(values, starts, horizon, period)
    return baselines


def score_forecasts(
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    targets: tuple[str, ...],
    scale: np.ndarray,
) -> dict[str, Any]:
    """Metrics of each named forecast, overall and per target, in original and scaled units.

    Args:
        actual: true values in original units.
        forecasts: name (``model``, ``naive``, ...) -> forecast in original units.
        targets: target names, in the order of the last axis.
        scale: per-target scale factors; scaled units are errors divided by them.
    """
    scaled_actual = actual / scale
    overall: dict[str, Any] = {}
    per_target: dict[str, Any] = {name: {} for name in targets}
    for name, predicted in forecasts.items():
        scaled_predicted = predicted / scale
        overall[name] = {
            "original": point_metrics(actual, predicted),
            "scaled": point_metrics(scaled_actual, scaled_predicted),
        }
        for position, target in enumerate(targets):
            per_target[target][name] = {
                "original": point_metrics(actual[..., position], predicted[..., position]),
                "scaled": point_metrics(scaled_actual[..., position], scaled_predicted[..., position]),
            }
    baselines = [name for name in forecasts if name != "model"]
    verdict: dict[str, Any] = {}
    if "model" in forecasts and baselines:
        best = min(baselines, key=lambda n: overall[n]["scaled"]["mse"])
        model_rmse = overall["model"]["scaled"]["rmse"]
        best_rmse = overall[best]["scaled"]["rmse"]
        verdict = {
            "best_baseline": best,
            "model_beats_best_baseline": model_rmse < best_rmse,
            # 1 - RMSE_model / RMSE_baseline: above 0 means the model helps.
            "skill_vs_best_baseline": (1.0 - model_rmse / best_rmse) if best_rmse > 0 else None,
        }
    return {"metrics": overall, "per_target": per_target, **verdict}
