"""A quick look at a data file of any size, from its first and last bytes only.

``rnncast info DATA`` answers "what is in this file?" at once, even for a file of gigabytes:
columns, the time column, the default target, the first and last timestamps and an estimate
of the row count come from the head and the tail; the middle is never read. Full validation
is :func:`rnncast.data.load_series` (``rnncast check``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncast.errors import DataError, RnncastError
from rnncast.fileio import data_file_problem
from rnncast.reading import (
    HEAD_BYTES,
    clean_table,
    decode_head,
    normalise_parquet_frame,
    parse_csv,
    refuse_unknown_delimiter,
    sniff_layout,
)

if TYPE_CHECKING:  # pandas loads once the file has passed the checks on its path and first bytes
    import pandas as pd

# Bytes read from each end of the file: a few thousand rows of a typical series.
SNIFF_BYTES = HEAD_BYTES


def sketch_data_file(path: str | Path) -> dict[str, Any]:
    """Describe a CSV or Parquet file from its head and tail, without reading it all.

    Returns:
        JSON-ready facts: ``path``, ``format``, ``size_bytes``, ``columns`` (name and kind),
        ``time_col``, ``target`` (or ``target_problem``), ``first_timestamp``,
        ``last_timestamp``, ``rows`` and ``rows_estimated``, ``frequency`` (from the head),
        ``bytes_read``; CSV adds ``encoding`` and ``delimiter``.

    Raises:
        DataError: the file is missing, empty, binary, or has no readable header.
    """
    path = Path(path)
    problem = data_file_problem(path)
    if problem is not None:
        raise DataError(*problem)
    size = path.stat().st_size
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    sketch = _sketch_parquet(path) if is_parquet else _sketch_csv(path, size)
    return {"path": str(path.resolve()), "size_bytes": size, **sketch}


def _sketch_csv(path: Path, size: int) -> dict[str, Any]:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        # The tail may overlap the head; it starts on an even byte for UTF-16's two-byte units.
        tail_start = max(size - SNIFF_BYTES, 0) // 2 * 2
        handle.seek(tail_start)
        tail = handle.read(SNIFF_BYTES) if len(head) < size else b""
    complete = len(head) >= size
    encoding, text = decode_head(path, head, complete=complete)
    if not complete:
        cut = max(text.rfind("\n"), text.rfind("\r"))  # drop the line the read cut in two
        if cut < 0:
            raise DataError(
                f"the first line of {path.name} is longer than {SNIFF_BYTES // 1024} KiB",
                "check that the file is a CSV table with one row per line",
            )
        text = text[: cut + 1]
    layout = sniff_layout(text)
    delimiter = layout.delimiter
    frame = _parse_csv_text(path, text, delimiter)
    lines = text.splitlines()
    header_line = lines[layout.skip] if len(lines) > layout.skip else ""
    # Bytes above the first data row: the header and any sep= or comment lines above it.
    preamble = sum(len(line) + 1 for line in lines[: layout.skip + 1])

    sketch: dict[str, Any] = {
        "format": "csv",
        "encoding": encoding.replace("utf-8-sig", "utf-8"),
        "delimiter": delimiter,
        "head_bytes": len(head),
        "bytes_read": len(head) + len(tail),
    }
    sketch.update(_describe_columns(path, frame))
    if complete:
        sketch.update(rows=len(frame), rows_estimated=False)
        return sketch
    data_bytes = len(text.encode(encoding, errors="replace")) - preamble
    per_row = max(data_bytes / max(len(frame), 1), 1.0)
    sketch.update(rows=round((size - preamble) / per_row), rows_estimated=True)
    # The head's last row is not the file's: without a readable tail the end stays unknown.
    sketch["last_timestamp"] = None
    time_col = sketch.get("time_col")
    last_line = _last_line(tail.decode(_tail_encoding(encoding, head), errors="replace"))
    if last_line is not None and time_col is not None and time_col in frame.columns:
        tail_frame = _parse_csv_text(path, f"{header_line}\n{last_line}\n", delimiter, quiet=True)
        if time_col in tail_frame.columns and len(tail_frame):
            import pandas as pd

            # Parsed beside the head's values, so the tail is read in the format chosen for them.
            stamps = pd.concat([frame[time_col].dropna().astype(str), tail_frame[time_col].astype(str)])
            sketch["last_timestamp"] = _timestamp_at(stamps.reset_index(drop=True).to_frame(), time_col, -1)
    return sketch


def _tail_encoding(encoding: str, head: bytes) -> str:
    """The codec for bytes from the middle of the file: no byte-order mark to read there."""
    if encoding == "utf-16":
        return "utf-16-be" if head.startswith(b"\xfe\xff") else "utf-16-le"
    return encoding.replace("utf-8-sig", "utf-8")


def _parse_csv_text(path: Path, text: str, delimiter: str, *, quiet: bool = False) -> pd.DataFrame:
    """Parse CSV text from one end of the file as ``read_table`` parses the whole file, with the
    same diagnoses; ``quiet`` gives an empty table instead of an error (for the tail, which is
    only a bonus)."""
    import pandas as pd

    try:
        if not quiet:
            refuse_unknown_delimiter(path, text)
        frame = parse_csv(path, delimiter, "utf-8", text=text)
    except RnncastError:
        if quiet:
            return pd.DataFrame()
        raise
    frame, _ = clean_table(frame, delimiter)
    return frame


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines()[1:] if line.strip()]  # [0] may be cut in two
    return lines[-1] if lines else None


def _sketch_parquet(path: Path) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        rows = parquet.metadata.num_rows
        first_batch = next(parquet.iter_batches(batch_size=2000), None)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise DataError(f"{path.name} is not a readable Parquet file ({exc})") from exc
    head = normalise_parquet_frame(first_batch.to_pandas() if first_batch is not None else pd.DataFrame())
    if not rows:
        raise DataError(f"{path.name} has columns but no rows", "export the series again with its rows")
    sketch: dict[str, Any] = {"format": "parquet", "bytes_read": None, "rows": rows, "rows_estimated": False}
    sketch.update(_describe_columns(path, head))
    time_col = sketch.get("time_col")
    if time_col is not None and parquet.metadata.num_row_groups and time_col in parquet.schema_arrow.names:
        last_group = parquet.read_row_group(parquet.metadata.num_row_groups - 1, columns=[time_col])
        # A column, not to_pandas(): that would turn a saved DatetimeIndex back into the index.
        stamps = last_group.column(time_col).to_pandas()
        sketch["last_timestamp"] = _timestamp_at(stamps.to_frame(time_col), time_col, -1)
    return sketch


def _describe_columns(path: Path, frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and their kinds, the time column, default target and head timestamps."""
    from rnncast.data import numeric_columns, resolve_targets, resolve_time_column
    from rnncast.frequency import infer_frequency
    from rnncast.timestamps import parse_timestamps

    if frame.empty and not len(frame.columns):
        raise DataError(f"{path.name} has no header row", "add a header such as 'date,value'")
    numbers = set(numeric_columns(frame))
    out: dict[str, Any] = {"time_col": None, "first_timestamp": None, "last_timestamp": None}
    try:
        out["time_col"] = resolve_time_column(frame, None)
    except RnncastError as exc:
        out["time_problem"] = exc.one_line()
    out["columns"] = [
        {
            "name": name,
            "kind": "time" if name == out["time_col"] else "number" if name in numbers else "text",
        }
        for name in frame.columns
    ]
    others = frame.drop(columns=[out["time_col"]]) if out["time_col"] else frame
    try:
        out["target"] = list(resolve_targets(others, ()))
    except RnncastError as exc:
        out["target"], out["target_problem"] = None, exc.one_line()
    out["frequency"] = None
    if out["time_col"] is not None and len(frame):
        try:
            index, _ = parse_timestamps(frame[out["time_col"]], out["time_col"])
        except RnncastError as exc:
            out["time_problem"] = exc.one_line()
        else:
            out["first_timestamp"] = index[0].isoformat()
            out["last_timestamp"] = index[-1].isoformat()
            ordered = index.sort_values().unique()
            if len(ordered) >= 3:
                out["frequency"] = infer_frequency(ordered)
    return out


def _timestamp_at(frame: pd.DataFrame, column: str, position: int) -> str | None:
    """The timestamp in ``column`` at ``position``, or None when it does not parse."""
    from rnncast.timestamps import parse_timestamps

    if column not in frame.columns or frame.empty:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            index, _ = parse_timestamps(frame[column], column)  # all: one format for the column
        except RnncastError:
            return None
    return index[position].isoformat()
