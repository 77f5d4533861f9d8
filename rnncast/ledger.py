"""The forecast ledger: every forecast rnncast publishes, kept so it can be scored once the
actuals arrive ("forecast accountability").

A ledger is a UTF-8 CSV file beside its bundle (``<bundle>.ledger.csv``), one row per
series x target x origin x step, with the model's forecast and the naive and seasonal-naive
forecasts of the same time. It is append-only and must survive a process killed at any moment
or a machine losing power:

* a new ledger is written whole to a temporary file, flushed, and linked into place, so it
  appears complete or not at all;
* an existing one is appended to with a single ``write`` on an ``O_APPEND`` descriptor and
  flushed with ``fsync``, under an exclusive lock where the platform has ``flock``;
* a write cut short leaves a torn last record; readers drop it and the next append cuts it off
  before writing (its rows are not lost for good: appending the same forecast again restores
  them, since only rows whose key is already present are skipped).

Every record ends with a newline that is not inside quotes, so the end of the last complete
record is the last newline after which the number of quote characters read is even.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.errors import DataError, first_line
from rnncast.fileio import fsync_directory, sweep_stale_staging

try:  # POSIX only: elsewhere appends are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LEDGER_COLUMNS = (
    "series",
    "target",
    "origin",
    "step",
    "time",
    "forecast",
    "naive",
    "seasonal_naive",
    "model",
    "written_at",
)
# What makes a row the same forecast: running the same forecast twice must not grow the ledger.
KEY_COLUMNS = ("series", "target", "origin", "step", "model")
TEXT_COLUMNS = ("series", "target", "origin", "time", "model", "written_at")
FLOAT_COLUMNS = ("forecast", "naive", "seasonal_naive")
# The forecasts scored against the actuals, and the error column of each.
FORECASTS = {"model": "forecast", "naive": "naive", "seasonal_naive": "seasonal_naive"}
ERRORS = {"model": "error", "naive": "naive_error", "seasonal_naive": "seasonal_naive_error"}

HEADER = (",".join(LEDGER_COLUMNS) + "\n").encode("utf-8")


def ledger_path(bundle_path: Path) -> Path:
    """The ledger of the bundle directory ``bundle_path``: ``<bundle>.ledger.csv`` beside it.

    Beside, not inside: a retrain replaces the bundle directory whole, and the ledger must
    outlive the bundles that wrote it.
    """
    bundle_path = Path(bundle_path)
    return bundle_path.parent / f"{bundle_path.name}.ledger.csv"


def forecast_rows(
    frame: pd.DataFrame,
    *,
    series: str,
    origin: pd.Timestamp,
    naive: np.ndarray,
    seasonal_naive: np.ndarray | None,
    model: str,
    written_at: str | None = None,
) -> pd.DataFrame:
    """Ledger rows for one forecast: ``frame`` is indexed by the future timestamps and has one
    column per target; ``naive`` and ``seasonal_naive`` (None when there is none) are shaped
    like ``frame.to_numpy()`` (horizon x targets). Steps are numbered 1..len(frame), and
    ``written_at`` defaults to now (UTC).

    Raises:
        ValueError: on shapes that do not match, an index that is not made of timestamps, or
            timestamps that are not all of one kind (tz-aware or naive) or not after ``origin``.
    """
    values = frame.to_numpy(dtype=np.float64)
    horizon, targets = values.shape
    naive = np.asarray(naive, dtype=np.float64)
    seasonal = (
        np.full(values.shape, np.nan) if seasonal_naive is None else np.asarray(seasonal_naive, np.float64)
    )
    for name, array in (("naive", naive), ("seasonal_naive", seasonal)):
        if array.shape != values.shape:
            raise ValueError(f"{name} has shape {array.shape}, the forecast {values.shape}")
    times = pd.DatetimeIndex(frame.index)
    origin = pd.Timestamp(origin)
    if (origin.tz is None) != (times.tz is None):
        raise ValueError("the origin and the forecast times must both be tz-aware or both tz-naive")
    if len(times) and not (times > origin).all():
        raise ValueError(f"forecast times must come after the origin {origin.isoformat()}")
    count = horizon * targets
    rows = pd.DataFrame(
        {
            "series": [str(series)] * count,
            # frame.to_numpy().ravel() runs step by step, every target within each step
            "target": np.tile(np.array([str(column) for column in frame.columns], dtype=object), horizon),
            "origin": [origin.isoformat()] * count,
            "step": np.repeat(np.arange(1, horizon + 1, dtype=np.int64), targets),
            "time": np.repeat(np.array([stamp.isoformat() for stamp in times], dtype=object), targets),
            "forecast": values.ravel(),
            "naive": naive.ravel(),
            "seasonal_naive": seasonal.ravel(),
            "model": [str(model)] * count,
            "written_at": [written_at or _now()] * count,
        },
        columns=list(LEDGER_COLUMNS),
    )
    return _typed(rows)


def append_to_ledger(path: Path, rows: pd.DataFrame) -> int:
    """Append ``rows`` (columns exactly :data:`LEDGER_COLUMNS`) to the ledger at ``path``,
    creating it if needed, and return how many rows were appended.

    Rows whose key (series, target, origin, step, model) is already in the ledger, or earlier
    in ``rows``, are skipped. Empty ``written_at`` fields are filled with now (UTC). A torn last
    record left by a crash is cut off first.

    Raises:
        ValueError: ``rows`` does not have the ledger's columns (a programming error).
        DataError: the file at ``path`` is not a ledger, is damaged, or cannot be written.
    """
    path = Path(path)
    if tuple(rows.columns) != LEDGER_COLUMNS:
        raise ValueError(f"ledger rows need the columns {LEDGER_COLUMNS}, not {tuple(rows.columns)}")
    records = _unique(_records(rows))
    try:
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | getattr(os, "O_BINARY", 0))
            except FileNotFoundError:
                if _create(path, records):
                    return len(records)
                continue  # another process created it meanwhile: append to theirs
            try:
                return _append(path, fd, records)
            finally:
                os.close(fd)  # also releases the lock
    except OSError as exc:  # permissions, a full disk, a directory in the way
        raise DataError(
            f"cannot write forecast ledger {str(path)!r} ({exc.strerror or first_line(exc)})",
            "check the permissions and free space of its directory",
        ) from exc


def read_ledger(path: Path) -> pd.DataFrame:
    """The ledger at ``path`` as a frame with :data:`LEDGER_COLUMNS`, in file order: ``step``
    int64, the forecasts float64 (NaN where empty), everything else text.

    A missing file gives an empty frame. A torn last record (what a crash leaves) is dropped.

    Raises:
        DataError: the file is not a ledger, or is damaged.
    """
    path = Path(path)
    if not path.exists():
        return _typed(pd.DataFrame({column: pd.Series([], dtype=str) for column in LEDGER_COLUMNS}))
    if path.is_dir():
        raise DataError(f"forecast ledger {str(path)!r} is a directory", "move it away")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"forecast ledger {str(path)!r} cannot be read ({exc.strerror})") from exc
    return _parse(path, data[: _complete_end(path, data)])


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames has no single truth value
class RealisedErrors:
    """How the published forecasts did once their actuals arrived.

    Attributes:
        scored: the forecasts that have an actual, with ``actual``, ``error`` (forecast -
            actual), ``naive_error`` and ``seasonal_naive_error``; ``origin`` and ``time`` parsed.
        pending: forecasts with no actual yet.
        by_step: per step: ``n`` and ``<name>_rmse``, ``<name>_mae`` for model, naive and
            seasonal_naive (NaN where that forecast is missing).
        by_origin: per origin (sorted timestamps): ``n`` and ``<name>_rmse``, so decay shows.
        by_series: per series: ``n`` and ``<name>_rmse`` (pooled errors mix scales).
        overall: ``n``, ``pending``, ``<name>_mse``, ``<name>_rmse``, ``<name>_mae`` (NaN
            without data) and ``skill_vs_naive`` (1 - model_rmse / naive_rmse, NaN unless both).
    """

    scored: pd.DataFrame
    pending: int
    by_step: pd.DataFrame
    by_origin: pd.DataFrame
    by_series: pd.DataFrame
    overall: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, rows: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: tables as lists of records, times as ISO text, NaN as None.
        ``rows=False`` leaves out ``scored`` (one record per scored forecast)."""
        result: dict[str, Any] = {
            "overall": {key: _jsonable(value) for key, value in self.overall.items()},
            "pending": int(self.pending),
            "by_step": _records_of(self.by_step.reset_index()),
            "by_origin": _records_of(self.by_origin.reset_index()),
            "by_series": _records_of(self.by_series.reset_index()),
        }
        if rows:
            result["scored"] = _records_of(self.scored)
        return result


