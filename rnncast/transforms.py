"""Target transforms the network learns instead of levels: changes from one row to the next.

``--transform diff`` trains on differences ``y_t - y_(t-1)``, ``log`` on log returns
``ln(y_t / y_(t-1))``, ``pct`` on percentage returns ``y_t / y_(t-1) - 1`` (prices: a change
of 1% means the same at 10 and at 1,000). Only the target columns change; features are read as
they are. The changes are row-aligned with the data (row ``t`` holds the change into ``t``;
the first row, which has no predecessor, holds no change: 0), so windows, splits and the
scaler work on them as on levels, and the scaler is fitted on the training rows' changes.

Forecasts are put back into levels exactly: from the last known value ``y_(t-1)`` of each
window, ``diff`` adds the cumulative sum of the predicted changes, ``log`` multiplies by the
exponential of the cumulative sum, ``pct`` by the cumulative product of ``1 + change``.
Scores, baselines and forecast files are always in levels.
"""

from __future__ import annotations

import numpy as np

from rnncast.errors import DataError

# Transforms of ratios need every target value above zero.
POSITIVE_ONLY = ("log", "pct")


def check_transformable(values: np.ndarray, targets: tuple[str, ...], transform: str) -> None:
    """Refuse target values a transform cannot take (``values``: rows x columns, targets first).

    Raises:
        DataError: a ratio transform meets a zero or negative target value.
    """
    if transform not in POSITIVE_ONLY:
        return
    for column, name in enumerate(targets):
        column_values = np.asarray(values[:, column], dtype=np.float64)
        bad = np.flatnonzero(np.isfinite(column_values) & (column_values <= 0))
        if len(bad):
            raise DataError(
                f"--transform {transform} needs target values above zero, but {name!r} is "
                f"{column_values[bad[0]]:g} at row {int(bad[0]) + 1}",
                "use --transform diff (or none) for data that can be zero or negative",
            )


def to_changes(values: np.ndarray, n_targets: int, transform: str) -> np.ndarray:
    """``values`` (rows x columns, the first ``n_targets`` the targets) with the targets
    replaced by their changes into each row (the first row: 0); ``values`` itself for ``none``."""
    if transform == "none" or len(values) == 0:
        return values
    changed = np.array(values, dtype=np.float64, copy=True)
    targets = changed[:, :n_targets]
    changes = np.zeros_like(targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform == "diff":
            changes[1:] = targets[1:] - targets[:-1]
        elif transform == "log":
            changes[1:] = np.log(targets[1:] / targets[:-1])
        elif transform == "pct":
            changes[1:] = targets[1:] / targets[:-1] - 1.0
        else:
            raise ValueError(f"unknown transform {transform!r}")
    changed[:, :n_targets] = changes
    return changed


def window_changes(values: np.ndarray, first: int, end: int, n_targets: int, transform: str) -> np.ndarray:
    """Rows ``[first, end)`` of :func:`to_changes` of ``values``, computed from those rows and
    the one before ``first`` only (no change into row 0)."""
    if transform == "none":
        return values[first:end]
    before = max(first - 1, 0)
    return to_changes(values[before:end], n_targets, transform)[first - before :]


def to_levels(changes: np.ndarray, last: np.ndarray, transform: str) -> np.ndarray:
    """Predicted changes (windows x horizon x targets) as levels, from each window's last known
    target values ``last`` (windows x targets); ``changes`` itself for ``none``."""
    if transform == "none":
        return changes
    changes = np.asarray(changes, dtype=np.float64)
    last = np.asarray(last, dtype=np.float64)[:, None, :]
    if transform == "diff":
        return last + np.cumsum(changes, axis=1)
    if transform == "log":
        return last * np.exp(np.cumsum(changes, axis=1))
    if transform == "pct":
        return last * np.cumprod(1.0 + changes, axis=1)
    raise ValueError(f"unknown transform {transform!r}")
