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
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rnncast import metrics
from rnncast.baselines import baseline_forecasts
from rnncast.errors import QualityGateError, UsageError
from rnncast.metrics import Axis
from rnncast.seasonality import SeasonalAdjustment, seasonal_adjustment
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
    ("owa", "OWA"),
)
# The reference of OWA: the M4 competition's seasonally adjusted naive, or the plain naive
# forecast (which Naive2 is on data without a season) when there is no Naive2.
OWA_REFERENCES = ("naive2", "naive")
UNITS = ("original", "scaled")
# The report keys that say whether the model beat the best baseline (per fold, too).
VERDICT_KEYS = ("best_baseline", "model_beats_best_baseline", "skill_vs_best_baseline", "verdict_units")


@dataclass(frozen=True)
class ScoredWindows:
    """Forecasts and actuals of the scored windows, kept for forecasts.csv and plots.

    ``starts`` are the rows where each window's targets start; ``fold`` numbers the backtest
    fold of each window (all 1 for a plain evaluation); ``unit_scale`` (windows x 1 x targets)
    is the scaler's scale each window was scored with in scaled units; ``bounds`` are the
    model's prediction intervals by level label (lower, upper), empty without intervals.
    """

    index: pd.DatetimeIndex
    starts: np.ndarray
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]
    targets: tuple[str, ...]
    fold: np.ndarray
    unit_scale: np.ndarray
    bounds: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

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
    sums = MetricSums()
    windows = len(actual)
    for part in window_parts(windows, int(np.prod(np.shape(actual)[1:]))):
        sums.add(
            actual[part],
            {name: predicted[part] for name, predicted in forecasts.items()},
            _windows_of(unit_scale, part, windows),
            _windows_of(mase_scale, part, windows),
        )
    return sums.report(targets, many_series=many_series)


# Points (windows x horizon x targets) scored at a time: bounds scoring's temporary arrays
# (16 MiB each) however many windows there are.
SCORED_POINTS = 1 << 21
# Windows per part are a multiple of this (the batch size of predictions, so batches are the
# same whether or not the windows are split).
WINDOW_QUANTUM = 256
LEVELS: dict[str, Axis] = {"overall": None, "per_target": (0, 1), "per_step": (0, 2)}
# What each metric averages over the points; RMSE is the root of MSE, MAPE is in percent.
_POINT_ERRORS = {
    "mse": lambda actual, predicted, scale: metrics.squared_errors(actual, predicted),
    "mae": lambda actual, predicted, scale: metrics.absolute_errors(actual, predicted),
    "mape": lambda actual, predicted, scale: metrics.relative_errors(actual, predicted),
    "smape": lambda actual, predicted, scale: metrics.symmetric_percentage_errors(actual, predicted),
    "mase": lambda actual, predicted, scale: metrics.scaled_errors(
        actual, predicted, np.broadcast_to(scale, np.shape(actual))
    ),
}


