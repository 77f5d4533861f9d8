"""TOML job files: the settings of a run, written once and reused (``--config job.toml``).

Keys are the training flags in snake_case or as spelled on the command line (``batch_size``
or ``batch-size``), with TOML types: numbers, true/false, and text or lists of text for
columns. Flags given on the command line win over the file. Every problem is reported as one
line naming the file, the key, the bad value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from pathlib import Path
from typing import Any

from rnncast.config import SettingError, TrainConfig
from rnncast.errors import UsageError

SETTING_NAMES = tuple(f.name for f in dataclasses.fields(TrainConfig))
# Keys whose value names columns: text ("Close" or "Close,Volume") or a list of text.
COLUMN_KEYS = ("target", "features", "series_columns")


def read_job_file(path: str | Path) -> dict[str, Any]:
    """The settings in the TOML job file ``path``, checked key by key.

    Returns:
        Settings by field name, exactly the keys the file sets.

    Raises:
        UsageError: the file is missing or not TOML, a key is unknown, or a value has the
            wrong type or is out of range.
    """
    path = Path(path)
    document = load_toml(path, given_to="--config", example="write settings as key = value, e.g. units = 64")
    settings = {}
    for key, value in document.items():
        name = key.replace("-", "_")
        if name not in SETTING_NAMES:
            raise UsageError(f"{path.name}: unknown key {key!r}", _unknown_key_hint(name))
        if name in settings:
            twice = f"{name} and {name.replace('_', '-')}"
            raise UsageError(f"{path.name}: {name} is set twice (as {twice})", "keep one")
        settings[name] = _checked_value(path, name, value)
    try:
        TrainConfig(**settings)  # ranges and combinations, with the file's key named
    except SettingError as error:
        raise UsageError(
            f"{path.name}: {error.field} = {_toml(settings[error.field])} {error.problem}", error.hint
        ) from error
    except UsageError as error:
        raise UsageError(f"{path.name}: {error.message}", error.hint) from error
    return settings


def load_toml(path: Path, *, given_to: str, example: str) -> dict[str, Any]:
    """The TOML document in the job file ``path``, or a one-line error naming what is wrong.

    Args:
        given_to: the option or command that named the file (for the hint).
        example: how to write the file, for a file that is not valid TOML.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors add a byte-order mark
    except FileNotFoundError as exc:
        raise UsageError(
            f"job file {str(path)!r} does not exist", f"check the path given to {given_to}"
        ) from exc
    except IsADirectoryError as exc:
        raise UsageError(
            f"job file {str(path)!r} is a directory", f"pass the .toml file to {given_to}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"job file {str(path)!r} cannot be read ({exc})", "save it as UTF-8 text") from exc
    try:
        return tomllib.loads(text)
    except RecursionError as exc:
        raise UsageError(f"{path.name} nests values too deeply", "write settings as key = value") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path.name} is not valid TOML ({exc})", example) from exc


def _checked_value(path: Path, name: str, value: Any) -> Any:
    """``value`` if its TOML type suits the setting ``name``; a one-line error otherwise."""
    default = getattr(TrainConfig(), name)
    if name in COLUMN_KEYS:
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        expected = 'text or a list of text, e.g. ["Close", "Volume"]'
    elif isinstance(default, bool):
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif isinstance(default, int) or name in ("lookback", "horizon", "seasonal_period"):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "a whole number"
    else:  # text settings: choices and the time column
        if isinstance(value, str):
            return value
        expected = "text in quotes"
    raise UsageError(
        f"{path.name}: {name} = {_toml(value)} has the wrong type", f"write {name} as {expected}"
    )


def _unknown_key_hint(name: str) -> str:
    close = difflib.get_close_matches(name, SETTING_NAMES, n=1)
    guess = f"did you mean {close[0]!r}? Accepted" if close else "accepted"
    return f"{guess} keys: {', '.join(SETTING_NAMES)}"


def _toml(value: Any) -> str:
    """``value`` written as in TOML (true, "text", 1.5)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)
