"""Property-based tests: whatever a file holds, loading it gives a valid series or a clean error;
scalers round-trip; windows never look past their origin.

Examples are bounded and derandomized (no example database) so CI runs are fast and repeatable.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, example, given, note, reject, settings
from hypothesis import strategies as st

from rnncast.data import SeriesData, load_series
from rnncast.errors import DataError, RnncastError
from rnncast.frequency import infer_frequency, is_known_frequency, missing_timestamps, off_grid_timestamps
from rnncast.reading import read_table
from rnncast.windows import Scaler, chronological_split, input_windows, target_windows

FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=True)
QUICK = settings(max_examples=80, deadline=None, database=None, derandomize=True)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the files of every example (each example overwrites its file); module
    scoped, since hypothesis runs many examples in one call of a test."""
    return tmp_path_factory.mktemp("fuzz")


# --- Tables -------------------------------------------------------------------------------------

DELIMITERS = [",", ";", "\t", "|"]
TIME_NAMES = ["date", "Date", "DATE", "datetime", "timestamp", "time", "Date Time", "month", "ds", "year"]

# Timestamp spellings: (strftime format or special, pandas step between rows).
TIME_STYLES = {
    "iso-day": ("%Y-%m-%d", "D"),
    "iso-business-day": ("%Y-%m-%d", "B"),
    "iso-hour": ("%Y-%m-%d %H:%M", "h"),
    "iso-T-seconds": ("%Y-%m-%dT%H:%M:%S", "15min"),
    "iso-seconds": ("%Y-%m-%d %H:%M:%S", "s"),
    "iso-minutes": ("%Y-%m-%dT%H:%M", "min"),
    "iso-offset": ("%Y-%m-%dT%H:%M:%S%z", "h"),
    "month": ("%Y-%m", "MS"),
    "month-first-slashes": ("%m/%d/%Y", "D"),
    "day-first-slashes": ("%d/%m/%Y", "D"),
    "day-first-dots": ("%d.%m.%Y", "D"),
    "compact": ("%Y%m%d", "D"),
    "year": ("%Y", "YS"),
    "week": ("%Y-%m-%d", "W-SUN"),
    "quarter-end": ("%Y-%m-%d", "QE-DEC"),
    "month-end": ("%Y-%m-%d", "ME"),
    "slashes-ymd-hour": ("%Y/%m/%d %H:%M", "h"),
}

NUMBER_JUNK = [
    "NaN",
    "nan",
    "null",
    "NULL",
    "-",
    ".",
    "",
    "n/a",
    "#N/A",
    "None",
    "inf",
    "-inf",
    "Infinity",
    "1e300",
    "-1e300",
    "1e400",
    "1,234.5",
    "1.234,5",
    "$12",
    "$1,234.50",
    "€3,5",
    "12%",
    "-3.5%",
    "0x1F",
    "1_000",
    "TRUE",
    "abc",
    "ünïcødé",
    "a,b",
    'say "hi"',
    "line\nbreak",
    " 42 ",
    "+7",
    "1e-320",
    "１２",
]
DATE_JUNK = [
    "",
    "NaN",
    "NaT",
    "2020-13-45",
    "2020-02-30",
    "yesterday",
    "01/02/2020",
    "2020-01",
    "20200131",
    "1999",
]


def header_names() -> st.SearchStrategy[str]:
    """Column names as real and broken exports spell them."""
    return st.one_of(
        st.sampled_from(["value", "Close", "Adj Close", "OT", "sales", "x", "", " ", "Unnamed: 3", "price"]),
        st.sampled_from(["value ", " value", "Date ", "x.1", "Unnamed: 1", "Price", "\ufeffdate"]),
        st.sampled_from(TIME_NAMES),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
        st.sampled_from(['a"b', "a,b", "a;b", "a\tb", "a|b", "ünï", "名前", "é"]),
    )


