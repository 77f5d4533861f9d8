"""Turning results into terminal output: rich tables for people, CSV and JSON for programs."""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from rnncast.report import format_number, format_timestamps, short_stamp

SCALED_COLUMNS = (("mse", "scaled MSE"), ("rmse", "scaled RMSE"), ("mae", "scaled MAE"))


def metrics_table(report: dict[str, Any], title: str = "Held-out test windows") -> Table:
    """Model and baselines side by side. One target: every metric in the data's units, the
    squared and absolute errors also in scaled units. Several targets: scaled units only (the
    only units in which they add up). Skill is against the best baseline."""
    from rnncast.evaluation import METRIC_LABELS  # NumPy and pandas: not for info's plain lines

    units = report.get("verdict_units", "original")
    suffix = "" if units == "original" else f", scaled units over {len(report['targets'])} targets"
    table = Table(
        title=f"{title}: {report['windows']} windows x {report['horizon']} steps{suffix}",
        title_justify="left",
    )
    table.add_column("forecaster", no_wrap=True)
    extra = SCALED_COLUMNS if units == "original" else ()
    for _, label in (*METRIC_LABELS, *extra):
        table.add_column(label, justify="right")
    for name, values in report["metrics"].items():
        table.add_row(
            name,
            *(format_number(values[units].get(key)) for key, _ in METRIC_LABELS),
            *(format_number(values["scaled"].get(key)) for key, _ in extra),
        )
    return table


INTERVAL_METHOD_NAMES = {
    "conformal": "split conformal, scaled by each window's mean absolute change",
    "mc-dropout": "Monte Carlo dropout plus the validation noise",
}


def interval_summary(intervals: dict[str, Any], kind: str = "evaluation") -> str:
    """One sentence on how the intervals were made and what coverage means."""
    method = intervals.get("method", "")
    where = "each fold's validation windows" if kind == "backtest" else "the validation windows"
    return (
        f"Prediction intervals by {INTERVAL_METHOD_NAMES.get(method, method)}, calibrated on "
        f"{where} ({intervals.get('calibration_windows')} in all); coverage is the share of actual "
        "values inside the interval, to compare with the level."
    )


def intervals_table(report: dict[str, Any]) -> Table | None:
    """Coverage and mean width of each interval level (None without intervals): overall, at
    the first and at the last horizon step."""
    intervals = report.get("intervals")
    if not intervals:
        return None
    table = Table(
        title=f"Prediction intervals ({intervals.get('method')}, {report.get('windows')} windows)",
        title_justify="left",
    )
    horizon = report.get("horizon", 1)
    for heading in ("level", "coverage", "mean width", "coverage step 1", f"coverage step {horizon}"):
        table.add_column(heading, justify="left" if heading == "level" else "right")
    for label, entry in intervals["levels"].items():
        by_step = entry.get("coverage_by_step") or [None]
        table.add_row(
            f"{label}%",
            _share_text(entry.get("coverage")),
            format_number(entry.get("mean_width")),
            _share_text(by_step[0]),
            _share_text(by_step[-1]),
        )
    return table


def _share_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def folds_table(report: dict[str, Any]) -> Table:
    """A backtest's folds: their span, the model's RMSE and the best baseline's."""
    from rnncast.reporting import folds_table as fold_rows

    units = report.get("verdict_units", "original")
    label = "the data's units" if units == "original" else "scaled units"
    rows = fold_rows(report["folds"], units)
    table = Table(title=f"Backtest folds (RMSE in {label})", title_justify="left")
    for heading in rows.header:
        table.add_column(
            heading, justify="left" if heading in ("trained on", "best baseline RMSE") else "right"
        )
    for row in rows.rows:
        table.add_row(*row)
    return table


def verdict_line(report: dict[str, Any]) -> str:
    """One sentence on whether the model beats the best naive baseline."""
    best = report.get("best_baseline")
    if best is None:
        return ""
    skill = report.get("skill_vs_best_baseline")
    skill_text = f" (skill {skill:+.1%} in RMSE)" if skill is not None else ""
    if report.get("model_beats_best_baseline"):
        return f"The model beats the best baseline, {best}{skill_text}."
    return f"The model does NOT beat the best baseline, {best}{skill_text}: use {best} instead, or retrain."