def window_parts(windows: int, points_per_window: int) -> list[slice]:
    """Consecutive slices of ``windows`` windows of about :data:`SCORED_POINTS` points each."""
    size = max(SCORED_POINTS // max(points_per_window, 1) // WINDOW_QUANTUM, 1) * WINDOW_QUANTUM
    return [slice(first, min(first + size, windows)) for first in range(0, windows, size)] or [slice(0, 0)]


def _windows_of(values: np.ndarray, part: slice, windows: int) -> np.ndarray:
    """The ``part`` of per-window ``values`` (windows x 1 x targets); values shared by every
    window (broadcastable without a windows axis) as they are."""
    values = np.asarray(values)
    return values[part] if values.ndim == 3 and values.shape[0] == windows else values


class MetricSums:
    """Every metric of every forecast, accumulated over windows given part by part: the sums
    and counts of the point errors ``numpy.nanmean`` would divide, so the means come out as if
    all windows had been scored at once (exactly so when there is one part)."""

    def __init__(self) -> None:
        # (level, name, units, metric) -> (sum of the point errors that are not NaN, their count)
        self._sums: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self.names: list[str] = []
        self.zero_actuals = 0
        self.unobserved_actuals = 0
        self.finite_actuals = 0

    def add(
        self,
        actual: np.ndarray,
        forecasts: dict[str, np.ndarray],
        unit_scale: np.ndarray,
        mase_scale: np.ndarray,
    ) -> None:
        """Add some windows (arguments as :func:`score_forecasts` takes them)."""
        unit_scale = np.asarray(unit_scale, dtype=np.float64)
        self.names = self.names or list(forecasts)
        for units in UNITS:
            if units == "original":
                y, scale = actual, mase_scale
            else:
                y, scale = actual / unit_scale, np.asarray(mase_scale) / unit_scale
            for name in self.names:
                predicted = forecasts[name] if units == "original" else forecasts[name] / unit_scale
                for metric, point_errors in _POINT_ERRORS.items():
                    errors = point_errors(y, predicted, scale)
                    for level, axis in LEVELS.items():
                        self._add((level, name, units, metric), *_nan_sum_and_count(errors, axis))
        self.zero_actuals += metrics.zero_actuals(actual)
        self.unobserved_actuals += int(np.isnan(actual).sum())
        self.finite_actuals += int(np.isfinite(actual).sum())

    def _add(self, key: tuple[str, str, str, str], total: Any, count: Any) -> None:
        if key in self._sums:
            old_total, old_count = self._sums[key]
            total, count = old_total + total, old_count + count
        self._sums[key] = (total, count)

    def values(self) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """``values[level][name][units][metric]``: each metric's mean (as ``numpy.nanmean``
        gives it: NaN where nothing was scored), RMSE the root of MSE, MAPE in percent."""
        values: dict[str, dict[str, dict[str, dict[str, Any]]]] = {level: {} for level in LEVELS}
        for (level, name, units, metric), (total, count) in self._sums.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.divide(total, count)
            entry = values[level].setdefault(name, {}).setdefault(units, {})
            entry[metric] = 100.0 * mean if metric == "mape" else mean
            if metric == "mse":
                entry["rmse"] = np.sqrt(mean)
        return {
            level: {
                name: {units: _in_order(entry) for units, entry in by_units.items()}
                for name, by_units in by_name.items()
            }
            for level, by_name in values.items()
        }

    def report(self, targets: tuple[str, ...], *, many_series: bool = False) -> dict[str, Any]:
        """The scores of every window added, as :func:`score_forecasts` returns them."""
        values = self.values()
        forecasts = self.names
        # The verdict compares RMSE in the data's units for one target; across several targets
        # only scaled errors add up meaningfully.
        verdict_units = "original" if len(targets) == 1 and not many_series else "scaled"
        baselines = [name for name in forecasts if name != "model"]
        best = min(baselines, key=lambda n: values["overall"][n][verdict_units]["mse"]) if baselines else None
        # Skill is against the overall best baseline, except per target, where each target is
        # compared with its own best baseline (the one a user would pick for that column).
        target_best = _best_per_target(values["per_target"], baselines)
        for level in LEVELS:
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
        _add_owa(values, forecasts)

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
            "mape_skipped_zero_actuals": self.zero_actuals,
            "unobserved_actuals_skipped": self.unobserved_actuals,
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


def _add_owa(values: dict[str, Any], forecasts: list[str]) -> None:
    """Each forecast's OWA at every level and in both units (sMAPE and MASE are unit-free):
    the mean of its sMAPE and MASE relative to the reference's (:data:`OWA_REFERENCES`)."""
    reference = next((name for name in OWA_REFERENCES if name in forecasts), None)
    if reference is None:
        return
    for level in LEVELS:
        for units in UNITS:
            base = values[level][reference][units]
            for name in forecasts:
                entry = values[level][name][units]
                entry["owa"] = metrics.owa(entry["smape"], entry["mase"], base["smape"], base["mase"])


def _nan_sum_and_count(values: np.ndarray, axis: Axis) -> tuple[Any, Any]:
    """The sum of the values that are not NaN along ``axis`` and their count, computed as
    ``numpy.nanmean`` computes them (so one part's mean is bit for bit nanmean's)."""
    mask = np.isnan(values)
    filled = np.array(values, subok=True, copy=True)
    np.copyto(filled, 0, where=mask)
    return np.sum(filled, axis=axis), np.sum(~mask, axis=axis, dtype=np.intp)


def _in_order(entry: dict[str, Any]) -> dict[str, Any]:
    """A metric entry in :data:`METRIC_NAMES` order."""
    return {metric: entry[metric] for metric in METRIC_NAMES if metric in entry}


def _best_per_target(per_target: dict[str, Any], baselines: list[str]) -> np.ndarray:
    """Index into ``baselines`` of each target's lowest-MSE baseline."""
    if not baselines:
        return np.zeros(0, dtype=np.int64)
    mse = np.stack([np.asarray(per_target[b]["original"]["mse"], dtype=np.float64) for b in baselines])
    return np.argmin(np.where(np.isnan(mse), np.inf, mse), axis=0)


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
    adjustment: SeasonalAdjustment | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The actual target windows and every forecast of them: ``model`` first, then the
    baselines, all on exactly the windows starting at ``starts``."""
    horizon = predicted.shape[1]
    actual = np.asarray(target_windows(target_values, starts, horizon), dtype=np.float64)
    return actual, {
        "model": predicted,
        **baseline_forecasts(target_values, starts, horizon, lookback, period, adjustment),
    }


MIN_RELIABLE_POINTS = 30


def evaluation_notes(
    forecasts: dict[str, np.ndarray], actual: np.ndarray, period: int, lookback: int
) -> list[str]:
    """Plain sentences on what the numbers cannot show: baselines left out, too few points."""
    return notes_on_scores(list(forecasts), int(np.isfinite(actual).sum()), period, lookback)


def notes_on_scores(names: list[str], scored: int, period: int, lookback: int) -> list[str]:
    """:func:`evaluation_notes` from the forecasts' ``names`` and the number of actual values
    ``scored``."""
    notes = []
    if "seasonal_naive" not in names:
        reason = (
            "the data's frequency has no season (m = 1); set --seasonal-period if it has one"
            if period <= 1
            else f"the first window has fewer than m = {period} rows before it"
        )
        notes.append(f"seasonal_naive is left out: {reason}.")
    if "drift" not in names:
        notes.append(f"drift is left out: a lookback of {lookback} row has no slope.")
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


@dataclass(frozen=True)
class InSample:
    """What the in-sample rows fix for scoring: the MASE scale (per target) and the period it
    used, and the seasonal adjustment of the ``naive2`` baseline."""

    mase_scale: np.ndarray
    mase_period: int
    adjustment: SeasonalAdjustment
    level_scale: np.ndarray  # per target: the standard deviation of its in-sample values


def in_sample(history: np.ndarray, period: int, first_row: int = 0) -> InSample:
    """:class:`InSample` of ``history`` (rows x targets, NaN where unobserved), whose first row
    is absolute row ``first_row`` of the series (the season's phase)."""
    scale, used = mase_denominator(history, period)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no observed value: NaN, as elsewhere
        spread = np.nanstd(np.asarray(history, dtype=np.float64), axis=0)
    level_scale = np.where(spread > 0, spread, 1.0)
    return InSample(scale, used, seasonal_adjustment(history, period, first_row), level_scale)


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