def numbers(*, extreme: bool = True) -> st.SearchStrategy[str]:
    """A cell that is a plain number, spelled the usual ways; if ``extreme``, now and then a huge
    or tiny one."""
    usual = [
        st.integers(-(10**6), 10**6).map(str),
        st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: f"{x:.3f}"),
        st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    ]
    return st.one_of(*usual, *([st.floats(allow_nan=False, allow_infinity=False).map(repr)] * extreme))


def cells() -> st.SearchStrategy[str]:
    """Any cell: numbers, dates, missing markers, decorated numbers and garbage."""
    return st.one_of(
        numbers(),
        st.sampled_from(NUMBER_JUNK),
        st.sampled_from(DATE_JUNK),
        st.dates(min_value=pd.Timestamp("1000-01-01").date()).map(str),
        st.text(max_size=6),
    )


ALL_SHAPES = ("regular", "gaps", "irregular", "shuffled", "duplicated", "far-outlier")
CLEAN_SHAPES = ("regular", "gaps", "irregular", "shuffled")


@dataclass
class TimeColumn:
    """Timestamps as written (``texts``) and as meant (``stamps``), in file order."""

    texts: list[str]
    stamps: list[pd.Timestamp]
    style: str
    shape: str


def time_column(draw: st.DrawFn, rows: int, shapes: tuple[str, ...]) -> TimeColumn:
    """Timestamps in one style: regular, with gaps, irregular, shuffled, with duplicates or one
    far-away outlier (as ``shapes`` allow)."""
    style = draw(st.sampled_from(sorted(TIME_STYLES)))
    fmt, step = TIME_STYLES[style]
    first_day = draw(
        st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2090-01-01").date())
    )
    stamps = pd.date_range(pd.Timestamp(first_day), periods=rows, freq=step)
    if "%z" in fmt:
        stamps = stamps.tz_localize("UTC").tz_convert("Europe/Berlin")  # offsets change with DST
    shape = draw(st.sampled_from(shapes))
    event(f"time shape: {shape}")
    values = list(stamps)
    if shape == "gaps" and rows > 3:
        keep = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
        values = [v for v, k in zip(values, keep, strict=True) if k] or values[:1]
    elif shape == "irregular" and rows:
        # Steps in the spelling's own resolution, so irregular does not mean duplicated.
        if "%M" in fmt or "%d" in fmt:
            unit, longest = pd.DateOffset(minutes=1) if "%M" in fmt else pd.DateOffset(days=1), 400
        else:
            unit, longest = pd.DateOffset(months=1) if "%m" in fmt else pd.DateOffset(years=1), 3
        steps = draw(st.lists(st.integers(1, longest), min_size=rows, max_size=rows))
        values = [values[0] + unit * int(n) for n in np.cumsum(steps) - steps[0]]
    elif shape == "shuffled":
        values = draw(st.permutations(values))
    elif shape == "far-outlier" and rows:
        # One row decades after the rest: a grid at the rows' own step would be enormous.
        values[-1] = values[-1] + pd.Timedelta(days=draw(st.integers(365, 60 * 365)))
    elif shape == "duplicated" and rows:
        values = sorted(values + draw(st.lists(st.sampled_from(values), max_size=3)))
    texts = [v.strftime(fmt) for v in values]
    if "%z" in fmt:
        texts = [t[:-2] + ":" + t[-2:] for t in texts]  # +0100 -> +01:00
    return TimeColumn(texts, values, style, shape)


@dataclass
class Table:
    """A generated file, its header, and (for clean tables) what it holds."""

    data: bytes
    header: list[str]
    kind: str
    time: TimeColumn | None = None
    cells: list[list[str]] | None = None


