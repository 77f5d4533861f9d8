"""Reading a CSV or Parquet file into a raw table, undoing the quirks of common exporters.

Handles: any line ending, UTF-8 (with or without a byte-order mark), UTF-16, Windows-1252 or
Latin-1 bytes, ``,`` ``;`` tab ``|`` delimiters, Excel's ``sep=;`` first line, ``#`` comment
lines above the header, trailing delimiters, pandas' saved index column, yfinance's three-row
header, and numbers written as ``$1,234.50``, ``12%``, ``1.234,5``, ``(1.82)``, ``−1.8`` or
``10'035.0`` (converted by :mod:`rnncast.numbers`). What comes out still needs validating
(:mod:`rnncast.data`); what was changed is reported as notes.

Numbers in ``;``-delimited files (European exports) follow the European convention where the
writing allows both: ``1,081`` is a decimal comma and ``1.004`` (a dot before three digits, in a
column of such numbers and integers below 1000) a thousands separator. Elsewhere ``1,081`` is a
thousands separator, except after a leading ``0`` (``0,976`` is a decimal comma).

Refuses, naming the problem and the fix, what would otherwise be misread: files that are not CSV
(compressed, workbooks, web pages), columns separated by spaces or an unknown character, a
missing header row, a title above it, and rows wider than the header (``1,234.5`` unquoted in a
comma-delimited file), whose extra fields pandas would drop without a word.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnncast.errors import DataError, first_line
from rnncast.fileio import data_file_problem

if TYPE_CHECKING:  # pandas loads where a table is built: sniffing a file's first bytes needs none
    import pandas as pd

# Extra spellings of "missing" seen in exported and scraped files ("." is FRED's).
MISSING_MARKERS = ["-", ".", "--", "n/a", "N/A", "null", "NULL", "None", "none", "#N/A", "nan"]
# Bytes read to sniff encoding and delimiter.
HEAD_BYTES = 256 * 1024

# Files from this size up are parsed by pyarrow when plain (see _read_fast); smaller ones, in
# which pandas is quick enough, never are. pyarrow's parser gains on pandas' by running on
# several cores: on two it is no faster, once its table is converted (benchmarks/big_csv.py).
FAST_PATH_BYTES = 8 * 2**20
FAST_PATH_CPUS = 4
# Data rows read below the header to check a delimiter, and the order ties are settled in.
_SNIFF_ROWS = 20
_DELIMITER_PREFERENCE = ("\t", ";", "|", ",")
# Excel's first line naming the delimiter ("sep=;"), sometimes quoted or followed by delimiters.
_SEP_LINE = re.compile(r'"?sep=(\\t|\t|[^\w\s"])"?[,;\t|]*', re.IGNORECASE)
# Line breaks as pandas sees them (str.splitlines also breaks at form feeds and others).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def read_table(path: Path, text_columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV or Parquet file; returns the table and notes on what was cleaned.

    ``text_columns`` (matched ignoring case and surrounding spaces) are kept as written, never
    read as numbers or missing values: series ids such as ``007`` or the ticker ``NA``.
    """
    problem = data_file_problem(path)
    if problem is not None:
        raise DataError(*problem)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(path), []
    frame, layout = _read_csv(path, text_columns)
    kept = [c for c in frame.columns if _folded(c) in {_folded(t) for t in text_columns}]
    positions = {c: list(frame.columns).index(c) for c in kept}
    text = frame[kept]
    frame, notes = clean_table(frame.drop(columns=kept), layout.delimiter)
    for column in kept:  # back in place, untouched by the number clean-up
        # The clean-up drops rows only from the top (yfinance's second and third header rows).
        values = text[column].to_numpy()[len(text) - len(frame) :]
        frame.insert(min(positions[column], len(frame.columns)), column, values)
    return frame, [*layout.notes, *notes]


def _folded(name: object) -> str:
    return str(name).strip().lower()


def clean_table(frame: pd.DataFrame, delimiter: str) -> tuple[pd.DataFrame, list[str]]:
    """Undo exporters' quirks in a freshly read CSV table; returns it and notes on changes."""
    from rnncast.numbers import coerce_decorated_numbers

    notes: list[str] = []
    frame = _unwrap_yfinance_header(frame, notes)
    frame = _rename_repeated_columns(frame, notes)
    frame = _drop_junk_columns(frame)
    frame = coerce_decorated_numbers(frame, notes, decimal_comma_likely=delimiter == ";")
    return frame, notes


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(
            f"{path.name} is not a readable Parquet file ({first_line(exc)})",
            "export it again: it is damaged, cut short, or not Parquet at all",
        ) from exc
    return normalise_parquet_frame(frame)


