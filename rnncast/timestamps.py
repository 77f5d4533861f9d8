"""Parsing a time column into a ``DatetimeIndex`` without silently misreading a date.

One format is chosen for the whole column: ISO 8601 first, else the formats pandas guesses from
several of its values, month-first and day-first, or one of the spellings pandas does not guess
(``3/1/2024 1:00 PM``, ``January 2010``, Stata's ``01jan2023``, SAS's ``01JAN2024:00:00:00``,
quarters ``2024Q1`` and ISO weeks ``2024-W05``, read as their first day). When both readings of
``01/02/2010`` fit every row, the one that keeps the file in time order on the most regular
calendar grid wins (a tie goes to day-first for ``dd.mm.yyyy`` dots, month-first otherwise), and
a note says which was taken. Mixed formats and mixed UTC offsets are never guessed row by row;
two-digit years (``01/31/23``) and ``Jan-10`` (January 2010 or 10 January?) are refused.
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
        plain = _plain_iso(text)
        iso = (plain, []) if plain is not None else _try_format(text, "ISO8601")
        if iso is not None and iso[0].tz is None:
            # The common case, cheaply: ISO 8601 throughout and no UTC offset anywhere (one would
            # have made the result zone-aware, or failed it), so nothing to refuse or to choose.
            index, notes = iso
        else:
            _refuse_mixed_zones(text, name)
            index, notes = _parse_text(text, name, iso)
    if index.hasnans:  # "NaT" parses as no time at all
        positions = np.flatnonzero(index.isna())
        raise DataError(
            f"time column {name!r} holds no time on row(s) {row_numbers(positions)} "
            f"({text.iloc[positions[0]]!r})",
            "fill in or delete those rows",
        )
    return index, notes


# The plain ISO 8601 layouts _plain_iso reads in bulk (the first value's, every value the same).
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?", re.ASCII)
# Rows converted at a time (bounds the temporary arrays).
_PLAIN_ISO_ROWS = 1 << 20
_FIRST_YEAR = np.datetime64("0001-01-01", "s")  # pandas refuses year 0, numpy takes it


def _plain_iso(text: pd.Series) -> pd.DatetimeIndex | None:
    """The timestamps of a column written throughout in the first value's plain ISO 8601 layout
    (``2024-01-31``, ``2024-01-31 13:00``, ``2024-01-31T13:00:00``), checked byte by byte and
    parsed by numpy in bulk: exactly what pandas' ISO 8601 parser returns, in a fraction of its
    time on millions of rows. None for anything else (another layout in any row, a zone, a date
    that does not exist, text that is not ASCII): pandas then reads the column."""
    import pyarrow as pa

    if text.empty or not isinstance(text.iloc[0], str) or not _PLAIN_ISO.fullmatch(text.iloc[0]):
        return None
    layout = text.iloc[0].encode()
    try:
        strings = pa.array(text, type=pa.large_string())  # no copy of pandas' arrow strings
    except (pa.ArrowException, TypeError, ValueError):
        return None
    seconds = np.empty(len(text), dtype=np.int64)
    done = 0
    for chunk in strings.chunks if isinstance(strings, pa.ChunkedArray) else [strings]:
        for start in range(0, len(chunk), _PLAIN_ISO_ROWS):
            stamps = _plain_iso_stamps(chunk.slice(start, _PLAIN_ISO_ROWS), layout)
            if stamps is None:
                return None
            seconds[done : done + len(stamps)] = stamps.view(np.int64)
            done += len(stamps)
    # The resolution pandas gives such text (microseconds from pandas 3, nanoseconds before).
    unit = np.datetime_data(pd.to_datetime(text.iloc[:1], format="ISO8601").dtype)[0]
    per_second = int(np.timedelta64(1, "s") // np.timedelta64(1, unit))
    if max(-int(seconds.min()), int(seconds.max())) > np.iinfo(np.int64).max // per_second:
        return None  # beyond the unit's range: pandas reports it
    if per_second > 1:
        seconds *= per_second
    return pd.DatetimeIndex(seconds.view(f"datetime64[{unit}]"), name=text.name, copy=False)


def _plain_iso_stamps(chunk: Any, layout: bytes) -> np.ndarray | None:
    """The large-string arrow array ``chunk`` as datetime64[s] when every value is written like
    ``layout`` (digits where it has digits, its very separators elsewhere) and is a real time;
    else None."""
    width = len(layout)
    if chunk.null_count or not len(chunk):
        return None
    _, offset_buffer, data_buffer = chunk.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
    if (np.diff(offsets) != width).any():
        return None
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    # Per position: the lowest byte allowed and how far above it ("0" + 9 for a digit, exactly
    # the separator otherwise); below the lowest wraps round to a big difference.
    template = np.frombuffer(layout, dtype=np.uint8)
    digit = (template >= ord("0")) & (template <= ord("9"))
    lowest = np.where(digit, ord("0"), template).astype(np.uint8)
    if ((data.reshape(-1, width) - lowest) > np.where(digit, 9, 0)).any():
        return None
    try:
        stamps = data.view(f"S{width}").astype("datetime64[s]")
    except ValueError:  # a month 13, a 30 February, an hour 24, ...
        return None
    return stamps if stamps.min() >= _FIRST_YEAR else None


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
        f"without one ({text.iloc[positions[0]]!r}, row(s) {row_numbers(positions)})",
        "give every timestamp its UTC offset, or none; rnncast will not guess which time zone "
        "the others are in",
    )


def row_numbers(positions: np.ndarray, limit: int = 3) -> str:
    """Data-row numbers (1 = the first row after the header) of 0-based ``positions``."""
    shown = ", ".join(str(p + 1) for p in positions[:limit])
    return shown + (", ..." if len(positions) > limit else "")


def _parse_numbers(values: pd.Series, name: str) -> pd.DatetimeIndex:
    """Whole years (``1990``) or compact dates (``20240131``)."""
    numbers = values.to_numpy()
    if np.isfinite(numbers).all() and (np.abs(numbers) < 1e12).all() and np.all(numbers == np.round(numbers)):
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
    if len(numbers) > 1 and np.all(np.diff(numbers) == 1):
        # A step counter (the M4 files and some loaders number the steps 1, 2, 3, ...): rnncast
        # needs the clock they ran on to forecast real future timestamps.
        raise DataError(
            f"time column {name!r} numbers the steps ({values.iloc[0]}, {values.iloc[1]}, ...) "
            "instead of giving their dates",
            "write each step's timestamp (for hourly steps, pandas: pd.Timestamp('2024-01-01') + "
            "pd.to_timedelta(steps, unit='h')), or pick the real time column with --time-col",
        )
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


def _parse_text(
    text: pd.Series, name: str, iso: tuple[pd.DatetimeIndex, list[str]] | None
) -> tuple[pd.DatetimeIndex, list[str]]:
    """The column read in the one format that fits it best; ``iso`` is its ISO 8601 reading."""
    if iso is not None:
        return iso
    _refuse_ambiguous_spellings(text, name)
    candidates = _candidates(text)
    readings = []
    for order, candidate in enumerate(candidates[1:]):  # [0] is ISO 8601, tried above
        parsed = _try_format(candidate.text, candidate.fmt)
        if parsed is not None:
            readings.append((order, candidate, parsed))
    if not readings:
        raise _unparseable(text, name, candidates)
    first = text.iloc[0]

    def plausibility(reading: tuple[int, _Candidate, tuple[pd.DatetimeIndex, list[str]]]) -> tuple:
        # Ambiguous day/month order: keep the reading under which the file is in time order with
        # regular steps; on a tie, dots mean day-first (European), anything else month-first.
        order, candidate, (index, _) = reading
        expected = _day_first(candidate.fmt) if "." in candidate.text.iloc[0] else _month_first(candidate.fmt)
        return (*_disorder(index), not expected, order) if len(readings) > 1 else (order,)

    _, best, (index, notes) = min(readings, key=plausibility)
    notes = [*notes, *([best.note.format(first=first, read=index[0])] if best.note else [])]
    if len(readings) > 1:
        notes.append(f"dates such as {first!r} read as {best.shown!r}")
    return index, notes


# A value no format parses: stands in for the values that do not fit a spelling.
_NOT_A_DATE = "\x00not a date"
# Rows whose formats pandas is asked to guess: the first few, the last few and some between.
_GUESS_SAMPLE = (5, 3, 12)


@dataclass(frozen=True)
class _Candidate:
    """One way to read a time column: pandas' ``fmt`` applied to ``text`` (the column's values,
    rewritten for spellings pandas does not know); ``shown`` is the format as written in the
    file, ``note`` (with ``{first}`` and ``{read}``) says how the spelling was read."""

    fmt: str
    text: pd.Series
    shown: str
    note: str | None = None


def _day_first(fmt: str) -> bool:
    return "%d" in fmt and "%m" in fmt and fmt.index("%d") < fmt.index("%m")


def _month_first(fmt: str) -> bool:
    return "%d" in fmt and "%m" in fmt and fmt.index("%m") < fmt.index("%d")


def _sample(values: pd.Series) -> pd.Series:
    """A few values of the column: the first few, the last few and some between, first first."""
    count = len(values)
    head, tail, between = _GUESS_SAMPLE
    rows = [*range(min(head, count)), *np.linspace(0, count - 1, min(between, count)).astype(int)]
    rows += range(max(count - tail, 0), count)
    return values.iloc[list(dict.fromkeys(rows))]


def _guesses(values: pd.Series) -> list[str]:
    """The formats pandas guesses for a sample of ``values``, month-first and day-first, those of
    the first value first. Two-digit years (``%y``) are never guessed."""
    formats: list[str] = []
    for value in dict.fromkeys(_sample(values)):
        for dayfirst in (False, True):
            fmt = guess_datetime_format(value, dayfirst=dayfirst) if value != _NOT_A_DATE else None
            if fmt and "%y" not in fmt and fmt not in formats:
                formats.append(fmt)
    return formats


def _candidates(text: pd.Series) -> list[_Candidate]:
    """Every way worth trying to read ``text``: ISO 8601 first, then the formats pandas guesses
    from several values, then the spellings it does not know that some values are written in."""
    candidates = [_Candidate("ISO8601", text, "ISO 8601")]
    candidates += [_Candidate(fmt, text, fmt) for fmt in _guesses(text)]
    # No date is longer than this; longer cells are kept away from the spelling patterns.
    matchable = text.where(text.str.len() <= _LONGEST_DATE, "")
    sample = _sample(matchable)
    for spelling in _SPELLINGS:
        if not sample.str.fullmatch(spelling.pattern).fillna(False).any():
            continue  # a spelling of a few rows only cannot be the column's
        fits = matchable.str.fullmatch(spelling.pattern).fillna(False).astype(bool)
        rewritten = text[fits].map(lambda value, s=spelling: s.rewrite(s.pattern.fullmatch(value)))
        prepared = pd.Series(_NOT_A_DATE, index=text.index, dtype=object)
        prepared[fits] = rewritten.fillna(_NOT_A_DATE).to_numpy()
        prepared = prepared.astype(str)
        if spelling.guess:
            for fmt in _guesses(prepared):
                shown = f"{fmt.replace('%H', '%I')} %p" if spelling.twelve_hour else fmt
                candidates.append(_Candidate(fmt, prepared, shown, spelling.note))
        else:
            candidates.append(_Candidate("ISO8601", prepared, spelling.label, spelling.note))
    return candidates


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
    try:
        missing = len(missing_timestamps(ordered, frequency))
    except DataError:  # a grid too big to build: this reading is as irregular as can be
        return backward, 2**62
    return backward, len(off_grid_timestamps(ordered, frequency)) + missing


def _unparseable(text: pd.Series, name: str, candidates: list[_Candidate]) -> DataError:
    """The error for a time column no one format reads: judged under the candidate that reads
    the most values, so that valid dates are never listed as not dates."""
    parsed = pd.Series(pd.NaT, index=text.index)
    for candidate in candidates:
        # utc=True: several UTC offsets (daylight saving) beside a bad value must not raise here.
        attempt = pd.to_datetime(candidate.text, format=candidate.fmt, errors="coerce", utc=True)
        if attempt.notna().sum() > parsed.notna().sum():
            parsed = attempt
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
    leading = bool(len(positions)) and len(positions) <= 3 and positions[-1] == len(positions) - 1
    if leading and len(good) >= 2 * len(positions):  # a second header or a units row
        if len(positions) == 1:
            return DataError(
                f"row 1 of time column {name!r} ({bad.iloc[0]!r}) is not a date, unlike the rows "
                "below it: it looks like a second header row, a units row or a comment",
                "delete that row (the line right below the header)",
            )
        return DataError(
            f"rows 1 to {len(positions)} of time column {name!r} ({examples}) are not dates, unlike "
            "the rows below them: they look like second header rows, units rows or comments",
            "delete those rows (the lines right below the header)",
        )
    trailing = bool(len(positions)) and positions[0] == len(text) - len(positions) and len(good) > len(bad)
    if trailing:  # notes or totals written below the data
        return DataError(
            f"the last {len(positions)} row(s) of time column {name!r} are not dates but, it seems, "
            f"notes below the data ({examples}, row(s) {row_numbers(positions)})",
            "delete the lines below the data, or fix their dates",
        )
    return DataError(
        f"time column {name!r} has values that are not dates: {examples} (row(s) {row_numbers(positions)})",
        f"{_FIX}; or pick the time column with --time-col",
    )


# --- Spellings pandas does not guess ------------------------------------------------------------

_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_NUMBERS = {**{m: i for i, m in enumerate(_MONTHS, 1)}, **{m[:3]: i for i, m in enumerate(_MONTHS, 1)}}
_MONTH_NUMBERS["sept"] = 9


def _month(word: str) -> int | None:
    return _MONTH_NUMBERS.get(word.lower().rstrip("."))


@dataclass(frozen=True)
class _Spelling:
    """Values ``pattern`` matches are rewritten by ``rewrite`` (None: not a real date) into ISO
    text, or, when ``guess``, into text whose format pandas guesses (day/month order open)."""

    label: str
    pattern: re.Pattern[str]
    rewrite: Callable[[re.Match[str] | None], str | None]
    note: str | None = None
    guess: bool = False
    twelve_hour: bool = False


def _twelve_hour(match: re.Match[str] | None) -> str | None:
    if match is None or not 1 <= int(match["hour"]) <= 12:
        return None
    hour = int(match["hour"]) % 12 + (12 if match["half"].lower() == "p" else 0)
    seconds = f":{match['second']}" if match["second"] else ""
    return f"{match['date']} {hour:02d}:{match['minute']}{seconds}"


_LONGEST_DATE = 64


def _from_year_1000(rewrite: Callable[[re.Match[str] | None], str | None]) -> Callable[..., str | None]:
    """``rewrite``, giving None for years before 1000 (``0000Q1`` is no date pandas can hold)."""

    def checked(match: re.Match[str] | None) -> str | None:
        if match is not None and "year" in match.groupdict() and int(match["year"]) < 1000:
            return None
        return rewrite(match)

    return checked


@_from_year_1000
def _month_and_year(match: re.Match[str] | None) -> str | None:
    month = _month(match["month"]) if match else None
    return f"{match['year']}-{month:02d}" if match and month else None


@_from_year_1000
def _day_month_year(match: re.Match[str] | None) -> str | None:
    month = _month(match["month"]) if match else None
    if match is None or month is None:
        return None
    time = (
        f" {int(match['time'].split(':')[0]):02d}:{match['time'].split(':', 1)[1]}" if match["time"] else ""
    )
    return f"{match['year']}-{month:02d}-{int(match['day']):02d}{time}"


@_from_year_1000
def _quarter(match: re.Match[str] | None) -> str | None:
    return f"{match['year']}-{3 * int(match['quarter']) - 2:02d}-01" if match else None


@_from_year_1000
def _iso_week(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    try:
        weekday = int(match.groupdict().get("day") or 1)
        day = datetime.date.fromisocalendar(int(match["year"]), int(match["week"]), weekday)
    except ValueError:
        return None
    return day.isoformat()


@_from_year_1000
def _numbered_month(match: re.Match[str] | None) -> str | None:
    return f"{match['year']}-{int(match['month']):02d}" if match and 1 <= int(match["month"]) <= 12 else None


_SPELLINGS = (
    # 3/1/2024 1:00 PM, 2024-03-01 01:00:00 pm: 12-hour clock times, made 24-hour.
    _Spelling(
        "12-hour clock",
        re.compile(
            r"(?P<date>.{1,40}?)[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}(?:\.\d+)?))?"
            r"\s*(?P<half>[AaPp])\.?\s?[Mm]\.?"
        ),
        _twelve_hour,
        guess=True,
        twelve_hour=True,
    ),
    # January 2010, Jan 2010, Jan-2010, 2010-Jan.
    _Spelling(
        "month name and year",
        re.compile(r"(?P<month>[A-Za-z]{3,9})\.?[-/ ,]\s*(?P<year>\d{4})"),
        _month_and_year,
    ),
    _Spelling(
        "year and month name", re.compile(r"(?P<year>\d{4})[-/ ](?P<month>[A-Za-z]{3,9})\.?"), _month_and_year
    ),
    # Stata's %td (01jan2023) and SAS's DATE9. and DATETIME. (01JAN2024, 01JAN2024:00:00:00).
    _Spelling(
        "Stata/SAS date",
        re.compile(
            r"(?P<day>\d{1,2})(?P<month>[A-Za-z]{3})(?P<year>\d{4})(?::(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?"
        ),
        _day_month_year,
    ),
    # Stata's monthly %tm (2023m1).
    _Spelling("Stata month", re.compile(r"(?P<year>\d{4})[mM](?P<month>\d{1,2})"), _numbered_month),
    # Quarters: 2024Q1, 2024-Q1, 2024 q1, Q1 2024.
    _Spelling(
        "quarter",
        re.compile(r"(?P<year>\d{4})\s*[-/ ]?\s*[Qq](?P<quarter>[1-4])"),
        _quarter,
        note="read quarters such as {first!r} as their first day ({read:%Y-%m-%d})",
    ),
    _Spelling(
        "quarter",
        re.compile(r"[Qq](?P<quarter>[1-4])\s*[-/ ]?\s*(?P<year>\d{4})"),
        _quarter,
        note="read quarters such as {first!r} as their first day ({read:%Y-%m-%d})",
    ),
    # ISO 8601 weeks: 2024-W05-3 (a day of a week), 2024-W05 and 2024W05 (its Monday).
    _Spelling("ISO week day", re.compile(r"(?P<year>\d{4})-?W(?P<week>\d{2})-?(?P<day>[1-7])"), _iso_week),
    _Spelling(
        "ISO week",
        re.compile(r"(?P<year>\d{4})-?W(?P<week>\d{2})"),
        _iso_week,
        note="read ISO weeks such as {first!r} as their Monday ({read:%Y-%m-%d})",
    ),
)

# Spellings refused, not guessed: two-digit years, and a month name beside a two-digit number.
_TWO_DIGIT_YEAR = re.compile(
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2}|\d{1,2}[-/ ][A-Za-z]{3,9}\.?[-/ ]\d{2})(?:[ T]\d{1,2}:\d{2}.*)?"
)
_MONTH_THEN_NUMBER = re.compile(r"(?P<month>[A-Za-z]{3,9})\.?[-/ ](?P<number>\d{2})")
_NUMBER_THEN_MONTH = re.compile(r"(?P<number>\d{1,2})[-/ ](?P<month>[A-Za-z]{3,9})\.?")


def _refuse_ambiguous_spellings(text: pd.Series, name: str) -> None:
    """Refuse a time column mostly written in a spelling that could mean several dates.

    Raises:
        DataError: two-digit years (``01/31/23``: 1923 or 2023, and which number is the year?),
            or a month name beside a two-digit number (``Jan-10``: January 2010 or 10 January?).
    """
    enough = max(len(text) / 2, 1)
    fits = text.str.fullmatch(_TWO_DIGIT_YEAR).fillna(False).astype(bool)
    if fits.sum() >= enough:
        example = text[fits].iloc[0]
        raise DataError(
            f"time column {name!r} writes years with two digits (e.g. {example!r}): rnncast will not "
            "guess their century, nor which of the numbers is the year",
            "write years with four digits, ISO such as 2023-01-31 is safest (in a spreadsheet, format "
            "the column as yyyy-mm-dd before exporting)",
        )
    for pattern in (_MONTH_THEN_NUMBER, _NUMBER_THEN_MONTH):
        fits = text.str.fullmatch(pattern).fillna(False).astype(bool)
        if fits.sum() < enough:
            continue
        matches = [pattern.fullmatch(value) for value in text[fits]]
        months = [m for m in matches if m is not None and _month(m["month"]) is not None]
        if len(months) >= enough:
            month, number = _MONTHS[_month(months[0]["month"]) - 1].capitalize(), int(months[0]["number"])
            raise DataError(
                f"time column {name!r} holds dates such as {months[0][0]!r}, which could mean "
                f"{month} '{number:02d} (a month) or {number} {month} (a day of an unwritten year)",
                "write the year in full (2010-01 for a month) or the whole date (2010-01-10); in a "
                "spreadsheet, format the column as yyyy-mm-dd before exporting",
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
