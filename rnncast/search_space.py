"""The search space of ``rnncast tune``: which settings may be searched, their default ranges, and
the ``--space space.toml`` file that replaces (or, with ``default_space = true``, amends) them.

A space file holds one key per setting, in the training flags' names::

    units = [32, 64]                                      # a choice
    learning_rate = {min = 1e-4, max = 1e-2, log = true}  # a range, sampled on a log scale
    dropout = {min = 0, max = 0.3, step = 0.1}            # a range on a grid
    model = "gru"                                         # fixed for every searched trial
    default_space = true                                  # also search the default space

Only settings whose change leaves the objective comparable can be searched: the validation
loss is a scaled MSE over fixed validation rows, so the horizon, the scaler, the split and the
data settings stay as the flags set them. This module imports neither pandas nor TensorFlow, so
a mistyped space file is refused in a blink.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnncast.config import (
    ARCHITECTURES,
    CELL_TYPES,
    CHANNEL_MODES,
    LR_SCHEDULES,
    OPTIMIZERS,
    WINDOW_NORMS,
    SettingError,
    TrainConfig,
    flag_name,
)
from rnncast.errors import UsageError
from rnncast.jobfile import _toml, load_toml

SEARCH_KINDS = ("random", "bayesian", "grid")
# The space file's one key that is not a setting: start from the default space.
DEFAULT_SPACE_KEY = "default_space"
RANGE_KEYS = ("min", "max", "step", "log")


@dataclass(frozen=True)
class Dimension:
    """How one setting is searched.

    ``kind`` is ``choice`` (``values``), ``int`` or ``float`` (``low`` to ``high``, optionally
    every ``step`` or on a ``log`` scale), or ``fixed`` (``values`` holds the one value).
    """

    name: str
    kind: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def searched(self) -> bool:
        """Whether trials vary this setting (a fixed value, or a choice of one, does not)."""
        return not (self.kind == "fixed" or (self.kind == "choice" and len(self.values) == 1))

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this dimension can produce (the default trial's value
        doubles as the search's starting point only when it is)."""
        if self.kind in ("choice", "fixed"):
            return any(value == v and type(value) is type(v) for v in self.values)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        assert self.low is not None and self.high is not None
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        position = math.log(value / self.low, self.step) if self.log else (value - self.low) / self.step
        return abs(position - round(position)) < 1e-9

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the fingerprint, the metadata and ``--json``)."""
        if self.kind in ("choice", "fixed"):
            return {"kind": self.kind, "values": list(self.values)}
        out: dict[str, Any] = {"kind": self.kind, "min": self.low, "max": self.high}
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out

    def describe(self) -> str:
        """``[16, 32, 64]``, ``1e-04..0.01 (log)``, ``0..0.3 step 0.1`` or ``= gru``."""
        if self.kind == "fixed":
            return f"= {_text(self.values[0])}"
        if self.kind == "choice":
            return "[" + ", ".join(_text(v) for v in self.values) + "]"
        extra = f" step {_text(self.step)}" if self.step is not None else ""
        return f"{_text(self.low)}..{_text(self.high)}{extra}{' (log)' if self.log else ''}"


@dataclass(frozen=True)
class Searchable:
    """A setting the tuner may vary: its value type, and its range in the default space."""

    name: str
    kind: type  # bool, int, float or str
    default: Callable[[SpaceContext], Dimension] | None = None  # None: not in the default space


@dataclass(frozen=True)
class SpaceContext:
    """What the default space depends on: the lookback the data's frequency suggests, and the
    longest one the series can hold."""

    lookback: int
    max_lookback: int


def _choice(name: str, values: Iterable[Any]) -> Callable[[SpaceContext], Dimension]:
    return lambda _: Dimension(name, "choice", tuple(values))


def _lookbacks(context: SpaceContext) -> Dimension:
    """Half, once and twice the frequency's default lookback, as far as the series holds them."""
    base = context.lookback
    candidates = sorted({max(2, base // 2), base, base * 2})
    fitting = tuple(c for c in candidates if c <= context.max_lookback) or (base,)
    return Dimension("lookback", "choice", fitting)


# Every setting that can be searched, in the order trials vary them. Adding one here (with a
# default, to put it in the default space) is all the tuner needs.
SEARCHABLE: dict[str, Searchable] = {
    entry.name: entry
    for entry in (
        Searchable("model", str, _choice("model", CELL_TYPES)),
        Searchable("bidirectional", bool, _choice("bidirectional", (False, True))),
        Searchable("units", int, _choice("units", (16, 32, 64, 128))),
        Searchable("layers", int, _choice("layers", (1, 2))),
        Searchable("dropout", float, lambda _: Dimension("dropout", "float", low=0.0, high=0.3, step=0.1)),
        Searchable("lookback", int, _lookbacks),
        Searchable(
            "learning_rate",
            float,
            lambda _: Dimension("learning_rate", "float", low=1e-4, high=1e-2, log=True),
        ),
        Searchable("batch_size", int, _choice("batch_size", (32, 64, 128))),
        Searchable("attention", bool, _choice("attention", (False, True))),
        Searchable("layer_norm", bool, _choice("layer_norm", (False, True))),
        # SGD is left out of the default space: at these learning rates it barely moves.
        Searchable("optimizer", str, _choice("optimizer", ("adam", "adamw", "rmsprop"))),
        # The accuracy levers: how each window is normalised, and the linear path beside the RNN.
        Searchable("window_norm", str, _choice("window_norm", ("last", "mean", "none"))),
        Searchable("linear_skip", bool, _choice("linear_skip", (True, False))),
        Searchable("segment", int),
        Searchable("trend_window", int),
        Searchable("channels", str),
        Searchable("residual", bool),
        Searchable("architecture", str),
        Searchable("lr_schedule", str),
        Searchable("weight_decay", float),
        Searchable("clipnorm", float),
    )
}
TEXT_CHOICES = {
    "model": CELL_TYPES,
    "optimizer": OPTIMIZERS,
    "architecture": ARCHITECTURES,
    "lr_schedule": LR_SCHEDULES,
    "window_norm": WINDOW_NORMS,
    "channels": CHANNEL_MODES,
}

# Settings that stay as the flags set them, and why: a change would make the validation losses
# of two trials incomparable, or the setting does not shape the network at all.
NOT_SEARCHABLE = {
    "horizon": "it changes what is forecast",
    "scaler": "it changes the units the validation loss is measured in",
    "val_fraction": "it changes the validation rows the trials are compared on",
    "test_fraction": "it changes the validation rows the trials are compared on",
    "strategy": "a recursive model's validation loss is over one step, not the horizon",
    "epochs": "early stopping chooses the epochs; set the maximum with --epochs",
    "patience": "set it with --patience",
    "seed": "every trial uses the same seed, so differences come from the settings",
    "loss": "it changes what the validation loss measures",
    "transform": "it changes the units the validation loss is measured in",
    "ensemble": "it averages seeds of one setting; add --ensemble once the settings are chosen",
}


@dataclass(frozen=True)
class SpaceFile:
    """A parsed ``--space`` file: its dimensions, and whether the default space is kept too."""

    path: Path
    dimensions: tuple[Dimension, ...]
    default_space: bool


def read_space_file(path: str | Path) -> SpaceFile:
    """The search space in the TOML file ``path``, checked key by key.

    Raises:
        UsageError: the file is missing or not TOML, names a setting that cannot be searched
            (with a did-you-mean), or gives one a value of the wrong shape or out of range.
    """
    path = Path(path)
    document = load_toml(
        path, given_to="--space", example="write one setting per line, e.g. units = [32, 64]"
    )
    default_space = False
    dimensions: dict[str, Dimension] = {}
    for key, value in document.items():
        name = key.replace("-", "_")
        if name == DEFAULT_SPACE_KEY:
            if not isinstance(value, bool):
                raise UsageError(
                    f"{path.name}: {key} = {_toml(value)} has the wrong type", f"write {key} = true or false"
                )
            default_space = value
            continue
        _check_searchable(path, key, name)
        if name in dimensions:
            raise UsageError(
                f"{path.name}: {name} is set twice (as {name} and {name.replace('_', '-')})", "keep one"
            )
        dimensions[name] = parse_dimension(path, name, value)
    if not dimensions and not default_space:
        raise UsageError(
            f"{path.name} names no setting to search",
            "add e.g. units = [32, 64], or default_space = true for the default space",
        )
    return SpaceFile(path, tuple(dimensions.values()), default_space)


def _check_searchable(path: Path, key: str, name: str) -> None:
    if name in SEARCHABLE:
        return
    if name in NOT_SEARCHABLE:
        raise UsageError(
            f"{path.name}: {key} cannot be searched ({NOT_SEARCHABLE[name]})",
            f"set it with {flag_name(name)} instead",
        )
    if name in {f.name for f in dataclasses.fields(TrainConfig)}:
        raise UsageError(
            f"{path.name}: {key} cannot be searched (a data or output setting, the same for every trial)",
            f"set it with {flag_name(name)} instead",
        )
    accepted = [*SEARCHABLE, DEFAULT_SPACE_KEY]
    close = difflib.get_close_matches(name, accepted, n=1)
    guess = f"did you mean {close[0]!r}? Searchable" if close else "searchable"
    raise UsageError(f"{path.name}: unknown setting {key!r}", f"{guess} settings: {', '.join(SEARCHABLE)}")


def parse_dimension(path: Path, name: str, value: Any) -> Dimension:
    """One space-file entry as a :class:`Dimension`: a list is a choice, a table a range, any
    other value a fixed setting. Every value is checked as the setting itself would be.

    Raises:
        UsageError: naming the file, the key and what is accepted.
    """
    entry = SEARCHABLE[name]
    if isinstance(value, list):
        if not value:
            raise UsageError(
                f"{path.name}: {name} = [] lists no value", f"write e.g. {name} = {_example(entry)}"
            )
        values = tuple(_checked_value(path, name, v) for v in value)
        repeated = sorted({_text(v) for v in values if values.count(v) > 1})
        if repeated:
            raise UsageError(f"{path.name}: {name} lists {', '.join(repeated)} twice", "list each value once")
        return Dimension(name, "choice", values)
    if isinstance(value, dict):
        return _parse_range(path, name, value)
    return Dimension(name, "fixed", (_checked_value(path, name, value),))


def _parse_range(path: Path, name: str, table: dict[str, Any]) -> Dimension:
    entry = SEARCHABLE[name]
    if entry.kind not in (int, float):
        raise UsageError(
            f"{path.name}: {name} = {_toml(table)} is a range, but {name} is not a number",
            f"list the choices instead, e.g. {name} = {_example(entry)}",
        )
    example = (
        "{min = 0, max = 0.3, step = 0.1}" if entry.kind is float else "{min = 16, max = 128, step = 16}"
    )
    unknown = [key for key in table if key not in RANGE_KEYS]
    if unknown:
        raise UsageError(
            f"{path.name}: {name} has an unknown key {unknown[0]!r}",
            f"a range takes {', '.join(RANGE_KEYS)}, e.g. {name} = {example}",
        )
    missing = [key for key in ("min", "max") if key not in table]
    if missing:
        raise UsageError(
            f"{path.name}: {name} needs {' and '.join(missing)}", f"write e.g. {name} = {example}"
        )
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(
            f"{path.name}: {name}.log = {_toml(log)} has the wrong type", "write log = true or false"
        )
    low = _checked_value(path, name, table["min"], part="min")
    high = _checked_value(path, name, table["max"], part="max")
    if low >= high:
        raise UsageError(
            f"{path.name}: {name} has min {_text(low)} not below max {_text(high)}",
            f"write a fixed value ({name} = {_text(low)}) or a wider range",
        )
    step = None
    if "step" in table:
        step = table["step"]
        wrong = int if entry.kind is int else (int, float)
        if isinstance(step, bool) or not isinstance(step, wrong) or not math.isfinite(step) or step <= 0:
            kind = "a whole number" if entry.kind is int else "a number"
            raise UsageError(
                f"{path.name}: {name}.step = {_toml(step)} must be {kind} above 0", f"write e.g. {example}"
            )
        if log and step <= 1:
            raise UsageError(
                f"{path.name}: {name} on a log scale takes a step factor above 1, got {_text(step)}",
                "write e.g. step = 10, or drop step",
            )
    if log and low <= 0:
        raise UsageError(
            f"{path.name}: {name} on a log scale needs min above 0, got {_text(low)}", "raise min"
        )
    return Dimension(name, "int" if entry.kind is int else "float", low=low, high=high, step=step, log=log)


def _checked_value(path: Path, name: str, value: Any, part: str | None = None) -> Any:
    """``value`` as the setting ``name`` takes it, checked as TrainConfig checks it."""
    entry = SEARCHABLE[name]
    label = f"{name}.{part}" if part else name
    if entry.kind is bool:
        ok = isinstance(value, bool)
        expected = "true or false"
    elif entry.kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "whole numbers"
    elif entry.kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
        expected = "numbers"
    else:
        ok = isinstance(value, str)
        expected = "text in quotes"
    if not ok:
        raise UsageError(
            f"{path.name}: {label} = {_toml(value)} has the wrong type",
            f"write {name} as {expected}, e.g. {name} = {_example(entry)}",
        )
    try:
        TrainConfig(**{name: value})  # ranges and choices, worded as for the flag
    except SettingError as error:
        raise UsageError(f"{path.name}: {label} = {_toml(value)} {error.problem}", error.hint) from error
    except UsageError:
        pass  # a combination with other defaults (e.g. attention needs...) is each trial's business
    return value


def _example(entry: Searchable) -> str:
    if entry.name in TEXT_CHOICES:
        return _toml(list(TEXT_CHOICES[entry.name][:2]))
    return {bool: "[false, true]", int: "[32, 64]", float: "[0.001, 0.01]"}.get(entry.kind, "[...]")


def build_space(
    space_file: SpaceFile | None,
    context: SpaceContext,
    pinned: Iterable[str] = (),
) -> tuple[Dimension, ...]:
    """The dimensions a search varies or fixes, in :data:`SEARCHABLE` order.

    Without a space file (or with ``default_space = true``) the default space is used, less the
    settings in ``pinned``: a flag given on the command line (or in a job file) fixes its setting.
    A space file's entries win over both.
    """
    chosen: dict[str, Dimension] = {}
    if space_file is None or space_file.default_space:
        pinned = set(pinned)
        for name, entry in SEARCHABLE.items():
            if entry.default is not None and name not in pinned:
                chosen[name] = entry.default(context)
    if space_file is not None:
        chosen.update({dim.name: dim for dim in space_file.dimensions})
    return tuple(chosen[name] for name in SEARCHABLE if name in chosen)


def space_fingerprint(dimensions: Iterable[Dimension]) -> str:
    """A short hash of the space, to refuse resuming a search over another one."""
    text = json.dumps([d.name for d in dimensions] + [d.to_dict() for d in dimensions], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grid_size(dimensions: Iterable[Dimension]) -> int:
    """How many configurations a grid search over ``dimensions`` holds (a range without a step
    contributes keras-tuner's 10 evenly spaced values)."""
    size = 1
    for dim in dimensions:
        if dim.kind == "choice":
            size *= len(dim.values)
        elif dim.kind in ("int", "float"):
            size *= _range_points(dim)
    return size


def _range_points(dim: Dimension) -> int:
    assert dim.low is not None and dim.high is not None
    if dim.step is None:
        return int(dim.high - dim.low) + 1 if dim.kind == "int" and not dim.log else 10
    if dim.log:
        return math.floor(math.log(dim.high / dim.low, dim.step) + 1e-9) + 1
    return math.floor((dim.high - dim.low) / dim.step + 1e-9) + 1


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
