"""Many series, one global model: loading, splitting, fitting, scoring and forecasting.

A long file (``--id-col``: id, time, value columns) or a wide one (``--series-columns``: one
column per series) becomes a :class:`Panel` of validated series that share their columns and
frequency. Each series gets its own scaler (fitted on its own training rows) and its own
chronological split; the network learns from the windows of all of them at once. A series
that cannot be used is left out with its reason, never silently and never stopping the others.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.config import TrainConfig
from rnncast.data import (
    SeriesData,
    check_variation,
    resolve_column,
    resolve_time_column,
    series_from_table,
    source_fingerprint,
)
from rnncast.errors import DataError, UsageError
from rnncast.evaluation import evaluation_notes, score_forecasts
from rnncast.frequency import future_timestamps
from rnncast.reading import read_table
from rnncast.scoring import WindowForecasts, pool_windows, season_of, with_baselines
from rnncast.transforms import check_transformable, to_changes, to_levels, window_changes
from rnncast.windows import Scaler, Split, check_scalable, chronological_split

logger = logging.getLogger("rnncast")

WIDE_TARGET = "value"  # the one target of a wide file's series
WIDE_ID = "series"  # the id column that names a wide file's series in outputs
MAX_NOTES_SHOWN = 12  # per-series notes beyond this are counted, not listed


@dataclass(frozen=True)
class Panel:
    """Validated series from one file, by id, sharing targets, features and frequency.

    Attributes:
        members: series id -> its validated series.
        id_col: the column that names the series in outputs (the file's id column).
        source: the file's path, SHA-256 and size.
        left_out: series id -> why it could not be used.
        notes: things the user should know about the file and its series.
    """

    members: dict[str, SeriesData]
    id_col: str
    source: dict[str, Any]
    left_out: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def first(self) -> SeriesData:
        """Any member: they share targets, features, frequency and time column."""
        return next(iter(self.members.values()))

    @property
    def targets(self) -> tuple[str, ...]:
        return self.first.targets

    @property
    def features(self) -> tuple[str, ...]:
        return self.first.features

    @property
    def columns(self) -> tuple[str, ...]:
        return self.first.columns

    @property
    def frequency(self) -> str:
        return self.first.frequency

    @property
    def time_col(self) -> str:
        return self.first.time_col

    @property
    def rows(self) -> int:
        """Rows over every member."""
        return sum(len(member) for member in self.members.values())

    def fingerprint(self) -> dict[str, Any]:
        """What the bundle records about the data: the file, and each series' extent."""
        firsts = [member.index[0] for member in self.members.values()]
        lasts = [member.index[-1] for member in self.members.values()]
        return {
            **self.source,
            "rows": self.rows,
            "first_timestamp": min(firsts).isoformat(),
            "last_timestamp": max(lasts).isoformat(),
            "frequency": self.frequency,
            "columns": list(self.columns),
            "time_col": self.time_col,
            "series": {
                key: {
                    "rows": member.fingerprint["rows"],
                    "last_timestamp": member.fingerprint["last_timestamp"],
                    "rows_sha256": member.fingerprint["rows_sha256"],
                }
                for key, member in self.members.items()
            },
        }


def is_many_series(config: TrainConfig) -> bool:
    """Whether ``config`` asks for one global model over many series."""
    return config.id_col is not None or bool(config.series_columns)


def load_panel(
    path: str | Path,
    config: TrainConfig,
    *,
    frequency: str | None = None,
    with_offsets: bool | None = None,
    for_training: bool = True,
) -> Panel:
    """Read ``path`` and validate each of its series as :func:`rnncast.data.load_series` would.

    Args:
        path: a long file (``config.id_col``) or a wide one (``config.series_columns``).
        config: the data settings (time column, target, features, fill).
        frequency: the model's frequency (when forecasting): series spaced otherwise are left out.
        with_offsets: whether the model's timestamps carry UTC offsets (when forecasting):
            series written the other way are left out; by default, the way most series are.
        for_training: also leave out series with a constant target (they teach nothing).

    Raises:
        DataError: no series is usable (the first reasons are named).
        UsageError: a named column does not exist.
    """
    path = Path(path)
    raw, file_notes = read_table(path, (config.id_col,) if config.id_col else ())
    source = source_fingerprint(path)
    tables, id_col, target, features = split_table(raw, path, config)
    members: dict[str, SeriesData] = {}
    left_out: dict[str, str] = {}
    series_notes: list[str] = []
    for key, table in tables.items():
        label = f"series {key!r}"
        try:
            member = series_from_table(
                table,
                path,
                source,
                name=label,
                time_col=config.time_col,
                target=target,
                features=features,
                fill=config.fill,
                frequency=frequency,
            )
            if for_training:
                check_variation(member.frame, member.targets, member.features)
        except DataError as error:
            # "series 'A' left out: has 2 usable row(s)", not "... left out: series 'A' has ...";
            # a wide file's series is its own column, not the shared target name.
            reason = error.message.removeprefix(f"{label} ")
            if config.id_col is None:
                reason = reason.replace(f"column {target[0]!r}", f"column {key!r}")
            left_out[key] = reason
            continue
        members[key] = member
        series_notes.extend(f"series {key!r}: {note}" for note in member.notes)
    if frequency is None and members:
        # Series inferred to another spacing than most cannot share one model.
        common, _ = Counter(member.frequency for member in members.values()).most_common(1)[0]
        for key in [k for k, m in members.items() if m.frequency != common]:
            left_out[key] = f"is {members.pop(key).frequency!r}-spaced, most series are {common!r}-spaced"
    _leave_out_other_offsets(members, left_out, with_offsets)
    if not members:
        reasons = "; ".join(f"{key!r} {why}" for key, why in list(left_out.items())[:3])
        hint = "fix the series named, or check --id-col / --series-columns / --target"
        sizes = sorted(len(table) for table in tables.values())
        if config.id_col is not None and sizes and sizes[len(sizes) // 2] < 3:
            hint = (
                f"--id-col {id_col!r} cuts the file into {len(tables)} series of mostly "
                f"{sizes[len(sizes) // 2]} row(s): name the column that identifies each series"
            )
        raise DataError(f"no series in {path.name} is usable ({len(left_out)} tried: {reasons})", hint)
    notes = [*file_notes, *series_notes[:MAX_NOTES_SHOWN]]
    if len(series_notes) > MAX_NOTES_SHOWN:
        notes.append(f"... and {len(series_notes) - MAX_NOTES_SHOWN} more notes about single series")
    notes.extend(f"series {key!r} left out: {why}" for key, why in list(left_out.items())[:MAX_NOTES_SHOWN])
    if len(left_out) > MAX_NOTES_SHOWN:
        notes.append(f"... and {len(left_out) - MAX_NOTES_SHOWN} more series left out")
    return Panel(members, id_col, source, left_out, tuple(notes))


def _leave_out_other_offsets(
    members: dict[str, SeriesData], left_out: dict[str, str], with_offsets: bool | None
) -> None:
    """Leave out the series whose timestamps are not written as the model's (or most series')
    are, with or without UTC offsets: tz-aware and tz-naive times cannot be compared, and
    series of one model share one timeline."""
    if not members:
        return
    kinds = {key: member.index.tz is not None for key, member in members.items()}
    whose = "the model's" if with_offsets is not None else "most series'"
    if with_offsets is None:
        with_offsets = Counter(kinds.values()).most_common(1)[0][0]
    for key in [k for k, aware in kinds.items() if aware != with_offsets]:
        members.pop(key)
        has, lacks = ("with", "without") if with_offsets else ("without", "with")
        left_out[key] = f"has timestamps {lacks} UTC offsets, {whose} are {has} them"


def split_table(
    raw: pd.DataFrame, path: Path, config: TrainConfig
) -> tuple[dict[str, pd.DataFrame], str, tuple[str, ...], tuple[str, ...]]:
    """The file's series as separate tables, with the id column name, targets and features."""
    if config.id_col is not None:
        id_col = resolve_column(raw, config.id_col, "--id-col")
        ids = raw[id_col]
        if ids.isna().any():
            first = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise DataError(
                f"{path.name} has rows without a series id in {id_col!r} (first at data row {first + 1})",
                f"fill in {id_col!r} on every row",
            )
        keys = _id_text(ids)
        body = raw.drop(columns=[id_col])
        if _time_column_or_none(body, config.time_col) is None and (
            _time_column_or_none(raw, config.time_col) == id_col
        ):
            others = ", ".join(repr(str(c)) for c in body.columns)
            raise UsageError(
                f"--id-col {id_col!r} is the time column",
                f"name the column that identifies each series (columns: {others})",
            )
        tables = {
            str(key): rows.reset_index(drop=True)
            for key, rows in body.groupby(keys, sort=False, dropna=False)
        }
        return tables, str(id_col), config.target, config.features
    time_name = resolve_time_column(raw, config.time_col)
    names = [resolve_column(raw, name, "--series-columns") for name in config.series_columns]
    if time_name in names:
        raise UsageError(f"--series-columns names the time column {time_name!r}", "name value columns only")
    # The shared target and the id column of the outputs must not take the time column's name.
    taken = str(time_name).strip().lower()
    target = WIDE_TARGET if taken != WIDE_TARGET else f"{WIDE_ID}_{WIDE_TARGET}"
    id_name = WIDE_ID if taken != WIDE_ID else f"{WIDE_ID}_id"
    tables = {str(name): raw[[time_name, name]].set_axis([time_name, target], axis=1) for name in names}
    return tables, id_name, (target,), ()


def _time_column_or_none(frame: pd.DataFrame, time_col: str | None) -> str | None:
    try:
        return resolve_time_column(frame, time_col)
    except (DataError, UsageError):
        return None


def _id_text(ids: pd.Series) -> pd.Series:
    """Series ids as text; whole numbers read as floats (a column with gaps) lose the ``.0``,
    each on its own (``2.0`` is ``"2"`` beside ``1.5``); ``inf`` stays ``"inf"``."""
    if pd.api.types.is_float_dtype(ids):
        return pd.Series([_number_text(float(value)) for value in ids], index=ids.index)
    return ids.astype(str).str.strip()


def _number_text(value: float) -> str:
    whole = bool(np.isfinite(value)) and value == round(value) and abs(value) < 2**53
    return str(int(value)) if whole else str(value)


def plan_panel(panel: Panel, config: TrainConfig) -> dict[str, Split]:
    """Each member's chronological split; members too short for one are left out of training
    (they are still forecast when they hold a lookback of rows).

    Raises:
        DataError: no member is long enough to train on.
    """
    assert config.lookback is not None and config.horizon is not None
    splits: dict[str, Split] = {}
    short: dict[str, str] = {}
    for key, member in panel.members.items():
        try:
            splits[key] = chronological_split(
                len(member), config.lookback, config.horizon, config.val_fraction, config.test_fraction
            )
        except DataError as error:
            short[key] = error.message
    if not splits:
        example = next(iter(short.values()))
        raise DataError(
            f"no series is long enough to train on ({example})",
            "use more data or lower --lookback / --horizon",
        )
    warn_left_out(short, "too short to train on (forecast only)")
    return splits


def warn_left_out(left_out: dict[str, str], why: str) -> None:
    """Warn once about the series in ``left_out`` (id -> reason), naming the first few."""
    if not left_out:
        return
    shown = ", ".join(repr(key) for key in list(left_out)[:MAX_NOTES_SHOWN])
    more = f" and {len(left_out) - MAX_NOTES_SHOWN} more" if len(left_out) > MAX_NOTES_SHOWN else ""
    logger.warning("%d series %s: %s%s", len(left_out), why, shown, more)


def check_transformable_members(panel: Panel, transform: str) -> None:
    """Refuse a panel whose series a ratio ``--transform`` cannot take, naming the series.

    Raises:
        DataError: a series has a zero or negative target value under ``log`` / ``pct``.
    """
    for key, member in panel.members.items():
        try:
            check_transformable(member.frame.to_numpy(), member.targets, transform)
        except DataError as error:
            raise DataError(f"series {key!r}: {error.message}", error.hint) from error


def fit_scalers(panel: Panel, config: TrainConfig, splits: dict[str, Split]) -> dict[str, Scaler]:
    """One scaler per member, fitted on its training rows (all its rows when it has no split:
    it is only forecast, never scored)."""
    scalers = {}
    for key, member in panel.members.items():
        values = member.frame.to_numpy()
        check_scalable(values, member.columns)
        rows = splits[key].train_rows if key in splits else len(values)
        learned = to_changes(values[:rows], len(member.targets), config.transform)
        scalers[key] = Scaler.fit(config.scaler, member.columns, learned)
    return scalers


@dataclass(frozen=True)
class Stacked:
    """Several series' scaled rows one after another, with each one's first row."""

    values: np.ndarray
    offsets: dict[str, int]


def stack(
    panel: Panel, scalers: dict[str, Scaler], keys: list[str], ends: dict[str, int], transform: str = "none"
) -> Stacked:
    """The scaled rows ``[0, ends[key])`` of each member in ``keys`` (their targets' changes
    with ``transform``), stacked."""
    parts, offsets, offset = [], {}, 0
    for key in keys:
        member = panel.members[key]
        values = to_changes(member.frame.to_numpy()[: ends[key]], len(member.targets), transform)
        parts.append(scalers[key].transform(values))
        offsets[key] = offset
        offset += len(values)
    return Stacked(np.concatenate(parts).astype(np.float32), offsets)


def fit_panel(
    panel: Panel,
    config: TrainConfig,
    splits: dict[str, Split],
    scalers: dict[str, Scaler],
    on_epoch: Any = None,
) -> tuple[Any, Any]:
    """Train one network on the training windows of every member (validation windows stop
    it early); only rows before each member's test split are used.

    Returns:
        The Keras model and its :class:`rnncast.training.TrainingSummary`.
    """
    from rnncast import backend
    from rnncast.fitting import fit_network

    backend.keras().backend.clear_session()
    keys = sorted(splits)  # the same series in another row order train the same network
    ends = {key: splits[key].train_rows + splits[key].val_rows for key in keys}
    stacked = stack(panel, scalers, keys, ends, config.transform)
    starts = {
        part: np.concatenate([splits[key].starts(part) + stacked.offsets[key] for key in keys])
        for part in ("train", "val")
    }
    return fit_network(
        stacked.values,
        len(panel.columns),
        len(panel.targets),
        starts["train"],
        starts["val"],
        config,
        on_epoch,
    )


def score_panel(
    model: Any,
    scalers: dict[str, Scaler],
    panel: Panel,
    starts: dict[str, np.ndarray],
    config: TrainConfig,
    history_ends: dict[str, int],
) -> dict[str, Any]:
    """Pooled scores of the model and the baselines over the windows at ``starts`` of each
    member (one ``model.predict`` for all), plus each series' own RMSEs.

    ``history_ends[key]`` is where a member's in-sample rows end (MASE and Naive2).
    """
    by_series = panel_windows(model, scalers, panel, starts, config, history_ends)
    return {
        "split": "test",
        **score_panel_windows(panel, by_series, starts, config),
        "per_series": per_series_rmse(by_series),
    }


def per_series_rmse(by_series: dict[str, WindowForecasts]) -> list[dict[str, Any]]:
    """Each series' window count and RMSE of the model and each baseline, in its own units."""
    return [
        {"series": key, "windows": len(windows.actual), **_rmse_by_name(windows)}
        for key, windows in by_series.items()
    ]


def panel_windows(
    model: Any,
    scalers: dict[str, Scaler],
    panel: Panel,
    starts: dict[str, np.ndarray],
    config: TrainConfig,
    history_ends: dict[str, int],
) -> dict[str, WindowForecasts]:
    """Each member's model and baseline forecasts of its windows at ``starts`` (members with
    none are left out), from one ``model.predict`` over all of them.

    Raises:
        DataError: no member has a window to score.
    """
    from rnncast.forecasting import predict_windows

    keys = [key for key, s in starts.items() if len(s)]
    if not keys:
        raise DataError(
            f"no series has a complete {config.horizon}-step window in the held-out period",
            "pass data that covers the held-out period",
        )
    # Inputs end the row before each window starts: later rows are not even scaled.
    stacked = stack(panel, scalers, keys, {key: int(starts[key][-1]) for key in keys}, config.transform)
    assert config.lookback is not None
    predicted = predict_windows(
        model,
        stacked.values,
        np.concatenate([starts[key] + stacked.offsets[key] for key in keys]),
        config.lookback,
    )
    by_series: dict[str, WindowForecasts] = {}
    position = 0
    for key in keys:
        member = panel.members[key]
        count = len(starts[key])
        in_units = scalers[key].inverse(predicted[position : position + count], member.targets)
        last = member.frame.to_numpy()[starts[key] - 1, : len(member.targets)]
        in_units = to_levels(in_units, last, config.transform)
        position += count
        by_series[key] = with_baselines(
            in_units, scalers[key], member, starts[key], config, slice(0, history_ends[key])
        )
    return by_series


def score_panel_windows(
    panel: Panel, by_series: dict[str, WindowForecasts], starts: dict[str, np.ndarray], config: TrainConfig
) -> dict[str, Any]:
    """The pooled scores of every series' windows (``by_series``, whose targets start at
    ``starts``), with what was scored: windows, series, span, season."""
    together = pool_windows(list(by_series.values()))
    actual, forecasts = together.actual, together.forecasts
    scores = score_forecasts(
        actual, forecasts, panel.targets, together.unit_scale, together.mase_scale, many_series=True
    )
    assert config.horizon is not None
    firsts = [panel.members[key].index[int(starts[key][0])] for key in by_series]
    lasts = [panel.members[key].index[int(starts[key][-1]) + config.horizon - 1] for key in by_series]
    return {
        "windows": len(actual),
        "series_scored": len(by_series),
        "first_target_time": min(firsts).isoformat(),
        "last_target_time": max(lasts).isoformat(),
        "lookback": config.lookback,
        "horizon": config.horizon,
        "targets": list(panel.targets),
        "frequency": panel.frequency,
        "seasonal_period": season_of(config, panel.first),
        "mase_period": together.mase_period,
        **scores,
        "evaluation_notes": evaluation_notes(
            forecasts, actual, season_of(config, panel.first), config.lookback
        ),
    }


def _rmse_by_name(windows: WindowForecasts) -> dict[str, float | None]:
    """One series' RMSE of the model and each baseline, in its own units."""
    out: dict[str, float | None] = {}
    for name, predicted in windows.forecasts.items():
        squared = (predicted - windows.actual) ** 2
        out[f"{name}_rmse"] = float(np.sqrt(np.nanmean(squared))) if np.isfinite(squared).any() else None
    return out


def forecast_panel(
    model: Any,
    scalers: dict[str, Scaler],
    panel: Panel,
    config: TrainConfig,
    scaler_kind: str,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The ``horizon`` steps after each member's last row, in one ``model.predict``.

    A series the model never saw is scaled by its own rows (a global model generalises to new
    series); one with fewer rows than the lookback cannot be forecast and is returned with its
    reason.

    Returns:
        A long frame (index: future times named like the time column; columns: the id column,
        then the targets) and ``{id: reason}`` of the series not forecast.
    """
    assert config.lookback is not None and config.horizon is not None
    lookback, horizon = config.lookback, config.horizon
    skipped: dict[str, str] = {}
    windows, keys = [], []
    unseen = []
    scalers = dict(scalers)  # unseen series' own scalers join it: one copy, not one per series
    # A change into the window's first row needs the row before it.
    needed = lookback + (config.transform != "none")
    n_targets = len(panel.targets)
    for key, member in panel.members.items():
        if len(member) < needed:
            skipped[key] = f"has {len(member)} rows, the model reads the last {needed}"
            continue
        values = member.frame.to_numpy()
        try:
            check_transformable(values[-needed:], member.targets, config.transform)
        except DataError as error:
            skipped[key] = error.message
            continue
        scaler = scalers.get(key)
        if scaler is None:
            unseen.append(key)
            scaler = Scaler.fit(scaler_kind, member.columns, to_changes(values, n_targets, config.transform))
            scalers[key] = scaler
        windows.append(
            scaler.transform(
                window_changes(values, len(values) - lookback, len(values), n_targets, config.transform)
            )
        )
        keys.append(key)
    if unseen:
        shown = ", ".join(repr(k) for k in unseen[:MAX_NOTES_SHOWN])
        logger.warning(
            "%d series the model was not trained on, scaled by their own rows: %s", len(unseen), shown
        )
    if not keys:
        raise DataError(
            f"no series has the {lookback} rows the model reads",
            "pass a file with more history for each series to --data",
        )
    predicted = np.asarray(model.predict(np.stack(windows).astype(np.float32), verbose=0), dtype=np.float64)
    frames = []
    for key, scaled in zip(keys, predicted, strict=True):
        member = panel.members[key]
        last = member.frame.to_numpy()[-1:, :n_targets]
        values = to_levels(scalers[key].inverse(scaled[None], member.targets), last, config.transform)[0]
        if not np.isfinite(values).all():
            skipped[key] = "the model produced non-finite forecasts for it"
            continue
        stamps = future_timestamps(member.index[-1], member.frequency, horizon)
        frame = pd.DataFrame(values, index=stamps, columns=list(member.targets))
        frame.insert(0, panel.id_col, key)
        frames.append(frame)
    if not frames:
        raise DataError("the model produced non-finite forecasts for every series", "retrain the model")
    out = pd.concat(frames)
    out.index.name = panel.time_col
    out.attrs["id_col"] = panel.id_col
    return out, skipped
