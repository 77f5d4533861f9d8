"""Reading a CSV or Parquet file into a raw table, undoing the quirks of common exporters.

Handles: any line ending, a UTF-8 byte-order mark or Latin-1 bytes, ``,`` ``;`` tab ``|``
delimiters, trailing delimiters, pandas' saved index column, yfinance's three-row header, and
numbers written as ``$1,234.50`` or ``12%``. What comes out still needs validating
(:mod:`rnncast.data`); what was changed is reported as notes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from rnncast.errors import DataError

# Extra spellings of "missing" seen in exported and scraped files ("." is FRED's).
MISSING_MARKERS = ["-", ".", "--", "n/a", "N/A", "null", "NULL", "None", "none", "#N/A", "nan"]
# Bytes read to sniff encoding and delimiter.
HEAD_BYTES = 64 * 1024

_CURRENCY_AND_SPACE = re.compile(r"[$€£¥\s]")
# 1,234.5 (thousands commas, decimal point) and 1.234,5 (thousands dots, decimal comma).
_POINT_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_COMMA_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")


def read_table(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV or Parquet file; returns the table and notes on what was cleaned."""
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist", "check the path")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a directory, not a data file", "name a .csv or .parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty", "export the series again with a header row")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path), []
    frame, delimiter = _read_csv(path)
    return clean_table(frame, delimiter)


def clean_table(frame: pd.DataFrame, delimiter: str) -> tuple[pd.DataFrame, list[str]]:
    """Undo exporters' quirks in a freshly read CSV table; returns it and notes on changes."""
    notes: list[str] = []
    frame = _unwrap_yfinance_header(frame, notes)
    frame = _rename_repeated_columns(frame, notes)
    frame = _drop_junk_columns(frame)
    frame = _coerce_decorated_numbers(frame, notes, decimal_comma_likely=delimiter == ";")
    return frame, notes


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(f"{path.name} is not a readable Parquet file ({_first_line(exc)})") from exc
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "time", allow_duplicates=True)
    frame.columns = unique_names([str(c).strip() for c in frame.columns])
    return frame


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    encoding, head_text = decode_head(path, head, complete=len(head) < HEAD_BYTES)
    delimiter = sniff_delimiter(head_text)
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            na_values=MISSING_MARKERS,
            skipinitialspace=True,
            index_col=False,  # a trailing delimiter must not shift the columns
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path.name} has no header row", "add a header such as 'date,value'") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path.name} is not a well-formed CSV file ({_first_line(exc)})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise DataError(f"{path.name} has a header but no data rows", "add the series' rows")
    return frame, delimiter


def decode_head(path: Path, head: bytes, *, complete: bool) -> tuple[str, str]:
    """The encoding of a CSV file from its first bytes, and those bytes decoded.

    UTF-8 (with or without a byte-order mark) when they decode as such, else Latin-1, the
    encoding of legacy spreadsheet exports. ``complete`` says ``head`` is the whole file (else
    a character cut by the read at its end is not held against UTF-8).

    Raises:
        DataError: the bytes are binary (hold NUL bytes), not text.
    """
    if b"\x00" in head:
        raise DataError(f"{path.name} is binary, not a CSV text file", "export it as CSV or Parquet")
    encoding = "utf-8-sig"  # also strips a UTF-8 byte-order mark
    try:
        return encoding, head.decode(encoding)
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(head) - 4:
            return encoding, head[: exc.start].decode(encoding, errors="replace")
        return "latin-1", head.decode("latin-1")


def sniff_delimiter(text: str) -> str:
    """The field delimiter of CSV text: the first of ``, ; tab |`` that splits the header."""
    header = text.splitlines()[0] if text else ""
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _unwrap_yfinance_header(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """yfinance writes ``Price,Close,...`` / ``Ticker,MSFT,...`` / ``Date,,,`` before the data."""
    if len(frame) < 3 or str(frame.columns[0]).lower() != "price":
        return frame
    first = frame.iloc[:, 0].astype(str).str.strip().str.lower()
    if first.iloc[0] != "ticker" or first.iloc[1] != "date":
        return frame
    notes.append("read a yfinance three-row header")
    frame = frame.iloc[2:].reset_index(drop=True)
    return frame.rename(columns={frame.columns[0]: "Date"})


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats renamed the way pandas renames repeated headers (``value.1``):
    ``value`` and ``value `` are one name once their spaces are stripped."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, count = name, 0
        while candidate in taken:
            count += 1
            candidate = f"{name}.{count}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _rename_repeated_columns(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Give columns whose names repeat (after stripping spaces) distinct names, with a note."""
    names = [str(c) for c in frame.columns]
    unique = unique_names(names)
    if unique == names:
        return frame
    renamed = [new for old, new in zip(names, unique, strict=True) if old != new]
    notes.append(f"repeated column name(s) renamed to {', '.join(repr(n) for n in renamed)}")
    return frame.set_axis(unique, axis=1)


def _drop_junk_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop empty ``Unnamed: N`` columns (trailing delimiters) and a saved 0..n-1 index."""
    junk = []
    for name in frame.columns:
        if not str(name).startswith("Unnamed: "):
            continue
        column = frame[name]
        is_saved_index = (
            pd.api.types.is_integer_dtype(column) and (column.to_numpy() == range(len(column))).all()
        )
        if column.isna().all() or is_saved_index:
            junk.append(name)
    return frame.drop(columns=junk)


def _coerce_decorated_numbers(
    frame: pd.DataFrame, notes: list[str], *, decimal_comma_likely: bool
) -> pd.DataFrame:
    """Turn text columns of decorated numbers (``$1,234.50``, ``12%``, ``1.234,5``) into numbers.

    A column changes only when every non-missing cell is such a number; anything else is left
    for validation to report with examples. ``1,081`` alone could be either convention: it is a
    decimal comma in ``;``-delimited files (European exports) and a thousands separator otherwise.
    """
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        present = column.dropna().astype(str)
        if present.empty:
            continue
        text = present.str.replace(_CURRENCY_AND_SPACE, "", regex=True)
        percent = text.str.endswith("%")
        text = text.str.rstrip("%")
        point_style = bool(text.str.match(_POINT_DECIMAL).all())
        comma_style = bool(text.str.match(_COMMA_DECIMAL).all())
        if comma_style and (not point_style or decimal_comma_likely):
            text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
            separators = "decimal commas read as decimal points"
        elif point_style:
            text = text.str.replace(",", "", regex=False)
            separators = "removed thousands separators"
        else:
            continue
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.isna().any():
            continue
        converted = pd.Series(float("nan"), index=column.index, dtype="float64")
        converted[present.index] = numbers.astype("float64")
        frame[name] = converted
        changes = [
            label
            for label, used in (
                ("removed currency symbols", present.str.contains(r"[$€£¥]", regex=True).any()),
                (separators, present.str.contains(",", regex=False).any()),
                ("removed % signs (values kept in percent)", percent.any()),
            )
            if used
        ]
        if changes:
            notes.append(f"column {name!r}: {', '.join(changes)}")
    return frame


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
