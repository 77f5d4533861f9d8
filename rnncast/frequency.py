"""Inferring a series' sampling frequency as a pandas offset alias, business days included.

``pandas.infer_freq`` gives up on real data: one holiday or one missing hour and it returns
``None``. Here the typical step decides the frequency and the calendar decides its anchor, so
trading data with holidays is business-daily and hourly data with a gap is still hourly.
"""

from __future__ import annotations

import calendar

import pandas as pd

from rnncast.errors import DataError

_MONTH_ABBR = [name.upper() for name in calendar.month_abbr]  # index 1..12
_DAY_ABBR = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]

# Seasonal period used by the seasonal-naive baseline, by the alias' base unit.
_SEASONAL_PERIODS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "QS": 4, "QE": 4}


def infer_frequency(index: pd.DatetimeIndex) -> str:
    """The pandas offset alias (``"B"``, ``"D"``, ``"h"``, ``"MS"``, ``"W-FRI"``, …) of a sorted,
    duplicate-free index.

    Raises:
        DataError: when fewer than three timestamps are given.
    """
    if len(index) < 3:
        raise DataError(
            f"cannot infer a frequency from {len(index)} timestamp(s)",
            "provide at least 3 rows (many more to train a model)",
        )
    steps = index[1:] - index[:-1]
    typical = pd.Series(steps).median()
    day = pd.Timedelta(days=1)
    all_midnight = bool((index == index.normalize()).all())

    if all_midnight and pd.Timedelta(days=27) <= typical <= pd.Timedelta(days=32):
        return "ME" if bool(index.is_month_end.all()) else "MS"
    if all_midnight and pd.Timedelta(days=88) <= typical <= pd.Timedelta(days=93):
        if bool(index.is_month_end.all()):
            anchor = 12 - ((12 - index[0].month) % 3)
            return f"QE-{_MONTH_ABBR[anchor]}"
        anchor = (index[0].month - 1) % 3 + 1
        return f"QS-{_MONTH_ABBR[anchor]}"
    if all_midnight and pd.Timedelta(days=360) <= typical <= pd.Timedelta(days=367):
        if bool(index.is_year_end.all()):
            return "YE-DEC"
        return f"YS-{_MONTH_ABBR[index[0].month]}"
    if all_midnight and typical == pd.Timedelta(days=7):
        return f"W-{_DAY_ABBR[index[0].day_of_week]}"
    if all_midnight and typical == day:
        weekend_rows = int((index.day_of_week >= 5).sum())
        # Trading data: no Saturday/Sunday rows at all, and at least one Friday->Monday step.
        if weekend_rows == 0 and (steps == pd.Timedelta(days=3)).any():
            return "B"
        return "D"
    return pd.tseries.frequencies.to_offset(typical).freqstr


def seasonal_period(frequency: str) -> int:
    """The natural season length of a frequency (24 hourly, 7 daily, 5 business-daily, 52
    weekly, 12 monthly, 4 quarterly), or 1 when it has none."""
    base = frequency.split("-")[0]
    if base == "W":
        return 52
    return _SEASONAL_PERIODS.get(base, 1)


def future_timestamps(last: pd.Timestamp, frequency: str, periods: int) -> pd.DatetimeIndex:
    """The ``periods`` timestamps after ``last`` at ``frequency``."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    return pd.date_range(start=last + offset, periods=periods, freq=offset)


def missing_timestamps(index: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """Timestamps of the regular grid from first to last that the index lacks."""
    grid = pd.date_range(start=index[0], end=index[-1], freq=frequency)
    return grid.difference(index)


def off_grid_timestamps(index: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """Timestamps of the index that do not lie on the regular grid starting at its first one."""
    grid = pd.date_range(start=index[0], end=index[-1], freq=frequency)
    return index.difference(grid)