def metric_notes(report: dict[str, Any]) -> list[str]:
    """What a reader needs to trust the table: skipped zeros in MAPE, the MASE season."""
    notes = list(report.get("evaluation_notes", []))
    unobserved = report.get("unobserved_actuals_skipped")
    if unobserved:
        notes.append(
            f"{unobserved} actual values were missing in the data (filled by --fill) and are not scored."
        )
    skipped = report.get("mape_skipped_zero_actuals")
    if skipped:
        total = report["windows"] * report["horizon"] * len(report["targets"])
        notes.append(f"MAPE skips the {skipped} of {total} actual values that are zero.")
    if "mase_period" in report:
        notes.append(
            f"MASE is scaled by the in-sample seasonal-naive MAE, m = {report['mase_period']}; "
            f"skill = 1 - RMSE / RMSE of {report.get('best_baseline', 'the best baseline')}."
        )
    return notes


def forecast_table(frame: Any, title: str, time_format: str | None = None) -> Table:
    """A dated forecast as a rich table."""
    table = Table(title=title, title_justify="left")
    table.add_column(str(frame.index.name or "time"))
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    stamps = format_timestamps(frame.index, time_format)
    for stamp, row in zip(stamps, frame.itertuples(index=False), strict=True):
        table.add_row(stamp, *(v if isinstance(v, str) else format_number(v) for v in row))
    return table


def forecast_records(frame: Any, time_format: str | None = None) -> list[dict[str, Any]]:
    """A dated forecast as JSON-ready records."""
    name = str(frame.index.name or "time")
    stamps = format_timestamps(frame.index, time_format)
    return [
        {name: stamp, **{str(c): v if isinstance(v, str) else float(v) for c, v in row.items()}}
        for stamp, (_, row) in zip(stamps, frame.iterrows(), strict=True)
    ]


def info_text(info: dict[str, Any]) -> str:
    """A bundle's essentials as aligned ``key: value`` lines."""
    data, model, training, split = info["data"], info["model"], info["training"], info["split"]
    report = info.get("report", {})
    lines = [
        ("bundle", info["path"]),
        ("created", info["created_at"]),
        *_series_lines(data, model["targets"], model["features"]),
        *_many_series_lines(info.get("series")),
        ("network", _network(info)),
        ("windows", f"lookback {model['lookback']}, horizon {model['horizon']}"),
        ("split", f"{_split_rows(split)}; test from {split['test_start']}"),
        (
            "training",
            f"{training['epochs_run']} epochs (best {training['best_epoch']}), "
            f"{training['seconds']:.1f}s on {training['device']}",
        ),
        *_lineage_lines(info.get("lineage")),
        *([("tuning", tuning_summary(info["tuning"]))] if isinstance(info.get("tuning"), dict) else []),
        ("versions", ", ".join(f"{k} {v}" for k, v in info["versions"].items())),
    ]
    if report.get("metrics"):
        units = report.get("verdict_units", "original")
        rmse = {name: values[units]["rmse"] for name, values in report["metrics"].items()}
        label = "test RMSE" if units == "original" else "test RMSE (scaled)"
        lines.append((label, ", ".join(f"{k} {format_number(v)}" for k, v in rmse.items())))
        lines.append(("verdict", verdict_line(report)))
    intervals = info.get("intervals")
    if isinstance(intervals, dict):
        levels = ", ".join(f"{level:g}%" for level in intervals.get("levels", []))
        text = f"{intervals.get('method')} {levels}"
        tested = (report.get("intervals") or {}).get("levels") or {}
        coverage = [f"{label}% {_share_text(entry.get('coverage'))}" for label, entry in tested.items()]
        if coverage:
            text += f"; test coverage {', '.join(coverage)}"
        lines.append(("intervals", text))
    return aligned(lines)


