"""Run settings as one frozen, flat dataclass, validated once when it is made.

Field names are the CLI flags in snake_case (``--learning-rate`` is ``learning_rate``), so a
bundle's ``metadata.json`` and, later, a TOML job file hold the same names a user types.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from rnncast.errors import UsageError

CELL_TYPES = ("simple_rnn", "lstm", "gru")
SCALERS = ("standard", "minmax")
FILL_POLICIES = ("ffill", "interpolate", "drop", "error")
DEVICES = ("auto", "cpu", "gpu")
ARCHITECTURES = ("rnn", "seq2seq", "segments")
STRATEGIES = ("direct", "recursive")
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine", "plateau")
INTERVAL_METHODS = ("conformal", "mc-dropout")
FREEZE_CHOICES = ("none", "recurrent")
WINDOW_NORMS = ("last", "mean", "season", "none")
LOSSES = ("mse", "mae", "huber")
CHANNEL_MODES = ("auto", "independent", "mixed")
TRANSFORMS = ("none", "diff", "log", "pct")
# Settings a bundle written before they existed lacks: what such a model was built with, so
# rebuilding it from its metadata (update, backtest) gives the same network, not today's default.
LEGACY_SETTINGS: dict[str, Any] = {
    "window_norm": "none",
    "segment": 1,
    "linear_skip": False,
    "channels": "mixed",
    "ensemble": 1,
}
# Technical indicators (--indicators): those that need a window length, and those that do not.
WINDOWED_INDICATORS = ("sma", "ema", "rsi", "volatility")
PLAIN_INDICATORS = ("returns", "log_returns")


def flag_name(field_name: str) -> str:
    """The CLI flag that sets a config field: ``batch_size`` -> ``--batch-size``."""
    return "--" + field_name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained; saved whole in every bundle.

    ``lookback`` and ``horizon`` may be ``None`` (chosen from the data's frequency);
    the bundle always records the resolved numbers.
    """

    # data
    time_col: str | None = None
    target: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    fill: str = "ffill"
    # many series: a long file's id column, or a wide file's series columns (one global model)
    id_col: str | None = None
    series_columns: tuple[str, ...] = ()
    # preparation
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    scaler: str = "standard"
    # what the network learns of the targets: levels ("none") or their changes into each row
    # (differences, log returns, percentage returns), turned back into levels after the head
    transform: str = "none"
    lookback: int | None = None
    horizon: int | None = None
    # evaluation: the season m of the seasonal-naive baseline and of MASE (None: by frequency)
    seasonal_period: int | None = None
    # model
    model: str = "lstm"
    bidirectional: bool = False
    units: int = 64
    layers: int = 1
    dropout: float = 0.0
    residual: bool = True
    # rnn: a recurrent stack and a dense head; seq2seq: an encoder RNN and a decoder RNN over
    # the horizon. direct predicts every step at once; recursive trains a one-step model and
    # feeds its predictions back.
    architecture: str = "rnn"
    strategy: str = "direct"
    attention: bool = False
    layer_norm: bool = False
    # per-window normalisation: subtract each channel's last value (or mean) from the window and
    # add the targets' back after the head (--residual only matters with "none")
    window_norm: str = "last"
    # rows per embedded segment the recurrent layers read as one step (None: chosen from the
    # lookback and the data's season; 1: one row per step)
    segment: int | None = None
    # a linear map from the whole window to the horizon beside the recurrent path
    linear_skip: bool = True
    # rows of the moving average that splits the linear path's window into trend and seasonal
    # parts, each with its own linear map (DLinear); 0: one map over the whole window
    trend_window: int = 0
    # several targets and no features: one shared network per channel ("independent") or one
    # network over all of them ("mixed"); "auto" picks independent where it applies
    channels: str = "auto"
    # price features computed from the target column, e.g. ("returns", "sma:20", "rsi:14")
    indicators: tuple[str, ...] = ()
    # transfer learning: start from this bundle's weights, optionally frozen
    init_from: str | None = None
    freeze: str = "none"
    # training
    optimizer: str = "adam"
    weight_decay: float | None = None  # None: 1e-4 for adamw, none for the others
    lr_schedule: str = "constant"
    learning_rate: float = 1e-3
    # what training minimises (and early stopping watches, on the validation windows)
    loss: str = "mse"
    batch_size: int = 64
    epochs: int = 50
    patience: int = 5
    clipnorm: float = 1.0
    seed: int = 42
    # networks trained with seeds seed, seed + 1, ... whose forecasts are averaged
    ensemble: int = 1
    device: str = "auto"
    # speed: windows drawn per epoch (None: all up to 50,000; 0: all), XLA compilation (None: by
    # the data's size), float16 compute on a GPU
    epoch_windows: int | None = None
    xla: bool | None = None
    mixed_precision: bool = False
    # prediction intervals: central levels in percent, calibrated on the validation split
    intervals: tuple[float, ...] = ()
    interval_method: str = "conformal"

    def __post_init__(self) -> None:
        # Normalise list-like inputs so the dataclass stays hashable and JSON-friendly.
        object.__setattr__(self, "target", _split_names(self.target, "target"))
        object.__setattr__(self, "features", _split_names(self.features, "features"))
        object.__setattr__(self, "series_columns", _split_names(self.series_columns, "series_columns"))
        object.__setattr__(self, "indicators", _split_names(self.indicators, "indicators"))
        object.__setattr__(self, "intervals", _interval_levels(self.intervals))
        for name in (
            "bidirectional",
            "residual",
            "xla",
            "mixed_precision",
            "attention",
            "layer_norm",
            "linear_skip",
        ):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "xla" and value is None):
                raise SettingError(name, f"must be true or false, got {value!r}")
        for name in ("time_col", "id_col", "init_from"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise SettingError(name, f"must be a column name, got {value!r}")
        if self.id_col is not None and self.series_columns:
            raise UsageError(
                "--id-col and --series-columns cannot be combined",
                "use --id-col for a long file (id, time, value) or --series-columns for a wide one",
            )
        if self.series_columns and (self.target or self.features):
            raise UsageError(
                "--series-columns makes each named column a series; --target and --features do not apply",
                "drop --target / --features, or use a long file with --id-col",
            )
        if len(set(self.series_columns)) != len(self.series_columns):
            raise SettingError("series_columns", "names a column twice")
        _check_choice("model", self.model, CELL_TYPES)
        _check_choice("scaler", self.scaler, SCALERS)
        _check_choice("transform", self.transform, TRANSFORMS)
        _check_choice("fill", self.fill, FILL_POLICIES)
        _check_choice("device", self.device, DEVICES)
        _check_choice("architecture", self.architecture, ARCHITECTURES)
        _check_choice("strategy", self.strategy, STRATEGIES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("interval_method", self.interval_method, INTERVAL_METHODS)
        _check_choice("freeze", self.freeze, FREEZE_CHOICES)
        _check_choice("window_norm", self.window_norm, WINDOW_NORMS)
        _check_choice("channels", self.channels, CHANNEL_MODES)
        _check_choice("loss", self.loss, LOSSES)
        if self.segment is not None:
            _check_int("segment", self.segment, minimum=1)
        _check_int("trend_window", self.trend_window, minimum=0)
        for spec in self.indicators:
            parse_indicator(spec)
        if self.weight_decay is not None:
            _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        self._check_combinations()
        for name in ("units", "layers", "batch_size", "epochs", "ensemble"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("patience", self.patience, minimum=0)
        _check_int("seed", self.seed, minimum=0, maximum=2**32 - 1)  # NumPy's seed range
        if self.epoch_windows is not None:
            _check_int("epoch_windows", self.epoch_windows, minimum=0)
        if self.lookback is not None:
            _check_int("lookback", self.lookback, minimum=1)
        if self.horizon is not None:
            _check_int("horizon", self.horizon, minimum=1)
        if self.seasonal_period is not None:
            _check_int("seasonal_period", self.seasonal_period, minimum=1)
        _check_range("dropout", self.dropout, 0.0, 1.0, upper_open=True)
        _check_range("val_fraction", self.val_fraction, 0.0, 1.0, lower_open=True, upper_open=True)
        _check_range("test_fraction", self.test_fraction, 0.0, 1.0, lower_open=True, upper_open=True)
        if self.val_fraction + self.test_fraction >= 0.9:
            raise UsageError(
                f"--val-fraction {self.val_fraction} and --test-fraction {self.test_fraction} "
                "leave less than 10% of the rows for training",
                "keep their sum below 0.9 (defaults: 0.15 each)",
            )
        _check_range("learning_rate", self.learning_rate, 0.0, 10.0, lower_open=True)
        _check_range("clipnorm", self.clipnorm, 0.0, math.inf, lower_open=True, upper_open=True)

    def _check_combinations(self) -> None:
        """Options that cannot work together, refused before any data is read."""
        many_series = self.id_col is not None or bool(self.series_columns)
        if self.strategy == "recursive" and (self.features or self.indicators):
            raise UsageError(
                "--strategy recursive feeds its own forecasts back as inputs, but the future values "
                "of --features / --indicators are unknown",
                "drop --features / --indicators, or use --strategy direct",
            )
        if self.interval_method == "mc-dropout" and self.intervals and self.dropout == 0:
            raise UsageError(
                "--interval-method mc-dropout samples the network's dropout, but --dropout is 0",
                "add --dropout 0.1 (or more), or use --interval-method conformal",
            )
        if self.interval_method == "mc-dropout" and self.intervals and self.transform != "none":
            raise UsageError(
                f"--interval-method mc-dropout samples changes, which --transform {self.transform} "
                "adds up over the horizon: its spread would not carry over",
                "use --interval-method conformal (calibrated on the forecasts in levels)",
            )
        if self.trend_window and not self.linear_skip:
            raise UsageError(
                "--trend-window splits the linear path, but --no-linear-skip turns it off",
                "drop --trend-window, or keep the linear skip",
            )
        if self.architecture == "segments" and self.attention:
            raise UsageError(
                "--architecture segments decodes from the encoder's final state; --attention does not apply",
                "drop --attention, or use --architecture rnn or seq2seq with it",
            )
        if self.ensemble > 1 and self.init_from is not None:
            raise UsageError(
                "--ensemble cannot start from an --init-from bundle (one source network, several members)",
                "drop --ensemble, or train the ensemble from scratch",
            )
        if self.freeze != "none" and self.init_from is None:
            raise UsageError(
                f"--freeze {self.freeze} keeps pretrained weights, but no --init-from bundle was given",
                "add --init-from BUNDLE, or drop --freeze",
            )
        if self.channels == "independent" and (self.features or self.indicators):
            raise UsageError(
                "--channels independent reads each target on its own, so --features / --indicators "
                "would be ignored",
                "use --channels mixed (or auto) with features",
            )
        if many_series and (self.intervals or self.indicators or self.init_from):
            given = "--intervals" if self.intervals else "--indicators" if self.indicators else "--init-from"
            raise UsageError(
                f"{given} is not supported yet for a model of many series (--id-col / --series-columns)",
                "train one series at a time to use it",
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every setting (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output, refusing unknown keys.

        A setting the dict lacks (a bundle written before it existed) takes its
        :data:`LEGACY_SETTINGS` value, the behaviour that bundle was trained with.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = {**LEGACY_SETTINGS, **values}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(
                f"unknown setting(s) {', '.join(unknown)}",
                f"use only: {', '.join(sorted(known))}",
            )
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def parse_indicator(spec: str) -> tuple[str, int | None]:
    """``"sma:20"`` -> ``("sma", 20)``, ``"returns"`` -> ``("returns", None)``.

    Raises:
        SettingError: an unknown indicator, or a window that is missing or not a whole number >= 2.
    """
    name, _, window = spec.partition(":")
    name = name.strip().lower()
    known = (*PLAIN_INDICATORS, *WINDOWED_INDICATORS)
    if name in PLAIN_INDICATORS:
        if window:
            raise SettingError("indicators", f"{spec!r}: {name} takes no window", f"write {name}")
        return name, None
    if name not in WINDOWED_INDICATORS:
        raise SettingError(
            "indicators",
            f"{spec!r} is not a known indicator",
            f"use any of: {', '.join(known)} (with a window, e.g. sma:20)",
        )
    try:
        length = int(window)
    except ValueError:
        length = 0
    if length < 2:
        raise SettingError(
            "indicators", f"{spec!r} needs a window of at least 2 rows", f"write e.g. {name}:20"
        )
    return name, length


def _interval_levels(value: Any) -> tuple[float, ...]:
    """``"80,95"``, ``[80, 95]`` or ``(80.0,)`` -> sorted unique levels in percent, each in (0, 100)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise SettingError("intervals", f"must be levels in percent such as 80,95, got {value!r}")
    levels: list[float] = []
    for item in items:
        parts = item.split(",") if isinstance(item, str) else [item]
        for part in parts:
            if isinstance(part, str) and not part.strip():
                continue
            try:
                level = float(part)
            except (TypeError, ValueError):
                level = math.nan
            if isinstance(part, bool) or not 0 < level < 100:
                raise SettingError(
                    "intervals", f"levels are percentages between 0 and 100, got {part!r}", "write e.g. 80,95"
                )
            levels.append(level)
    return tuple(sorted(set(levels)))


def level_label(level: float) -> str:
    """A level as it appears in column names: 80.0 -> ``"80"``, 97.5 -> ``"97.5"``."""
    return f"{level:g}"


def _split_names(value: Any, field: str) -> tuple[str, ...]:
    """Accept 'a,b', ['a', 'b,c'] or ('a',) and return ('a', 'b', 'c') without blanks."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise SettingError(field, f"must name columns (text or a list of text), got {value!r}")
    names: list[str] = []
    for item in value:
        names.extend(part.strip() for part in str(item).split(",") if part.strip())
    return tuple(names)


class SettingError(UsageError):
    """One setting has a bad value; ``field`` and ``problem`` let a job file name its key."""

    def __init__(self, field: str, problem: str, hint: str | None = None) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{flag_name(field)} {problem}", hint)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(name, f"{value!r} is not supported", f"use one of: {', '.join(choices)}")


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(name, f"must be a whole number, got {value!r}")
    if value < minimum:
        raise SettingError(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingError(name, f"must be at most {maximum}, got {value}")


def _check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    lower_open: bool = False,
    upper_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise SettingError(name, f"must be a number, got {value!r}")
    too_low = value <= low if lower_open else value < low
    too_high = value >= high if upper_open else value > high
    if too_low or too_high:
        left = "(" if lower_open else "["
        right = ")" if upper_open else "]"
        raise SettingError(name, f"must be in {left}{low}, {high}{right}, got {value}")
