"""Technical indicators (``--indicators``): price features computed from the first target column.

Every indicator at row ``t`` reads only rows ``<= t`` (trailing windows, forward recursions), so
a feature never knows the value it helps to forecast. The first rows, where an indicator is not
yet defined (a 20-row moving average has no value for rows 0-18), are dropped: the network is
never fed a made-up warm-up value.

- ``returns``: the percent change ``x[t] / x[t-1] - 1``.
- ``log_returns``: ``log(x[t] / x[t-1])``.
- ``sma:N``: the mean of the last ``N`` values.
- ``ema:N``: the exponential moving average with ``alpha = 2 / (N + 1)``, ``y[0] = x[0]``
  (pandas' ``adjust=False``); its first ``N - 1`` rows are dropped as warm-up.
- ``rsi:N``: Wilder's relative strength index: average gain and loss over ``N`` changes, seeded
  with their plain mean over the first ``N`` changes, then ``avg = (avg * (N - 1) + new) / N``.
- ``volatility:N``: the sample standard deviation of the last ``N`` log returns.

A model trained with indicators records them as features (named ``returns``, ``sma_20``, ...);
loading data for it (forecast, evaluate, update, detect) reads the file's own columns and
computes the indicators again, so a new file needs only the columns the user chose.
EMA and RSI are recursions: computed from a file that starts later, their first values differ a
little from those computed on the whole history, and converge to them within a few windows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from rnncast.config import parse_indicator
from rnncast.data import SeriesData, rows_digest
from rnncast.errors import DataError, UsageError
from rnncast.windows import MAX_MAGNITUDE

# Indicators defined only for positive values: a ratio or logarithm of prices.
NEEDS_POSITIVE = ("returns", "log_returns", "volatility")


def indicator_name(spec: str) -> str:
    """The feature column an indicator makes: ``"sma:20"`` -> ``"sma_20"``, ``"returns"`` -> ``"returns"``."""
    name, window = parse_indicator(spec)
    return name if window is None else f"{name}_{window}"


def indicator_names(specs: Iterable[str]) -> tuple[str, ...]:
    """The feature names of ``specs``, in order.

    Raises:
        UsageError: two specs make the same feature (``sma:20,SMA:20``).
    """
    names: list[str] = []
    for spec in specs:
        name = indicator_name(spec)
        if name in names:
            raise UsageError(
                f"--indicators names {name} twice",
                "list each indicator once (e.g. --indicators sma:20,rsi:14)",
            )
        names.append(name)
    return tuple(names)


def warm_up_rows(spec: str) -> int:
    """How many leading rows ``spec`` leaves undefined."""
    name, window = parse_indicator(spec)
    if window is None:
        return 1  # a change needs the row before
    if name in ("rsi", "volatility"):
        return window  # N changes need N + 1 rows
    return window - 1  # sma, ema: N values


def compute_indicators(values: np.ndarray | pd.Series, specs: Iterable[str]) -> pd.DataFrame:
    """The indicators of the series ``values`` (one column per spec, named by
    :func:`indicator_name`), NaN in each one's warm-up rows. No value at row ``t`` depends on a
    row after ``t``.

    ``values`` must be finite; those that need it (:data:`NEEDS_POSITIVE`) positive too (see
    :func:`check_positive`).
    """
    price = pd.Series(np.asarray(values, dtype=np.float64))
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        name, window = parse_indicator(spec)
        if name == "returns":
            column = price / price.shift(1) - 1.0
        elif name == "log_returns":
            column = np.log(price / price.shift(1))
        elif name == "sma":
            column = price.rolling(window, min_periods=window).mean()
        elif name == "ema":
            column = price.ewm(span=window, adjust=False, min_periods=window).mean()
        elif name == "rsi":
            column = _wilder_rsi(price, window)
        else:  # volatility
            column = np.log(price / price.shift(1)).rolling(window, min_periods=window).std()
        columns[indicator_name(spec)] = column
    return pd.DataFrame(columns, index=price.index)


def _wilder_rsi(price: pd.Series, window: int) -> pd.Series:
    """Wilder's RSI: 100 - 100 / (1 + average gain / average loss), NaN before row ``window``.

    A span without losses is 100, one without gains 0, and a flat one (neither) 50.
    """
    change = price.diff()
    gain = change.clip(lower=0.0)
    loss = (-change).clip(lower=0.0)
    rsi = pd.Series(np.nan, index=price.index)
    if len(price) <= window:
        return rsi

    def smoothed(part: pd.Series) -> pd.Series:
        # Wilder's recursion avg[t] = avg[t-1] + (x[t] - avg[t-1]) / N is an EMA with alpha 1/N;
        # started from the seed (the mean of the first N changes, rows 1..N) it is exactly his.
        seeded = part.iloc[window:].copy()
        seeded.iloc[0] = part.iloc[1 : window + 1].mean()
        return seeded.ewm(alpha=1.0 / window, adjust=False).mean()

    average_gain, average_loss = smoothed(gain), smoothed(loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + average_gain / average_loss)
    value = value.where(average_loss > 0, np.where(average_gain > 0, 100.0, 50.0))
    rsi.iloc[window:] = value.to_numpy()
    return rsi


def check_positive(values: np.ndarray, column: str, specs: Iterable[str], index: pd.DatetimeIndex) -> None:
    """Refuse indicators that take ratios or logarithms of a column with values at or below zero.

    Raises:
        DataError: a value of ``column`` is <= 0 and one of ``specs`` needs positive values.
    """
    needing = [spec for spec in specs if parse_indicator(spec)[0] in NEEDS_POSITIVE]
    bad = np.flatnonzero(values <= 0)
    if not needing or not len(bad):
        return
    first = int(bad[0])
    raise DataError(
        f"--indicators {','.join(needing)} need positive values, but column {column!r} has "
        f"{len(bad)} value(s) at or below zero (e.g. {values[first]:g} at {index[first]})",
        "use sma, ema or rsi (defined for any values) with this column, or forecast a positive price",
    )


def add_indicators(series: SeriesData, specs: tuple[str, ...]) -> SeriesData:
    """``series`` with the indicators of its first target appended as features (after the
    user's) and the leading rows where any of them is undefined dropped (a note says how many).

    Raises:
        UsageError: an indicator's name is already a column of the series, or repeats.
        DataError: values the indicators cannot use (<= 0 for a ratio or logarithm), non-finite
            results, or too few rows left after the warm-up.
    """
    if not specs:
        return series
    names = indicator_names(specs)
    taken = {column.strip().casefold(): column for column in (series.time_col, *series.columns)}
    for name in names:
        if name.casefold() in taken:
            raise UsageError(
                f"--indicators makes a feature named {name!r}, but the data already has a column "
                f"{taken[name.casefold()]!r}",
                "rename that column in the file, or drop that indicator",
            )
    target = series.targets[0]
    price = series.frame[target].to_numpy()
    check_positive(price, target, specs, series.index)
    computed = compute_indicators(price, specs)
    computed.index = series.index
    warm = max(warm_up_rows(spec) for spec in specs)
    body = computed.to_numpy()[warm:]
    if not np.isfinite(body).all() or (np.abs(body) > MAX_MAGNITUDE).any():
        worst = next(c for c in computed.columns if not np.isfinite(computed[c].to_numpy()[warm:]).all())
        raise DataError(
            f"--indicators {worst} of column {target!r} is not a finite number in some rows",
            "check the column for extreme values, or drop that indicator",
        )
    left = len(series) - warm
    if left < 3:
        raise DataError(
            f"the data has {len(series)} rows, and --indicators need the first {warm} to warm up",
            "use shorter indicator windows or more data",
        )
    frame = pd.concat([series.frame, computed], axis=1).iloc[warm:]
    filled = series.filled[warm:] if series.filled is not None else None
    note = (
        f"dropped the first {warm} row(s) ({_when(series.index[0])} to {_when(series.index[warm - 1])}): "
        f"--indicators {','.join(specs)} are not defined before {_when(series.index[warm])}"
    )
    fingerprint = {
        **series.fingerprint,
        "rows": len(frame),
        "rows_sha256": rows_digest(frame),
        "first_timestamp": frame.index[0].isoformat(),
        "columns": [*series.fingerprint.get("columns", series.columns), *names],
    }
    return dataclasses.replace(
        series,
        frame=frame,
        features=(*series.features, *names),
        fingerprint=fingerprint,
        notes=(*series.notes, note),
        filled=filled,
    )


def _when(stamp: pd.Timestamp) -> str:
    """A timestamp for notes: the date alone at a naive midnight."""
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() and stamp.tz is None else str(stamp)


def file_features(features: tuple[str, ...], specs: tuple[str, ...]) -> tuple[str, ...]:
    """A bundle's features less those its indicators compute: the columns read from the file."""
    computed = set(indicator_names(specs))
    return tuple(name for name in features if name not in computed)
