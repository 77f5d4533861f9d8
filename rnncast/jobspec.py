"""Batch job files for ``rnncast run JOB.toml``: what to read, how to train, where to write,
when to retrain and which quality gates to apply, in one TOML file a cron job can run nightly.

A job file has the sections ``[data]``, ``[train]``, ``[output]``, ``[retrain]`` and
``[quality]``. ``[train]`` takes the same keys as a ``--config`` file (see
:mod:`rnncast.jobfile`) and is checked the same way. Paths are relative to the job file's
folder, not to the working directory, because cron starts jobs in ``$HOME``. Every problem is
one line naming the file, the ``section.key``, the bad value and what is accepted.
"""

from __future__ import annotations

import difflib
import glob
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnncast.config import SettingError, TrainConfig, flag_name
from rnncast.errors import DataError, UsageError
from rnncast.fileio import safe_file_name
from rnncast.jobfile import COLUMN_KEYS, SETTING_NAMES, _checked_value, _toml, load_toml

RETRAIN_POLICIES = ("always", "if-data-changed", "update")
MODEL_LAYOUTS = ("per-series", "global")

SECTIONS = ("data", "train", "output", "retrain", "quality")
# The keys of each section except [train], whose keys are TrainConfig's fields.
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "data": ("paths", "id_col", "series_columns", "models"),
    "output": ("dir",),
    "retrain": ("policy", "full_every"),
    "quality": ("require_skill", "max_decay"),
}
# The series layout lives in [data] only: a run's bundles are laid out by it, so it must not
# be changed from a place that reads like an ordinary training setting.
DATA_SETTINGS = ("id_col", "series_columns")
TRAIN_KEYS = tuple(name for name in SETTING_NAMES if name not in DATA_SETTINGS)

DEFAULT_FULL_EVERY = 7
REQUIRE_SKILL_RANGE = (-10.0, 1.0)  # [low, high): skill 1 is a perfect forecast, never beaten
OVERRIDE_KEYS = ("settings", "output_dir", "policy", "require_skill", "max_decay")
GLOB_CHARACTERS = frozenset("*?[")
# Bump when the meaning of a job's fields changes, so old fingerprints stop matching.
FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class JobSpec:
    """A checked job file, with the command line's overrides applied.

    Attributes:
        path: the job file, resolved.
        paths: the ``[data]`` paths as written (files or globs, relative to ``path``'s folder).
        id_col: a long file's id column (each id is a series), or None.
        series_columns: a wide file's series columns, or empty.
        models: ``"per-series"`` (one bundle per series) or ``"global"`` (one model for all).
        settings: the ``[train]`` settings by field name, merged with the command line's.
        output_dir: where the run writes, resolved.
        policy: one of :data:`RETRAIN_POLICIES`.
        full_every: with policy ``"update"``, a full retrain after this many updates (0: never).
        require_skill: the lowest held-out skill against the best baseline a series may have.
        max_decay: the largest fraction by which realised RMSE may exceed the test RMSE.
        fingerprint: sha256 of everything that decides the run's results (not ``output_dir``).
    """

    path: Path
    paths: tuple[str, ...]
    id_col: str | None
    series_columns: tuple[str, ...]
    models: str
    settings: dict[str, Any]
    output_dir: Path
    policy: str
    full_every: int
    require_skill: float | None
    max_decay: float | None
    fingerprint: str


