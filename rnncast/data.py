"""Reading a CSV or Parquet file into one validated time series.

:func:`load_series` is the single gate data passes through. What it returns,
:class:`SeriesData`, guarantees: a sorted, duplicate-free ``DatetimeIndex``; float64 target and
feature columns with no missing or infinite values; an inferred frequency; and a fingerprint of
the file it came from. Everything downstream trusts these guarantees.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.columns import TIME_COLUMN_NAMES, find_column, time_column_by_name
from rnncast.columns import column_list as _column_list
from rnncast.columns import normalised as _normalised
from rnncast.columns import quoted as _example
from rnncast.errors import DataError, UsageError
from rnncast.fileio import sha256_file
from rnncast.frequency import infer_frequency, missing_timestamps, off_grid_timestamps
from rnncast.reading import read_table, release_parser_memory
from rnncast.timestamps import parse_timestamps, row_numbers, spelling_of
from rnncast.windows import MAX_MAGNITUDE

# How messages name the column choices, by default the flags that set them.
FLAG_LABELS = {"time_col": "--time-col", "target": "--target", "features": "--features"}
# Beyond this share of missing grid timestamps the series is too gappy to fill silently.
MAX_FILLED_GAP_SHARE = 0.2
# Beyond this share of missing values in a column, filling would invent most of it.
MAX_FILLED_VALUE_SHARE = 0.5
# Below this magnitude, variances underflow and errors vanish in float arithmetic.
MIN_MAGNITUDE = 1e-30
# Rows hashed at a time by rows_digest.
_DIGEST_ROWS = 1 << 20


@dataclass(frozen=True)
class SeriesData:
    """A validated time series: what every later step of rnncast works on.

    Attributes:
        frame: float64 columns ``targets + features`` on a sorted ``DatetimeIndex`` named
            ``time_col``; no missing, infinite or duplicate-time rows.
        time_col: name of the time column in the source file.
        targets: columns to forecast.
        features: input-only columns.
        frequency: pandas offset alias (``"B"``, ``"h"``, ``"MS"``, ...).
        fingerprint: where the data came from and what it held (path, sha256, rows, ...).
        notes: things the user should know (filled values, reordered rows, ...).
        time_format: the strftime format of the file's time column when it is a plain one
            (``%Y-%m``), so outputs can be written the same way; else None.
        filled: rows x targets, True where a target value was missing and filled by
            ``--fill`` (scoring leaves those out: they were never observed).
    """

    frame: pd.DataFrame
    time_col: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    frequency: str
    fingerprint: dict[str, Any]
    notes: tuple[str, ...] = field(default=())
    time_format: str | None = None
    filled: np.ndarray | None = field(default=None, repr=False)

    @property
    def columns(self) -> tuple[str, ...]:
        """Model input columns: the targets first, then the features."""
        return self.targets + self.features

    @property
    def index(self) -> pd.DatetimeIndex:
        """The time index."""
        return self.frame.index  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.frame)


def load_series(
    path: str | Path,
    *,
    time_col: str | None = None,
    target: tuple[str, ...] = (),
    features: tuple[str, ...] = (),
    fill: str = "ffill",
    frequency: str | None = None,
    labels: dict[str, str] | None = None,
) -> SeriesData:
    """Read ``path`` (CSV or Parquet) and validate it into a :class:`SeriesData`.

    Args:
        path: the data file.
        time_col: the time column; found by name when ``None``.
        target: columns to forecast; ``Adj Close``, ``Close`` or the only numeric column
            when empty.
        features: input-only columns; ``("all",)`` means every other numeric column.
        fill: missing-value policy: ``ffill``, ``interpolate``, ``drop`` or ``error``.
        frequency: a known frequency (from a bundle) instead of inferring one.
        labels: how messages name the column choices (default: the flags ``--time-col``,
            ``--target``, ``--features``; a bundle's loader says "the model's target").

    Raises:
        DataError: the file is missing, unreadable, or not a usable time series.
        UsageError: a named column does not exist.
    """
    path = Path(path)
    raw, notes = read_table(path)
    series = series_from_table(
        raw,
        path,
        source_fingerprint(path),
        notes=notes,
        time_col=time_col,
        target=target,
        features=features,
        fill=fill,
        frequency=frequency,
        labels=labels,
    )
    del raw  # the file's whole table: gone before training needs the memory
    release_parser_memory()
    return series


def rows_digest(frame: pd.DataFrame, end: int | None = None) -> str:
    """SHA-256 of the first ``end`` rows (all by default) of a validated frame: its timestamps
    and float values. ``update`` compares it to tell appended rows from rewritten history."""
    part = frame.iloc[:end]
    digest = hashlib.sha256()
    try:  # one unit for every read of a file: microseconds hold any calendar date
        stamps = part.index.as_unit("us").asi8
    except (ValueError, OverflowError):  # sub-microsecond stamps: keep their own unit
        stamps = part.index.asi8
    digest.update(np.asarray(stamps, dtype=np.int64).tobytes())
    # The values row by row, hashed a slice of rows at a time: no copy of the whole table.
    for first in range(0, len(part), _DIGEST_ROWS):
        rows = part.iloc[first : first + _DIGEST_ROWS].to_numpy(dtype=np.float64)
        digest.update(np.ascontiguousarray(rows).tobytes())
    return digest.hexdigest()


def source_fingerprint(path: Path) -> dict[str, Any]:
    """Where a table came from: the file's path, SHA-256 and size."""
    return {"path": str(path.resolve()), "sha256": sha256_file(path), "size_bytes": path.stat().st_size}


def series_from_table(
    raw: pd.DataFrame,
    path: Path,
    source: dict[str, Any],
    *,
    notes: list[str] | None = None,
    name: str | None = None,
    time_col: str | None = None,
    target: tuple[str, ...] = (),
    features: tuple[str, ...] = (),
    fill: str = "ffill",
    frequency: str | None = None,
    labels: dict[str, str] | None = None,
) -> SeriesData:
    """Validate a table read from ``path`` into a :class:`SeriesData` (see :func:`load_series`).

    ``source`` is the file's :func:`source_fingerprint` (hashed once even when one file holds
    many series); ``name`` is how messages call this table (default: the file name).
    """
    notes = list(notes or [])
    label = name or path.name
    labels = {**FLAG_LABELS, **(labels or {})}
    time_name = resolve_time_column(raw, time_col, labels["time_col"])
    refuse_split_time_columns(raw, time_name)
    for flag, names in ((labels["target"], target), (labels["features"], features)):
        clash = [n for n in names if n.strip().lower() == str(time_name).strip().lower()]
        if clash:
            raise UsageError(
                f"{flag} {clash[0]!r} is the time column",
                f"choose value columns: {_column_list(c for c in raw.columns if c != time_name)}",
            )
    index, time_notes = parse_timestamps(raw[time_name], time_name)
    time_format = spelling_of(raw[time_name]) if index.tz is None else None
    notes.extend(time_notes)
    raw = raw.drop(columns=[time_name])
    if raw.columns.empty:
        raise DataError(
            f"{label} has only a time column ({time_name!r}) and no values to forecast",
            "add the series' values as a second column",
        )
    raw.index = index
    raw.index.name = time_name

    target_names = resolve_targets(raw, target, labels["target"])
    feature_names = resolve_features(raw, features, target_names, labels["features"])
    frame = to_numeric_frame(raw[list(target_names + feature_names)])
    if tuple(name.lower() for name in features) == ("all",):
        # "all" means the usable ones: a mostly empty column (Dividends) is left out, not filled.
        sparse = [c for c in feature_names if frame[c].isna().mean() > MAX_FILLED_VALUE_SHARE]
        if sparse:
            feature_names = tuple(c for c in feature_names if c not in sparse)
            frame = frame.drop(columns=sparse)
            notes.append(f"--features all left out mostly empty column(s) {_column_list(sparse)}")

    frame, order_notes = sort_and_deduplicate(frame)
    notes.extend(order_notes)
    frame, edge_notes = trim_unobserved_edges(frame, target_names)
    notes.extend(edge_notes)
    if len(frame) < 3:
        raise DataError(
            f"{label} has {len(frame)} usable row(s)",
            "a time series needs many rows: at least lookback + horizon, and more to train",
        )

    inferred = infer_frequency(frame.index)
    freq = frequency or inferred
    if frequency and inferred != frequency:
        raise DataError(
            f"{label} looks {inferred!r}-spaced but the model was trained on {frequency!r} data",
            "use a file sampled like the training data",
        )
    frame, gap_notes = regularise(frame, freq)
    notes.extend(gap_notes)
    unobserved = frame[list(target_names)].isna()
    frame, fill_notes = fill_missing(frame, fill)
    notes.extend(fill_notes)
    # Filling keeps every row or drops some: the same length means the same rows.
    filled = (unobserved if len(unobserved) == len(frame) else unobserved.loc[frame.index]).to_numpy()
    if len(frame) < 3:
        raise DataError(
            f"{label} has {len(frame)} row(s) left after --fill {fill}",
            "fill the missing values instead (--fill ffill or interpolate) or fix the file",
        )

    fingerprint = {
        **source,
        "rows": len(frame),
        "rows_sha256": rows_digest(frame),
        "first_timestamp": frame.index[0].isoformat(),
        "last_timestamp": frame.index[-1].isoformat(),
        "frequency": freq,
        "columns": list(target_names + feature_names),
        "time_col": time_name,
    }
    return SeriesData(
        frame=frame,
        time_col=time_name,
        targets=target_names,
        features=feature_names,
        frequency=freq,
        fingerprint=fingerprint,
        notes=tuple(notes),
        time_format=time_format,
        filled=filled,
    )


def resolve_time_column(frame: pd.DataFrame, requested: str | None, label: str = "--time-col") -> str:
    """The name of the time column: ``requested``, or the first conventionally named one."""
    if frame.columns.empty:
        raise DataError(
            "the data has no named columns (only an unnamed index or empty columns)",
            "add a header row naming a time column and the values, such as 'date,value'",
        )
    if requested:
        return resolve_column(frame, requested, label)
    by_name = time_column_by_name(frame.columns)
    if by_name is not None:
        return by_name
    # Fall back on the first column if it parses as dates (many exports name it oddly).
    first = frame.columns[0]
    if pd.api.types.is_datetime64_any_dtype(frame[first]):
        return first
    if frame[first].dtype == object or pd.api.types.is_string_dtype(frame[first]):
        sample = frame[first].dropna().astype(str).head(20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' format-inference chatter
            # utc=True: offsets that change with daylight saving must not raise here.
            looks_like_dates = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True).notna().all()
        if len(sample) and looks_like_dates:
            return first
    if len(frame.columns) == 1:
        raise DataError(
            f"the data has one column ({_column_list(frame.columns)}) and no time column",
            "add a column of dates or times before the values, with a header such as 'date,value'",
        )
    raise UsageError(
        f"no time column found among {_column_list(frame.columns)}",
        f"name it with --time-col (looked for: {', '.join(TIME_COLUMN_NAMES)})",
    )


_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(\s*[AaPp]\.?[Mm]\.?)?")
_PART_OF_YEAR = ("month", "week", "quarter")


def refuse_split_time_columns(frame: pd.DataFrame, time_name: str) -> None:
    """Refuse a timestamp split over two columns (date and time of day, or year and month):
    either column alone repeats or is not a date, which would be misreported as duplicates.

    Raises:
        DataError: the time column is one half of such a pair.
    """
    stamps = frame[time_name]
    for other in frame.columns:
        if other == time_name or pd.api.types.is_numeric_dtype(frame[other]):
            continue
        values = frame[other].dropna().astype(str).str.strip()
        if len(values) and values.str.fullmatch(_TIME_OF_DAY).all() and stamps.duplicated().any():
            raise DataError(
                f"the date is in column {time_name!r} and the time of day in column {other!r}",
                f"combine them into one column, such as '{stamps.iloc[0]} {values.iloc[0]}'",
            )
    years = [c for c in frame.columns if _normalised(c) in ("year", "yr")]
    part = {"mon": "month", "qtr": "quarter"}.get(_normalised(time_name), _normalised(time_name))
    if not years or part not in _PART_OF_YEAR:
        return
    # A month column of full dates (2024-01-01) beside a redundant year column is fine.
    partial = pd.api.types.is_numeric_dtype(stamps) or bool(
        stamps.dropna().astype(str).str.strip().str.fullmatch(r"(?i)[a-z]{3,9}\.?|[qw]?\d{1,2}").all()
    )
    if partial:
        year, within = frame[years[0]].iloc[0], frame[time_name].iloc[0]
        example = {"month": "2000-01", "week": "2000-W01", "quarter": "2000Q1"}[part]
        raise DataError(
            f"the year is in column {years[0]!r} and the {part} in column {time_name!r} "
            f"({year} and {within} in the first row)",
            f"combine them into one column of dates, such as {example}",
        )


def resolve_column(frame: pd.DataFrame, requested: str, flag: str) -> str:
    """Match a column name exactly, else ignoring case and surrounding spaces."""
    return find_column(frame.columns, requested, flag)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose values are numbers (after the file's missing markers)."""
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


def resolve_targets(
    frame: pd.DataFrame, requested: tuple[str, ...], label: str = "--target"
) -> tuple[str, ...]:
    """The target columns: as requested, else Adj Close, else Close, else the only number."""
    if requested:
        names = tuple(resolve_column(frame, name, label) for name in requested)
        if len(set(names)) != len(names):
            raise UsageError(f"--target names a column twice: {', '.join(requested)}")
        return names
    by_normal = {_normalised(c): c for c in frame.columns}
    for preferred in ("adjclose", "adjustedclose", "close", "closelast"):
        if preferred in by_normal:
            return (by_normal[preferred],)
    numeric = numeric_columns(frame)
    if len(numeric) == 1:
        return (numeric[0],)
    if not numeric and len(frame.columns) == 1:
        return (frame.columns[0],)  # the only candidate: its conversion names the bad cells
    if not numeric:
        raise DataError(
            f"no numeric column found among {_column_list(frame.columns)}",
            "check the delimiter and number format, or name the column with --target",
        )
    raise UsageError(
        f"several numeric columns and no --target: {_column_list(numeric)}",
        "choose the column(s) to forecast with --target NAME",
    )


def resolve_features(
    frame: pd.DataFrame, requested: tuple[str, ...], targets: tuple[str, ...], label: str = "--features"
) -> tuple[str, ...]:
    """The input-only columns: as requested; ``all`` means every other numeric column."""
    if not requested:
        return ()
    if tuple(name.lower() for name in requested) == ("all",):
        return tuple(c for c in numeric_columns(frame) if c not in targets)
    names = tuple(resolve_column(frame, name, label) for name in requested)
    overlap = [n for n in names if n in targets]
    if overlap:
        raise UsageError(
            f"--features repeats target column(s) {', '.join(overlap)}",
            "targets are inputs already; list only extra columns in --features",
        )
    return tuple(dict.fromkeys(names))


def to_numeric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert the chosen columns to float64, naming any value that is not a number."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_float_dtype(column):  # numbers already: no conversion, no copy
            converted, bad = column, pd.Series(False, index=column.index)
        else:
            converted = pd.to_numeric(column, errors="coerce")
            bad = converted.isna() & column.notna()
        if bad.any():
            examples = ", ".join(_example(v) for v in column[bad].astype(str).unique()[:3])
            if int(bad.sum()) == int(column.notna().sum()):  # text, not numbers with typos
                raise DataError(
                    f"column {name!r} holds text, not numbers (e.g. {examples})",
                    "forecast and feed numeric columns only (choose them with --target and --features)",
                )
            raise DataError(
                f"column {name!r} has {int(bad.sum())} value(s) that are not numbers "
                f"(e.g. {examples}, row(s) {row_numbers(np.flatnonzero(bad.to_numpy()))})",
                "clean those cells, or mark missing values as empty cells",
            )
        values = converted.astype("float64")
        infinite = np.isinf(values.to_numpy())
        if infinite.any():
            raise DataError(
                f"column {name!r} has {int(infinite.sum())} infinite value(s) (inf, Infinity, or a "
                f"number beyond 1.8e308 such as 1e400; row(s) {row_numbers(np.flatnonzero(infinite))})",
                "replace them with real values or empty cells",
            )
        magnitude = np.abs(values.to_numpy())
        huge = magnitude > MAX_MAGNITUDE
        if huge.any():
            limit = f"{MAX_MAGNITUDE:.0e}".replace("e+", "e")
            raise DataError(
                f"column {name!r} has {int(huge.sum())} value(s) beyond ±{limit}, too large for the "
                f"network's 32-bit arithmetic (e.g. {values[huge].iloc[0]:g}, "
                f"row(s) {row_numbers(np.flatnonzero(huge))})",
                "rescale the column before training (express it in thousands, millions, ...)",
            )
        largest = float(np.nanmax(magnitude)) if values.notna().any() else 0.0
        del magnitude
        if 0.0 < largest < MIN_MAGNITUDE:
            raise DataError(
                f"column {name!r} holds only tiny values (the largest is {largest:.3g}), below the "
                "precision the network and the error metrics work with",
                "rescale the column before training (e.g. multiply it by a power of ten)",
            )
        out[name] = values
    result = pd.DataFrame(out, index=frame.index)
    return result


def sort_and_deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sort by time; drop exact duplicate rows; refuse conflicting rows for one timestamp."""
    notes = []
    rows = np.arange(1, len(frame) + 1)  # data-row numbers in the file, for messages
    if not frame.index.is_monotonic_increasing:
        order = np.argsort(frame.index.asi8, kind="stable")
        frame, rows = frame.iloc[order], rows[order]
        notes.append("rows were not in time order; sorted them by time")
    if frame.index.is_unique:  # cheap once the order is known: pandas learns both at once
        return frame, notes
    duplicated = frame.index.duplicated(keep="first")
    if duplicated.any():
        with_values = frame.reset_index()
        exact = with_values.duplicated(keep="first").to_numpy()
        if (duplicated & ~exact).any():
            raise _conflicting_rows(frame.index, frame.index[duplicated & ~exact].unique(), rows)
        frame = frame[~duplicated]
        notes.append(f"dropped {int(duplicated.sum())} exact duplicate row(s)")
    return frame, notes


def _conflicting_rows(index: pd.DatetimeIndex, stamps: pd.DatetimeIndex, rows: np.ndarray) -> DataError:
    """The error for timestamps that appear in several rows with different values.

    Naive local times repeat an hour when clocks go back at the end of daylight saving time:
    when the repeats all fall within one hour of one day of sub-daily data, the message says so.
    """
    shown = sorted(int(r) for r in rows[index.isin(stamps)])
    row_list = ", ".join(str(r) for r in shown[:4]) + (", ..." if len(shown) > 4 else "")
    sub_daily = not bool((index == index.normalize()).all())
    first = stamps.min()
    # Clocks go back on a Sunday night, in spring or autumn (either hemisphere).
    clock_change = first.day_of_week == 6 and first.month in (2, 3, 4, 9, 10, 11) and first.hour < 4
    if sub_daily and clock_change and stamps.max() - first < pd.Timedelta(hours=1):
        return DataError(
            f"{len(stamps)} duplicate timestamp(s) from {stamps.min()} with different values "
            f"(rows {row_list}), as when clocks go back an hour at the end of daylight saving time "
            "and local times repeat",
            "write the times in UTC or with their UTC offsets, so the repeated hour is told apart "
            "(in Central Europe: 2024-10-27T02:30:00+02:00, then 2024-10-27T02:30:00+01:00)",
        )
    return DataError(
        f"{len(stamps)} duplicate timestamp(s) with different values, e.g. "
        f"{', '.join(_when(s) for s in stamps[:3])} (rows {row_list})",
        "keep one row per timestamp (or aggregate them) before training; local times "
        "repeated at a daylight-saving change need UTC offsets (2024-10-27T02:00:00+01:00)",
    )


def regularise(frame: pd.DataFrame, frequency: str) -> tuple[pd.DataFrame, list[str]]:
    """Put a gappy series on its regular grid (gaps become missing values to fill).

    Business-daily data is left as it is: its gaps are market holidays, not missing data; a
    gap longer than any market closure (a week) is reported, because windows across it treat
    its two sides as consecutive days.
    """
    if frequency == "B":
        steps = frame.index.to_series().diff()
        long = steps[steps > pd.Timedelta(days=7)]
        if long.empty:
            return frame, []
        end = long.idxmax()
        start = frame.index[frame.index.get_loc(end) - 1]
        return frame, [
            f"{len(long)} gap(s) longer than a week in trading-day data (the longest: "
            f"{start.date()} to {end.date()}); rows on either side are treated as consecutive"
        ]
    off_grid = off_grid_timestamps(frame.index, frequency)
    if len(off_grid):
        # Irregular timestamps: keep the rows as a sequence rather than invent a grid.
        return frame, [
            f"{len(off_grid)} timestamp(s) are off the regular {frequency!r} grid "
            f"(e.g. {off_grid[0]}); rows are used in order"
        ]
    missing = missing_timestamps(frame.index, frequency)
    if not len(missing):
        return frame, []
    share = len(missing) / (len(frame) + len(missing))
    if share > MAX_FILLED_GAP_SHARE:
        raise DataError(
            f"{len(missing)} of the {len(frame) + len(missing)} {frequency!r} timestamps between "
            f"{frame.index[0]} and {frame.index[-1]} are missing ({share:.0%})",
            "resample the series to a coarser frequency or cut it to its dense part",
        )
    grid = frame.index.union(missing)
    grid.name = frame.index.name
    return frame.reindex(grid), [f"{len(missing)} missing timestamp(s) added as gaps to fill"]


def trim_unobserved_edges(frame: pd.DataFrame, targets: tuple[str, ...]) -> tuple[pd.DataFrame, list[str]]:
    """Drop the rows before the first and after the last observed target value.

    Spreadsheets often carry rows for future dates with empty values, or a history that starts
    before the series was recorded: filling those would invent data, and a forecast would start
    after the invented part instead of after the last real value.

    Raises:
        DataError: no target value at all.
    """
    observed = frame[list(targets)].notna().any(axis=1).to_numpy()
    if not observed.any():
        raise DataError(
            f"target column(s) {_column_list(targets)} have no values at all",
            "choose a column with values with --target",
        )
    first = int(observed.argmax())
    last = len(observed) - 1 - int(observed[::-1].argmax())
    notes = []
    if first > 0:
        notes.append(
            f"dropped the first {first} row(s) ({frame.index[0]} to {frame.index[first - 1]}): "
            "no target value yet"
        )
    if last < len(frame) - 1:
        notes.append(
            f"dropped the last {len(frame) - 1 - last} row(s) ({frame.index[last + 1]} to "
            f"{frame.index[-1]}), which have no target value: the series ends {frame.index[last]}"
        )
    return frame.iloc[first : last + 1], notes


def fill_missing(frame: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, list[str]]:
    """Apply the missing-value policy: ffill, interpolate, drop or error."""
    missing = frame.isna()
    count = int(missing.to_numpy().sum())
    if count == 0:
        return frame, []
    per_column = ", ".join(f"{c}: {int(n)}" for c, n in missing.sum().items() if n)
    share = missing.mean()
    if policy in ("ffill", "interpolate") and (share > MAX_FILLED_VALUE_SHARE).any():
        worst = share.idxmax()
        raise DataError(
            f"column {worst!r} is missing {share[worst]:.0%} of its values ({int(missing[worst].sum())} "
            f"of {len(frame)} rows): filling them would make up most of the series",
            "cut the file to the span where the column was recorded, choose another column, or "
            "use --fill drop",
        )
    if policy == "error":
        where = ", ".join(_when(stamp) for stamp in frame.index[missing.any(axis=1).to_numpy()][:3])
        raise DataError(
            f"{count} missing value(s) ({per_column}), e.g. at {where}",
            "fill them in the file, or choose --fill ffill|interpolate|drop",
        )
    if policy == "drop":
        rows = int(missing.any(axis=1).sum())
        return frame.dropna(), [f"dropped {rows} row(s) with missing values ({per_column})"]
    if policy == "interpolate":
        filled = frame.interpolate(method="time", limit_direction="both")
    else:
        filled = frame.ffill().bfill()  # bfill only reaches leading gaps
    if filled.isna().to_numpy().any():
        empty = [c for c in filled.columns if filled[c].isna().all()]
        raise DataError(f"column(s) {', '.join(empty)} have no values at all", "choose other columns")
    verb = "interpolated" if policy == "interpolate" else "forward-filled"
    return filled, [f"{verb} {count} missing value(s) ({per_column})"]


def check_variation(
    frame: pd.DataFrame, targets: tuple[str, ...], features: tuple[str, ...], label: str = "--target"
) -> list[str]:
    """Refuse a constant target (there is nothing to forecast); note a constant feature, which
    carries no information (scaling gives it scale 1, so it is fed as zeros, safely).

    Raises:
        DataError: a target column holds one value throughout.
    """
    notes = []
    for name in targets + features:
        values = frame[name].to_numpy()
        if len(values) == 0 or values.min() != values.max():
            continue
        value = _plain_number(float(values[0]))
        if name in targets:
            varies = (
                f"choose a column that varies with {label}"
                if label.startswith("--")
                else "use data in which it varies"
            )
            raise DataError(
                f"column {name!r} is constant (every value is {value}): there is nothing to forecast",
                f"forecast it as that constant, or {varies}",
            )
        notes.append(
            f"feature column {name!r} is constant (every value is {value}): it tells the model nothing"
        )
    return notes


def _plain_number(value: float) -> str:
    """``4.25``, ``7``, ``1e+300``: a number as people write it."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:g}"


def _when(stamp: pd.Timestamp) -> str:
    """A timestamp as the user wrote it, more or less: the date alone at midnight."""
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() and stamp.tz is None else str(stamp)