def normalise_parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read from Parquet as a CSV table: a saved DatetimeIndex becomes a column (even
    beside a column of the same name), names are stripped and made unique."""
    import pandas as pd

    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "time", allow_duplicates=True)
    frame.columns = unique_names([str(c).strip() for c in frame.columns])
    return frame


def _read_csv(path: Path, text_columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, Layout]:
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    encoding, head_text = decode_head(path, head, complete=len(head) < HEAD_BYTES)
    layout = sniff_layout(head_text)
    refuse_unknown_delimiter(path, head_text)
    # An ASCII head says nothing about the encoding: legacy bytes further down the file are
    # Windows-1252 (else Latin-1, which decodes anything). A UTF-8 head is not second-guessed.
    fallbacks = ("cp1252", "latin-1") if encoding == "utf-8-sig" and head_text.isascii() else ()
    frame = parse_csv(
        path, layout.delimiter, encoding, fallbacks=fallbacks, skip=layout.skip, text_columns=text_columns
    )
    if frame.empty:
        raise DataError(f"{path.name} has a header but no data rows", "add the series' rows")
    return frame, layout


def parse_csv(
    path: Path,
    delimiter: str,
    encoding: str,
    *,
    text: str | None = None,
    fallbacks: tuple[str, ...] = (),
    skip: int | None = None,
    text_columns: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Parse the CSV file ``path``, or ``text`` (a part of it), into a raw table.

    pandas' warnings are caught (they would break the one-line error contract on stderr), and
    rows wider than the header, which pandas would silently cut short, are diagnosed.
    ``fallbacks`` are encodings to try, in order, when ``encoding`` fails further down the file.
    ``skip`` lines above the header (a ``sep=`` line, ``#`` comments) are left out; None: as
    :func:`sniff_layout` finds them. In a ``;``-delimited file, number columns written with
    thousands dots (``1.004``) come back as text, for :func:`clean_table` to read.

    Raises:
        DataError: no header, rows wider than the header, a malformed file, mixed encodings,
            or a first row that holds values rather than column names.
    """
    import pandas as pd

    from rnncast.numbers import thousands_dots_as_text

    if skip is None:
        skip = sniff_layout(text if text is not None else _head_text(path, encoding)).skip
    remaining = list(fallbacks)

    def extra_fields() -> DataError | None:
        if text is not None:
            return extra_fields_problem(path.name, _LINE_BREAK.split(text), delimiter, skip=skip)
        return _extra_fields_in_file(path, encoding, delimiter, skip)

    def read(**options: object) -> pd.DataFrame:
        settings = _read_settings(delimiter, encoding, skip)
        if text_columns:
            settings.update(_text_column_options(read_header(settings), text_columns))
        settings.update(options)
        return pd.read_csv(io.StringIO(text) if text is not None else path, **settings)  # type: ignore[call-overload]

    def read_header(settings: dict[str, object]) -> list[str]:
        source = io.StringIO(text) if text is not None else path
        return [str(c) for c in pd.read_csv(source, nrows=0, **settings).columns]  # type: ignore[call-overload]

    def finish(frame: pd.DataFrame) -> pd.DataFrame:
        if delimiter == ";":
            frame = thousands_dots_as_text(frame, read)
        frame.columns = [str(c).strip() for c in frame.columns]
        refuse_data_as_header(path, frame)
        return frame

    # Big plain files: pyarrow's parallel parser, which reads them exactly as pandas would.
    fast = _read_fast(path, delimiter, encoding) if text is None and not skip and not text_columns else None
    if fast is not None:
        return finish(fast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            while True:
                try:
                    frame = read()
                    break
                except UnicodeDecodeError:
                    if not remaining:
                        raise
                    encoding = remaining.pop(0)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{path.name} has no header row", "add a header such as 'date,value'") from exc
        except pd.errors.ParserError as exc:
            raise extra_fields() or DataError(
                f"{path.name} is not a well-formed CSV file ({first_line(exc)})",
                "check its quotes and delimiters, or export it again",
            ) from exc
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path.name} mixes text encodings: byte {exc.object[exc.start : exc.start + 1]!r} "
                f"at position {exc.start} is not {encoding.replace('-sig', '')}",
                "save the file again as UTF-8",
            ) from exc
        except ValueError as exc:
            raise DataError(f"{path.name} is not a well-formed CSV file ({first_line(exc)})") from exc
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        problem = extra_fields()
        if problem is not None:
            raise problem
    return finish(frame)