def _series_lines(data: dict[str, Any], targets: list[str], features: list[str]) -> list[tuple[str, str]]:
    """The data file, its span and frequency, and the columns used: shared by info and check."""
    span = f"{data['rows']} ({data['first_timestamp']} to {data['last_timestamp']})"
    return [
        ("data", data["path"]),
        ("rows", f"{span}, frequency {data['frequency']}"),
        ("targets", ", ".join(targets)),
        ("features", ", ".join(features) or "(none)"),
    ]


def _many_series_lines(series: dict[str, Any] | None) -> list[tuple[str, str]]:
    """For one global model over many series: how many, by which id, and which were left out."""
    if not isinstance(series, dict):
        return []
    text = f"{series['count']} by {series['id_col']!r}, {series['trained_on']} trained on"
    if series.get("forecast_only"):
        text += f", {len(series['forecast_only'])} too short (forecast only)"
    if series.get("left_out"):
        text += f", {len(series['left_out'])} left out ({', '.join(list(series['left_out'])[:5])})"
    return [("series", text)]


def _split_rows(split: dict[str, Any]) -> str:
    return f"train {split['train_rows']} / val {split['val_rows']} / test {split['test_rows']} rows"


def aligned(lines: list[tuple[str, Any]]) -> str:
    """``key: value`` lines with the keys right-aligned."""
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.rjust(width)}: {v}" for k, v in lines)


def check_text(summary: dict[str, Any]) -> str:
    """What ``rnncast check`` found: the series and the settings training would use."""
    from rnncast.resources import format_bytes

    data, split, windows = summary["data"], summary["split"], summary["windows"]
    lines = [
        *_series_lines(data, summary["targets"], summary["features"]),
        *_many_series_lines(summary.get("series")),
        ("windows", f"lookback {summary['lookback']}, horizon {summary['horizon']}"),
        (
            "split",
            f"{_split_rows(split)} ({windows['train']} / {windows['val']} / {windows['test']} windows); "
            f"test from {split['test_start']}",
        ),
        ("memory", f"about {format_bytes(summary['memory_bytes'])} of data plus TensorFlow's runtime"),
        ("verdict", "ready to train"),
    ]
    return aligned(lines)


def sketch_text(sketch: dict[str, Any]) -> str:
    """What ``rnncast info DATA`` found in a file's first and last bytes."""
    from rnncast.resources import format_bytes

    rows = f"{sketch['rows']:,}" if sketch["rows"] is not None else "?"
    if sketch.get("rows_estimated"):
        rows = f"about {rows} (estimated from the first {format_bytes(sketch['head_bytes'])})"
    layout = sketch["format"]
    if layout == "csv":
        delimiter = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(
            sketch["delimiter"], repr(sketch["delimiter"])
        )
        layout = f"CSV, {sketch['encoding']}, {delimiter}-delimited"
    columns = ", ".join(f"{c['name']} ({c['kind']})" for c in sketch["columns"])
    lines = [
        ("data", sketch["path"]),
        ("file", f"{format_bytes(sketch['size_bytes'])}, {layout}"),
        ("rows", rows),
        ("columns", columns),
        ("time column", sketch["time_col"] or sketch.get("time_problem", "(none found)")),
        ("span", f"{sketch['first_timestamp'] or '?'} to {sketch['last_timestamp'] or '?'}"),
        ("frequency", f"{sketch['frequency'] or '?'} (from the first rows)"),
        ("target", ", ".join(sketch["target"]) if sketch["target"] else sketch.get("target_problem", "?")),
    ]
    if sketch.get("time_problem") and sketch["time_col"]:
        lines.append(("problem", sketch["time_problem"]))
    lines.append(("next", f"rnncast check {sketch['path']} validates every row"))
    return aligned(lines)


