"""Prediction intervals around the point forecast, calibrated on the validation windows of the
training run (never on the test split, which stays held out for judging them).

Two methods (``--interval-method``):

``conformal`` (default)
    Split conformal prediction with a locally normalised score, per horizon step and target.
    A window's scale ``s(x)`` is the mean absolute one-step change of the target over its input
    window, in the data's units, floored at :data:`FLOOR_FRACTION` of the mean absolute
    one-step change over the training rows (so a flat window still gets a positive width). The
    score of a validation forecast is ``|actual - forecast| / s(x)``; the level's quantile ``q``
    is the ``ceil((n + 1) * level)``-th smallest of the ``n`` scores (the finite-sample
    correction; where that exceeds ``n`` the largest score is used and the level is listed in
    ``capped_levels``). The interval is ``forecast ± q[step, target] * s(x)``: it widens and
    narrows with the level and volatility of each window, which a price that trends over years
    needs. Forecasting with it needs only the input window, so the NumPy forecaster serves it
    without TensorFlow.

``mc-dropout``
    Monte Carlo dropout with an added noise term (Zhu & Laptev 2017): the Keras network runs
    :data:`MC_SAMPLES` times with dropout active (seeded, so the same data give the same
    intervals) for a mean and a variance per step; the inherent noise variance per step and
    target is the mean squared residual of the deterministic network on the validation windows.
    The interval is ``mean ± z(level) * sqrt(var_mc + var_noise)``, widened where needed to
    contain the point forecast, which stays the deterministic network's output.

The calibration is stored in the bundle's metadata as ``metadata["intervals"]``::

    {"method": "conformal" | "mc-dropout",
     "levels": [80.0, 95.0],                    # as config.intervals
     "calibration_windows": 120,                # validation windows calibrated on
     # conformal only:
     "score": "abs_error_over_mean_abs_change",
     "scale_floor": [0.05],                     # per target, data units
     "quantiles": {"80": [[1.3], [1.9]], ...},  # per level label: horizon x targets
     "capped_levels": [],                       # labels whose rank exceeded n
     # mc-dropout only:
     "noise_variance": [[0.8], [1.4]],          # horizon x targets, data units squared
     "samples": 100, "seed": 42}

Validation windows were also used for early stopping, so the calibration is a little optimistic
where the network overfits them; coverage measured on the test split (report.json) shows it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast.config import INTERVAL_METHODS, TrainConfig, level_label
from rnncast.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from rnncast.data import SeriesData
    from rnncast.fitting import FittedModel
    from rnncast.scoring import WindowForecasts
    from rnncast.windows import Scaler, Split

logger = logging.getLogger("rnncast")

MC_SAMPLES = 100  # dropout passes per forecast: the spread's estimate settles well before
MC_CALL_WINDOWS = 8192  # windows x samples per dropout pass: bounds memory for any number of windows
FLOOR_FRACTION = 0.1  # of the typical one-step change: the smallest scale s(x) a window gets
SCORE = "abs_error_over_mean_abs_change"
MAX_SAMPLES = 10_000  # a hand-edited sample count beyond this is refused, not run for hours

# level label -> (lower, upper), each shaped like the forecasts (windows x horizon x targets)
Bounds = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class IntervalCalibration:
    """What a bundle needs to put intervals around any forecast (see the module docstring)."""

    method: str
    levels: tuple[float, ...]
    calibration_windows: int
    quantiles: dict[str, np.ndarray] = field(default_factory=dict)  # conformal: horizon x targets
    scale_floor: np.ndarray | None = None  # conformal: per target
    capped_levels: tuple[str, ...] = ()
    noise_variance: np.ndarray | None = None  # mc-dropout: horizon x targets
    samples: int = MC_SAMPLES
    seed: int = 0

    @property
    def labels(self) -> list[str]:
        """The levels as column names spell them (``80.0`` -> ``"80"``)."""
        return [level_label(level) for level in self.levels]

    def to_metadata(self) -> dict[str, Any]:
        """The JSON-ready ``metadata["intervals"]`` entry."""
        out: dict[str, Any] = {
            "method": self.method,
            "levels": list(self.levels),
            "calibration_windows": self.calibration_windows,
        }
        if self.method == "conformal":
            assert self.scale_floor is not None
            out["score"] = SCORE
            out["scale_floor"] = [float(v) for v in self.scale_floor]
            out["quantiles"] = {label: q.tolist() for label, q in self.quantiles.items()}
            out["capped_levels"] = list(self.capped_levels)
        else:
            assert self.noise_variance is not None
            out["noise_variance"] = self.noise_variance.tolist()
            out["samples"] = self.samples
            out["seed"] = self.seed
        return out

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> IntervalCalibration:
        """Rebuild from :meth:`to_metadata` output (checked by :func:`calibration_problem`)."""
        levels = tuple(float(level) for level in data["levels"])
        if data["method"] == "conformal":
            return cls(
                "conformal",
                levels,
                int(data["calibration_windows"]),
                quantiles={
                    level_label(level): np.asarray(data["quantiles"][level_label(level)], dtype=np.float64)
                    for level in levels
                },
                scale_floor=np.asarray(data["scale_floor"], dtype=np.float64),
                capped_levels=tuple(data.get("capped_levels", ())),
            )
        return cls(
            "mc-dropout",
            levels,
            int(data["calibration_windows"]),
            noise_variance=np.asarray(data["noise_variance"], dtype=np.float64),
            samples=int(data["samples"]),
            seed=int(data["seed"]),
        )


def calibration_of(metadata: dict[str, Any]) -> IntervalCalibration | None:
    """A bundle's calibration, or None for a bundle trained without intervals (or before them)."""
    data = metadata.get("intervals")
    return IntervalCalibration.from_metadata(data) if isinstance(data, dict) else None