def read_job_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> JobSpec:
    """The job file ``path``, checked section by section, with ``overrides`` applied.

    Args:
        path: the TOML job file.
        overrides: values from command-line flags, which win over the file: ``settings`` (train
            settings by field name, merged over ``[train]``), ``output_dir`` (relative to the
            working directory, as any flag), ``policy``, ``require_skill`` and ``max_decay``.
            A None value, here or inside ``settings``, means the flag was not given.

    Raises:
        UsageError: the file is missing or not TOML, a section or key is unknown, a value has
            the wrong type or is out of range, or the settings cannot work together.
        ValueError: ``overrides`` has a key not listed above (a bug in the caller).
    """
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(f"unknown job overrides: {', '.join(unknown)}")
    given = Path(path).expanduser()
    path = given.resolve()
    document = _load(given)
    sections = _sections(path, document)
    source = _Source(path)

    data = sections.get("data")
    if data is None:
        raise UsageError(f"{path.name} has no [data] section", 'add one, e.g. [data] paths = ["prices.csv"]')
    paths = _paths(path, source, data)
    id_col = _column_name(source, data)
    series_columns = _series_columns(source, data)
    if id_col is not None and series_columns:
        raise UsageError(
            f"{path.name}: data.id_col = {_toml(id_col)} and data.series_columns = "
            f"{_toml(list(series_columns))} cannot be combined",
            "use id_col for a long file (id, time, value) or series_columns for a wide one, not both",
        )
    models = _choice(source, "data", "models", data.get("models", "per-series"), MODEL_LAYOUTS)
    if models == "global":
        _check_global(path, paths, id_col, series_columns)

    settings = _train_settings(path, sections.get("train", {}), overrides.get("settings", {}))
    flagged = {
        key.replace("-", "_") for key, value in overrides.get("settings", {}).items() if value is not None
    }
    _check_train_config(path, settings, flagged, id_col, series_columns)

    output = sections.get("output", {})
    if "output_dir" in overrides:
        output_dir = Path(os.path.abspath(Path(overrides["output_dir"]).expanduser()))
    elif "dir" in output:
        output_dir = _relative_to_job(path, _text(source, "output", "dir", output["dir"]))
    else:
        output_dir = path.parent / "runs" / path.stem

    retrain = sections.get("retrain", {})
    if "policy" in overrides:
        policy = _choice(_Source(None), "retrain", "policy", overrides["policy"], RETRAIN_POLICIES)
    else:
        policy = _choice(
            source, "retrain", "policy", retrain.get("policy", "if-data-changed"), RETRAIN_POLICIES
        )
    full_every = _whole_number(source, "retrain", "full_every", retrain.get("full_every", DEFAULT_FULL_EVERY))

    quality = sections.get("quality", {})
    gates: dict[str, float | None] = {}
    for key in ("require_skill", "max_decay"):
        if key in overrides:
            gates[key] = _gate(_Source(None), key, overrides[key])
        else:
            gates[key] = _gate(source, key, quality[key]) if key in quality else None

    fingerprint = _fingerprint(
        {
            "paths": list(paths),
            "id_col": id_col,
            "series_columns": list(series_columns),
            "models": models,
            "settings": _canonical_settings(settings),
            "policy": policy,
            "full_every": full_every,
            "require_skill": gates["require_skill"],
            "max_decay": gates["max_decay"],
        }
    )
    return JobSpec(
        path=path,
        paths=paths,
        id_col=id_col,
        series_columns=series_columns,
        models=models,
        settings=settings,
        output_dir=output_dir,
        policy=policy,
        full_every=full_every,
        require_skill=gates["require_skill"],
        max_decay=gates["max_decay"],
        fingerprint=fingerprint,
    )


def expand_sources(spec: JobSpec) -> list[Path]:
    """The data files of ``spec``, in the order its paths list them.

    Each entry is taken relative to the job file's folder (an absolute path stays absolute,
    ``~`` is expanded). An entry with a glob character (``*``, ``?``, ``[``) becomes its
    matching files, sorted; ``**`` matches any depth. A plain path is kept even if it does not
    exist, so the run can report it as a failed series instead of dropping it unnoticed. A
    file listed twice (directly or through overlapping globs) is kept once, where first listed.

    Raises:
        DataError: a glob matches no file.
    """
    folder = spec.path.parent
    sources: list[Path] = []
    seen: set[str] = set()
    for entry in spec.paths:
        expanded = os.path.expanduser(entry)
        if GLOB_CHARACTERS.isdisjoint(expanded):
            found = [_relative_to_job(spec.path, entry)]
        else:
            # root_dir keeps glob characters in the job file's own folder name from acting as
            # a pattern; an absolute pattern ignores it.
            matches = glob.glob(expanded, root_dir=folder, recursive=True)
            found = sorted(
                Path(os.path.abspath(folder / match)) for match in matches if (folder / match).is_file()
            )
            if not found:
                raise DataError(
                    f"{spec.path.name}: data.paths entry {entry!r} matches no file (looked in {folder})",
                    "check the pattern; it is relative to the job file's folder",
                )
        for source in found:
            # abspath, not resolve: a symlink keeps its own name, which names the series.
            if str(source) not in seen:
                seen.add(str(source))
                sources.append(source)
    return sources


