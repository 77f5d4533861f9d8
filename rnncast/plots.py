"""PNG plots for reports, drawn with matplotlib's object API (no pyplot global state).

Each function returns PNG bytes, so the caller decides where they go (a file written
atomically, or a data URI inside the self-contained HTML report).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from rnncast.evaluation import ScoredWindows
from rnncast.frequency import frequency_family
from rnncast.report import short_stamp

# One look for each forecaster across every plot: the model stands out, baselines recede.
STYLES: dict[str, dict[str, Any]] = {
    "actual": {"color": "black", "linewidth": 1.4, "label": "actual"},
    "model": {"color": "#d62728", "linewidth": 1.4},
    "naive": {"color": "#1f77b4", "linewidth": 0.9, "linestyle": "--"},
    "seasonal_naive": {"color": "#2ca02c", "linewidth": 0.9, "linestyle": "--"},
    "drift": {"color": "#9467bd", "linewidth": 0.9, "linestyle": ":"},
    "mean": {"color": "#8c564b", "linewidth": 0.9, "linestyle": ":"},
}
STEP_NAMES = {
    "B": "business day",
    "D": "day",
    "W": "week",
    "M": "month",
    "Q": "quarter",
    "Y": "year",
}


def step_name(frequency: str) -> str:
    """What one step is, for axis labels: ``day``, ``business day``, ``1h``, ..."""
    family = frequency_family(frequency)
    if family == "intraday":
        return pd.tseries.frequencies.to_offset(frequency).freqstr
    return STEP_NAMES[family]


def forecast_plot(scored: ScoredWindows, target: str, title: str) -> bytes:
    """Actual values over the scored span against the forecasts made 1 step and
    ``horizon`` steps ahead, for the model and every baseline; below, a close-up of the last
    window's whole forecast after the actual values that preceded it."""
    from matplotlib.figure import Figure

    position = scored.targets.index(target)
    horizon = scored.horizon
    steps = [1] if horizon == 1 else [1, horizon]
    figure = Figure(figsize=(11, 3.4 * (len(steps) + 1)), layout="constrained")
    grid = figure.add_gridspec(len(steps) + 1, 1)
    axes = [figure.add_subplot(grid[0])]
    axes += [figure.add_subplot(grid[i], sharex=axes[0]) for i in range(1, len(steps))]
    index = _naive_index(scored.index)
    # Every actual value the windows cover, once: step 1 of each window plus the last tail.
    rows = np.unique(np.concatenate([scored.starts, scored.starts[-1] + np.arange(horizon)]))
    actual_by_row = dict(zip(scored.starts, scored.actual[:, 0, position], strict=True))
    actual_by_row.update(
        zip(scored.starts[-1] + np.arange(horizon), scored.actual[-1, :, position], strict=True)
    )
    for ax, step in zip(axes, steps, strict=True):
        ax.plot(index[rows], [actual_by_row[r] for r in rows], **STYLES["actual"])
        target_rows = scored.starts + step - 1
        for name, values in scored.forecasts.items():
            ax.plot(index[target_rows], values[:, step - 1, position], label=name, **_style(name))
        for boundary in _fold_starts(scored):
            ax.axvline(index[boundary], color="grey", linewidth=0.6, alpha=0.6)
        ahead = "1 step" if step == 1 else f"{step} steps"
        ax.set_title(f"forecasts made {ahead} ahead", fontsize=10, loc="left")
        ax.set_ylabel(f"{target} (data units)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8, ncols=3)
    axes[-1].set_xlabel(_time_label(scored.index))
    _date_axis(axes[-1])
    _last_window(figure.add_subplot(grid[len(steps)]), scored, position, actual_by_row, target)
    figure.suptitle(title)
    return _png(figure)


def _last_window(
    ax: Any, scored: ScoredWindows, position: int, actual_by_row: dict[int, float], target: str
) -> None:
    """The newest scored window: the known values before it, its actuals, every forecast."""
    index = _naive_index(scored.index)
    horizon = scored.horizon
    last = int(scored.starts[-1])
    context = [r for r in range(last - 3 * horizon, last + horizon) if r in actual_by_row]
    ax.plot(index[context], [actual_by_row[r] for r in context], **STYLES["actual"])
    future = np.arange(last, last + horizon)
    for name, values in scored.forecasts.items():
        ax.plot(index[future], values[-1, :, position], label=name, **_style(name))
    ax.axvline(index[last], color="grey", linewidth=0.8, linestyle="--")
    known = short_stamp(scored.index[last - 1].isoformat())
    ax.set_title(f"the last window: {horizon}-step forecasts made after {known}", fontsize=10, loc="left")
    ax.set_ylabel(f"{target} (data units)")
    ax.set_xlabel(_time_label(scored.index))
    ax.grid(alpha=0.3)
    _date_axis(ax)


def error_by_step_plot(
    per_step: dict[str, dict[str, dict[str, list[float | None]]]], units: str, frequency: str, title: str
) -> bytes:
    """RMSE at each horizon step for the model and every baseline."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), layout="constrained")
    ax = figure.subplots()
    for name, by_units in per_step.items():
        rmse = np.array([_or_nan(v) for v in by_units[units]["rmse"]])
        steps = np.arange(1, len(rmse) + 1)
        ax.plot(
            steps, rmse, marker="o" if len(steps) <= 24 else None, markersize=3, label=name, **_style(name)
        )
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_xlabel(f"steps ahead (1 step = 1 {step_name(frequency)})")
    ax.set_ylabel("RMSE (data units)" if units == "original" else "RMSE (scaled units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.suptitle(title)
    return _png(figure)


def loss_curves_plot(histories: Sequence[dict[str, list[float]]], title: str) -> bytes:
    """Training and validation loss per epoch, one pair of curves per trained model."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), layout="constrained")
    ax = figure.subplots()
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for number, (history, color) in enumerate(zip(histories, colors, strict=True), start=1):
        prefix = f"fold {number} " if len(histories) > 1 else ""
        for key, style in (("loss", "--"), ("val_loss", "-")):
            if history.get(key):
                epochs = np.arange(1, len(history[key]) + 1)
                label = prefix + ("training" if key == "loss" else "validation")
                ax.plot(epochs, history[key], linestyle=style, color=color, marker=".", label=label)
        if history.get("val_loss"):
            best = int(np.argmin(history["val_loss"]))
            ax.plot(best + 1, history["val_loss"][best], marker="*", markersize=11, color=color)
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_xlabel("epoch (★ = best validation loss, the weights kept)")
    ax.set_ylabel("MSE loss (scaled units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2 if len(histories) > 2 else 1)
    figure.suptitle(title)
    return _png(figure)


def fold_errors_plot(folds: Sequence[dict[str, Any]], units: str, title: str) -> bytes:
    """RMSE of the model and every baseline in each backtest fold, as grouped bars."""
    from matplotlib.figure import Figure

    names = list(folds[0]["metrics"])
    figure = Figure(figsize=(max(6.0, 1.3 * len(folds) + 3), 4), layout="constrained")
    ax = figure.subplots()
    width = 0.8 / len(names)
    positions = np.arange(len(folds))
    for offset, name in enumerate(names):
        rmse = [_or_nan(fold["metrics"][name][units]["rmse"]) for fold in folds]  # NaN: no bar
        color = _style(name).get("color")
        ax.bar(positions + offset * width - 0.4 + width / 2, rmse, width, label=name, color=color)
    labels = [f"fold {fold['fold']}\n{str(fold['first_target_time'])[:10]}" for fold in folds]
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlabel("fold (time of its first forecast target)")
    ax.set_ylabel("RMSE (data units)" if units == "original" else "RMSE (scaled units)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(len(names), 5))
    figure.suptitle(title)
    return _png(figure)


def anomaly_plot(
    index: pd.DatetimeIndex,
    actual: np.ndarray,
    expected: np.ndarray,
    flags: np.ndarray,
    targets: Sequence[str],
    title: str,
) -> bytes:
    """Actual values against the model's expected values (rows x targets), one panel per
    target, each flagged row marked with a red ring on its actual value."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 3.4 * len(targets)), layout="constrained")
    axes = figure.subplots(len(targets), 1, sharex=True, squeeze=False)[:, 0]
    shown = _naive_index(index)
    for position, (ax, target) in enumerate(zip(axes, targets, strict=True)):
        ax.plot(shown, actual[:, position], **STYLES["actual"])
        ax.plot(
            shown, expected[:, position], label="expected (model)", **{**_style("model"), "linewidth": 0.9}
        )
        flagged = flags[:, position]
        ax.scatter(
            shown[flagged],
            actual[flagged, position],
            s=60,
            facecolors="none",
            edgecolors="#d62728",
            linewidths=1.6,
            zorder=3,
            label=f"anomaly ({int(flagged.sum())})",
        )
        ax.set_ylabel(f"{target} (data units)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8, ncols=3)
    axes[-1].set_xlabel(_time_label(index))
    _date_axis(axes[-1])
    figure.suptitle(title)
    return _png(figure)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _integer_ticks() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _style(name: str) -> dict[str, Any]:
    return {key: value for key, value in STYLES.get(name, {}).items() if key != "label"}


def _fold_starts(scored: ScoredWindows) -> list[int]:
    changes = np.flatnonzero(np.diff(scored.fold)) + 1
    return [int(scored.starts[i]) for i in changes]


def _naive_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # matplotlib draws naive datetimes; zoned data is shown in UTC (the axis label says so).
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def _time_label(index: pd.DatetimeIndex) -> str:
    return "time (UTC)" if index.tz is not None else "time"


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