@st.composite
def tables(
    draw: st.DrawFn,
    kinds: tuple[str, ...] = ("clean", "clean", "corrupted", "corrupted", "noise"),
    clean_shapes: tuple[str, ...] = CLEAN_SHAPES,
) -> Table:
    """CSV bytes: a clean series (a time column and numbers), a corrupted one (odd names, bad
    cells, duplicate or far-off timestamps, ragged rows) or noise; any delimiter, line ending and
    encoding."""
    kind = draw(st.sampled_from(kinds))
    event(f"table: {kind}")
    clean = kind == "clean"
    rows = draw(st.integers(3 if clean else 0, 40))
    delimiter = draw(st.sampled_from(DELIMITERS))
    time = None
    if kind != "noise":
        time = time_column(draw, rows, clean_shapes if clean else ALL_SHAPES)
        width = draw(st.integers(1, 3))
        names = [draw(st.sampled_from([*TIME_NAMES, "when"] if clean else [*TIME_NAMES, "when", ""]))]
        value_names = st.sampled_from(["value", "value ", "Close", "sales", "OT", "load", "Umsatz (é)", "x1"])
        any_names = value_names if clean else st.one_of(value_names, value_names, header_names())
        unique_by = (lambda name: name.strip()) if clean else None
        names += draw(st.lists(any_names, min_size=width, max_size=width, unique_by=unique_by))
        if width > 1 and not clean and draw(st.booleans()):
            names[-1] = names[-2].strip() + " "  # the same name once spaces are stripped
        corruption = 0.0 if clean else draw(st.sampled_from([0.0, 0.05, 0.2]))
        body = []
        for stamp in time.texts:
            line = [stamp]
            for _ in range(width):
                if corruption and draw(st.floats(0, 1)) < corruption:
                    line.append(draw(cells()))
                else:
                    line.append(draw(numbers(extreme=not clean)))
            body.append(line)
        if body and not clean and draw(st.integers(0, 4)) == 0:
            body[draw(st.integers(0, len(body) - 1))][0] = draw(st.sampled_from(DATE_JUNK))
    else:
        width = draw(st.integers(1, 4))
        names = draw(st.lists(header_names(), min_size=width, max_size=width))
        body = draw(st.lists(st.lists(cells(), min_size=width, max_size=width), max_size=rows))
    if body and not clean and draw(st.integers(0, 5)) == 0:
        # A ragged row: too many or too few cells.
        row = draw(st.integers(0, len(body) - 1))
        body[row] = body[row][:-1] if draw(st.booleans()) else [*body[row], "1"]

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out = io.StringIO()
    if not clean and draw(st.integers(0, 3)) == 0:
        # Written by hand, without quoting: delimiters and quotes inside cells break the rows.
        out.write(newline.join(delimiter.join(line) for line in [names, *body]))
    else:
        writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
        writer.writerows([names, *body])
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    encodings = ["utf-8", "utf-8", "utf-8-sig", "latin-1"]
    encoding = draw(st.sampled_from(encodings if clean else [*encodings, "utf-16"]))
    data = text.encode(encoding, errors="replace")
    note(f"file bytes: {data!r}")
    return Table(data, names, kind, time, body if clean else None)


def check_series(series: SeriesData) -> None:
    """The guarantees load_series documents for what it returns."""
    frame = series.frame
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert not frame.index.hasnans  # NaT first would still count as "sorted"
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique
    assert list(frame.columns) == list(series.targets + series.features)
    assert series.targets
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert np.isfinite(frame.to_numpy()).all()
    assert len(frame) >= 3
    assert series.filled is not None
    assert series.filled.shape == (len(frame), len(series.targets))
    assert series.filled.dtype == bool
    assert series.frequency


def load_or_refuse(path: Path, **options: object) -> SeriesData | None:
    """load_series, where any RnncastError is an acceptable answer."""
    try:
        series = load_series(path, **options)  # type: ignore[arg-type]
    except RnncastError as exc:
        assert "\n" not in exc.one_line(), exc.one_line()  # the CLI prints one line
        event(f"refused: {type(exc).__name__}")
        return None
    event("loaded")
    check_series(series)
    return series


