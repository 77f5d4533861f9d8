"""Parsing a time column into a ``DatetimeIndex`` without silently misreading a date.

One format is chosen for the whole column: ISO 8601 first, else the format pandas guesses from
the first value, month-first and day-first. When both readings of ``01/02/2010`` fit every
row, the one that keeps the file in time order on the most regular calendar grid wins (a tie
goes to day-first for ``dd.mm.yyyy`` dots, month-first otherwise), and a note says which was
taken. Mixed formats and mixed UTC offsets are never guessed row by row.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from rnncast.errors import DataError
from rnncast.frequency import infer_frequency, missing_timestamps, off_grid_timestamps

_FIX = "use one date format, ISO such as 2024-01-31 or 2024-01-31 13:00 is safest"


def parse_timestamps(values: pd.Series, name: str) -> tuple[pd.DatetimeIndex, list[str]]:
    """Parse the time column ``name``; returns the index and notes on how it was read.

    Raises:
        DataError: empty cells, values that are not dates, or dates in several formats.
    """
    if values.isna().any():
        rows = ", ".join(str(p) for p in (np.flatnonzero(values.isna().to_numpy()) + 1)[:3])
        raise DataError(f"time column {name!r} is empty on row(s) {rows}", "fill in or delete those rows")
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values), []
    if pd.api.types.is_numeric_dtype(values):
        return _parse_numbers(values, name), []
    text = values.astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' format-inference chatter
        _refuse_mixed_zones(text, name)
        index, notes = _parse_text(text, name)
    if index.hasnans:  # "NaT" parses as no time at all
        positions = np.flatnonzero(index.isna())
        raise DataError(
            f"time column {name!r} holds no time on row(s) {_row_list(positions)} "
            f"({text.iloc[positions[0]]!r})",
            "fill in or delete those rows",
        )
    return index, notes


# A UTC offset or zone after a time of day: "13:00+01:00", "13:00:00.5Z", "13:00 UTC".
_ZONE_SUFFIX = re.compile(
    r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE
)


def _refuse_mixed_zones(text: pd.Series, name: str) -> None:
    """Refuse a column where some timestamps carry a UTC offset and others, dates too, do not:
    reading the others as UTC (pandas' ``utc=True``) would shift them by hours, unseen."""
    zoned = text.str.contains(_ZONE_SUFFIX)
    if not zoned.any() or zoned.all():
        return
    dates = pd.to_datetime(text.where(~zoned), format="mixed", errors="coerce").notna()
    positions = np.flatnonzero((~zoned & dates).to_numpy())
    if not len(positions):
        return  # the rest are not dates at all: reported as such
    raise DataError(
        f"time column {name!r} mixes timestamps with a UTC offset ({text[zoned].iloc[0]!r}) and "
        f"without one ({text.iloc[positions[0]]!r}, row(s) {_row_list(positions)})",
        "give every timestamp its UTC offset, or none; rnncast will not guess which time zone "
        "the others are in",
    )


def _row_list(positions: np.ndarray, limit: int = 3) -> str:
    """Data-row numbers (1 = the first row after the header) of 0-based ``positions``."""
    shown = ", ".join(str(p + 1) for p in positions[:limit])
    return shown + (", ..." if len(positions) > limit else "")


def _parse_numbers(values: pd.Series, name: str) -> pd.DatetimeIndex:
    """Whole years (``1990``) or compact dates (``20240131``)."""
    numbers = values.to_numpy()
    if np.all(numbers == np.round(numbers)):
        integers = numbers.astype(np.int64)
        if ((integers >= 1000) & (integers <= 2999)).all():
            return pd.DatetimeIndex(pd.to_datetime(integers.astype(str), format="%Y"))
        if ((integers >= 10000101) & (integers <= 29991231)).all():
            parsed = pd.to_datetime(integers.astype(str), format="%Y%m%d", errors="coerce")
            if not parsed.isna().any():
                return pd.DatetimeIndex(parsed)
    reading = _number_dates(numbers.astype(np.float64))
    if reading is not None:
        what, fix = reading
        raise DataError(f"time column {name!r} holds numbers ({values.iloc[0]}, ...), not dates: {what}", fix)
    raise DataError(
        f"time column {name!r} holds numbers ({values.iloc[0]}, ...), not dates",
        "pick the real time column with --time-col, or write dates such as 2024-01-31",
    )


def _number_dates(numbers: np.ndarray) -> tuple[str, str] | None:
    """What numbers in a time column probably are (Excel serial days, Unix time), and the fix;
    None when they look like neither. They are never converted: the guess could be wrong (Excel
    counts from 1899-12-30 or, on old Macs, 1904-01-01; Unix time in s, ms or us)."""
    if not len(numbers) or not np.isfinite(numbers).all():
        return None
    first = float(numbers[0])
    if ((numbers >= 10_000) & (numbers < 110_000)).all():
        day = pd.Timestamp("1899-12-30") + pd.Timedelta(days=first)
        return (
            f"they look like Excel serial dates ({first:g} would be {day:%Y-%m-%d})",
            "format the column as dates (yyyy-mm-dd) in the spreadsheet before exporting it",
        )
    for unit, low, high in (("seconds", 1e8, 4e9), ("milliseconds", 1e11, 4e12)):
        if ((numbers >= low) & (numbers < high)).all():
            moment = pd.Timestamp(first, unit="s" if unit == "seconds" else "ms")
            return (
                f"they look like Unix times in {unit} ({first:.0f} would be {moment:%Y-%m-%d %H:%M} UTC)",
                "convert them to dates with a UTC offset, such as 2024-05-01T13:00:00+00:00",
            )
    return None


def _parse_text(text: pd.Series, name: str) -> tuple[pd.DatetimeIndex, list[str]]:
    iso = _try_format(text, "ISO8601")
    if iso is not None:
        return iso
    first = text.iloc[0]
    candidates = []
    for dayfirst in (False, True):
        fmt = guess_datetime_format(first, dayfirst=dayfirst)
        if fmt and fmt not in candidates:
            candidates.append(fmt)
    readings = {}
    for fmt in candidates:
        parsed = _try_format(text, fmt)
        if parsed is not None:
            readings[fmt] = parsed
    if not readings:
        raise _unparseable(text, name, candidates)
    if len(readings) == 1:
        return next(iter(readings.values()))
    # Ambiguous day/month order: keep the reading under which the file is in time order with
    # regular steps; on a tie, dots mean day-first (European), anything else month-first.
    scored = sorted(readings.items(), key=lambda item: _disorder(item[1][0]))
    best_format, (best, notes) = scored[0]
    if _disorder(best) == _disorder(scored[1][1][0]):
        best_format = candidates[1] if "." in first else candidates[0]
        best, notes = readings[best_format]
    notes = [*notes, f"dates such as {first!r} read as {best_format!r}"]
    return best, notes


def _try_format(text: pd.Series, fmt: str) -> tuple[pd.DatetimeIndex, list[str]] | None:
    """Parse every value with ``fmt``; mixed UTC offsets become UTC. None if any value fails."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(text, format=fmt)), []
    except (ValueError, TypeError, OverflowError) as exc:
        if "timezone" not in str(exc).lower() and "offset" not in str(exc).lower():
            return None
    try:
        parsed = pd.DatetimeIndex(pd.to_datetime(text, format=fmt, utc=True))
    except (ValueError, TypeError, OverflowError):
        return None
    return parsed, ["timestamps carry several UTC offsets (daylight saving?); converted them to UTC"]


def _disorder(index: pd.DatetimeIndex) -> tuple[int, int]:
    """(backward steps, timestamps off or missing from the inferred calendar grid): lower is a
    more plausible reading. Calendar grids matter: monthly steps vary in days yet are regular."""
    backward = int((np.diff(index.asi8) < 0).sum())
    ordered = index.sort_values().unique()
    if len(ordered) < 3:
        return backward, 0
    frequency = infer_frequency(ordered)
    irregular = len(off_grid_timestamps(ordered, frequency)) + len(missing_timestamps(ordered, frequency))
    return backward, irregular


def _unparseable(text: pd.Series, name: str, candidates: list[str]) -> DataError:
    fmt = candidates[0] if candidates else None
    # utc=True: several UTC offsets (daylight saving) beside a bad value must not raise here.
    parsed = (
        pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
        if fmt
        else pd.Series(pd.NaT, index=text.index)
    )
    bad = text[parsed.isna()]
    good = text[parsed.notna()]
    if len(good) and len(bad):
        lenient = pd.to_datetime(bad, format="mixed", errors="coerce", utc=True)
        if lenient.notna().all():
            first_bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            return DataError(
                f"time column {name!r} mixes date formats (e.g. {good.iloc[0]!r} and {bad.iloc[0]!r}, "
                f"row {first_bad + 1})",
                _FIX,
            )
    examples = ", ".join(repr(v) for v in bad.head(3))
    positions = np.flatnonzero(parsed.isna().to_numpy())
    trailing = bool(len(positions)) and positions[0] == len(text) - len(positions) and len(good) > len(bad)
    if trailing:  # notes or totals written below the data
        return DataError(
            f"the last {len(positions)} row(s) of time column {name!r} are not dates but, it seems, "
            f"notes below the data ({examples}, row(s) {_row_list(positions)})",
            "delete the lines below the data, or fix their dates",
        )
    return DataError(
        f"time column {name!r} has values that are not dates: {examples} (row(s) {_row_list(positions)})",
        f"{_FIX}; or pick the time column with --time-col",
    )


# Simple, unambiguous spellings whose format forecasts reuse, so they can be appended to the
# user's own file: (pattern of the first value, strftime format).
_PLAIN_SPELLINGS = (
    (r"\d{4}", "%Y"),
    (r"\d{8}", "%Y%m%d"),
    (r"\d{4}-\d{2}", "%Y-%m"),
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "%Y-%m-%d %H:%M"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S"),
    (r"\d{4}/\d{2}/\d{2}", "%Y/%m/%d"),
    (r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", "%Y/%m/%d %H:%M"),
)


def spelling_of(values: pd.Series) -> str | None:
    """The strftime format the time column is written in, when it is one of a few plain,
    unambiguous spellings (``2024-01``, ``2024-01-31 13:00``, ``1990``, ...); else None."""
    if values.empty or pd.api.types.is_datetime64_any_dtype(values):
        return None
    first = str(values.iloc[0]).strip()
    if pd.api.types.is_float_dtype(values) and first.endswith(".0"):
        first = first[:-2]
    for pattern, fmt in _PLAIN_SPELLINGS:
        if re.fullmatch(pattern, first):
            return fmt
    return None