def release_parser_memory() -> None:
    """Hand back to the system the memory pyarrow's allocator keeps once the tables it parsed
    are gone (it holds on to it for reuse: hundreds of MB after a big file)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _read_settings(delimiter: str, encoding: str, skip: int | None) -> dict[str, object]:
    """The ``pandas.read_csv`` options every CSV file is read with."""
    return {
        "sep": delimiter,
        "encoding": encoding,
        "na_values": MISSING_MARKERS,
        "skipinitialspace": True,
        "index_col": False,  # a trailing delimiter must not shift the columns
        "skiprows": skip or None,
    }


def _read_fast(path: Path, delimiter: str, encoding: str) -> pd.DataFrame | None:
    """The table of a big, plain UTF-8 file read by pyarrow's parallel parser, exactly as pandas
    would read it; None for any other file, or where the two could differ (see
    :mod:`rnncast.fastcsv`): pandas then parses it, quirks and all."""
    if encoding != "utf-8-sig" or path.stat().st_size < FAST_PATH_BYTES:
        return None
    import pyarrow as pa

    from rnncast import fastcsv

    if pa.cpu_count() < FAST_PATH_CPUS:
        return None

    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    missing = [*_PANDAS_MISSING, *MISSING_MARKERS]
    return fastcsv.read_plain_csv(path, _read_settings(delimiter, encoding, None), missing, head)


# pandas' own missing-value spellings, which keep_default_na=False turns off for every column.
_PANDAS_MISSING = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"]
_PANDAS_MISSING += ["<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _text_column_options(names: list[str], text_columns: tuple[str, ...]) -> dict[str, object]:
    """read_csv options that keep ``text_columns`` as written: text, with only an empty cell
    missing, while every other column keeps the usual missing-value spellings."""
    wanted = {_folded(t) for t in text_columns}
    kept = [name for name in names if _folded(name) in wanted]
    if not kept:
        return {}
    return {
        "dtype": dict.fromkeys(kept, str),
        "keep_default_na": False,
        "na_values": {name: [""] if name in kept else [*_PANDAS_MISSING, *MISSING_MARKERS] for name in names},
    }


def _head_text(path: Path, encoding: str) -> str:
    """The first bytes of the file ``path``, decoded."""
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES).decode(encoding, errors="replace")


def decode_head(path: Path, head: bytes, *, complete: bool) -> tuple[str, str]:
    """The encoding of a CSV file from its first bytes, and those bytes decoded.

    UTF-16 when they start with its byte-order mark; UTF-8 (with or without a byte-order mark)
    when they decode as such; else Windows-1252 or Latin-1, the encodings of legacy spreadsheet
    exports. ``complete`` says ``head`` is the whole file (else a character cut by the read at
    its end is not held against UTF-8).

    Raises:
        DataError: the bytes are binary (hold NUL bytes) or another format (a compressed file,
            a workbook, a web page), not CSV text.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte-order mark ("Unicode text")
        usable = head if complete else head[: len(head) - len(head) % 2]
        return "utf-16", usable.decode("utf-16", errors="replace")
    refuse_other_formats(path, head)
    if b"\x00" in head:
        byte_order = _utf16_without_bom(head)
        if byte_order is not None:
            usable = head if complete else head[: len(head) - len(head) % 2]
            return byte_order, usable.decode(byte_order, errors="replace")
        raise DataError(f"{path.name} is binary, not a CSV text file", "export it as CSV or Parquet")
    encoding = "utf-8-sig"  # also strips a UTF-8 byte-order mark
    try:
        return encoding, head.decode(encoding)
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(head) - 4:
            return encoding, head[: exc.start].decode(encoding, errors="replace")
    # Windows-1252 is Latin-1 plus printable characters (€, „, –) where Latin-1 has control
    # codes; files that use its few undefined bytes are read as Latin-1.
    try:
        return "cp1252", head.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1", head.decode("latin-1")


