"""Chronological splits, scalers fitted on training rows only, and window datasets.

A window is identified by the row ``t`` where its targets start: inputs are rows
``[t - lookback, t)`` and targets rows ``[t, t + horizon)``. Splits are ranges of target rows,
so validation and test targets never overlap training targets, while their inputs may look
back into earlier rows (the past is always known when forecasting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast import backend
from rnncast.errors import BundleError, DataError

if TYPE_CHECKING:
    import tensorflow as tf

# Beyond this magnitude the network's float32 arithmetic overflows (data validation refuses it
# too, before any TensorFlow import: see rnncast.data.to_numeric_frame).
MAX_MAGNITUDE = 1e30


@dataclass(frozen=True)
class Split:
    """Row counts of a chronological train / validation / test split."""

    train_rows: int
    val_rows: int
    test_rows: int
    lookback: int
    horizon: int

    @property
    def rows(self) -> int:
        """All rows."""
        return self.train_rows + self.val_rows + self.test_rows

    def starts(self, part: str) -> np.ndarray:
        """Target-start rows ``t`` of every window whose targets lie inside ``part``."""
        first_row, end_row = {
            "train": (0, self.train_rows),
            "val": (self.train_rows, self.train_rows + self.val_rows),
            "test": (self.train_rows + self.val_rows, self.rows),
        }[part]
        first = max(first_row, self.lookback)
        return np.arange(first, end_row - self.horizon + 1, dtype=np.int64)


def chronological_split(
    rows: int, lookback: int, horizon: int, val_fraction: float, test_fraction: float
) -> Split:
    """Split ``rows`` in time order, checking every part holds at least one window.

    Raises:
        DataError: too few rows for this lookback and horizon.
    """
    test_rows = max(round(rows * test_fraction), horizon)
    val_rows = max(round(rows * val_fraction), horizon)
    train_rows = rows - val_rows - test_rows
    needed = lookback + horizon
    if train_rows < needed:
        # Rows for one training window, split in these proportions, and one window each for
        # validation and test.
        minimum = max(int(needed / (1 - val_fraction - test_fraction)) + 1, needed + 2 * horizon)
        raise DataError(
            f"too few rows: lookback {lookback} + horizon {horizon} need {needed} training rows "
            f"and {horizon} each for validation and test, about {minimum} rows in all; "
            f"the data has {rows}",
            "use more data or lower --lookback / --horizon",
        )
    return Split(train_rows, val_rows, test_rows, lookback, horizon)


@dataclass(frozen=True)
class Scaler:
    """Per-column affine scaling ``(x - offset) / scale``, stored as plain numbers.

    ``standard``: offset = mean, scale = standard deviation; ``minmax``: offset = min,
    scale = max - min. A constant column gets scale 1 so nothing divides by zero.
    """

    kind: str
    columns: tuple[str, ...]
    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, kind: str, columns: tuple[str, ...], values: np.ndarray) -> Scaler:
        """Fit on ``values`` (rows x columns): pass the training rows only."""
        values = np.asarray(values, dtype=np.float64)
        if kind == "standard":
            offset = values.mean(axis=0)
            scale = values.std(axis=0)
        else:
            offset = values.min(axis=0)
            scale = values.max(axis=0) - offset
        # A constant column's mean can be off by a rounding error, its deviation then tiny but
        # not zero: take it as constant (offset the value itself, scale 1), not scale by ~1e-17.
        constant = (values == values[:1]).all(axis=0)
        offset = np.where(constant, values[0], offset)
        scale = np.where(np.isfinite(scale) & (scale > 0) & ~constant, scale, 1.0)
        return cls(kind, tuple(columns), offset, scale)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale rows x columns (all of :attr:`columns`, in order)."""
        return (np.asarray(values, dtype=np.float64) - self.offset) / self.scale

    def inverse(self, values: np.ndarray, columns: tuple[str, ...]) -> np.ndarray:
        """Undo scaling of ``values`` whose last axis holds ``columns`` (a subset, any order)."""
        positions = [self.columns.index(c) for c in columns]
        return np.asarray(values) * self.scale[positions] + self.offset[positions]

    def scale_of(self, columns: tuple[str, ...]) -> np.ndarray:
        """The scale factors of ``columns`` (to express errors in scaled units)."""
        return self.scale[[self.columns.index(c) for c in columns]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return {
            "kind": self.kind,
            "columns": {
                name: {"offset": float(o), "scale": float(s)}
                for name, o, s in zip(self.columns, self.offset, self.scale, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Rebuild from :meth:`to_dict` output, refusing anything malformed."""
        try:
            columns = tuple(data["columns"])
            offset = np.array([float(data["columns"][c]["offset"]) for c in columns])
            scale = np.array([float(data["columns"][c]["scale"]) for c in columns])
            kind = str(data["kind"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"scaler.json is malformed ({exc!r})", "retrain the model") from exc
        if not (np.isfinite(offset).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise BundleError("scaler.json holds non-finite or zero scales", "retrain the model")
        return cls(kind, columns, offset, scale)


def check_scalable(values: np.ndarray, columns: tuple[str, ...]) -> None:
    """Refuse magnitudes that overflow float32 once the network sees them."""
    biggest = np.abs(values).max(axis=0)
    too_big = [c for c, v in zip(columns, biggest, strict=True) if v > MAX_MAGNITUDE]
    if too_big:
        raise DataError(
            f"column(s) {', '.join(too_big)} hold values beyond {MAX_MAGNITUDE:g}",
            "rescale the data (e.g. express it in thousands) before training",
        )


def input_windows(values: np.ndarray, starts: np.ndarray, lookback: int) -> np.ndarray:
    """Input windows (windows x lookback x columns) for target starts ``starts``."""
    view = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)
    # view[i] covers rows i .. i+lookback-1 with time on the last axis; move it to the middle.
    return np.swapaxes(view[starts - lookback], 1, 2)


def target_windows(values: np.ndarray, starts: np.ndarray, horizon: int) -> np.ndarray:
    """Target windows (windows x horizon x columns) starting at rows ``starts``."""
    view = np.lib.stride_tricks.sliding_window_view(values, horizon, axis=0)
    return np.swapaxes(view[starts], 1, 2)


def window_dataset(
    inputs: np.ndarray,
    targets: np.ndarray | None,
    starts: np.ndarray,
    lookback: int,
    horizon: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    epoch_windows: int | None = None,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of (input window, target window) batches.

    Only the scaled arrays live in memory; each batch is gathered from them by index, so no
    copy per window is ever materialised. With ``shuffle`` and ``epoch_windows``, each pass
    draws that many windows at random (a fresh draw every epoch), so an epoch over a very long
    series stays short while every window still gets its turn over the epochs.
    """
    tf = backend.tensorflow()

    input_table = tf.constant(inputs, dtype=tf.float32)
    input_offsets = tf.range(-lookback, 0, dtype=tf.int64)
    dataset = tf.data.Dataset.from_tensor_slices(starts.astype(np.int64))
    if shuffle:
        dataset = dataset.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
        if epoch_windows is not None and epoch_windows < len(starts):
            dataset = dataset.take(epoch_windows)
    dataset = dataset.batch(batch_size)
    if targets is None:

        def gather_inputs(batch_starts: tf.Tensor) -> tf.Tensor:
            return tf.gather(input_table, batch_starts[:, None] + input_offsets)

        dataset = dataset.map(gather_inputs)
    else:
        target_table = tf.constant(targets, dtype=tf.float32)
        target_offsets = tf.range(0, horizon, dtype=tf.int64)

        def gather_pair(batch_starts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            rows = batch_starts[:, None]
            return (
                tf.gather(input_table, rows + input_offsets),
                tf.gather(target_table, rows + target_offsets),
            )

        dataset = dataset.map(gather_pair)
    return dataset.prefetch(tf.data.AUTOTUNE)


# Lookback and horizon used when the user gives none, by calendar family: a few seasons of
# context and one natural forecast period.
_DEFAULT_WINDOWS = {
    "B": (60, 5),  # ~3 trading months -> one trading week
    "D": (56, 7),  # 8 weeks -> one week
    "W": (52, 4),  # a year -> a month
    "M": (24, 12),  # two years -> a year
    "Q": (12, 4),  # three years -> a year
    "Y": (8, 2),
    "intraday": (96, 24),  # four days -> one day, for hourly data
}


def default_window_lengths(frequency: str) -> tuple[int, int]:
    """Default ``(lookback, horizon)`` for data of ``frequency``."""
    from rnncast.frequency import frequency_family  # pandas: not needed to read a bundle's scaler

    return _DEFAULT_WINDOWS[frequency_family(frequency)]


# Segments of a season need this many seasons in the window, or the recurrent layers would see
# too few steps; below it a segment is about an eighth of the lookback.
SEASONS_PER_WINDOW = 4
STEPS_PER_WINDOW = 8


def default_segment(lookback: int, season: int) -> int:
    """Rows per embedded segment when ``--segment`` is not given.

    One season (24 hourly rows, 7 daily) when the lookback holds at least
    :data:`SEASONS_PER_WINDOW` of them, as SegRNN (Lin et al., 2023) cut hourly windows into
    days; otherwise about ``lookback / 8`` so the recurrent layers still take some eight
    steps; 1 (one row per step) for lookbacks under 16.
    """
    if season > 1 and lookback >= SEASONS_PER_WINDOW * season:
        return season
    return max(1, lookback // STEPS_PER_WINDOW)


def fit_lookback_to_rows(
    lookback: int, horizon: int, rows: int, val_fraction: float, test_fraction: float
) -> int:
    """Shorten a default lookback so a short series still leaves about half its training
    rows as window starts (never below ``horizon`` or 2)."""
    train_rows = rows - max(round(rows * val_fraction), horizon) - max(round(rows * test_fraction), horizon)
    room = train_rows // 2 - horizon
    return max(min(lookback, room), min(lookback, max(horizon, 2)))
