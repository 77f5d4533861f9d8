"""Running a trained network: future values with real timestamps, and batch predictions.

``model`` is a Keras model or a :class:`rnncast.inference.NumpyNetwork` (the same numbers, no
TensorFlow): both answer ``predict`` and ``output_shape``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rnncast.errors import DataError
from rnncast.frequency import future_timestamps
from rnncast.inference import NumpyNetwork
from rnncast.transforms import check_transformable, to_levels, window_changes
from rnncast.windows import Scaler, input_windows, window_dataset

if TYPE_CHECKING:
    import keras

    from rnncast.bundle import Bundle
    from rnncast.data import SeriesData


def predict_windows(
    model: keras.Model | NumpyNetwork,
    scaled_inputs: np.ndarray,
    starts: np.ndarray,
    lookback: int,
    batch_size: int = 256,
) -> np.ndarray:
    """Scaled predictions (windows x horizon x targets) for the windows starting at ``starts``."""
    if len(starts) == 0:
        return np.empty((0, *model.output_shape[1:]))
    if isinstance(model, NumpyNetwork):  # no tf.data: gather each batch's windows by index
        starts = np.asarray(starts)
        batches = (starts[i : i + batch_size] for i in range(0, len(starts), batch_size))
        return np.concatenate(
            [model.predict(input_windows(scaled_inputs, b, lookback).astype(np.float32)) for b in batches]
        )
    dataset = window_dataset(scaled_inputs, None, starts, lookback, 0, batch_size)
    return np.asarray(model.predict(dataset, verbose=0), dtype=np.float64)


def forecast_future(
    model: keras.Model | NumpyNetwork,
    scaler: Scaler,
    series: SeriesData,
    lookback: int,
    horizon: int,
    transform: str = "none",
) -> pd.DataFrame:
    """Forecast the ``horizon`` steps after the series' last row, in original units (a model
    trained with ``--transform`` reads the targets' changes; its forecast is put back into
    levels from the last value).

    Returns:
        A frame indexed by the future timestamps (named like the time column), one column
        per target.

    Raises:
        DataError: fewer rows than the model reads, or a non-finite forecast.
    """
    # A change into the window's first row needs the row before it.
    needed = lookback + (transform != "none")
    if len(series) < needed:
        raise DataError(
            f"the data has {len(series)} rows but the model reads the last {needed}",
            "pass a file with at least that many rows (e.g. the full history) to --data",
        )
    values = series.frame[list(series.columns)].to_numpy()
    check_transformable(values[-needed:], series.targets, transform)
    recent = window_changes(values, len(values) - lookback, len(values), len(series.targets), transform)
    scaled = scaler.transform(recent).astype(np.float32)[None, ...]
    predicted = np.asarray(model.predict(scaled, verbose=0), dtype=np.float64)
    last = values[-1:, : len(series.targets)]
    forecast = to_levels(scaler.inverse(predicted, series.targets), last, transform)[0]
    if not np.isfinite(forecast).all():
        raise DataError(
            "the model produced non-finite forecasts for this data",
            "check the newest rows for extreme values, or retrain the model",
        )
    stamps = future_timestamps(series.index[-1], series.frequency, horizon)
    stamps.name = series.time_col
    return pd.DataFrame(forecast, index=stamps, columns=list(series.targets))


def with_intervals(frame: pd.DataFrame, bundle: Bundle, series: SeriesData) -> pd.DataFrame:
    """The forecast ``frame`` of :func:`forecast_future` with the bundle's prediction intervals
    as ``<target>_lower_<level>`` / ``<target>_upper_<level>`` columns after the point columns;
    ``frame`` unchanged for a bundle trained without intervals.

    Conformal intervals read only the input window (no network, no TensorFlow); mc-dropout
    loads the Keras network to sample it.

    Raises:
        DataError: an interval came out non-finite.
    """
    from rnncast.intervals import calibration_of, interval_columns, window_bounds

    calibration = calibration_of(bundle.metadata)
    if calibration is None:
        return frame
    model = None
    if calibration.method == "mc-dropout":
        from rnncast.bundle import attach_model

        model = attach_model(bundle).model
    config = bundle.config
    assert config.lookback is not None
    bounds = window_bounds(
        calibration,
        model,
        bundle.scaler,
        series.frame[list(series.columns)].to_numpy()[-config.lookback :],
        series.targets,
        np.array([config.lookback]),
        config.lookback,
        frame.to_numpy(dtype=np.float64)[None, ...],
    )
    if not all(np.isfinite(lower).all() and np.isfinite(upper).all() for lower, upper in bounds.values()):
        raise DataError(
            "the prediction intervals came out non-finite for this data",
            "check the newest rows for extreme values, or retrain the model",
        )
    return interval_columns(frame, bounds)