@settings(FUZZ, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(
    table=tables(), fill=st.sampled_from(["ffill", "interpolate", "drop", "error"]), choice=st.integers(0, 3)
)
# Found by hypothesis: "value " and "value" were both "value" once stripped -> AttributeError.
@example(
    table=Table(
        b"date,value ,value\n2024-01-01,1,2\n2024-01-02,3,5\n2024-01-03,4,7\n",
        ["date", "value ", "value"],
        "corrupted",
    ),
    fill="ffill",
    choice=1,
)
# Found by hypothesis: "NaT" became a timestamp (NaT) in the index of the loaded series.
@example(
    table=Table(b"date,v\n2024-01-01,1\n2024-01-02,2\nNaT,3\n2024-01-03,4\n", ["date", "v"], "corrupted"),
    fill="ffill",
    choice=0,
)
# Found by hypothesis: offsets changing with daylight saving, and one bad cell -> ValueError.
@example(
    table=Table(
        b"time,v\n2024-03-31T01:00:00+01:00,1\n2024-03-31T03:00:00+02:00,2\nyesterday,3\n",
        ["time", "v"],
        "corrupted",
    ),
    fill="ffill",
    choice=0,
)
# Found by hypothesis: the same in an oddly named first column, sniffed for dates -> ValueError.
@example(
    table=Table(
        b"when,v\n2024-03-31T01:00:00+01:00,1\n2024-03-31T03:00:00+02:00,2\n2024-03-31T04:00:00+02:00,4\n",
        ["when", "v"],
        "corrupted",
    ),
    fill="ffill",
    choice=0,
)
def test_any_csv_loads_as_a_valid_series_or_raises_a_data_or_usage_error(
    scratch: Path, table: Table, fill: str, choice: int
) -> None:
    path = scratch / "fuzz.csv"
    path.write_bytes(table.data)
    options: dict[str, object] = {"fill": fill}
    names = [n.strip() for n in table.header]
    if choice in (1, 3) and len(names) > 1:
        options["target"] = (names[-1],)
    if choice == 2 and names:
        options["time_col"] = names[0]
        options["target"] = tuple(dict.fromkeys(names[1:2]))
    if choice == 3:
        options["features"] = ("all",)
    note(f"options: {options}")
    load_or_refuse(path, **options)


@settings(FUZZ, max_examples=100)
@given(table=tables(kinds=("clean",)))
def test_a_clean_series_keeps_every_written_row_and_flags_only_filled_ones(
    scratch: Path, table: Table
) -> None:
    """Regular or shuffled rows load exactly as written. Gaps may be refused (too many) or
    filled: then every written row is still there, unchanged, and only added rows are flagged."""
    assert table.time is not None and table.cells is not None
    stamps = pd.DatetimeIndex(table.time.stamps)
    # 01/02/2020 .. 10/02/2020 read either way is an ordered, regular series; the documented tie
    # rule reads slashes month-first, so day-first slashes are only checked once a day is > 12.
    assume(table.time.style != "day-first-slashes" or (stamps.day > 12).any())
    written = np.array([float(row[-1]) for row in table.cells])
    assume(len(set(written)) > 1)  # a constant target is refused: nothing to forecast
    path = scratch / "clean.csv"
    path.write_bytes(table.data)
    target = table.header[-1].strip()
    # Numbers (1990, 20240131) are taken for dates only in a column named like a time column.
    numeric_dates = table.time.style in ("compact", "year") and table.header[0] == "when"
    try:
        series = load_series(path, target=(target,), time_col="when" if numeric_dates else None)
    except DataError as exc:
        assert table.time.shape in ("gaps", "irregular"), exc.one_line()
        event("clean table with gaps refused")
        return
    check_series(series)
    order = np.argsort(stamps.asi8, kind="stable")
    expected = pd.DatetimeIndex(stamps[order])
    loaded = series.index
    if expected.tz is not None:
        assert loaded.tz is not None
        expected, loaded = expected.tz_convert("UTC"), loaded.tz_convert("UTC")
    assert loaded.tz is None or expected.tz is not None
    observed = loaded.isin(expected)
    assert observed.sum() == len(expected)  # every written row, once
    values = series.frame[target].to_numpy()
    np.testing.assert_allclose(values[observed], written[order], rtol=1e-12, atol=0)
    assert (series.filled[:, 0] == ~observed).all()
    if table.time.shape in ("regular", "shuffled"):
        assert observed.all()


# Pieces of CSV-like bytes: delimiters, line breaks, quotes, digits, dates, BOMs, odd encodings.
BYTE_PIECES = [
    b",",
    b";",
    b"\t",
    b"|",
    b"\n",
    b"\r\n",
    b"\r",
    b'"',
    b" ",
    b"0",
    b"7",
    b"-",
    b".",
    b"e",
    b"%",
    b"$",
    b"date",
    b"value",
    b"2020-01-0",
    b"2020-01-01",
    b"12:00",
    b"Price",
    b"Ticker",
    b"Date",
    b"NaN",
    b"Unnamed: 0",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xe9",
    b"\xc3\xa9",
    b"\x00",
    b"\xe2\x82",
]


def raw_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, and byte soup close enough to CSV to get past the first checks."""
    return st.one_of(
        st.binary(max_size=300), st.lists(st.sampled_from(BYTE_PIECES), max_size=80).map(b"".join)
    )


@st.composite
def parquet_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Tables as Parquet holds them: a DatetimeIndex (named or not) or a time column of
    datetimes or text, beside float columns with gaps and infinities, under any names."""
    rows = draw(st.integers(0, 30))
    stamps = pd.date_range(
        pd.Timestamp(draw(st.dates(min_value=pd.Timestamp("1950-01-01").date()))),
        periods=rows,
        freq=draw(st.sampled_from(["D", "B", "h", "MS", "W-SUN"])),
    )
    names = draw(st.lists(header_names(), min_size=1, max_size=3, unique=True))
    floats = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1e6, 1e6)
    frame = pd.DataFrame({n: draw(st.lists(floats, min_size=rows, max_size=rows)) for n in names})
    layout = draw(st.sampled_from(["index", "column", "text-column"]))
    time_name = draw(st.sampled_from([None, "date", "time", "when", names[0]]))
    if layout == "index":
        frame.index = stamps.rename(time_name)
    else:
        values = stamps if layout == "column" else stamps.strftime("%Y-%m-%d %H:%M")
        frame.insert(0, time_name or "time", values, allow_duplicates=True)
    return frame


