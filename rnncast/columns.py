"""Column names as users type them and messages show them: matching a requested name, finding
the time column by its name, listing columns in a message.

Plain Python on names, no pandas: the same words serve the checks made on a file's header
before it is read (:mod:`rnncast.preflight`) and on the table once it is (:mod:`rnncast.data`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rnncast.errors import UsageError

# Column names taken as the time column, in order of preference (compared case-insensitively).
TIME_COLUMN_NAMES = ("date", "datetime", "timestamp", "time", "ds", "month", "week", "period", "year")


def find_column(columns: Sequence[Any], requested: str, flag: str) -> Any:
    """The column of ``columns`` named ``requested``: exactly, else ignoring case and
    surrounding spaces.

    Raises:
        UsageError: none is; the message names ``flag`` and lists the columns.
    """
    if requested in columns:
        return requested
    folded = {str(c).strip().lower(): c for c in columns}
    key = requested.strip().lower()
    if key in folded:
        return folded[key]
    raise UsageError(
        f"{flag} {requested!r} is not a column of the data",
        f"columns are: {column_list(columns)}",
    )


def time_column_by_name(columns: Iterable[Any]) -> Any | None:
    """The first column named as :data:`TIME_COLUMN_NAMES` prefers, or None."""
    # "Date Time", "date_time" and "DATETIME" all count as "datetime".
    by_normal = {normalised(c): c for c in reversed(list(columns))}
    for name in TIME_COLUMN_NAMES:
        if name in by_normal:
            return by_normal[name]
    return None


def normalised(name: Any) -> str:
    """A column name lower-cased, with everything but letters and digits dropped."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def column_list(columns: Any, limit: int = 12) -> str:
    """Column names for a message: the first ``limit``, then how many more."""
    names = [quoted(str(c)) for c in columns]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def quoted(value: str, limit: int = 40) -> str:
    """A cell or name quoted for a message, cut short so one line stays one readable line."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