def series_name(path: Path, taken: set[str]) -> str:
    """A directory name for the series read from ``path``, not yet in ``taken``, added to it.

    The name is the file's stem made safe (:func:`rnncast.fileio.safe_file_name`). When two files
    share a stem (``a/prices.csv`` and ``b/prices.csv``) the later one is named with its folder
    (``b_prices``), then with a counter (``b_prices-2``). Names are compared ignoring case,
    because macOS and Windows file systems do.
    """
    used = {name.casefold() for name in taken}
    stem = safe_file_name(path.stem)
    candidates = [stem]
    if path.parent.name:
        candidates.append(safe_file_name(f"{path.parent.name}_{path.stem}"))
    base = candidates[-1]
    for candidate in candidates:
        if candidate.casefold() not in used:
            taken.add(candidate)
            return candidate
    counter = 2
    while f"{base}-{counter}".casefold() in used:
        counter += 1
    taken.add(f"{base}-{counter}")
    return f"{base}-{counter}"


class _Source:
    """Where a value came from, for error messages: the job file, or the command line (None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def error(self, section: str, key: str, value: Any, problem: str, hint: str | None) -> UsageError:
        """The one-line error for a bad value, named as the user wrote it."""
        if self.path is None:  # a flag: name the flag, since the user did not write a section
            return UsageError(f"{flag_name(key)} {_toml(value)} {problem}", hint)
        return UsageError(f"{self.path.name}: {section}.{key} = {_toml(value)} {problem}", hint)


def _load(path: Path) -> dict[str, Any]:
    """The TOML document in ``path``; one-line errors as :func:`rnncast.jobfile.read_job_file`."""
    return load_toml(
        path, given_to="rnncast run", example='write sections and keys, e.g. [train] then model = "gru"'
    )


def _sections(path: Path, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's sections, with keys in snake_case; unknown sections and keys refused."""
    sections: dict[str, dict[str, Any]] = {}
    accepted = ", ".join(f"[{name}]" for name in SECTIONS)
    for name, table in document.items():
        if name not in SECTIONS:
            if not isinstance(table, dict):  # a key written before any [section] header
                raise UsageError(
                    f"{path.name}: {name} = {_toml(table)} is outside any section", _home_hint(name, accepted)
                )
            raise UsageError(
                f"{path.name}: unknown section [{name}]",
                _did_you_mean(name, SECTIONS, f"sections: {accepted}"),
            )
        if not isinstance(table, dict):
            raise UsageError(
                f"{path.name}: {name} = {_toml(table)} is not a section",
                f"write it as a [{name}] header followed by its keys",
            )
        keys = TRAIN_KEYS if name == "train" else SECTION_KEYS[name]
        checked: dict[str, Any] = {}
        for key, value in table.items():
            snake = key.replace("-", "_")
            if name == "train" and snake in DATA_SETTINGS:
                raise UsageError(
                    f"{path.name}: train.{snake} = {_toml(value)} belongs in [data]",
                    f"move {snake} to the [data] section; it decides how the job's series are laid out",
                )
            if snake not in keys:
                raise UsageError(
                    f"{path.name}: unknown key {name}.{key}",
                    _did_you_mean(snake, keys, f"keys of [{name}]: {', '.join(keys)}"),
                )
            if snake in checked:
                raise UsageError(
                    f"{path.name}: {name}.{snake} is set twice (as {snake} and {snake.replace('_', '-')})",
                    "keep one",
                )
            checked[snake] = value
        sections[name] = checked
    return sections