@settings(QUICK, max_examples=50)
@given(frame=parquet_frames(), choice=st.integers(0, 2))
# Found by hypothesis: an unnamed DatetimeIndex beside a "time" column -> ValueError.
@example(
    frame=pd.DataFrame(
        {"time": [1.0, 2.0, 3.0], "v": [1.0, 2.0, 4.0]}, index=pd.date_range("2024-01-01", periods=3)
    ),
    choice=0,
)
def test_any_parquet_table_loads_as_a_valid_series_or_raises_a_data_or_usage_error(
    scratch: Path, frame: pd.DataFrame, choice: int
) -> None:
    path = scratch / "fuzz.parquet"
    try:
        frame.to_parquet(path)
    except (ValueError, TypeError):  # pyarrow refuses some frames (duplicate names)
        reject()
    names = [str(c).strip() for c in frame.columns]
    options: dict[str, object] = {}
    if choice == 1:
        options["target"] = (names[-1],)
    elif choice == 2:
        options["features"] = ("all",)
    note(f"frame:\n{frame}\noptions: {options}")
    load_or_refuse(path, **options)


@QUICK
@given(data=raw_bytes(), suffix=st.sampled_from([".csv", ".csv", ".txt", ".parquet"]))
def test_any_bytes_read_as_a_table_or_raise_a_data_error(scratch: Path, data: bytes, suffix: str) -> None:
    path = scratch / f"bytes{suffix}"
    path.write_bytes(data)
    try:
        frame, notes = read_table(path)
    except RnncastError:
        return
    assert isinstance(frame, pd.DataFrame)
    assert all(isinstance(n, str) for n in notes)


