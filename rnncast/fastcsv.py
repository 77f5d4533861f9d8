"""The fast path of CSV reading: pyarrow's multi-threaded parser on plain files, giving the table
pandas would give.

:func:`rnncast.reading.parse_csv` parses with pandas, whose options and quirk handlers define
what a file means. On a big file whose head pandas reads plainly, :func:`read_plain_csv` parses
it with pyarrow instead (on several cores, several times faster), fixing every column's type
from pandas' reading of the head and checking what could read differently: it returns None,
and the caller parses with pandas as before, whenever the two might disagree. Anything unusual
anywhere in the file (a row of another width, bytes that are not UTF-8, a quoted line break, a
number pandas would not read as one) makes pyarrow stop, so such files keep today's behaviour.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Integers beyond this lose digits as float64: such columns are left to pandas.
_EXACT_INTEGERS = 2.0**53


def read_plain_csv(
    path: Path, settings: dict[str, Any], missing: list[str], head: bytes
) -> pd.DataFrame | None:
    """Read the UTF-8 CSV file ``path`` as ``pandas.read_csv(path, **settings)`` would, with
    pyarrow; None when the file is not plain enough to be sure of that (the caller then uses pandas).

    ``settings`` are the pandas options (``sep``, ``na_values``, ...; no ``skiprows`` or
    ``dtype``); ``missing`` every spelling of a missing value they give (pandas' own and
    ``na_values``); ``head`` the file's first bytes.
    """
    lines = _complete_lines(head)
    if lines is None:
        return None
    probe = _pandas_probe(lines, settings)
    if probe is None:
        return None
    types = _arrow_types(probe)
    if types is None:
        return None
    options = _arrow_options(probe, types, settings["sep"], missing)
    # The head read both ways must give the same table, to the dtype.
    head_frame = _arrow_read(io.BytesIO(lines), options, probe)
    if head_frame is None or not _identical(head_frame, probe):
        return None
    return _arrow_read(path, options, probe)


def _complete_lines(head: bytes) -> bytes | None:
    """``head`` up to its last line break; None when it holds no data row after the header."""
    end = head.rfind(b"\n")
    if end < 0 or head.count(b"\n", 0, end) < 1:
        return None
    return head[: end + 1]


def _pandas_probe(lines: bytes, settings: dict[str, Any]) -> pd.DataFrame | None:
    """The head as pandas reads it; None when pandas warns or fails (a quirk to handle)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            frame = pd.read_csv(io.BytesIO(lines), **{**settings, "encoding": "utf-8-sig"})
        except Exception:  # anything at all: the careful path will report it
            return None
    return frame if len(frame) else None


def _arrow_types(probe: pd.DataFrame) -> dict[str, Any] | None:
    """pyarrow's type for each column from pandas' reading of the head: float64 for numbers,
    strings for text and for integers (whose text decides their type, as in pandas); None for
    other dtypes."""
    import pyarrow as pa

    types = {}
    for name, dtype in probe.dtypes.items():
        if pd.api.types.is_float_dtype(dtype):
            types[name] = pa.float64()
        elif pd.api.types.is_signed_integer_dtype(dtype):
            types[name] = pa.string()  # converted afterwards, as pandas would convert the text
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            types[name] = pa.string()
        else:  # booleans, unsigned integers, ...: rare, and read differently by pyarrow
            return None
    return types


def _arrow_options(
    probe: pd.DataFrame, types: dict[str, Any], delimiter: str, missing: list[str]
) -> dict[str, Any]:
    """pyarrow.csv options that read like pandas: pandas' column names (repeats renamed, empty
    ones ``Unnamed: N``) instead of the header row, and its missing values in text columns too."""
    import pyarrow.csv as pacsv

    names = [str(name) for name in probe.columns]
    return {
        "read_options": pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=4 * 2**20),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter),
        "convert_options": pacsv.ConvertOptions(
            column_types=types,
            null_values=sorted(set(missing)),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    }


