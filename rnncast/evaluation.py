"""Scoring forecasts: every metric, for the model and each baseline, overall, per target and
per horizon step, in original and in scaled units.

All arrays are ``windows x horizon x targets``. "Scaled" errors are divided by the scaler's
per-target scale (the units the network trained in; z-scores for the standard scaler), which
makes targets of different magnitudes comparable. MAPE, sMAPE and MASE are unit-free, so they
agree in both. Skill compares pooled RMSEs: in a backtest, where each fold has its own scaler,
its scaled value can differ a little from the original one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rnncast import metrics
from rnncast.baselines import baseline_forecasts
from rnncast.errors import QualityGateError, UsageError
from rnncast.metrics import Axis
from rnncast.windows import target_windows

METRIC_NAMES = ("mse", "rmse", "mae", "mape", "smape", "mase")
# Column headings for people, in the order reports show them.
METRIC_LABELS = (
    ("mse", "MSE"),
    ("rmse", "RMSE"),
    ("mae", "MAE"),
    ("mape", "MAPE %"),
    ("smape", "sMAPE %"),
    ("mase", "MASE"),
    ("skill", "skill"),
)
UNITS = ("original", "scaled")


@dataclass(frozen=True)
class ScoredWindows:
    """Forecasts and actuals of the scored windows, kept for forecasts.csv and plots.

    ``starts`` are the rows where each window's targets start; ``fold`` numbers the backtest
    fold of each window (all 1 for a plain evaluation); ``unit_scale`` (windows x 1 x targets)
    is the scaler's scale each window was scored with in scaled units.
    """

    index: pd.DatetimeIndex
    starts: np.ndarray
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    targets: tuple[str, ...]
    fold: np.ndarray
    unit_scale: np.ndarray

    @property
    def horizon(self) -> int:
        """Steps per window."""
        return int(self.actual.shape[1])


def score_forecasts(
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    targets: tuple[str, ...],
    unit_scale: np.ndarray,
    mase_scale: np.ndarray,
    *,
    many_series: bool = False,
) -> dict[str, Any]:
    """All metrics of each named forecast (``model`` and the baselines), in JSON-ready form.

    Args:
        actual: true values in original units.
        forecasts: name -> forecast in original units, same shape as ``actual``.
        targets: target names, in the order of the last axis.
        unit_scale: scaler scale per target, broadcastable to ``actual`` (per window in
            backtests, where every fold has its own scaler).
        mase_scale: in-sample seasonal-naive MAE in original units, broadcastable likewise.
        many_series: windows pooled from several series, each with its own scale: the
            verdict is then judged in scaled units, as for several targets.

    Returns:
        ``metrics`` (overall), ``per_target``, ``per_step``: ``{name: {"original": {...},
        "scaled": {...}}}`` (per target nested under the target's name; per step, lists
        indexed by step - 1), each including ``skill`` against the best baseline (per target:
        that target's best, named in ``per_target_best_baseline``); plus the
        verdict keys ``best_baseline`` (lowest MSE), ``model_beats_best_baseline``,
        ``skill_vs_best_baseline`` and ``verdict_units`` (``original`` for one target, else
        ``scaled``), ``mape_skipped_zero_actuals`` and ``unobserved_actuals_skipped`` (NaN
        actuals: values the data never had, left out of every metric).
    """
    unit_scale = np.asarray(unit_scale, dtype=np.float64)
    views = {
        "original": (actual, forecasts, mase_scale),
        "scaled": (
            actual / unit_scale,
            {name: predicted / unit_scale for name, predicted in forecasts.items()},
            np.asarray(mase_scale) / unit_scale,
        ),
    }
    levels: dict[str, Axis] = {"overall": None, "per_target": (0, 1), "per_step": (0, 2)}
    # values[level][name][units][metric] -> number or array
    values: dict[str, dict[str, dict[str, dict[str, Any]]]] = {level: {} for level in levels}
    for units, (y, predicted_by_name, mase_denominator) in views.items():
        for name, predicted in predicted_by_name.items():
            for level, axis in levels.items():
                values[level].setdefault(name, {})[units] = _metric_values(
                    y, predicted, mase_denominator, axis
                )

    # The verdict compares RMSE in the data's units for one target; across several targets
    # only scaled errors add up meaningfully.
    verdict_units = "original" if len(targets) == 1 and not many_series else "scaled"
    baselines = [name for name in forecasts if name != "model"]
    best = min(baselines, key=lambda n: values["overall"][n][verdict_units]["mse"]) if baselines else None
    # Skill is against the overall best baseline, except per target, where each target is
    # compared with its own best baseline (the one a user would pick for that column).
    target_best = _best_per_target(values["per_target"], baselines)
    for level in levels:
        for units in UNITS:
            if not best:
                reference: Any = np.nan
            elif level == "per_target":
                rmse_by_baseline = np.stack([values[level][b][units]["rmse"] for b in baselines])
                reference = rmse_by_baseline[target_best, np.arange(len(targets))]
            else:
                reference = values[level][best][units]["rmse"]
            for name in forecasts:
                entry = values[level][name][units]
                entry["skill"] = metrics.skill(entry["rmse"], reference)

    report: dict[str, Any] = {
        "metrics": _clean(values["overall"]),
        "per_target": {
            target: {
                name: {units: _pick(values["per_target"][name][units], position) for units in UNITS}
                for name in forecasts
            }
            for position, target in enumerate(targets)
        },
        "per_step": _clean(values["per_step"]),
        "mape_skipped_zero_actuals": metrics.zero_actuals(actual),
        "unobserved_actuals_skipped": int(np.isnan(actual).sum()),
    }
    if baselines:
        report["per_target_best_baseline"] = {
            target: baselines[target_best[position]] for position, target in enumerate(targets)
        }
    if best is not None and "model" in forecasts:
        overall = values["overall"]
        report["best_baseline"] = best
        report["model_beats_best_baseline"] = bool(
            overall["model"][verdict_units]["rmse"] < overall[best][verdict_units]["rmse"]
        )
        report["skill_vs_best_baseline"] = _number(overall["model"][verdict_units]["skill"])
        report["verdict_units"] = verdict_units
    return report


def _best_per_target(per_target: dict[str, Any], baselines: list[str]) -> np.ndarray:
    """Index into ``baselines`` of each target's lowest-MSE baseline."""
    if not baselines:
        return np.zeros(0, dtype=np.int64)
    mse = np.stack([np.asarray(per_target[b]["original"]["mse"], dtype=np.float64) for b in baselines])
    return np.argmin(np.where(np.isnan(mse), np.inf, mse), axis=0)


def _metric_values(
    actual: np.ndarray, predicted: np.ndarray, mase_scale: np.ndarray, axis: Axis
) -> dict[str, Any]:
    return {
        "mse": metrics.mse(actual, predicted, axis),
        "rmse": metrics.rmse(actual, predicted, axis),
        "mae": metrics.mae(actual, predicted, axis),
        "mape": metrics.mape(actual, predicted, axis),
        "smape": metrics.smape(actual, predicted, axis),
        "mase": metrics.mase(actual, predicted, np.broadcast_to(mase_scale, np.shape(actual)), axis),
    }


def _pick(entry: dict[str, Any], position: int) -> dict[str, Any]:
    return {metric: _number(np.asarray(value)[position]) for metric, value in entry.items()}


def _clean(value: Any) -> Any:
    """numpy numbers and arrays to JSON-ready floats and lists, NaN to None."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    array = np.asarray(value)
    if array.ndim == 0:
        return _number(array)
    return [_number(item) for item in array]


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def windows_with_baselines(
    target_values: np.ndarray,
    starts: np.ndarray,
    predicted: np.ndarray,
    lookback: int,
    period: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The actual target windows and every forecast of them: ``model`` first, then the
    baselines, all on exactly the windows starting at ``starts``."""
    horizon = predicted.shape[1]
    actual = np.asarray(target_windows(target_values, starts, horizon), dtype=np.float64)
    return actual, {
        "model": predicted,
        **baseline_forecasts(target_values, starts, horizon, lookback, period),
    }


MIN_RELIABLE_POINTS = 30


def evaluation_notes(
    forecasts: dict[str, np.ndarray], actual: np.ndarray, period: int, lookback: int
) -> list[str]:
    """Plain sentences on what the numbers cannot show: baselines left out, too few points."""
    notes = []
    if "seasonal_naive" not in forecasts:
        reason = (
            "the data's frequency has no season (m = 1); set --seasonal-period if it has one"
            if period <= 1
            else f"the first window has fewer than m = {period} rows before it"
        )
        notes.append(f"seasonal_naive is left out: {reason}.")
    if "drift" not in forecasts:
        notes.append(f"drift is left out: a lookback of {lookback} row has no slope.")
    scored = int(np.isfinite(actual).sum())
    if scored < MIN_RELIABLE_POINTS:
        notes.append(
            f"only {scored} actual values were scored: differences between forecasters may be chance."
        )
    return notes


def mase_denominator(history: np.ndarray, period: int) -> tuple[np.ndarray, int]:
    """The MASE scale per target from the in-sample ``history`` (rows x targets) and the
    period it used: ``period``, or 1 (plain naive) when the history is not longer than a season."""
    used = period if len(history) > period else 1
    return metrics.seasonal_naive_mae(history, used), used


def check_required_skill(required: float | None) -> None:
    """Refuse a ``--require-skill`` that can never be compared (NaN or infinite).

    Raises:
        UsageError: not a finite number.
    """
    if required is not None and not math.isfinite(required):
        raise UsageError(f"--require-skill must be a finite number, got {required}", "use e.g. 0 or 0.05")


def check_skill(report: dict[str, Any], required: float) -> None:
    """The quality gate: refuse a model whose skill against the best baseline does not exceed
    ``required`` (0: the model must beat every baseline; a tie is not a win).

    Raises:
        QualityGateError: the skill is not higher, or undefined (the best baseline is perfect).
    """
    skill = report.get("skill_vs_best_baseline")
    best = report.get("best_baseline", "the best baseline")
    if skill is None:
        raise QualityGateError(
            f"quality gate failed: the model's skill against {best} is undefined (its RMSE is 0)",
            "check the data; a perfect baseline leaves nothing to learn",
        )
    if skill <= required:
        raise QualityGateError(
            f"quality gate failed: the model's skill against {best} is {skill:+.4f}, "
            f"not above the required {required:+.4f}",
            "use the baseline, or retrain with other settings before relying on this model",
        )