def realised_errors(ledger: pd.DataFrame, actuals: pd.DataFrame) -> RealisedErrors:
    """Score the ledger's forecasts against ``actuals`` (columns series, target, time, actual).

    Per (series, target, origin, step) only the first row in ``ledger`` counts: that is the
    forecast that was published, and a later re-forecast from the same origin (by a retrained
    model, say) does not replace it. Forecasts are joined to actuals on (series, target, time);
    those without an actual (or with a NaN one) are pending. Times compare as instants, so a
    ledger written with ``+01:00`` offsets matches actuals in UTC.

    Raises:
        ValueError: a frame lacks columns (a programming error).
        DataError: the ledger and the actuals mix tz-aware and tz-naive times, or the actuals
            have more than one value for a series, target and time.
    """
    if {"series", "target", "time", "actual"} - set(actuals.columns) or set(LEDGER_COLUMNS) - set(
        ledger.columns
    ):
        raise ValueError("realised_errors needs a ledger frame and actuals with series, target, time, actual")
    forecasts = ledger.loc[:, list(LEDGER_COLUMNS)].copy()
    forecasts["origin"] = _parse_times(forecasts["origin"], "origin")
    forecasts["time"] = _parse_times(forecasts["time"], "time")
    forecasts["_origin"] = _instants(forecasts["origin"])
    forecasts["_time"] = _instants(forecasts["time"])
    # keep="first": the row written first is the forecast that was published
    forecasts = forecasts.drop_duplicates(["series", "target", "_origin", "step"], keep="first")

    observed = actuals.loc[:, ["series", "target", "time", "actual"]].copy()
    observed["actual"] = observed["actual"].astype(np.float64)
    observed = observed[observed["actual"].notna()]
    for frame in (forecasts, observed):
        frame["series"] = frame["series"].astype(str)
        frame["target"] = frame["target"].astype(str)
    if not pd.api.types.is_datetime64_any_dtype(observed["time"].dtype):
        observed["time"] = pd.to_datetime(observed["time"], format="ISO8601")
    if len(forecasts) and len(observed):
        ledger_aware = isinstance(forecasts["time"].dtype, pd.DatetimeTZDtype)
        actuals_aware = isinstance(observed["time"].dtype, pd.DatetimeTZDtype)
        if ledger_aware != actuals_aware:
            kinds = {True: "tz-aware", False: "tz-naive"}
            raise DataError(
                f"the ledger's times are {kinds[ledger_aware]} but the actuals' are {kinds[actuals_aware]}",
                "read the actuals with the time zone setting the forecasts were made with",
            )
        observed["_time"] = _instants(observed["time"])
        observed = observed.drop(columns="time")
        duplicated = observed.duplicated(["series", "target", "_time"])
        if duplicated.any():
            raise DataError(
                f"the actuals have {int(duplicated.sum())} repeated series, target and time rows",
                "keep one value per series, target and time",
            )
        joined = forecasts.merge(observed, on=["series", "target", "_time"], how="left", sort=False)
    else:  # nothing to join (and an empty side may have either kind of time)
        joined = forecasts.assign(actual=np.nan)
    has_actual = joined["actual"].notna()
    pending = int((~has_actual).sum())
    scored = joined[has_actual].drop(columns=["_origin", "_time"]).reset_index(drop=True)
    for name, column in FORECASTS.items():
        scored[ERRORS[name]] = scored[column].astype(np.float64) - scored["actual"]
    scored["step"] = scored["step"].astype(np.int64)

    overall: dict[str, Any] = {"n": len(scored), "pending": pending}
    for name, column in ERRORS.items():
        errors = scored[column].dropna()
        mse = float((errors**2).mean()) if len(errors) else math.nan
        overall[f"{name}_mse"] = mse
        overall[f"{name}_rmse"] = math.sqrt(mse) if len(errors) else math.nan
        overall[f"{name}_mae"] = float(errors.abs().mean()) if len(errors) else math.nan
    model_rmse, naive_rmse = overall["model_rmse"], overall["naive_rmse"]
    usable = math.isfinite(model_rmse) and math.isfinite(naive_rmse) and naive_rmse > 0
    overall["skill_vs_naive"] = 1.0 - model_rmse / naive_rmse if usable else math.nan

    return RealisedErrors(
        scored=scored,
        pending=pending,
        by_step=_summary(scored, "step", mae=True),
        by_origin=_summary(scored, "origin", mae=False),
        by_series=_summary(scored, "series", mae=False),
        overall=overall,
    )


