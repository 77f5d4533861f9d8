"""Inferring a series' sampling frequency, and the calendar arithmetic that depends on it.

``pandas.infer_freq`` gives up on real data: one holiday or one missing hour and it returns
``None``. Here the typical step decides the frequency and the calendar decides its anchor, so
trading data with holidays is business-daily and hourly data with a gap is still hourly.

Frequencies are pandas offset aliases (``"B"``, ``"h"``, ``"MS"``, ``"W-FRI"``, ``"BME"``, ...)
plus one of rnncast's own, ``"month-day-N"``: monthly on day N (the 15th, say), which pandas
has no alias for.
"""

from __future__ import annotations

import calendar

import pandas as pd

from rnncast.errors import DataError

_MONTH_ABBR = [name.upper() for name in calendar.month_abbr]  # index 1..12
_DAY_ABBR = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
MONTH_DAY_PREFIX = "month-day-"
# Trading calendars with an occasional weekend session (special sessions, some exchanges)
# are still business-daily below this share of weekend rows.
_MAX_WEEKEND_SHARE_FOR_BUSINESS_DAYS = 0.01
_SEASONAL_PERIODS = {"B": 5, "D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}
# A regular grid this much longer than the series (and longer than _MIN_GRID_LIMIT) is never
# built: a few rows seconds apart and one decades later would need billions of timestamps.
_MAX_GRID_PER_ROW = 100
_MIN_GRID_LIMIT = 1_000_000


def infer_frequency(index: pd.DatetimeIndex) -> str:
    """The frequency of a sorted, duplicate-free index.

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
    all_midnight = bool((index == index.normalize()).all())

    if all_midnight and pd.Timedelta(days=27) <= typical <= pd.Timedelta(days=32):
        return _monthly_alias(index)
    if all_midnight and pd.Timedelta(days=88) <= typical <= pd.Timedelta(days=93):
        if bool(index.is_month_end.all()):
            return f"QE-{_MONTH_ABBR[12 - ((12 - index[0].month) % 3)]}"
        return f"QS-{_MONTH_ABBR[(index[0].month - 1) % 3 + 1]}"
    if all_midnight and pd.Timedelta(days=360) <= typical <= pd.Timedelta(days=367):
        if bool(index.is_year_end.all()):
            return "YE-DEC"
        return f"YS-{_MONTH_ABBR[index[0].month]}"
    if all_midnight and typical == pd.Timedelta(days=7):
        return f"W-{_DAY_ABBR[index[0].day_of_week]}"
    if all_midnight and typical == pd.Timedelta(days=1):
        weekend_share = float((index.day_of_week >= 5).mean())
        # Trading data: (almost) no weekend rows, and Friday->Monday steps.
        if weekend_share < _MAX_WEEKEND_SHARE_FOR_BUSINESS_DAYS and (steps == pd.Timedelta(days=3)).any():
            return "B"
        return "D"
    return pd.tseries.frequencies.to_offset(typical).freqstr


def _monthly_alias(index: pd.DatetimeIndex) -> str:
    if bool(index.is_month_start.all()):
        return "MS"
    if bool(index.is_month_end.all()):
        return "ME"
    if bool((index == index + pd.offsets.BMonthEnd(0)).all()):
        return "BME"  # last trading day of each month
    if bool((index == index + pd.offsets.BMonthBegin(0)).all()):
        return "BMS"
    # Any other day of the month: the series' usual day (the 30th stays the 30th after a
    # February clipped it to the 28th).
    return f"{MONTH_DAY_PREFIX}{int(pd.Series(index.day).mode().max())}"


def is_known_frequency(frequency: str) -> bool:
    """True for the frequencies :func:`infer_frequency` can return."""
    if frequency.startswith(MONTH_DAY_PREFIX):
        return frequency.removeprefix(MONTH_DAY_PREFIX).isdigit()
    try:
        pd.tseries.frequencies.to_offset(frequency)
    except ValueError:
        return False
    return True


def frequency_family(frequency: str) -> str:
    """The calendar family of a frequency: ``B``, ``D``, ``W``, ``M``, ``Q``, ``Y``, or
    ``intraday`` (hours and finer)."""
    if frequency.startswith(MONTH_DAY_PREFIX) or frequency in ("MS", "ME", "BMS", "BME"):
        return "M"
    head = frequency.split("-")[0]
    if head in ("QS", "QE"):
        return "Q"
    if head in ("YS", "YE"):
        return "Y"
    if head == "W":
        return "W"
    if head in ("B", "D"):
        return head
    return "intraday"


def seasonal_period(frequency: str) -> int:
    """The natural season length: 24 hourly (a day of steps for any intraday frequency),
    7 daily, 5 business-daily, 52 weekly, 12 monthly, 4 quarterly; 1 when there is none."""
    family = frequency_family(frequency)
    if family != "intraday":
        return _SEASONAL_PERIODS[family]
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(frequency))
    per_day = pd.Timedelta(days=1) / step
    return int(per_day) if per_day.is_integer() and 1 < per_day <= 2000 else 1


def future_timestamps(last: pd.Timestamp, frequency: str, periods: int) -> pd.DatetimeIndex:
    """The ``periods`` timestamps after ``last`` at ``frequency``."""
    if frequency.startswith(MONTH_DAY_PREFIX):
        return _month_days(last, 1, periods, _anchor_day(frequency))
    offset = pd.tseries.frequencies.to_offset(frequency)
    return pd.date_range(start=last + offset, periods=periods, freq=offset)


def regular_grid(first: pd.Timestamp, last: pd.Timestamp, frequency: str) -> pd.DatetimeIndex:
    """Every timestamp at ``frequency`` from ``first`` to ``last``."""
    if frequency.startswith(MONTH_DAY_PREFIX):
        months = (last.year - first.year) * 12 + last.month - first.month
        return _month_days(first, 0, months + 1, _anchor_day(frequency))
    return pd.date_range(start=first, end=last, freq=frequency)


def _anchor_day(frequency: str) -> int:
    return int(frequency.removeprefix(MONTH_DAY_PREFIX))


def _month_days(origin: pd.Timestamp, first_step: int, count: int, day: int) -> pd.DatetimeIndex:
    """Day ``day`` (clipped to the month's length) of ``count`` months, starting ``first_step``
    months after ``origin``'s month."""
    months = pd.date_range(origin.replace(day=1), periods=first_step + count, freq="MS")[first_step:]
    return pd.DatetimeIndex([m.replace(day=min(day, m.days_in_month)) for m in months])


def missing_timestamps(index: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """Timestamps of the regular grid from first to last that the index lacks.

    Raises:
        DataError: the grid would be far longer than the index (almost all of it missing).
    """
    step = _fixed_step(frequency)
    if step is not None:
        length = (index[-1] - index[0]) // step + 1
        if length > max(_MIN_GRID_LIMIT, _MAX_GRID_PER_ROW * len(index)):
            raise DataError(
                f"{len(index)} timestamps spread over {length:,} {frequency!r} steps from {index[0]} "
                f"to {index[-1]}: almost all of the series is missing",
                "resample the series to a coarser frequency or cut it to its dense part",
            )
    return regular_grid(index[0], index[-1], frequency).difference(index)


def off_grid_timestamps(index: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """Timestamps of the index that do not lie on the regular grid starting at its first one."""
    step = _fixed_step(frequency)
    if step is not None:  # without building the grid, which may be huge
        return index[(index - index[0]) % step != pd.Timedelta(0)]
    return index.difference(regular_grid(index[0], index[-1], frequency))


def _fixed_step(frequency: str) -> pd.Timedelta | None:
    """The step of a fixed-length frequency (hours and finer), None for calendar ones."""
    if frequency.startswith(MONTH_DAY_PREFIX):
        return None
    offset = pd.tseries.frequencies.to_offset(frequency)
    return pd.Timedelta(offset) if isinstance(offset, pd.offsets.Tick) else None
