"""``detect``'s second look: clear the echoes of anomalies.

A spike enters the input window of the forecasts made after it, and a model that leans on the
newest value (rnncast's residual networks start as the naive forecast) expects the spike to
last: the normal row after it is then far from its forecast as well and would be flagged too,
an echo of the one anomaly.

The rows flagged on the first pass are taken again in time order. A flagged row whose input
window holds no confirmed anomaly keeps its score and is confirmed. One whose window holds a
confirmed anomaly is forecast again with every confirmed anomaly replaced by the value the model
expected there, and scored again on the same scale: it stays an anomaly only if it is still
beyond the threshold. A confirmed anomaly's value is replaced so for the rows after it.

Rows the first pass did not flag are never looked at again, so a level shift is flagged at its
first row and not at every row after it (with the shifted rows replaced by the old level's
forecasts, every row of the new level would look anomalous). Features derived from the target
(``--indicators``) keep the anomaly's influence: only the target columns are replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("rnncast")

# Each second look is one window's forecast; beyond this many (a threshold so low that most
# rows are flagged) the rest keep their first-pass scores rather than take minutes.
MAX_SECOND_LOOKS = 5000

# (residuals, rows x targets; the data's values; those rows) -> their scores. The first pass
# scores every row with the data as read; the second look scores one row at a time with the
# confirmed anomalies replaced (the interval score reads its scale from the window).
Rescore = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SecondLook:
    """The scores after the second look (rows x targets), and how many flags it cleared."""

    expected: np.ndarray
    scores: np.ndarray
    flags: np.ndarray
    cleared: int


def clear_echoes(
    forecast_window: Callable[[np.ndarray, int], np.ndarray],
    values: np.ndarray,
    rows: np.ndarray,
    step: int,
    lookback: int,
    actual: np.ndarray,
    expected: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    rescore: Rescore,
) -> SecondLook:
    """Clear the flags that an earlier anomaly in the input window alone explains.

    Args:
        forecast_window: ``(values, start)`` -> the forecast (targets) at step ``step`` of the
            window whose targets start at row ``start`` of ``values``.
        values: every row of the data (rows x columns, the targets first), original units.
        rows: the scored rows, ascending; ``actual``, ``expected`` and ``scores`` (rows x
            targets) belong to them, scores NaN where unscored.
        step: the forecasts are made this many rows ahead.
        lookback: the rows each window reads.
        threshold: a score beyond it (in absolute value) is an anomaly.
        rescore: the scoring of the first pass, applied again to a row's new residuals with
            the anomalies replaced in the values.

    Returns:
        The new expected values, scores and flags (copies), and how many flags were cleared.
    """
    expected, scores = expected.copy(), scores.copy()
    flags = np.abs(np.nan_to_num(scores, nan=0.0)) > threshold
    cleaned = np.array(values, dtype=np.float64)  # a copy: the replaced anomalies go here
    confirmed: list[int] = []  # rows of confirmed anomalies, ascending (candidates come in order)
    cleared = looks = 0
    for position in np.flatnonzero(flags.any(axis=1)):
        row = int(rows[position])
        start = row - step + 1  # the window's inputs are rows start - lookback .. start - 1
        if confirmed and confirmed[-1] >= start - lookback and looks < MAX_SECOND_LOOKS:
            # Confirmed rows are ascending and all before this row: the newest one decides.
            looks += 1
            again = forecast_window(cleaned, start)
            new_scores = rescore((actual[position] - again)[None, :], cleaned, np.array([row]))[0]
            candidate = flags[position].copy()
            expected[position, candidate] = again[candidate]
            scores[position, candidate] = new_scores[candidate]
            flags[position] = candidate & (np.abs(np.nan_to_num(new_scores, nan=0.0)) > threshold)
            cleared += int(candidate.sum() - flags[position].sum())
        if flags[position].any():
            kept = np.flatnonzero(flags[position])
            cleaned[row, kept] = expected[position, kept]
            confirmed.append(row)
    if looks == MAX_SECOND_LOOKS:
        logger.warning(
            "more than %d flagged rows follow other anomalies: the rest keep their first scores "
            "(a higher --threshold flags fewer)",
            MAX_SECOND_LOOKS,
        )
    return SecondLook(expected, scores, flags, cleared)