def _home_hint(key: str, accepted: str) -> str:
    """Which section a key written outside any section belongs in."""
    snake = key.replace("-", "_")
    if snake in TRAIN_KEYS:
        return "put it under [train]; keys before the first [section] header belong to no section"
    for section, keys in SECTION_KEYS.items():
        if snake in keys:
            return f"put it under [{section}]"
    return f"put each key under one of the sections: {accepted}"


def _did_you_mean(name: str, choices: tuple[str, ...], accepted: str) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}? Accepted {accepted}" if close else f"accepted {accepted}"


def _paths(path: Path, source: _Source, data: dict[str, Any]) -> tuple[str, ...]:
    if "paths" not in data:
        raise UsageError(
            f"{path.name}: [data] has no paths",
            'add paths = a file, a glob or a list of them, e.g. paths = ["prices/*.csv"]',
        )
    value = data["paths"]
    entries = [value] if isinstance(value, str) else value
    expected = 'a file or glob in quotes, or a non-empty list of them, e.g. ["prices/*.csv"]'
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise source.error("data", "paths", value, "has the wrong type", f"write paths as {expected}")
    if not entries or not all(entry.strip() for entry in entries):
        raise source.error("data", "paths", value, "names no file", f"write paths as {expected}")
    return tuple(entries)


def _column_name(source: _Source, data: dict[str, Any]) -> str | None:
    if "id_col" not in data:
        return None
    value = data["id_col"]
    if not isinstance(value, str) or not value.strip():
        raise source.error(
            "data", "id_col", value, "is not a column name", 'write id_col as a column name, e.g. "symbol"'
        )
    return value


def _series_columns(source: _Source, data: dict[str, Any]) -> tuple[str, ...]:
    if "series_columns" not in data:
        return ()
    value = data["series_columns"]
    entries = [value] if isinstance(value, str) else value
    expected = 'write series_columns as a list of column names, e.g. ["A", "B"]'
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise source.error("data", "series_columns", value, "has the wrong type", expected)
    # "A,B" means two columns, as with the --series-columns flag.
    names = tuple(part.strip() for entry in entries for part in entry.split(",") if part.strip())
    if not names:
        raise source.error("data", "series_columns", value, "names no column", expected)
    if len(set(names)) != len(names):
        raise source.error("data", "series_columns", value, "names a column twice", "name each column once")
    return names


def _check_global(path: Path, paths: tuple[str, ...], id_col: str | None, columns: tuple[str, ...]) -> None:
    """A global model learns from every series of one file: it needs the file's layout, and one
    file (not a glob, which could match a second file on a later night)."""
    if id_col is None and not columns:
        raise UsageError(
            f'{path.name}: data.models = "global" needs data.id_col or data.series_columns',
            'set id_col (a long file: id, time, value) or series_columns (a wide file), or use "per-series"',
        )
    if len(paths) != 1 or not GLOB_CHARACTERS.isdisjoint(paths[0]):
        raise UsageError(
            f'{path.name}: data.models = "global" trains on one file, but data.paths = '
            f"{_toml(list(paths))} can name several",
            'name exactly one file without glob characters, or use models = "per-series"',
        )