def test_the_table_strategy_often_yields_loadable_series(scratch: Path) -> None:
    """Guard against a strategy that only ever exercises the error paths: most clean tables load."""
    outcomes: list[bool] = []

    # 150 examples: about a third are "clean", and 60 sometimes gave fewer than 10 of them.
    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(table=tables())
    def count(table: Table) -> None:
        if table.kind != "clean":
            return
        path = scratch / "count.csv"
        path.write_bytes(table.data)
        try:
            series = load_series(path, target=(table.header[-1].strip(),))
        except RnncastError:
            outcomes.append(False)
            return
        check_series(series)
        outcomes.append(True)

    count()
    assert len(outcomes) >= 10
    assert sum(outcomes) >= len(outcomes) / 2


# --- Frequencies --------------------------------------------------------------------------------


@QUICK
@given(
    step=st.sampled_from(["us", "ms", "s", "min", "15min", "h", "D"]),
    rows=st.integers(3, 30),
    far_days=st.integers(0, 80 * 365),
    jitter=st.integers(0, 999),
)
@example(step="s", rows=3, far_days=70 * 365, jitter=0)  # was a 16.5 GiB grid: MemoryError
def test_gap_checks_refuse_or_answer_without_building_a_huge_grid(
    step: str, rows: int, far_days: int, jitter: int
) -> None:
    """A few dense rows and one decades later: the grid at their step would have billions of
    timestamps. The checks must answer (or raise DataError) without building it."""
    index = pd.date_range("2000-01-01", periods=rows, freq=step)
    last = index[-1] + pd.Timedelta(days=far_days) + pd.Timedelta(microseconds=jitter)
    index = index.append(pd.DatetimeIndex([last]))
    frequency = infer_frequency(index)
    assert is_known_frequency(frequency)
    off_grid = off_grid_timestamps(index, frequency)
    assert off_grid.isin(index).all()
    try:
        missing = missing_timestamps(index, frequency)
    except DataError:
        event("refused")
        return
    assert not missing.isin(index).any()
    assert len(missing) <= max(1_000_000, 100 * len(index))


# --- Scaler -------------------------------------------------------------------------------------


@st.composite
def finite_arrays(draw: st.DrawFn) -> np.ndarray:
    rows = draw(st.integers(1, 12))
    columns = draw(st.integers(1, 4))
    out = np.empty((rows, columns))
    for c in range(columns):
        magnitude = 10.0 ** draw(st.integers(-12, 30))
        kind = draw(st.sampled_from(["spread", "constant", "near-constant", "offset"]))
        unit = np.array(draw(st.lists(st.floats(-1, 1), min_size=rows, max_size=rows)))
        if kind == "constant":
            out[:, c] = magnitude * (0.1 + unit[0])  # 0.1 * 3 / 3 != 0.1: means round
        elif kind == "near-constant":
            out[:, c] = magnitude * (1 + 1e-9 * unit)
        elif kind == "offset":
            out[:, c] = magnitude * (1000 + unit)
        else:
            out[:, c] = magnitude * unit
    return out


@FUZZ
@given(values=finite_arrays(), kind=st.sampled_from(["standard", "minmax"]))
@example(values=np.full((3, 1), 0.1), kind="standard")  # found by hypothesis: scale was 1.4e-17
def test_scaler_transform_then_inverse_returns_the_input(values: np.ndarray, kind: str) -> None:
    columns = tuple(f"c{i}" for i in range(values.shape[1]))
    scaler = Scaler.fit(kind, columns, values)
    assert np.isfinite(scaler.scale).all() and (scaler.scale > 0).all()
    assert np.isfinite(scaler.offset).all()
    scaled = scaler.transform(values)
    assert np.isfinite(scaled).all()
    restored = scaler.inverse(scaled, columns)
    for c in range(values.shape[1]):
        # Rounding error is relative to the column's magnitude, not to each (maybe zero) value.
        magnitude = np.abs(values[:, c]).max()
        np.testing.assert_allclose(restored[:, c], values[:, c], rtol=1e-9, atol=1e-9 * magnitude)
    constant = (values == values[0]).all(axis=0)
    assert (scaler.scale[constant] == 1.0).all()  # documented: nothing divides by ~zero