# --- writing ---------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _records(rows: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each row as the ten fields it is written with; the key is the text that is written, so
    it compares equal to what :func:`read_ledger` gives back."""
    now = _now()
    records = []
    for row in zip(*(rows[column].tolist() for column in LEDGER_COLUMNS), strict=True):
        fields = dict(zip(LEDGER_COLUMNS, row, strict=True))
        step = int(fields["step"])
        if step < 1:
            raise ValueError(f"ledger steps start at 1, not {step}")
        written_at = _text(fields["written_at"]) or now
        records.append(
            (
                _text(fields["series"]),
                _text(fields["target"]),
                _text(fields["origin"]),
                str(step),
                _text(fields["time"]),
                _number(fields["forecast"]),
                _number(fields["naive"]),
                _number(fields["seasonal_naive"]),
                _text(fields["model"]),
                written_at,
            )
        )
    return records


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return pd.Timestamp(value).isoformat()
    return str(value)


def _number(value: Any) -> str:
    number = float(value)  # numpy scalars repr as "np.float64(...)": plain floats round-trip
    return "" if math.isnan(number) else repr(number)


def _key(record: Sequence[str]) -> tuple[str, ...]:
    return tuple(record[LEDGER_COLUMNS.index(column)] for column in KEY_COLUMNS)


def _unique(records: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    seen: set[tuple[str, ...]] = set()
    unique = []
    for record in records:
        key = _key(record)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    return unique


def _field(text: str) -> str:
    # Quoted whenever it holds a comma, quote or line break; the csv module would leave a bare
    # "\r" unquoted with "\n" line endings, and readers take that for the end of a line.
    if any(special in text for special in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _encode(records: Iterable[Sequence[str]]) -> bytes:
    return "".join(",".join(_field(text) for text in record) + "\n" for record in records).encode("utf-8")


def _create(path: Path, records: list[tuple[str, ...]]) -> bool:
    """Write a new ledger whole and link it into place; False if one appeared meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(path)
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o666 & ~umask)  # mkstemp's 0600 would make the ledger private
        _write_all(fd, HEADER + _encode(records))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(staged, path)  # unlike a rename, never replaces a ledger made meanwhile
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if path.exists():
                return False
            os.replace(staged, path)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
    fsync_directory(path.parent)
    return True