def _train_settings(path: Path, train: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The [train] settings, type-checked as in a --config file, with the flags' settings over them."""
    settings: dict[str, Any] = {}
    for name, value in train.items():
        try:
            settings[name] = _checked_value(path, name, value)
        except UsageError as error:  # rewritten to name the key as section.key
            raise UsageError(
                f"{path.name}: train.{name} = {_toml(value)} has the wrong type", error.hint
            ) from error
    defaults = TrainConfig()
    for key, value in flags.items():
        if value is None:  # a flag left out: the file's value (or the default) stays
            continue
        name = key.replace("-", "_")
        if name in DATA_SETTINGS:
            raise UsageError(
                f"{flag_name(name)} cannot be given with a job file",
                f"set {name} in the [data] section of {path.name}",
            )
        if name not in TRAIN_KEYS:
            raise ValueError(f"unknown training setting override: {key}")
        if isinstance(getattr(defaults, name), float) and type(value) is int:
            value = float(value)  # as the file's values are, so the fingerprint does not see 1 vs 1.0
        settings[name] = list(value) if isinstance(value, tuple) else value
    return settings


def _check_train_config(
    path: Path,
    settings: dict[str, Any],
    from_flags: set[str],
    id_col: str | None,
    series_columns: tuple[str, ...],
) -> None:
    """Ranges and combinations, as TrainConfig checks them, naming the file's key or the flag."""
    name = path.name
    if series_columns:
        clashing = [key for key in ("target", "features") if settings.get(key)]
        if clashing:
            keys = " and ".join(f"train.{key} = {_toml(settings[key])}" for key in clashing)
            raise UsageError(
                f"{name}: data.series_columns makes each named column a series; "
                f"{keys} {'do' if len(clashing) > 1 else 'does'} not apply",
                "remove target and features from [train] and the command line, "
                "or use a long file with data.id_col",
            )
    try:
        TrainConfig(**settings, id_col=id_col, series_columns=series_columns)
    except SettingError as error:
        if error.field in from_flags:  # the flag's own message names it
            raise
        if error.field in settings:
            value = settings[error.field]
            # A choice's problem repeats the value ("'rnn' is not supported"): the key already shows it.
            problem = error.problem.removeprefix(repr(value)).lstrip()
            raise UsageError(f"{name}: train.{error.field} = {_toml(value)} {problem}", error.hint) from error
        raise UsageError(f"{name}: {error.message}", error.hint) from error
    except UsageError as error:
        raise UsageError(f"{name}: {error.message}", error.hint) from error


def _choice(source: _Source, section: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise source.error(section, key, value, "is not supported", f"use one of: {', '.join(choices)}")
    return value


def _text(source: _Source, section: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise source.error(
            section, key, value, "is not a folder name", f'write {key} as a path, e.g. "nightly"'
        )
    return value


def _whole_number(source: _Source, section: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise source.error(section, key, value, "has the wrong type", f"write {key} as a whole number >= 0")
    if value < 0:
        raise source.error(section, key, value, "must be at least 0", "use 0 (never) or a whole number >= 1")
    return value


def _gate(source: _Source, key: str, value: Any) -> float:
    """A quality gate's threshold: require_skill in [-10, 1), max_decay above 0, both finite."""
    if key == "require_skill":
        low, high = REQUIRE_SKILL_RANGE
        accepted = f"a number in [{low:g}, {high:g}), e.g. 0 (the model must beat every baseline)"
    else:
        accepted = "a number above 0, e.g. 0.5 (realised RMSE up to 1.5 times the test RMSE)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise source.error("quality", key, value, "has the wrong type", f"write {key} as {accepted}")
    number = float(value)
    if key == "require_skill":
        ok = math.isfinite(number) and low <= number < high
    else:
        ok = math.isfinite(number) and number > 0
    if not ok:
        raise source.error("quality", key, value, "is out of range", f"use {accepted}")
    return number


def _relative_to_job(job: Path, entry: str) -> Path:
    """``entry`` resolved against the job file's folder (``~`` expanded; absolute stays)."""
    # abspath collapses "../" without following symlinks, unlike Path.resolve.
    return Path(os.path.abspath(job.parent / Path(entry).expanduser()))


def _canonical_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings spelled one way: "Close,Volume", ["Close", "Volume"] and ["Close,Volume"] are
    the same columns, so rewriting one as another must not count as a changed job."""
    canonical = dict(settings)
    for key in COLUMN_KEYS:
        if key in canonical:
            value = canonical[key]
            entries = [value] if isinstance(value, str) else list(value)
            canonical[key] = [part.strip() for entry in entries for part in entry.split(",") if part.strip()]
    return canonical


def _fingerprint(values: dict[str, Any]) -> str:
    """sha256 hex of ``values`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(
        {"version": FINGERPRINT_VERSION, **values}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