def sniff_delimiter(text: str) -> str:
    """The field delimiter of CSV text: the one an Excel ``sep=`` first line names, else the
    first of ``, ; tab |`` that splits the header."""
    return sniff_layout(text).delimiter


@dataclass(frozen=True)
class Layout:
    """Where the table starts in CSV text.

    Attributes:
        delimiter: the field delimiter.
        skip: lines above the header to leave out (a ``sep=`` line, ``#`` comment lines).
        named: the delimiter was named by a ``sep=`` line.
        notes: what was skipped, for the user.
    """

    delimiter: str
    skip: int = 0
    named: bool = False
    notes: tuple[str, ...] = ()


def sniff_layout(text: str) -> Layout:
    """The layout of CSV text (the head of a file): the delimiter, and lines above the header.

    Excel's ``sep=;`` first line names the delimiter. Lines starting with ``#`` above the header
    are comments (``# exported from ...``, ``# units: kWh``); ``#`` further down is data
    (``#N/A``). The last ``#`` line is the header itself when it splits like the row below it
    and that row holds values (``#,date,value`` above ``1,2024-01-01,5``).
    """
    lines = _LINE_BREAK.split(text)
    start, named, notes = 0, None, []
    sep_line = _SEP_LINE.fullmatch(lines[0].strip(" ")) if lines else None
    if sep_line is not None:
        named = "\t" if sep_line[1] in ("\\t", "\t") else sep_line[1]
        start = 1
    comments = []
    position = start
    while position < len(lines) and (lines[position].lstrip().startswith("#") or not lines[position].strip()):
        if lines[position].strip():
            comments.append(position)
        position += 1
    header = lines[position] if position < len(lines) else ""
    rows = [line for line in lines[position + 1 : position + 1 + _SNIFF_ROWS] if line.strip()]
    delimiter = named or _sniff_header(header, rows)
    if comments and _is_header_above(lines[comments[-1]], header, delimiter):
        position = comments.pop()
        delimiter = named or _sniff_header(lines[position])
    if sep_line is not None:
        notes.append(
            f"read the {_delimiter_name(delimiter)} delimiter named on the first line "
            f"({lines[0].strip(' ')!r}) and skipped that line"
        )
    if comments:
        notes.append(f"skipped {len(comments)} comment line(s) above the header")
    skip = position if sep_line is not None or comments else 0
    return Layout(delimiter, skip, named is not None, tuple(notes))


