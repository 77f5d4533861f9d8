"""Rolling-origin backtests: where each fold's history ends and which origins it scores.

An origin is the row ``t`` where a forecast's targets start; the forecast may read rows before
``t`` only. Fold ``k`` scores the origins ``[o_k, o_k + step)``; its model and scaler are fitted
on the rows before ``o_k`` (all of them with an ``expanding`` window, the latest ``o_1`` of them
with a ``sliding`` one). The folds end at the last origin with ``horizon`` known targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncast.errors import UsageError

WINDOW_KINDS = ("expanding", "sliding")
REFIT_POLICIES = ("never", "each-fold")


@dataclass(frozen=True)
class Fold:
    """One fold: its history rows ``[history_start, origin)`` and the origins it scores."""

    number: int
    history_start: int
    origins: np.ndarray

    @property
    def origin(self) -> int:
        """The first origin; every row of the history lies before it."""
        return int(self.origins[0])


def default_step(rows: int, folds: int, test_fraction: float) -> int:
    """Origins per fold when ``--step`` is not given: the last ``test_fraction`` of the rows,
    shared out between the folds."""
    return max(1, round(rows * test_fraction / folds))


def validation_rows(history_rows: int, val_fraction: float, horizon: int) -> int:
    """The last rows of a fold's history whose windows only validate (early stopping): the
    ``val_fraction`` of them, and at least one horizon."""
    return max(round(history_rows * val_fraction), horizon)


def plan_folds(
    rows: int, horizon: int, folds: int, step: int, window: str, minimum_history: int
) -> list[Fold]:
    """The folds of a backtest over ``rows`` rows, latest last.

    Raises:
        UsageError: the folds do not fit, leaving less than ``minimum_history`` rows before
            the first origin.
    """
    if folds < 1 or step < 1:
        raise UsageError(f"--folds and --step must be at least 1, got {folds} and {step}")
    if window not in WINDOW_KINDS:
        raise UsageError(f"--window {window!r} is not supported", f"use one of: {', '.join(WINDOW_KINDS)}")
    end = rows - horizon + 1  # one past the last origin with a full horizon of actuals
    first = end - folds * step
    if first < minimum_history:
        raise UsageError(
            f"{folds} folds of {step} origins with horizon {horizon} leave {max(first, 0)} rows of "
            f"history before the first fold; training needs at least {minimum_history}",
            ("use fewer --folds, a smaller --step" if folds > 1 else "use a smaller --step")
            + ", a shorter --lookback / --horizon, or more data",
        )
    plan = []
    for number in range(folds):
        origin = first + number * step
        history_start = origin - first if window == "sliding" else 0
        plan.append(Fold(number + 1, history_start, np.arange(origin, origin + step, dtype=np.int64)))
    return plan