@FUZZ
@given(values=finite_arrays(), kind=st.sampled_from(["standard", "minmax"]))
def test_scaler_round_trips_through_its_dict_exactly(values: np.ndarray, kind: str) -> None:
    columns = tuple(f"c{i}" for i in range(values.shape[1]))
    scaler = Scaler.fit(kind, columns, values)
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))  # as a bundle stores it
    assert restored.kind == scaler.kind and restored.columns == scaler.columns
    assert np.array_equal(restored.offset, scaler.offset)
    assert np.array_equal(restored.scale, scaler.scale)
    assert restored.to_dict() == scaler.to_dict()


# --- Windows ------------------------------------------------------------------------------------


@FUZZ
@given(
    rows=st.integers(1, 80),
    lookback=st.integers(1, 30),
    horizon=st.integers(1, 20),
    columns=st.integers(1, 3),
)
def test_windows_hold_the_rows_before_the_origin_and_targets_from_it(
    rows: int, lookback: int, horizon: int, columns: int
) -> None:
    values = np.repeat(np.arange(rows, dtype=np.float64)[:, None], columns, axis=1)  # row i holds i
    starts = np.arange(lookback, rows - horizon + 1)
    if not len(starts):
        return
    inputs = input_windows(values, starts, lookback)
    targets = target_windows(values, starts, horizon)
    assert inputs.shape == (len(starts), lookback, columns)
    assert targets.shape == (len(starts), horizon, columns)
    for t, window, future in zip(starts, inputs, targets, strict=True):
        assert (window == np.arange(t - lookback, t)[:, None]).all()
        assert (future == np.arange(t, t + horizon)[:, None]).all()
        assert window.max() < t  # never a value from the origin or after


@FUZZ
@given(
    rows=st.integers(0, 300),
    lookback=st.integers(1, 60),
    horizon=st.integers(1, 30),
    # The fractions TrainConfig accepts: each in (0, 1), together below 0.9.
    val_fraction=st.floats(0.0, 0.9, exclude_min=True, exclude_max=True),
    test_fraction=st.floats(0.0, 0.9, exclude_min=True, exclude_max=True),
)
def test_chronological_split_refuses_or_gives_every_part_ordered_disjoint_windows(
    rows: int, lookback: int, horizon: int, val_fraction: float, test_fraction: float
) -> None:
    assume(val_fraction + test_fraction < 0.9)
    try:
        split = chronological_split(rows, lookback, horizon, val_fraction, test_fraction)
    except DataError:
        event("refused")
        return
    event("split")
    assert split.rows == rows
    assert min(split.train_rows, split.val_rows, split.test_rows) >= 0
    bounds = {
        "train": (0, split.train_rows),
        "val": (split.train_rows, split.train_rows + split.val_rows),
        "test": (split.train_rows + split.val_rows, rows),
    }
    previous_last_target = -1
    for part, (first_row, end_row) in bounds.items():
        starts = split.starts(part)
        assert len(starts) >= 1, part
        assert starts[0] >= first_row and starts[-1] + horizon <= end_row  # targets inside the part
        assert (np.diff(starts) > 0).all()
        assert starts[0] - lookback >= 0  # a full input window exists
        first_target, last_target = starts[0], starts[-1] + horizon - 1
        assert last_target < rows
        assert first_target > previous_last_target, f"{part} targets overlap the part before"
        previous_last_target = last_target
    values = np.arange(rows, dtype=np.float64)[:, None]
    test_starts = split.starts("test")
    assert (input_windows(values, test_starts, lookback).max(axis=(1, 2)) < test_starts).all()