def calibration_problem(data: Any, config: TrainConfig, n_targets: int) -> str | None:
    """What is wrong with a bundle's ``metadata["intervals"]``, or None when it is sound.

    metadata.json has no checksum of its own, so every number the intervals will use is checked
    here before anything trusts it: the method and levels match the config, and the quantiles or
    noise variances are finite, non-negative and shaped horizon x targets.
    """
    if not isinstance(data, dict):
        return "is not a table"
    method = data.get("method")
    if method not in INTERVAL_METHODS:
        return f"method {method!r} is not one of {', '.join(INTERVAL_METHODS)}"
    if method != config.interval_method:
        return f"method {method!r} disagrees with config.interval_method {config.interval_method!r}"
    levels = data.get("levels")
    if (
        not isinstance(levels, list)
        or not levels
        or not all(_is_number(level) and 0 < level < 100 for level in levels)
    ):
        return "levels is not a list of percentages between 0 and 100"
    if tuple(float(level) for level in levels) != config.intervals:
        return f"levels {levels} disagree with config.intervals {list(config.intervals)}"
    windows = data.get("calibration_windows")
    if not _is_whole(windows) or windows < 1:
        return "calibration_windows is not a positive whole number"
    shape = (config.horizon, n_targets)
    if method == "conformal":
        quantiles = data.get("quantiles")
        labels = [level_label(float(level)) for level in levels]
        if not isinstance(quantiles, dict) or sorted(quantiles) != sorted(labels):
            return f"quantiles must hold exactly the levels {', '.join(labels)}"
        for label in labels:
            if not _is_table(quantiles[label], shape, minimum=0.0):
                return f"quantiles.{label} is not {shape[0]} x {shape[1]} non-negative numbers"
        if not _is_table([data.get("scale_floor")], (1, n_targets), minimum=0.0, positive=True):
            return f"scale_floor is not {n_targets} positive numbers"
        capped = data.get("capped_levels", [])
        if not isinstance(capped, list) or not all(isinstance(label, str) for label in capped):
            return "capped_levels is not a list of level names"
        return None
    if not _is_table(data.get("noise_variance"), shape, minimum=0.0):
        return f"noise_variance is not {shape[0]} x {shape[1]} non-negative numbers"
    samples, seed = data.get("samples"), data.get("seed")
    if not _is_whole(samples) or not 1 <= samples <= MAX_SAMPLES:
        return f"samples is not a whole number from 1 to {MAX_SAMPLES}"
    if not _is_whole(seed) or not 0 <= seed < 2**32:
        return "seed is not a whole number from 0 to 2**32 - 1"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_table(value: Any, shape: tuple[Any, int], *, minimum: float, positive: bool = False) -> bool:
    """Whether ``value`` is a list of ``shape[0]`` lists of ``shape[1]`` finite numbers, each at
    least ``minimum`` (above it, with ``positive``)."""
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    for row in value:
        if not isinstance(row, list) or len(row) != shape[1]:
            return False
        for item in row:
            if not _is_number(item) or item < minimum or (positive and item <= minimum):
                return False
    return True