def _append(path: Path, fd: int, records: list[tuple[str, ...]]) -> int:
    """Append the records not in the ledger open as ``fd`` (read-write, O_APPEND)."""
    if fcntl is not None:
        # Another process's append in flight looks like a torn record: without the lock, the
        # repair below could cut off rows it has already reported written.
        fcntl.flock(fd, fcntl.LOCK_EX)
    data = _read_all(fd)
    end = _complete_end(path, data)
    if end < len(data):
        os.ftruncate(fd, end)  # a torn record (or a torn header) left by a crash
    present = _parse(path, data[:end], columns=KEY_COLUMNS) if end else None
    keys: set[tuple[str, ...]] = set()
    if present is not None and len(present):
        # tolist(): iterating an Arrow-backed text column element by element is many times slower
        keys = set(zip(*(present[column].astype(str).tolist() for column in KEY_COLUMNS), strict=True))
    new = [record for record in records if _key(record) not in keys]
    payload = (b"" if end else HEADER) + _encode(new)
    if payload:
        try:
            _write_all(fd, payload)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)  # leave no torn record behind if we can help it
            raise
    if payload or end < len(data):
        os.fsync(fd)
    return len(new)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, payload: bytes) -> None:
    """One ``os.write`` for the whole payload, more only if the kernel takes part of it."""
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- reading ---------------------------------------------------------------------------------