def _arrow_read(
    source: Path | io.BytesIO, options: dict[str, Any], probe: pd.DataFrame
) -> pd.DataFrame | None:
    """Parse ``source`` with pyarrow and convert it to pandas' dtypes; None when pyarrow
    refuses the file or a column reads in a way pandas might not."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        # The C library's allocator: pyarrow's default (mimalloc) made parsing 4x slower on
        # virtual machines, where its fresh pages cost dearly (benchmarks/big_csv.py).
        table = pacsv.read_csv(source, **options, memory_pool=pa.system_memory_pool())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    dtypes = list(probe.dtypes.items())
    # The float columns go straight into the one block pandas would hold them in (no copy of
    # them all), and each pyarrow column is let go once converted: memory stays near one table.
    floats = [name for name, dtype in dtypes if pd.api.types.is_float_dtype(dtype)]
    block = np.empty((len(floats), table.num_rows))
    others: dict[str, Any] = {}
    for name, dtype in dtypes:
        column, table = table.column(0), table.remove_column(0)
        if name in floats:
            values = _floats(_fill_row(block[floats.index(name)], column), column.null_count)
        else:
            values = others[name] = _to_pandas_column(column, dtype)
        del column
        if values is None:
            return None
    del table
    frame = pd.DataFrame(block.T, columns=floats, copy=False)
    for position, (name, _) in enumerate(dtypes):
        if name in others:
            frame.insert(position, name, others[name])
    return frame


def _to_pandas_column(column: Any, dtype: Any) -> np.ndarray | pd.Series | None:
    """A pyarrow column of integers or text as pandas would hold it (``dtype``: pandas' reading
    of the head); None where pandas could read the text differently."""
    import pyarrow.compute as pc

    if pd.api.types.is_integer_dtype(dtype):
        return _integers(column)
    # pandas drops spaces after a delimiter (skipinitialspace); pyarrow keeps them in text.
    if pc.any(pc.starts_with(column, " ")).as_py():
        return None
    values = column.to_pandas()
    return values if values.dtype == dtype else values.astype(dtype)


def _fill_row(row: np.ndarray, column: Any) -> np.ndarray:
    """Copy the float64 pyarrow ``column`` (missing values as NaN) into ``row``, chunk by chunk:
    one copy, straight into the frame's memory."""
    done = 0
    for chunk in column.chunks:
        row[done : done + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        done += len(chunk)
    return row


def _floats(values: np.ndarray, missing: int) -> np.ndarray | None:
    """Numbers pyarrow read, of which ``missing`` were missing values (NaN); None where pandas
    might have read text instead: NaN or infinity written out ("NAN", "+inf", a 400-digit
    number), which pandas reads as text, or as a number, depending on the spelling."""
    finite = np.isfinite(values)
    if not finite.all() and (np.isinf(values).any() or np.isnan(values).sum() != missing):
        return None
    return values


def _integers(column: Any) -> np.ndarray | None:
    """A column of text whose head pandas read as integers, converted as pandas would convert
    it: int64 when every value is an integer, float64 beside missing values or decimals; None
    for anything pyarrow could read otherwise (such as hexadecimal "0x1F", which pandas keeps
    as text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.any(pc.match_substring(column, "x", ignore_case=True)).as_py():
        return None
    try:
        if not column.null_count:
            return pc.cast(column, pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        pass  # decimals below the head, or integers beyond int64
    try:
        values = _floats(pc.cast(column, pa.float64()).to_numpy(), column.null_count)
    except pa.ArrowInvalid:
        return None
    if values is not None and np.nanmax(np.abs(values), initial=0.0) >= _EXACT_INTEGERS:
        return None  # pandas keeps such integers exact (uint64, or text)
    return values


def _identical(frame: pd.DataFrame, probe: pd.DataFrame) -> bool:
    """Same names, dtypes and values (NaN equal to NaN)."""
    return (
        list(frame.columns) == list(probe.columns)
        and list(frame.dtypes) == list(probe.dtypes)
        and frame.equals(probe)
    )