def conformal_quantile(scores: np.ndarray, level: float) -> tuple[np.ndarray, bool]:
    """The split-conformal quantile of ``scores`` along the first axis for a central ``level``
    in percent: the ``ceil((n + 1) * level / 100)``-th smallest of the ``n`` scores that are
    not NaN, separately at every other position.

    Returns:
        The quantiles (``scores.shape[1:]``), and whether the rank exceeded ``n`` anywhere (the
        largest score was used there: too few windows to promise the level).

    Raises:
        DataError: a position has no score at all.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = np.sum(~np.isnan(scores), axis=0)
    if (n == 0).any():
        raise DataError(
            "no observed validation value to calibrate a prediction interval on",
            "use a larger --val-fraction or more data",
        )
    # The tiny tolerance keeps an exact product such as 10 * 0.8 from rounding up to 9.
    rank = np.ceil((n + 1) * level / 100.0 - 1e-9).astype(np.int64)
    capped = bool((rank > n).any())
    rank = np.minimum(rank, n)
    ordered = np.sort(scores, axis=0)  # NaN sorts last, past every rank used
    return np.take_along_axis(ordered, (rank - 1)[None, ...], axis=0)[0], capped


def scale_floor(target_values: np.ndarray) -> np.ndarray:
    """The smallest window scale per target: :data:`FLOOR_FRACTION` of the mean absolute
    one-step change over ``target_values`` (the training rows, rows x targets); always
    positive, even for a target that never changed."""
    values = np.asarray(target_values, dtype=np.float64)
    if len(values) > 1:
        with np.errstate(invalid="ignore"):
            typical = np.nanmean(np.abs(np.diff(values, axis=0)), axis=0)
    else:
        typical = np.zeros(values.shape[1])
    typical = np.where(np.isfinite(typical), typical, 0.0)
    size = np.nanmax(np.abs(values), axis=0, initial=0.0) if len(values) else np.zeros(values.shape[1])
    # A never-changing target still needs a positive width: a tiny fraction of its size.
    return np.maximum(FLOOR_FRACTION * typical, np.maximum(1e-9 * size, 1e-12))


def window_scale(
    target_values: np.ndarray, starts: np.ndarray, lookback: int, floor: np.ndarray
) -> np.ndarray:
    """``s(x)`` of each window whose targets start at ``starts``: the mean absolute one-step
    change of each target over its ``lookback`` input rows of ``target_values`` (rows x
    targets, data units), at least ``floor`` (windows x targets)."""
    starts = np.asarray(starts, dtype=np.int64)
    n_targets = target_values.shape[1]
    if len(starts) == 0:
        return np.empty((0, n_targets))
    if lookback < 2:  # one input row has no change: every window gets the floor
        return np.broadcast_to(np.asarray(floor, dtype=np.float64), (len(starts), n_targets)).copy()
    first = int(starts.min()) - lookback
    rows = np.asarray(target_values[first : int(starts.max())], dtype=np.float64)
    changes = np.abs(np.diff(rows, axis=0))
    changes[np.isnan(changes)] = 0.0
    # Running sums give every window's total in one subtraction, however long the lookback.
    total = np.concatenate([np.zeros((1, n_targets)), np.cumsum(changes, axis=0)])
    local = starts - first  # the window's input rows are local - lookback .. local - 1
    mean = (total[local - 1] - total[local - lookback]) / (lookback - 1)
    return np.maximum(mean, floor)


def calibrate(
    model: Any,
    scaler: Scaler,
    history: np.ndarray,
    observed: np.ndarray,
    split: Split,
    targets: tuple[str, ...],
    config: TrainConfig,
) -> IntervalCalibration:
    """Calibrate ``config.intervals`` on the validation windows of a training run.

    Args:
        model: the trained Keras network.
        scaler: the scaler it was trained with.
        history: the rows handed to :func:`rnncast.fitting.fit_on_history` (rows x columns,
            targets first, data units).
        observed: their target values (rows x targets), NaN where ``--fill`` made them up.
        split: the train / validation split of ``history`` (``FittedModel.split``).
        targets: the target names.
        config: settings with lookback and horizon resolved.

    Raises:
        DataError: no observed validation value at some step of some target.
    """
    from rnncast.evaluation import window_parts
    from rnncast.fitting import validation_sample
    from rnncast.scoring import predict_part
    from rnncast.windows import target_windows

    assert config.lookback is not None and config.horizon is not None
    lookback, horizon, n_targets = config.lookback, config.horizon, len(targets)
    # At most as many windows as validation losses are measured on: enough for any quantile.
    starts = validation_sample(split.starts("val"), config.seed)
    predicted = np.concatenate(
        [
            predict_part(model, scaler, history, targets, starts[part], lookback, config.transform)
            for part in window_parts(len(starts), horizon * n_targets)
        ]
    )
    actual = np.asarray(target_windows(observed, starts, horizon), dtype=np.float64)
    residual = actual - predicted
    levels = config.intervals
    if config.interval_method == "mc-dropout":
        if np.isnan(residual).all(axis=0).any():
            raise DataError(
                "no observed validation value to calibrate a prediction interval on",
                "use a larger --val-fraction or more data",
            )
        noise = np.nanmean(residual**2, axis=0)
        return IntervalCalibration(
            "mc-dropout", levels, len(starts), noise_variance=noise, samples=MC_SAMPLES, seed=config.seed
        )
    floor = scale_floor(history[: split.train_rows, :n_targets])
    scale = window_scale(history[:, :n_targets], starts, lookback, floor)
    scores = np.abs(residual) / scale[:, None, :]
    quantiles: dict[str, np.ndarray] = {}
    capped: list[str] = []
    for level in levels:
        quantiles[level_label(level)], was_capped = conformal_quantile(scores, level)
        if was_capped:
            capped.append(level_label(level))
    if capped:
        logger.warning(
            "only %d validation windows: the %s%% interval uses the largest validation error, so it "
            "may cover less than asked (a larger --val-fraction or more data helps)",
            len(starts),
            "%, ".join(capped),
        )
    return IntervalCalibration(
        "conformal", levels, len(starts), quantiles=quantiles, scale_floor=floor, capped_levels=tuple(capped)
    )


def calibrate_fitted(
    fitted: FittedModel, series: SeriesData, history: slice, config: TrainConfig
) -> IntervalCalibration | None:
    """:func:`calibrate` for the model ``fitted`` on the ``history`` rows of ``series`` (the
    rows handed to :func:`rnncast.fitting.fit_on_history`); None without ``--intervals``."""
    if not config.intervals:
        return None
    from rnncast.scoring import observed_targets

    return calibrate(
        fitted.model,
        fitted.scaler,
        series.frame.to_numpy()[history],
        observed_targets(series, history),
        fitted.split,
        series.targets,
        config,
    )


class FoldIntervals:
    """A backtest's intervals: calibrated on each training run's own validation windows, put
    around each fold's forecasts, and their coverage pooled over the folds. Without
    ``--intervals`` every method does nothing (and adds nothing to the report)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.calibration: IntervalCalibration | None = None
        labels = [level_label(level) for level in config.intervals]
        self.pooled = IntervalSums(config.interval_method, labels) if config.intervals else None
        self._bounds: list[Bounds] = []

    def calibrate(self, fitted: FittedModel, series: SeriesData, history: slice) -> None:
        """Calibrate on the validation windows of the model just fitted on ``history``."""
        self.calibration = calibrate_fitted(fitted, series, history, self.config)
        if self.calibration is not None and self.pooled is not None:
            self.pooled.calibration_windows += self.calibration.calibration_windows

    def score_fold(
        self, fitted: FittedModel, series: SeriesData, origins: np.ndarray, windows: WindowForecasts
    ) -> dict[str, Any]:
        """Put the intervals around one fold's forecasts: the fold's ``interval_coverage`` by
        level label for its report entry (``{}`` without intervals)."""
        if self.calibration is None or self.pooled is None:
            return {}
        assert self.config.lookback is not None
        bounds = window_bounds(
            self.calibration,
            fitted.model,
            fitted.scaler,
            series.frame.to_numpy(),
            series.targets,
            origins,
            self.config.lookback,
            windows.forecasts["model"],
        )
        fold = IntervalSums(self.pooled.method, self.pooled.labels)
        fold.add(windows.actual, bounds, windows.unit_scale)
        self.pooled.add(windows.actual, bounds, windows.unit_scale)
        self._bounds.append(bounds)
        return {"interval_coverage": fold.coverage()}

    def report(self, targets: tuple[str, ...]) -> dict[str, Any]:
        """``{"intervals": ...}`` pooled over every fold (``{}`` without intervals)."""
        return {"intervals": self.pooled.report(targets)} if self.pooled is not None else {}

    def bounds(self) -> Bounds:
        """Every fold's intervals, in fold order (for forecasts.csv)."""
        from rnncast.scoring import pool_bounds

        return pool_bounds(self._bounds)