def _complete_end(path: Path, data: bytes) -> int:
    """How many leading bytes of ``data`` are the header and complete records; 0 for an empty
    file or one holding a torn header (a new ledger cut short by a crash).

    Raises DataError when the first line is not the ledger's header.
    """
    if not data.startswith(HEADER):
        if b"\n" not in data and HEADER.startswith(data):
            return 0
        raise DataError(
            f"{str(path)!r} is not an rnncast forecast ledger: its first line is not "
            f"'{HEADER.decode().strip()}'",
            "move the file away; rnncast keeps the bundle's forecast ledger at this path",
        )
    end = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
    # A newline inside a quoted field (odd number of quotes before it) does not end a record.
    quotes = data.count(b'"', 0, end)
    while quotes % 2:
        start = data.rfind(b"\n", 0, end - 1) + 1
        quotes -= data.count(b'"', start, end)
        end = start
    return end


def _parse(path: Path, data: bytes, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Complete ledger bytes (header included) as a typed frame; only ``columns`` if given."""
    if not data:
        empty = pd.DataFrame({column: pd.Series([], dtype=str) for column in LEDGER_COLUMNS})
        return _typed(empty)[list(columns or LEDGER_COLUMNS)]
    try:
        # Everything as text first: series ids such as "007" or "NA" must not become numbers or NaN.
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            usecols=list(columns) if columns else None,
        )
        if columns:
            return frame.loc[:, list(columns)]
        return _typed(frame)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(
            f"forecast ledger {str(path)!r} is damaged ({first_line(exc)})",
            "move it away; a new ledger is started on the next forecast",
        ) from exc


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    typed = pd.DataFrame(index=frame.index)
    for column in LEDGER_COLUMNS:
        values = frame[column]
        if column == "step":
            typed[column] = values.astype(np.int64)
        elif column in FLOAT_COLUMNS:
            if not pd.api.types.is_numeric_dtype(values.dtype):
                values = values.where(values != "")  # empty fields are NaN
            typed[column] = values.astype(np.float64)
        else:
            typed[column] = values.astype(str)
    return typed.reset_index(drop=True)


# --- scoring ---------------------------------------------------------------------------------


def _parse_times(text: pd.Series, what: str) -> pd.Series:
    """ISO timestamps as datetimes: naive ones stay naive; offsets that differ (daylight saving)
    are brought to UTC, since one column holds one time zone."""
    if pd.api.types.is_datetime64_any_dtype(text.dtype):
        return text
    text = text.astype(str)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pandas 2: mixed offsets
            parsed = pd.to_datetime(text, format="ISO8601")
        if parsed.dtype == object:
            raise ValueError("mixed offsets")
    except ValueError:
        try:
            parsed = pd.to_datetime(text, format="ISO8601", utc=True)
        except ValueError as exc:
            raise DataError(
                # pandas' first line ends in "You might want to try:" (its advice is on the next)
                f"the ledger's {what} column holds text that is not an ISO timestamp "
                f"({first_line(exc).split(' You might want to try')[0]})",
                "move the ledger away; a new one is started on the next forecast",
            ) from exc
    return parsed


def _instants(times: pd.Series) -> pd.Series:
    """Join keys: aware times in UTC, at one resolution so that both sides of a merge agree."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC")
    return times.dt.as_unit("ns")


def _summary(scored: pd.DataFrame, by: str, *, mae: bool) -> pd.DataFrame:
    groups = scored.groupby(by, sort=True)
    table = pd.DataFrame({"n": groups.size().astype(np.int64)})
    for name, column in ERRORS.items():
        errors = scored[column]
        # mean() skips NaN, so a missing seasonal-naive forecast gives NaN, not an error
        table[f"{name}_rmse"] = np.sqrt((errors**2).groupby(scored[by], sort=True).mean()).astype(np.float64)
        if mae:
            table[f"{name}_mae"] = errors.abs().groupby(scored[by], sort=True).mean().astype(np.float64)
    table.index.name = by
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp | dt.datetime):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or value is pd.NaT:
        return None
    return value


def _records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(key): _jsonable(value) for key, value in record.items()}
        for record in frame.to_dict(orient="records")
    ]