def _sniff_header(header: str, rows: list[str] | None = None) -> str:
    """The delimiter that splits ``header`` and the data ``rows`` below it into the same number
    of fields (two at least), reading quotes; on a tie tab, ``;`` and ``|`` go before ``,``,
    which column names hold more often (``Wert (EUR, netto)``). Without rows, or when no
    candidate is consistent, the one that splits the header."""
    if rows:
        consistent = []
        for candidate in _DELIMITER_PREFERENCE:
            try:
                counts = {len(fields) for fields in csv.reader([header, *rows], delimiter=candidate)}
            except csv.Error:
                continue
            if len(counts) == 1 and counts.pop() >= 2:
                consistent.append(candidate)
        if consistent:
            return consistent[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _is_header_above(line: str, row: str, delimiter: str) -> bool:
    """Whether the ``#`` line ``line`` names the columns of the data row ``row`` below it."""
    try:
        names, values = (next(csv.reader([text], delimiter=delimiter), []) for text in (line, row))
    except csv.Error:
        return False
    filled = [value.strip() for value in values if value.strip()]
    return len(names) >= 2 and len(names) == len(values) and all(_looks_like_a_value(v) for v in filled)


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
    import pandas as pd

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


# --- Files that are not CSV, or whose layout would be misread -------------------------------------

# Formats often saved or downloaded under a .csv name: (leading bytes, what it is, the fix).
_OTHER_FORMATS = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
    (b"BZh91AY&SY", "bzip2-compressed", "decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first (unzstd)"),
    (b"PAR1", "a Parquet file", "give it a .parquet extension"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)", "save the sheet as CSV"),
    (b"%PDF-", "a PDF document", "export the table itself as CSV"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as CSV"),
)


def refuse_other_formats(path: Path, head: bytes) -> None:
    """Refuse a file whose first bytes say it is not CSV text, naming what it is.

    Raises:
        DataError: a compressed file, a workbook, a web page, ... named like a CSV file.
    """
    for magic, what, fix in _OTHER_FORMATS:
        if head.startswith(magic):
            raise DataError(f"{path.name} is {what}, not a CSV text file", fix)
    if head.startswith(b"PK\x03\x04"):
        if b"xl/" in head:
            raise DataError(
                f"{path.name} is an Excel workbook (.xlsx), not a CSV text file",
                "save the sheet as CSV (File > Save As > CSV) or Parquet",
            )
        if b"opendocument.spreadsheet" in head:
            raise DataError(
                f"{path.name} is an OpenDocument spreadsheet, not a CSV text file", "save the sheet as CSV"
            )
        raise DataError(
            f"{path.name} is a ZIP archive, not a CSV text file", "extract the CSV file from it first"
        )
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        raise DataError(
            f"{path.name} is a web page (HTML), not CSV data: the download probably failed or needed a login",
            "download the CSV file itself (open the link in a browser to see what it returns)",
        )
    if start.startswith(b"<?xml"):
        raise DataError(f"{path.name} is an XML document, not a CSV text file", "export the series as CSV")


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` when ``head`` is UTF-16 text without a byte-order mark:
    the high byte of (almost) every character is NUL, the low byte never is."""
    if len(head) < 16:
        return None
    for byte_order, low, high in (
        ("utf-16-le", head[0::2], head[1::2]),
        ("utf-16-be", head[1::2], head[0::2]),
    ):
        if 0 not in low and high.count(0) >= 0.95 * len(high):
            return byte_order
    return None


# Characters that are part of names, numbers and dates, so never taken as a column separator.
_NOT_SEPARATORS = set("._-/():%°'\"+")


def refuse_unknown_delimiter(path: Path, text: str) -> None:
    """Refuse a file whose columns are separated by something other than ``, ; tab |``.

    Space-aligned tables (printouts, ``df.to_string()``) and exotic separators would be read as
    one column holding whole lines. A single column (dates only, values only) is not refused here.

    Raises:
        DataError: every line of the head splits into the same number (2+) of columns at
            runs of spaces or at one other punctuation character.
    """
    layout = sniff_layout(text)
    if layout.named:
        return  # a sep= line names the delimiter
    lines = [line.strip() for line in _LINE_BREAK.split(text)[layout.skip :] if line.strip()][:21]
    if len(lines) < 2 or any(mark in lines[0] for mark in ",;\t|"):
        return
    header, rows = lines[0], lines[1:]
    separator = None
    for pattern in (r"\s+", r"\s{2,}"):
        width = len(re.split(pattern, header))
        if width >= 2 and all(len(re.split(pattern, row)) == width for row in rows):
            separator = "spaces"
    if separator is not None and _is_one_timestamp(rows[0]):
        return  # a lone time column such as "Date Time" / "2024-01-31 13:00"
    if separator is None:
        for mark in sorted(set(header)):
            if mark.isalnum() or mark.isspace() or mark in _NOT_SEPARATORS:
                continue
            if all(row.count(mark) == header.count(mark) for row in rows):
                separator = repr(mark)
                break
    if separator is None:
        return
    raise DataError(
        f"{path.name} has no ',', ';', tab or '|' between its columns: they seem to be "
        f"separated by {separator} (header: {_shorten(header)!r})",
        "save it as CSV with a comma, semicolon or tab between the columns",
    )


def _is_one_timestamp(text: str) -> bool:
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.Timestamp(text) is not pd.NaT
        except (ValueError, TypeError, OverflowError):
            return False


def refuse_data_as_header(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a file whose first line is data, not column names (its first row would be lost).

    Raises:
        DataError: every named column of the header is a number or a date.
    """
    names = [str(name) for name in frame.columns if not str(name).startswith("Unnamed: ")]
    if names and all(_looks_like_a_value(name) for name in names):
        raise DataError(
            f"{path.name} has no header row: its first line holds values ({', '.join(names[:3])}), "
            "not column names",
            "add a first line naming the columns, such as 'date,value'",
        )


def _looks_like_a_value(name: str) -> bool:
    from rnncast.numbers import CURRENCY_AND_SPACE

    text = re.sub(r"\.\d+$", "", name) if re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", name) else name
    if re.fullmatch(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?", text):
        return True
    try:
        float(CURRENCY_AND_SPACE.sub("", text).replace(",", "").rstrip("%"))
    except ValueError:
        return False
    return True


# A number split in two at a comma: "1" + "234.5" (thousands separator) or "12" + "5" (decimal comma).
_NUMBER_HEAD = re.compile(r"[-+(]?[$€£¥]?\d{1,3}")
_NUMBER_TAIL = re.compile(r"\d+(\.\d+)?%?\)?")


def extra_fields_problem(
    name: str, lines: Iterable[str], delimiter: str, *, skip: int = 0
) -> DataError | None:
    """Diagnose rows with more non-empty fields than the header in the CSV text ``lines`` of
    the file ``name`` (after its first ``skip`` lines), or None when there are none.

    pandas drops such fields without a word (or refuses the file): either way the values of
    those rows would land in the wrong columns. The usual cause is a number written with a comma
    in a comma-delimited file (``1,234.5`` or ``12,5``), else a text value holding the delimiter,
    or title lines above the header row.
    """
    width: int | None = None
    wide: list[int] = []
    titles: list[str] = []  # lines as narrow as the first, above the first wide one
    narrow = 0  # non-empty rows below the first wide one that are not wide
    header = example = ""
    split: tuple[str, str] | None = None
    reader = csv.reader(itertools.islice(lines, skip, None), delimiter=delimiter, skipinitialspace=True)
    for row in reader:
        filled = any(cell.strip() for cell in row)
        if width is None:
            if filled:
                width, header = len(row), delimiter.join(row)
                titles.append(header)
            continue
        if len(row) <= width or not any(cell.strip() for cell in row[width:]):
            if filled and wide:
                narrow += 1
            elif filled:
                titles.append(delimiter.join(row))
            continue
        wide.append(reader.line_num + skip)
        if len(wide) == 1:
            example = delimiter.join(row)
        if split is None:
            split = _split_number(row)
    if width is None or not wide:
        return None
    where = f"{len(wide)} row(s) with more fields than its {width} header column(s)"
    first = f"line {wide[0]}: {_shorten(example)!r}"
    if width == 1 and len(titles) == 1:
        return DataError(
            f"the first line of {name} ({_shorten(header)!r}) has no {_delimiter_name(delimiter)} "
            "delimiter but the rows below it do, as if it were a title above the header row",
            "delete the lines above the header row",
        )
    if width == 1 and len(titles) <= 10 and narrow <= len(wide) // 10:
        shown = ", ".join(repr(_shorten(title, 40)) for title in titles[:2])
        return DataError(
            f"the first {len(titles)} lines of {name} ({shown}{', ...' if len(titles) > 2 else ''}) "
            f"have no {_delimiter_name(delimiter)} delimiter but the rows below them do, as if they "
            "were titles above the header row",
            "delete the lines above the header row",
        )
    if split is not None and delimiter == ",":
        number = ",".join(split)
        if re.fullmatch(r"\d{3}\.\d+%?\)?", split[1]):
            return DataError(
                f"{name} has {where} ({first}): numbers written with thousands separators, "
                f"such as {number!r}, are split into two columns by the ',' delimiter",
                f'quote such numbers ("{number}") or export them without thousands separators',
            )
        if re.fullmatch(r"\d{3}%?\)?", split[1]):
            return DataError(
                f"{name} has {where} ({first}): numbers written with a comma (thousands "
                f"separators or decimal commas), such as {number!r}, are split into two columns by "
                "the ',' delimiter",
                f'quote such numbers ("{number}"), or export them without thousands separators and '
                "with decimal points",
            )
        return DataError(
            f"{name} has {where} ({first}): numbers written with a decimal comma, such as "
            f"{number!r}, are split into two columns by the ',' delimiter",
            f"export with ';' as the delimiter, write decimals with a point, or quote them (\"{number}\")",
        )
    return DataError(
        f"{name} has {where} ({first}): a value holds the {_delimiter_name(delimiter)} "
        "delimiter, or the header lacks a column name",
        "quote values that contain the delimiter, or name every column in the header",
    )


def _extra_fields_in_file(path: Path, encoding: str, delimiter: str, skip: int) -> DataError | None:
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        return extra_fields_problem(path.name, handle, delimiter, skip=skip)


def _split_number(row: list[str]) -> tuple[str, str] | None:
    for left, right in itertools.pairwise(row):
        if _NUMBER_HEAD.fullmatch(left.strip()) and _NUMBER_TAIL.fullmatch(right.strip()):
            return left.strip(), right.strip()
    return None


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delimiter, repr(delimiter))


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