def window_bounds(
    calibration: IntervalCalibration,
    model: Any,
    scaler: Scaler,
    values: np.ndarray,
    targets: tuple[str, ...],
    starts: np.ndarray,
    lookback: int,
    predicted: np.ndarray,
) -> Bounds:
    """The intervals of every level around the forecasts ``predicted`` (windows x horizon x
    targets, data units) of the windows whose targets start at the sorted ``starts``.

    ``values`` are the series' rows (rows x the scaler's columns, targets first, data units);
    only the input rows of each window are read. ``model`` is only used by ``mc-dropout`` and
    must then be the Keras network (conformal intervals need no network at all).

    Raises:
        UsageError: ``mc-dropout`` without a Keras network whose output matches ``predicted``.
    """
    n_targets = len(targets)
    if calibration.method == "conformal":
        assert calibration.scale_floor is not None
        scale = window_scale(values[:, :n_targets], starts, lookback, calibration.scale_floor)[:, None, :]
        return {
            label: (
                predicted - calibration.quantiles[label] * scale,
                predicted + calibration.quantiles[label] * scale,
            )
            for label in calibration.labels
        }
    assert calibration.noise_variance is not None
    mean, variance = dropout_moments(model, scaler, values, targets, starts, lookback, calibration)
    if mean.shape != predicted.shape:
        raise UsageError(
            f"--interval-method mc-dropout got {mean.shape[1:]} sampled outputs for a "
            f"{predicted.shape[1:]} forecast",
            "use --interval-method conformal for this model",
        )
    spread = np.sqrt(variance + calibration.noise_variance)
    bounds = {}
    for level, label in zip(calibration.levels, calibration.labels, strict=True):
        z = NormalDist().inv_cdf(0.5 + level / 200.0)
        # Centred on the dropout mean, widened where needed to hold the point forecast.
        bounds[label] = (np.minimum(mean - z * spread, predicted), np.maximum(mean + z * spread, predicted))
    return bounds


