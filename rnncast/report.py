"""Files for people and programs: forecast CSVs (reports and plots come with the evaluation
issue). Every file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncast.errors import UsageError
from rnncast.fileio import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


def format_timestamps(index: pd.DatetimeIndex, time_format: str | None = None) -> list[str]:
    """One format for a whole column: ``time_format`` (the input file's own spelling) when it
    writes these stamps without loss; else dates when every stamp is a naive midnight; else
    ISO 8601 date-times (with the UTC offset when the index has a zone)."""
    import pandas as pd  # here, not above: format_number serves rnncast info, which has no pandas

    if time_format and index.tz is None:
        written = list(index.strftime(time_format))
        if (pd.to_datetime(written, format=time_format) == index).all():
            return written
    if index.tz is None and bool((index == index.normalize()).all()):
        return list(index.strftime("%Y-%m-%d"))
    return [stamp.isoformat() for stamp in index]


def format_number(value: float | None) -> str:
    """A metric for people: 4 decimals, thousands separators, scientific when tiny or huge."""
    if value is None:
        return "n/a"
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.2f}"
    return f"{value:.4g}"


def short_stamp(iso: Any) -> str:
    """An ISO time stamp without a midnight time of day, so dates read as dates."""
    text = str(iso)
    return text[:10] if text.endswith("T00:00:00") else text


def forecast_csv(frame: pd.DataFrame, time_format: str | None = None) -> str:
    """A dated forecast as CSV text: the time column, then one column per target, then (a
    bundle trained with ``--intervals``) ``<target>_lower_<level>`` and ``<target>_upper_<level>``
    per target and level."""
    import pandas as pd

    buffer = io.StringIO()
    out = frame.copy()
    out.index = pd.Index(format_timestamps(frame.index, time_format), name=frame.index.name or "time")
    out = out.reset_index()
    id_col = frame.attrs.get("id_col")
    if id_col in out.columns:  # many series: the series id first, then its time and values
        out = out[[id_col, *(c for c in out.columns if c != id_col)]]
    out.to_csv(buffer, float_format="%.10g", lineterminator="\n", index=False)
    return buffer.getvalue()


def write_forecast_csv(
    frame: pd.DataFrame, path: str | Path, data_path: str | Path, time_format: str | None = None
) -> Path:
    """Write the forecast CSV to ``path`` atomically, refusing to overwrite the input data.

    Raises:
        UsageError: ``path`` is the data file, a directory, or cannot be written.
    """
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()  # write the file the link names; the link itself stays
    if path.exists() and not path.is_file() and not path.is_dir():
        raise UsageError(
            f"--output {str(path)!r} is a device, pipe or socket, not a file",
            "use --output - to write to standard output, or name a regular file",
        )
    if path.exists() and path.resolve() == Path(data_path).resolve():
        raise UsageError(
            f"--output {str(path)!r} is the input data file", "write the forecast to another file"
        )
    if path.is_dir():
        raise UsageError(f"--output {str(path)!r} is a directory", "name a file such as forecast.csv")
    if not path.parent.is_dir():
        raise UsageError(f"the directory of --output {str(path)!r} does not exist", "create it first")
    if (path.parent / "metadata.json").is_file() and (path.parent / "model.keras").is_file():
        raise UsageError(
            f"--output {str(path)!r} is inside a model bundle", "write the forecast outside the bundle"
        )
    try:
        return atomic_write_text(path, forecast_csv(frame, time_format))
    except OSError as exc:
        raise UsageError(
            f"cannot write --output {str(path)!r} ({exc.strerror})", "choose a writable path"
        ) from exc