def to_json(data: Any) -> str:
    """Indented, valid JSON for stdout: NaN and infinities (not JSON) become null."""
    return json.dumps(_finite(data), indent=2, default=str, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


_TRANSFORM_WORDS = {"diff": "differences", "log": "log returns", "pct": "percentage returns"}


def _network(info: dict[str, Any]) -> str:
    config = info["config"]
    cell = ("bidirectional " if config["bidirectional"] else "") + config["model"]
    # Bundles from before these options lack the keys: they were plain direct RNNs.
    options = [
        option
        for option, used in (
            ("seq2seq", config.get("architecture") == "seq2seq"),
            ("recursive", config.get("strategy") == "recursive"),
            ("attention", config.get("attention")),
            ("layer norm", config.get("layer_norm")),
            (f"window minus its {config.get('window_norm')}", config.get("window_norm", "none") != "none"),
            (f"segments of {config.get('segment')} rows", (config.get("segment") or 1) > 1),
            ("linear skip", config.get("linear_skip") and not config.get("trend_window")),
            (
                f"trend ({config.get('trend_window')} rows) and seasonal linear maps",
                config.get("trend_window"),
            ),
            ("one network per channel", config.get("channels") == "independent"),
            (f"ensemble of {config.get('ensemble')} seeds", (config.get("ensemble") or 1) > 1),
            (
                f"learns {_TRANSFORM_WORDS.get(config.get('transform', 'none'))}",
                config.get("transform", "none") != "none",
            ),
        )
        if used
    ]
    head = {"seq2seq": "decoder", "segments": "segment decoder"}.get(config.get("architecture"), "dense head")
    # --residual only acts without a window normalisation (which always adds the level back).
    residual = config.get("residual") and config.get("window_norm", "none") == "none"
    return (
        f"{config['layers']} x {cell}({config['units']}), dropout {config['dropout']}, "
        f"{'residual ' if residual else ''}{head}"
        f"{''.join(', ' + option for option in options)}; {info['model']['parameters']} parameters"
    )


def tuning_summary(tuning: dict[str, Any]) -> str:
    """One line on the search that chose a tuned bundle: the search, its budget's use and
    the best trial's validation loss against the default configuration's."""
    text = f"{tuning.get('search')} search, {tuning.get('trials_run')} trials"
    stopped = {"trials": "--trials reached", "time budget": "--max-minutes spent"}
    if tuning.get("stopped_by"):
        text += f" ({stopped.get(tuning['stopped_by'], tuning['stopped_by'])})"
    best, default = tuning.get("best_val_loss"), tuning.get("default_val_loss")
    if isinstance(best, int | float):
        text += f"; best trial {tuning.get('best_trial')}, validation loss {format_number(best)}"
        if isinstance(default, int | float) and default > 0:
            change = (best / default - 1) * 100
            text += f" vs the default's {format_number(default)} ({change:+.1f}%)"
    return text


def _lineage_lines(lineage: Any) -> list[tuple[str, str]]:
    """Where a transferred model's starting weights came from (``--init-from``)."""
    records = lineage if isinstance(lineage, list) else []
    source = next((r for r in records if isinstance(r, dict) and "init_from" in r), None)
    if source is None:
        return []
    frozen = source.get("frozen") or []
    text = f"{source['init_from']} (created {source.get('source_created_at')})"
    text += f", frozen: {', '.join(frozen)}" if frozen else ""
    return [("initialised from", text)]


HISTORY_NAMES = (("model", "model"), ("naive", "naive"), ("seasonal_naive", "seasonal naive"))
HISTORY_ORIGINS_SHOWN = 15


def history_text(result: dict[str, Any]) -> Group:
    """Realised errors of a model's past forecasts: overall, by horizon step and over time."""
    overall = result.get("overall", {})
    lines: list[Any] = [Text(f"ledger: {result['ledger']} ({result['recorded']} forecast rows recorded)")]
    if not overall.get("n"):
        pending = result.get("pending", overall.get("pending", 0))
        lines.append(
            Text(
                f"no realised forecasts yet ({pending} waiting for their actual values): run rnncast "
                "forecast now, and history again once newer data arrives"
            )
        )
        return Group(*lines)
    names = [(key, label) for key, label in HISTORY_NAMES if overall.get(f"{key}_rmse") is not None]
    summary = ", ".join(f"{label} {format_number(overall[f'{key}_rmse'])}" for key, label in names)
    lines.append(
        Text(f"realised RMSE over {overall['n']} forecasts: {summary} ({result['pending']} pending)")
    )
    if overall.get("skill_vs_naive") is not None:
        lines.append(Text(f"skill vs naive (1 - RMSE ratio): {overall['skill_vs_naive']:+.1%}"))
    decay = result.get("decay")
    if decay:
        lines.append(
            Text(
                f"latest {decay['origins']} origins"
                + (f", median of {decay['series']} series" if decay.get("series", 1) > 1 else "")
                + ": realised RMSE "
                f"{format_number(decay['realised_rmse'])} vs held-out test RMSE "
                f"{format_number(decay['test_rmse'])} ({decay['ratio']:+.0%})"
            )
        )
    lines.append(_history_table("By horizon step", "step", result["by_step"], names, mae=True))
    origins = result["by_origin"][-HISTORY_ORIGINS_SHOWN:]
    title = "By forecast origin" + (
        f" (latest {len(origins)} of {len(result['by_origin'])})"
        if len(result["by_origin"]) > len(origins)
        else ""
    )
    lines.append(_history_table(title, "origin", origins, names, mae=False))
    if len(result.get("by_series", [])) > 1:  # pooled errors mix the series' units: each on its own
        lines.append(_history_table("By series", "series", result["by_series"], names, mae=False))
    return Group(*lines)


def _history_table(
    title: str, key: str, records: list[dict[str, Any]], names: list[tuple[str, str]], *, mae: bool
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    table.add_column("n", justify="right")
    for _, label in names:
        table.add_column(f"{label} RMSE", justify="right")
        if mae:
            table.add_column(f"{label} MAE", justify="right")
    for record in records:
        cells = [short_stamp(record[key]), str(record["n"])]
        for name, _ in names:
            cells.append(format_number(record.get(f"{name}_rmse")))
            if mae:
                cells.append(format_number(record.get(f"{name}_mae")))
        table.add_row(*cells)
    return table


def outcome_line(outcome: Any) -> str:
    """One line per series of a batch run: name, status, why, and the key numbers."""
    parts = [f"{outcome.series}: {outcome.status}", outcome.reason if outcome.status != "failed" else ""]
    if outcome.status == "failed":
        parts[1] = f"exit {outcome.exit_code}: {outcome.reason}"
    test = outcome.test or {}
    if test.get("model_rmse") is not None and test.get("best_baseline"):
        scaled = "" if test.get("units") == "original" else " scaled"
        parts.append(
            f"test{scaled} RMSE {format_number(test['model_rmse'])} vs {test['best_baseline']} "
            f"{format_number(test.get('best_baseline_rmse'))}"
        )
    if outcome.forecast_rows:
        parts.append(f"forecast {outcome.forecast_rows} rows to {short_stamp(outcome.forecast_end)}")
    overall = (outcome.realised or {}).get("overall") or {}
    if overall.get("n"):
        parts.append(
            f"realised RMSE {format_number(overall.get('model_rmse'))} vs naive "
            f"{format_number(overall.get('naive_rmse'))} over {overall['n']} forecasts"
        )
    if outcome.exit_code and outcome.status != "failed":
        parts.append(f"exit {outcome.exit_code}: {outcome.error}")
    return " · ".join(part for part in parts if part)


def run_summary_line(summary: dict[str, Any]) -> str:
    """The last line of a batch run: counts by status, the exit code and the time taken."""
    counts = summary["counts"]
    detail = ", ".join(f"{count} {status}" for status, count in counts.items() if status != "series")
    what = "dry run" if summary["dry_run"] else "run"
    return (
        f"{what} of {summary['job']}: {counts['series']} series ({detail or 'none'}); "
        f"exit {summary['exit_code']} in {summary['seconds']:.1f}s"
    )