def dropout_moments(
    model: Any,
    scaler: Scaler,
    values: np.ndarray,
    targets: tuple[str, ...],
    starts: np.ndarray,
    lookback: int,
    calibration: IntervalCalibration,
) -> tuple[np.ndarray, np.ndarray]:
    """The mean and variance (data units, windows x horizon x targets) of ``calibration.samples``
    forecasts of each window with dropout active, seeded by ``calibration.seed``.

    The dropout layers' random state is set from the seed first and restored afterwards, so the
    same windows give the same intervals and the network is left exactly as it was (its state
    is saved with its weights).
    """
    from rnncast.windows import input_windows

    if model is None or not callable(model):
        raise UsageError(
            "--interval-method mc-dropout needs the Keras network", "use --interval-method conformal"
        )
    starts = np.asarray(starts, dtype=np.int64)
    samples = calibration.samples
    # Each pass holds every sample of a few windows (the windows repeated ``samples`` times, each
    # copy with its own dropout masks): one large call instead of ``samples`` small ones.
    per_call = max(1, MC_CALL_WINDOWS // samples)
    generators = _seed_generators(model)
    saved = [np.asarray(generator.state.numpy()) for generator in generators]
    means, variances = [], []
    try:
        for number, generator in enumerate(generators):
            seed = (calibration.seed + number) % 2**31
            generator.state.assign(np.array([seed, 0], dtype=saved[number].dtype))
        for first_window in range(0, len(starts), per_call):
            batch = starts[first_window : first_window + per_call]
            first = int(batch[0]) - lookback
            known = scaler.transform(values[first : int(batch[-1])])
            inputs = input_windows(known, batch - first, lookback).astype(np.float32)
            repeated = np.tile(inputs, (samples, 1, 1))
            drawn = np.asarray(model(repeated, training=True), dtype=np.float64)
            drawn = drawn.reshape(samples, len(batch), *drawn.shape[1:])
            means.append(drawn.mean(axis=0))
            variances.append(drawn.var(axis=0))  # two passes: no cancellation
    finally:
        for generator, state in zip(generators, saved, strict=True):
            generator.state.assign(state)
    n_outputs = len(targets)
    if not means:
        empty = np.empty((0, 0, n_outputs))
        return empty, empty
    mean, variance = np.concatenate(means), np.concatenate(variances)
    if mean.shape[-1] != n_outputs:
        return mean, variance  # window_bounds refuses the mismatch with a clear message
    return scaler.inverse(mean, targets), variance * scaler.scale_of(targets) ** 2


def _seed_generators(model: Any) -> list[Any]:
    """The random-state holders of every layer of ``model`` (its dropout layers)."""
    flatten = getattr(model, "_flatten_layers", None)
    layers = list(flatten(include_self=False, recursive=True)) if flatten else list(model.layers)
    found = []
    for layer in layers:
        generator = getattr(layer, "seed_generator", None)
        if generator is not None and hasattr(generator, "state"):
            found.append(generator)
    return found


def interval_columns(frame: pd.DataFrame, bounds: Bounds) -> pd.DataFrame:
    """``frame`` (one point column per target, one row per step) with ``<target>_lower_<level>``
    and ``<target>_upper_<level>`` columns after the point columns: per target, per level.
    ``bounds`` hold one window (1 x horizon x targets)."""
    import pandas as pd

    columns: dict[str, Any] = {str(target): frame[target].to_numpy() for target in frame.columns}
    for position, target in enumerate(frame.columns):
        for label, (lower, upper) in bounds.items():
            columns[f"{target}_lower_{label}"] = lower[0, :, position]
            columns[f"{target}_upper_{label}"] = upper[0, :, position]
    out = pd.DataFrame(columns, index=frame.index)
    out.attrs.update(frame.attrs)
    return out


class IntervalSums:
    """Coverage and width of every level, accumulated over windows given part by part (and
    fold by fold): counts and sums per horizon step and target, so pooled numbers are exact."""

    def __init__(self, method: str, labels: list[str]) -> None:
        self.method = method
        self.labels = labels
        self.calibration_windows = 0
        self._observed: np.ndarray | None = None
        self._inside: dict[str, np.ndarray] = {}
        self._width: dict[str, np.ndarray] = {}
        self._width_scaled: dict[str, np.ndarray] = {}

    def add(self, actual: np.ndarray, bounds: Bounds, unit_scale: np.ndarray) -> None:
        """Add windows: their ``actual`` values (NaN: never observed, not counted), the
        intervals around their forecasts and the scaler's scale (windows x 1 x targets)."""
        observed = ~np.isnan(actual)
        if self._observed is None:
            zeros = np.zeros(actual.shape[1:])
            self._observed = zeros.copy()
            for label in self.labels:
                self._inside[label], self._width[label], self._width_scaled[label] = (
                    zeros.copy(),
                    zeros.copy(),
                    zeros.copy(),
                )
        self._observed += observed.sum(axis=0)
        for label in self.labels:
            lower, upper = bounds[label]
            with np.errstate(invalid="ignore"):
                inside = (actual >= lower) & (actual <= upper)
            width = np.where(observed, upper - lower, 0.0)
            self._inside[label] += inside.sum(axis=0)
            self._width[label] += width.sum(axis=0)
            self._width_scaled[label] += (width / np.asarray(unit_scale, dtype=np.float64)).sum(axis=0)

    def coverage(self) -> dict[str, float | None]:
        """Each level's share of observed actual values inside its interval."""
        if self._observed is None:
            return {label: None for label in self.labels}
        return {label: _share(self._inside[label].sum(), self._observed.sum()) for label in self.labels}

    def report(self, targets: tuple[str, ...]) -> dict[str, Any]:
        """The report's ``intervals`` block::

            {"method": ..., "calibration_windows": n,
             "levels": {"80": {"nominal": 0.8, "coverage": 0.81, "mean_width": 4.2,
                               "mean_width_scaled": 0.5, "coverage_by_step": [...],
                               "mean_width_by_step": [...],
                               "per_target": {"y": {"coverage": ..., "mean_width": ...}}}}}

        Widths are in the data's units (``mean_width_scaled``: divided by the scaler's scale,
        comparable across targets); by step, coverage and width pool the targets.
        """
        levels: dict[str, Any] = {}
        for label in self.labels:
            entry: dict[str, Any] = {"nominal": float(label) / 100.0}
            if self._observed is None:
                levels[label] = {**entry, "coverage": None, "mean_width": None}
                continue
            count, inside, width = self._observed, self._inside[label], self._width[label]
            entry["coverage"] = _share(inside.sum(), count.sum())
            entry["mean_width"] = _share(width.sum(), count.sum())
            entry["mean_width_scaled"] = _share(self._width_scaled[label].sum(), count.sum())
            entry["coverage_by_step"] = [
                _share(i, c) for i, c in zip(inside.sum(1), count.sum(1), strict=True)
            ]
            entry["mean_width_by_step"] = [
                _share(w, c) for w, c in zip(width.sum(1), count.sum(1), strict=True)
            ]
            entry["per_target"] = {
                target: {
                    "coverage": _share(inside[:, position].sum(), count[:, position].sum()),
                    "mean_width": _share(width[:, position].sum(), count[:, position].sum()),
                }
                for position, target in enumerate(targets)
            }
            levels[label] = entry
        return {"method": self.method, "calibration_windows": self.calibration_windows, "levels": levels}


def _share(part: Any, whole: Any) -> float | None:
    whole = float(whole)
    return float(part) / whole if whole > 0 else None
