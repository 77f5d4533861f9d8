"""``detect``: flag the rows a trained model did not expect.

Every row ``t`` from ``lookback + step - 1`` on gets the value the model forecast for it
``step`` rows earlier (the window whose inputs end at row ``t - step``, its step ``step``), so
each expectation uses only rows before ``t - step + 1``. The residual ``actual - expected`` of
each target is scored as a robust z-score over all scored rows,

    score = (residual - median) / (1.4826 * MAD),

where MAD is the median absolute deviation of the residuals from their median (1.4826 * MAD
estimates the standard deviation of normal residuals, and a few huge residuals, the anomalies
themselves, barely move it). Where more than half the residuals are equal, the MAD is 0 and
1.2533 times their mean absolute deviation stands in; where every residual is equal, every
score is 0. A row is an anomaly when ``|score| > threshold``.

A spike also enters the inputs of the forecasts made after it, and the model expects it to
last: the normal rows after it are scored again with the spike replaced by its expected value
and cleared when they are then within the threshold (``rnncast.echoes``). A level shift is
flagged at its first row; the rows after it are not flagged for keeping the new level.

With ``--score interval`` (a bundle trained with conformal ``--intervals``) the residual is
instead divided by the half-width of the bundle's widest interval for that row's window and
step, ``score = residual / (q[step] * s(x))``: the score is 1 at the interval's edge, and
``--threshold`` (default 1 for this score) is in half-widths. It follows the window's
volatility, where the robust z-score uses one scale for the whole series.

Values ``--fill`` made up were never observed: they are neither scored nor written.
A model of many series (format 2) is refused: detect one series at a time.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast.errors import AnomalyError, DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from rnncast.bundle import Bundle
    from rnncast.data import SeriesData
    from rnncast.echoes import Rescore
    from rnncast.intervals import IntervalCalibration

logger = logging.getLogger("rnncast")

DEFAULT_THRESHOLD = 4.0
SCORES = ("zscore", "interval")
# The default --threshold per --score: a robust z-score of 4, or outside the widest interval.
DEFAULT_THRESHOLDS = {"zscore": DEFAULT_THRESHOLD, "interval": 1.0}
MAD_TO_SIGMA = 1.4826  # 1 / the 75th percentile of the standard normal
MEAN_AD_TO_SIGMA = 1.2533  # sqrt(pi / 2): the mean absolute deviation of a normal is 0.7979 sigma
NEWEST_SHOWN = 5  # anomalies listed in the summary
FEW_SCORED_ROWS = 30  # below this, the median and MAD of the residuals are rough


@dataclass(frozen=True)
class Detection:
    """What :func:`detect` found and wrote.

    ``frame`` holds one row per scored row and target: ``timestamp`` (as written), ``target``
    (the target's name), ``actual``, ``expected``, ``score``, ``flag``, in time order.
    """

    frame: pd.DataFrame
    summary: dict[str, Any]
    output: Path
    plot: Path | None


def check_settings(threshold: float, step: int, recent: int, score: str = "zscore") -> None:
    """Refuse impossible detection settings before anything is loaded.

    Raises:
        UsageError: a threshold that is not a positive number, a step or recent count below 1,
            an unknown score.
    """
    if score not in SCORES:
        raise UsageError(f"--score must be one of {', '.join(SCORES)}, got {score!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise UsageError(f"--threshold must be a positive number, got {threshold!r}", "the default is 4.0")
    if threshold <= 0:
        raise UsageError(
            f"--threshold must be above 0, got {threshold:g}",
            "give the robust z-score beyond which a row is an anomaly (the default is 4.0)",
        )
    for flag, value in (("--step", step), ("--recent", recent)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{flag} must be a whole number of at least 1, got {value!r}")


def plot_path_for(output: Path, plot: Path | None, draw: bool) -> Path | None:
    """Where the plot goes: ``plot``, else beside ``output`` as ``<output stem>.png``; None
    without ``draw``."""
    if not draw:
        return None
    return plot if plot is not None else output.with_name(f"{output.stem}.png")


def detect(
    model: str | Path,
    data: str | Path | None,
    output: str | Path,
    *,
    threshold: float | None = None,
    step: int = 1,
    plot: str | Path | None = None,
    draw_plot: bool = True,
    recent: int = 1,
    score: str = "zscore",
) -> Detection:
    """Score every row of ``data`` (the bundle's training file by default) against the model's
    ``step``-ahead forecast of it; write the scored rows to ``output`` (CSV) and a plot.

    Args:
        model: the bundle directory.
        data: the data file (default: the training file).
        output: the CSV to write, atomically.
        threshold: the score beyond which a row is an anomaly (> 0); by default 4 for
            ``zscore`` and 1 (outside the widest interval) for ``interval``.
        step: score each row against the forecast made this many steps earlier (1 ..
            the model's horizon).
        plot: the PNG to write (default: beside ``output``, ``<output stem>.png``).
        draw_plot: False writes no plot.
        recent: how many of the newest rows the summary's ``recent`` block covers.
        score: ``zscore`` (robust z-score of the residuals) or ``interval`` (residual over
            the half-width of the bundle's widest conformal interval).

    Raises:
        UsageError: bad settings, a model of many series, or an output that cannot be written.
        BundleError: the bundle is missing or damaged.
        DataError: the data does not fit the model, or is too short for one scored row.
    """
    from rnncast.bundle import load_bundle
    from rnncast.bundle_files import training_data_path

    if threshold is None:
        threshold = DEFAULT_THRESHOLDS.get(score, DEFAULT_THRESHOLD)
    check_settings(threshold, step, recent, score)
    if str(output) == "-":
        raise UsageError(
            "detect writes its table to a file, not to standard output ('-')",
            "name a file such as anomalies.csv (--json prints the summary to stdout)",
        )
    output = Path(output)
    if output.is_symlink():
        output = output.resolve()  # write the file the link names; the link itself stays
    bundle = load_bundle(model, with_model=False)
    if bundle.many_series:
        raise UsageError(
            f"{bundle.path} is a model of many series; detect scores one series at a time",
            "train a model on that series alone (--target, without --id-col / --series-columns)",
        )
    config = bundle.config
    assert config.lookback is not None and config.horizon is not None
    if step > config.horizon:
        raise UsageError(
            f"--step {step} is beyond the model's horizon of {config.horizon} step(s)",
            f"use a --step from 1 to {config.horizon}",
        )
    calibration = _interval_calibration(bundle) if score == "interval" else None
    data_path = training_data_path(bundle.metadata, data)
    plot_path = plot_path_for(output, None if plot is None else Path(plot), draw_plot)
    _check_targets(output, plot_path, data_path, bundle.path)

    from rnncast.echoes import clear_echoes
    from rnncast.inference import forecast_network
    from rnncast.pipeline import load_for_bundle
    from rnncast.scoring import predict_part

    series = load_for_bundle(bundle, data)
    lookback = config.lookback
    rows = _scored_rows(series, lookback, step)
    network = forecast_network(bundle)  # NumPy, no TensorFlow, unless it must fall back to Keras
    expected = expected_values(bundle, series, rows, step, network)
    n_targets = len(series.targets)
    actual = series.frame.to_numpy()[rows, :n_targets].astype(np.float64)
    if series.filled is not None:
        actual[series.filled[rows]] = np.nan  # made up by --fill: nothing to score
    values = series.frame.to_numpy()
    if calibration is None:
        scores, centre, scale = robust_scores(actual - expected)
        rescore = zscore_scorer(centre, scale)
    else:
        rescore = interval_scorer(calibration, step, lookback, n_targets)
        scores = rescore(actual - expected, values, rows)
        centre, scale = np.zeros(n_targets), np.ones(n_targets)

    def forecast_window(values: np.ndarray, start: int) -> np.ndarray:
        window = predict_part(
            network, bundle.scaler, values, series.targets, np.array([start]), lookback, config.transform
        )
        return window[0, step - 1]

    second = clear_echoes(
        forecast_window, values, rows, step, lookback, actual, expected, scores, threshold, rescore
    )
    expected, scores, flags = second.expected, second.scores, second.flags

    frame = scored_frame(series, rows, actual, expected, scores, flags)
    summary = _summary(bundle, series, rows, frame, step, threshold, recent, centre, scale)
    summary.update(
        output=str(output),
        plot=None if plot_path is None else str(plot_path),
        score=score,
        echoes_cleared=second.cleared,
    )
    if calibration is not None:
        summary["interval_level"] = max(calibration.levels)
        del summary["residuals"]  # scaled per window by the interval, not by one median and MAD
    png = None
    if plot_path is not None:
        from rnncast.plots import anomaly_plot

        ahead = "1 step" if step == 1 else f"{step} steps"
        title = (
            f"{Path(series.fingerprint['path']).name}: {summary['anomalies']} anomal"
            f"{'y' if summary['anomalies'] == 1 else 'ies'} ({_measure(summary)} > {threshold:g}, "
            f"forecasts made {ahead} ahead)"
        )
        png = anomaly_plot(series.index[rows], actual, expected, flags, series.targets, title)
    _write(output, frame, png, plot_path, with_target=len(series.targets) > 1)
    return Detection(frame, summary, output, plot_path)


def check_new_anomalies(summary: dict[str, Any]) -> None:
    """``--fail-on-new``: refuse when any of the newest ``recent`` rows is an anomaly.

    Raises:
        AnomalyError: with the newest flagged rows and their scores.
    """
    recent = summary["recent"]
    if not recent["anomalies"]:
        return
    several = len(summary["targets"]) > 1
    shown = ", ".join(
        f"{row['timestamp']}{' ' + row['target'] if several else ''} (score {row['score']:.1f})"
        for row in recent["anomalies"][:3]
    )
    raise AnomalyError(
        f"{len(recent['anomalies'])} anomal{'y' if len(recent['anomalies']) == 1 else 'ies'} among "
        f"the newest {recent['rows']} row(s): {shown}",
        f"see {summary['output']}",
    )


def summary_text(summary: dict[str, Any]) -> str:
    """What ``rnncast detect`` prints: the counts, the newest anomalies, the newest rows' verdict."""
    from rnncast.report import format_number

    several = len(summary["targets"]) > 1
    ahead = "1 step" if summary["step"] == 1 else f"{summary['step']} steps"
    lines = [
        f"scored {summary['rows_scored']:,} rows ({summary['first_scored']} to {summary['last_scored']}) "
        f"against forecasts made {ahead} ahead",
        f"{summary['anomalies']:,} anomal{'y' if summary['anomalies'] == 1 else 'ies'} "
        f"({_measure(summary)} > {summary['threshold']:g})",
    ]
    if summary.get("echoes_cleared"):
        cleared = summary["echoes_cleared"]
        lines.append(
            f"{cleared:,} row{'' if cleared == 1 else 's'} flagged at first, then cleared: within the "
            "threshold once the earlier anomaly in the model's inputs is replaced by its expected value"
        )
    if summary["newest_anomalies"]:
        lines.append("newest anomalies:")
        for row in summary["newest_anomalies"]:
            name = f" {row['target']}" if several else ""
            lines.append(
                f"  {row['timestamp']}{name}: actual {format_number(row['actual'])}, expected "
                f"{format_number(row['expected'])}, score {row['score']:+.1f}"
            )
    recent = summary["recent"]
    newest = "the newest row" if recent["rows"] == 1 else f"the newest {recent['rows']} rows"
    found = len(recent["anomalies"])
    lines.append(
        f"{newest}: {'no anomaly' if not found else f'{found} anomal' + ('y' if found == 1 else 'ies')}"
    )
    return "\n".join(lines)


def _measure(summary: dict[str, Any]) -> str:
    """What the scores are, in words (for the summary line and the plot's title)."""
    if summary.get("score") == "interval":
        return f"|error| / {summary['interval_level']:g}% interval half-width"
    return "|robust z|"


def _scored_rows(series: SeriesData, lookback: int, step: int) -> np.ndarray:
    """Rows that have a ``step``-ahead forecast: from ``lookback + step - 1`` to the last."""
    first = lookback + step - 1
    if len(series) <= first:
        raise DataError(
            f"the data has {len(series)} rows, but the model reads {lookback} before forecasting "
            f"{step} step(s) ahead: no row can be scored",
            f"pass more than {first} rows to --data (e.g. the full history)",
        )
    rows = np.arange(first, len(series), dtype=np.int64)
    if len(rows) < FEW_SCORED_ROWS:
        logger.warning(
            "only %d row(s) can be scored: the scores' median and spread come from few residuals",
            len(rows),
        )
    return rows


def expected_values(
    bundle: Bundle, series: SeriesData, rows: np.ndarray, step: int, network: Any = None
) -> np.ndarray:
    """The model's forecast of each row in ``rows`` made ``step`` steps earlier (rows x targets,
    original units): step ``step`` of the window whose targets start at ``row - step + 1``.
    ``network`` is the bundle's forecast network (loaded here when not given)."""
    from rnncast.evaluation import window_parts
    from rnncast.inference import forecast_network
    from rnncast.scoring import predict_part

    config = bundle.config
    assert config.lookback is not None and config.horizon is not None
    if network is None:
        network = forecast_network(bundle)  # NumPy, no TensorFlow, unless it must fall back to Keras
    starts = rows - step + 1
    values = series.frame.to_numpy()
    parts = []
    # A part at a time: only step ``step`` of each window is kept, so memory stays rows x targets.
    for part in window_parts(len(starts), config.horizon * len(series.targets)):
        predicted = predict_part(
            network, bundle.scaler, values, series.targets, starts[part], config.lookback, config.transform
        )
        parts.append(predicted[:, step - 1, :])
    expected = np.concatenate(parts) if parts else np.empty((0, len(series.targets)))
    if not np.isfinite(expected).all():
        raise DataError(
            "the model produced non-finite forecasts for this data",
            "check the data for extreme values, or retrain the model",
        )
    return expected


def _interval_calibration(bundle: Bundle) -> IntervalCalibration:
    """The bundle's conformal calibration, which ``--score interval`` divides by.

    Raises:
        UsageError: the bundle has no intervals, or MC-dropout ones (they need the network
            sampled a hundred times per row).
    """
    from rnncast.intervals import calibration_of

    calibration = calibration_of(bundle.metadata)
    if calibration is None:
        raise UsageError(
            f"--score interval needs prediction intervals, but {bundle.path} was trained without --intervals",
            "retrain with --intervals 95 (or 99), or use --score zscore",
        )
    if calibration.method != "conformal":
        raise UsageError(
            f"--score interval works with conformal intervals, but {bundle.path} has "
            f"{calibration.method} ones",
            "retrain with --interval-method conformal, or use --score zscore",
        )
    return calibration


def interval_scorer(calibration: IntervalCalibration, step: int, lookback: int, n_targets: int) -> Rescore:
    """Scores of residuals (rows x targets) over the half-width of the widest calibrated
    interval of the window each row was forecast from, at ``step``: ``q[step] * s(x)``."""
    from rnncast.intervals import window_scale

    floor = calibration.scale_floor
    assert floor is not None
    quantile = np.asarray(calibration.quantiles[_widest(calibration)][step - 1], dtype=np.float64)

    def score(residuals: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # The window whose step ``step`` forecast row t starts its targets at t - step + 1.
        window = window_scale(values[:, :n_targets], rows - step + 1, lookback, floor)
        with np.errstate(all="ignore"):
            return residuals / (quantile * window)

    return score


def zscore_scorer(centre: np.ndarray, scale: np.ndarray) -> Rescore:
    """Robust z-scores with a fixed median and spread (the first pass's, from
    :func:`robust_scores`), for the second look's residuals."""
    return lambda residuals, _values, _rows: standardised(residuals, centre, scale)


def _widest(calibration: IntervalCalibration) -> str:
    """The label of the calibration's widest (highest-level) interval."""
    return calibration.labels[calibration.levels.index(max(calibration.levels))]


def robust_scores(residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust z-scores of ``residuals`` (rows x targets, NaN where unscored), per column, with
    the centre (median) and scale used. See the module docstring for the zero-MAD fallbacks."""
    with np.errstate(all="ignore"):
        observed = ~np.isnan(residuals)
        centre = np.array(
            [
                np.median(residuals[observed[:, i], i]) if observed[:, i].any() else np.nan
                for i in range(residuals.shape[1])
            ]
        )
        deviation = np.abs(residuals - centre)
        scale = np.array(
            [_spread(deviation[observed[:, i], i]) for i in range(residuals.shape[1])], dtype=np.float64
        )
    return np.where(observed, standardised(residuals, centre, scale), np.nan), centre, scale


def standardised(residuals: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(residuals - centre) / scale`` per column; 0 where the scale is 0 (every residual equal)."""
    with np.errstate(all="ignore"):
        return np.where(scale > 0, (residuals - centre) / np.where(scale > 0, scale, 1.0), 0.0)


def _spread(deviation: np.ndarray) -> float:
    """The robust standard deviation of residuals from their absolute deviations from the median."""
    if not len(deviation):
        return 0.0
    mad = MAD_TO_SIGMA * float(np.median(deviation))
    if mad > 0:
        return mad
    return MEAN_AD_TO_SIGMA * float(np.mean(deviation))  # 0 when every residual is the same


def scored_frame(
    series: SeriesData,
    rows: np.ndarray,
    actual: np.ndarray,
    expected: np.ndarray,
    scores: np.ndarray,
    flags: np.ndarray,
) -> pd.DataFrame:
    """The output table: one row per scored row and target (unscored values left out), in time
    order, the targets of a row in the model's order."""
    import pandas as pd

    from rnncast.report import format_timestamps

    stamps = np.array(format_timestamps(series.index[rows], series.time_format), dtype=object)
    n_targets = len(series.targets)
    frame = pd.DataFrame(
        {
            "timestamp": np.repeat(stamps, n_targets),
            "target": np.tile(np.array(series.targets, dtype=object), len(rows)),
            "actual": actual.reshape(-1),
            "expected": expected.reshape(-1),
            "score": scores.reshape(-1),
            "flag": flags.reshape(-1),
            "row": np.repeat(rows, n_targets),
        }
    )
    return frame[frame["score"].notna()].reset_index(drop=True)


def _summary(
    bundle: Bundle,
    series: SeriesData,
    rows: np.ndarray,
    frame: pd.DataFrame,
    step: int,
    threshold: float,
    recent: int,
    centre: np.ndarray,
    scale: np.ndarray,
) -> dict[str, Any]:
    """The machine-readable account of a detection run (``--json``)."""
    flagged = frame[frame["flag"]]
    newest_rows = rows[-recent:]
    in_recent = flagged[flagged["row"] >= int(newest_rows[0])]
    return {
        "model": str(bundle.path),
        "data": series.fingerprint["path"],
        "targets": list(series.targets),
        "step": step,
        "threshold": threshold,
        "rows_scored": int(frame["row"].nunique()),
        "values_scored": len(frame),
        "first_scored": series.index[int(rows[0])].isoformat(),
        "last_scored": series.index[int(rows[-1])].isoformat(),
        "anomalies": len(flagged),
        "residuals": {
            target: {"median": float(centre[i]), "scale": float(scale[i])}
            for i, target in enumerate(series.targets)
        },
        "newest_anomalies": _records(flagged.iloc[::-1].head(NEWEST_SHOWN)),
        "recent": {
            "rows": len(newest_rows),
            "from": series.index[int(newest_rows[0])].isoformat(),
            "anomalies": _records(in_recent.iloc[::-1]),
        },
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": str(row.timestamp),
            "target": str(row.target),
            "actual": float(row.actual),
            "expected": float(row.expected),
            "score": float(row.score),
        }
        for row in frame.itertuples(index=False)
    ]


def _check_targets(output: Path, plot: Path | None, data_path: Path, bundle_path: Path) -> None:
    """Refuse, before any work, outputs that would overwrite the data or land in the bundle, a
    directory, a missing directory, or each other.

    Raises:
        UsageError: naming the flag and the fix.
    """
    for flag, path in (("--output", output), ("--plot", plot)):
        if path is None:
            continue
        if path.exists() and path.is_dir():
            raise UsageError(f"{flag} {str(path)!r} is a directory", "name a file, such as anomalies.csv")
        if path.exists() and not path.is_file():
            raise UsageError(f"{flag} {str(path)!r} is a device, pipe or socket, not a file", "name a file")
        if path.exists() and path.resolve() == data_path.resolve():
            raise UsageError(f"{flag} {str(path)!r} is the input data file", "write to another file")
        if not path.parent.is_dir():
            raise UsageError(f"the directory of {flag} {str(path)!r} does not exist", "create it first")
        if path.parent.resolve() == bundle_path.resolve():
            raise UsageError(
                f"{flag} {str(path)!r} is inside the model bundle", "write it outside the bundle"
            )
    if plot is not None and plot.resolve() == output.resolve():
        raise UsageError(
            f"the plot would overwrite --output {str(output)!r}",
            "name the CSV something.csv, or choose another --plot",
        )


def _write(
    output: Path, frame: pd.DataFrame, png: bytes | None, plot: Path | None, *, with_target: bool
) -> None:
    """Write the CSV (a ``target`` column only for several targets), then the plot, each
    atomically (complete or absent)."""
    import io

    from rnncast.fileio import atomic_write_bytes, atomic_write_text

    columns = ["timestamp", "target", "actual", "expected", "score", "flag"]
    if not with_target:
        columns.remove("target")  # one target: its name is in the summary
    table = frame[columns].copy()
    table["flag"] = np.where(table["flag"], "true", "false")
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, float_format="%.10g", lineterminator="\n")
    try:
        atomic_write_text(output, buffer.getvalue())
        if png is not None and plot is not None:
            atomic_write_bytes(plot, png)
    except OSError as exc:
        raise UsageError(
            f"cannot write {exc.filename or output} ({exc.strerror})", "choose a writable --output / --plot"
        ) from exc
