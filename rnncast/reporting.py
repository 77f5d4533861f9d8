"""Evaluation and backtest reports: report.json for programs, report.md and a self-contained
report.html for people, forecasts.csv with every scored forecast, and PNG plots.

The Markdown and HTML documents are rendered from one list of blocks, so they always say the
same thing. The whole directory is built beside its target and renamed into place: a crash
never leaves half a report, and a nightly run replaces last night's report in one step.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.errors import UsageError
from rnncast.evaluation import METRIC_LABELS, ScoredWindows
from rnncast.fileio import (
    new_staging_directory,
    replace_directory,
    restore_interrupted_replacement,
    safe_file_name,
    to_json,
)
from rnncast.render import verdict_line
from rnncast.report import format_number, format_timestamps, short_stamp

REPORT_FORMAT = 1
# Files desktops drop into any folder a user opens; a report directory may hold them.
DESKTOP_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
DOCUMENTS = ("report.json", "report.md", "report.html", "forecasts.csv")
METRIC_COLUMNS = METRIC_LABELS
MAX_PLOTTED_TARGETS = 8


@dataclass(frozen=True)
class Table:
    """A table block: header cells and rows of cells."""

    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    """A plot block: the PNG's file name and what it shows."""

    name: str
    caption: str


Block = tuple[str, Any]  # ("h1" | "h2" | "p" | "strong", text), ("table", Table), ("image", Image)


def check_report_target(directory: Path) -> None:
    """Refuse a ``--report-dir`` that is a file or holds anything but an earlier rnncast report.

    Raises:
        UsageError: it would replace something that is not rnncast's.
    """
    directory = Path(os.path.abspath(directory))  # "." and "sub/.." have names to stage beside
    restore_interrupted_replacement(directory)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise UsageError(f"--report-dir {str(directory)!r} is not a directory", "name a directory")
    if (directory.parent / "metadata.json").is_file() and (directory.parent / "model.keras").is_file():
        raise UsageError(
            f"--report-dir {str(directory)!r} is inside a model bundle", "write the report outside the bundle"
        )
    if not directory.exists():
        _check_creatable(directory)
        return
    if not os.access(directory.parent, os.W_OK):
        raise UsageError(f"--report-dir {str(directory)!r} cannot be replaced", "choose a writable directory")
    entries = [p.name for p in directory.iterdir() if p.name not in DESKTOP_LITTER]
    foreign = [n for n in entries if n not in DOCUMENTS and not n.endswith(".png")]
    if foreign or (entries and not _is_report(directory / "report.json")):
        raise UsageError(
            f"--report-dir {str(directory)!r} holds files that are not an rnncast report"
            + (f" ({', '.join(sorted(foreign)[:3])})" if foreign else ""),
            "choose an empty or new directory; rnncast only replaces its own reports",
        )
    if (directory / "metadata.json").exists():
        raise UsageError(f"--report-dir {str(directory)!r} is a model bundle", "choose another directory")


def _check_creatable(directory: Path) -> None:
    """The nearest existing ancestor must be a writable directory (checked before any work)."""
    ancestor = directory.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK):
        raise UsageError(
            f"--report-dir {str(directory)!r} cannot be created "
            f"({str(ancestor)!r} is not a writable directory)",
            "choose a writable directory",
        )


def write_report_dir(
    directory: Path,
    report: dict[str, Any],
    scored: ScoredWindows,
    histories: list[dict[str, list[float]]],
) -> Path:
    """Write the full report into ``directory`` atomically (replacing an earlier report).

    Raises:
        UsageError: the directory cannot be written.
    """
    directory = Path(os.path.abspath(directory))
    check_report_target(directory)
    plots = render_plots(report, scored, histories)
    blocks = report_blocks(report, list(plots))
    try:
        staged = new_staging_directory(directory)
    except OSError as exc:
        raise UsageError(
            f"cannot create --report-dir {str(directory)!r} ({exc.strerror})", "choose a writable directory"
        ) from exc
    try:
        document = {"report_format": REPORT_FORMAT, **report, "loss_history": histories}
        (staged / "report.json").write_text(to_json(document), encoding="utf-8")
        (staged / "forecasts.csv").write_text(forecasts_csv(scored), encoding="utf-8")
        for name, png in plots.items():
            (staged / name).write_bytes(png)
        (staged / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
        (staged / "report.html").write_text(render_html(blocks, plots, _title(report)), encoding="utf-8")
        replace_directory(staged, directory)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return directory


def forecasts_csv(scored: ScoredWindows) -> str:
    """Every scored forecast, one row per window, step and target: ``fold, origin`` (the
    last known row), ``time`` (the forecast's target time), ``step, target, actual, scale``
    (the scaler's scale: scaled error = error / scale), then one column per forecaster, then
    with prediction intervals ``model_lower_<level>`` and ``model_upper_<level>`` per level.
    Every metric recomputed from these columns matches the report."""
    windows, horizon, n_targets = scored.actual.shape
    index = scored.index
    rows_at = (scored.starts[:, None] + np.arange(horizon)[None, :])[:, :, None]  # target rows
    shape = (windows, horizon, n_targets)

    def flat(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, shape).reshape(-1)

    frame = pd.DataFrame(
        {
            "fold": flat(scored.fold[:, None, None]),
            "origin": np.asarray(format_timestamps(index[scored.starts - 1]))[
                flat(np.arange(windows)[:, None, None])
            ],
            "time": np.asarray(format_timestamps(index))[flat(rows_at)],
            "step": flat(np.arange(1, horizon + 1)[None, :, None]),
            "target": np.asarray(scored.targets)[flat(np.arange(n_targets)[None, None, :])],
            "actual": scored.actual.reshape(-1),
            "scale": flat(scored.unit_scale),
            **{name: values.reshape(-1) for name, values in scored.forecasts.items()},
            **{
                f"model_{side}_{label}": bound.reshape(-1)
                for label, bounds in scored.bounds.items()
                for side, bound in zip(("lower", "upper"), bounds, strict=True)
            },
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g", lineterminator="\n")
    return buffer.getvalue()


def render_plots(
    report: dict[str, Any], scored: ScoredWindows, histories: list[dict[str, list[float]]]
) -> dict[str, bytes]:
    """The report's PNGs by file name."""
    from rnncast import plots

    series, model = report["series"], report["model_description"]
    units = "original" if len(scored.targets) == 1 else "scaled"
    out = {}
    for target in scored.targets[:MAX_PLOTTED_TARGETS]:
        stem = safe_file_name(target, fallback="target")  # column names are not file names
        name, number = f"forecast_{stem}.png", scored.targets.index(target) + 1
        while name in out:  # "a b" and "a_b" would share a file name
            name, number = f"forecast_{stem}_{number}.png", number + len(scored.targets)
        out[name] = plots.forecast_plot(scored, target, f"{series} · {target}: {model} vs baselines")
    out["error_by_step.png"] = plots.error_by_step_plot(
        report["per_step"], units, report["frequency"], f"{series}: error by horizon step, {model}"
    )
    if any(history.get("loss") for history in histories):
        out["loss_curves.png"] = plots.loss_curves_plot(histories, f"{series}: training of {model}")
    if report.get("folds"):
        out["fold_errors.png"] = plots.fold_errors_plot(
            report["folds"], units, f"{series}: backtest RMSE per fold, {model}"
        )
    return out


def report_blocks(report: dict[str, Any], plot_names: list[str]) -> list[Block]:
    """The report's content, in order, for both documents."""
    blocks: list[Block] = [("h1", _title(report)), ("strong", verdict_sentence(report))]
    span = (
        f"{report['windows']} forecast windows of {report['horizon']} steps (lookback {report['lookback']}), "
        f"targets from {short_stamp(report['first_target_time'])} "
        f"to {short_stamp(report['last_target_time'])}"
    )
    if report["kind"] == "backtest":
        settings = report["backtest"]
        span += (
            f"; rolling origin: {settings['folds']} folds of {settings['step']} origins, "
            f"{settings['window']} window, refit {settings['refit']}"
        )
    else:
        span += f"; held-out test split of {report['model_path']}"
    blocks.append(("p", span + "."))
    units = report.get("verdict_units", "original")
    scaled_note = "Errors divided by the scaler's scale per target (the units the network trained in)."
    if units == "original":
        blocks.append(("h2", "Metrics in the data's units"))
        blocks.append(("table", metrics_table(report["metrics"], "original")))
        blocks.append(("h2", "Metrics in scaled units"))
        blocks.append(("p", scaled_note))
        blocks.append(("table", metrics_table(report["metrics"], "scaled")))
    else:
        blocks.append(("h2", f"Metrics in scaled units, all {len(report['targets'])} targets"))
        blocks.append(
            (
                "p",
                scaled_note + " Targets of different sizes only add up in these units; "
                "each target in its own units follows.",
            )
        )
        blocks.append(("table", metrics_table(report["metrics"], "scaled")))
        blocks.append(("h2", "Per target (data units)"))
        best = report.get("per_target_best_baseline", {})
        blocks.append(
            (
                "p",
                "Skill per target is against that target's best baseline: "
                + ", ".join(f"{t}: {b}" for t, b in best.items())
                + ".",
            )
        )
        blocks.append(("table", per_target_table(report["per_target"])))
    label = "data units" if units == "original" else "scaled units"
    blocks.append(("h2", f"Error by horizon step ({label})"))
    blocks.append(("table", per_step_table(report["per_step"], units)))
    if report.get("intervals"):
        blocks.extend(interval_blocks(report["intervals"], report["kind"]))
    if isinstance(report.get("tuning"), dict):
        blocks.extend(tuning_blocks(report["tuning"]))
    if report.get("folds"):
        blocks.append(("h2", "Backtest folds"))
        blocks.append(("table", folds_table(report["folds"], units)))
    if plot_names:
        blocks.append(("h2", "Plots"))
        if len(report["targets"]) > MAX_PLOTTED_TARGETS:
            shown = f"the first {MAX_PLOTTED_TARGETS} of {len(report['targets'])} targets"
            blocks.append(("p", f"Forecast plots show {shown}."))
        blocks.extend(("image", Image(name, _caption(name))) for name in plot_names)
    blocks.append(("h2", "Data"))
    blocks.append(("table", data_table(report)))
    blocks.append(("h2", "Configuration"))
    config = report["config"]
    blocks.append(("table", Table(["setting", "value"], [[k, _plain(v)] for k, v in config.items()])))
    blocks.append(("h2", "How to read this"))
    blocks.extend(("p", text) for text in _definitions(report))
    return blocks


def verdict_sentence(report: dict[str, Any]) -> str:
    """Which baseline won, and plainly whether the model beat it (the terminal's verdict)."""
    return verdict_line(report) or "No baseline could be computed for these windows."


def metrics_table(metrics: dict[str, Any], units: str) -> Table:
    """Overall metrics, one row per forecaster."""
    header = ["forecaster", *(label for _, label in METRIC_COLUMNS)]
    rows = [
        [name, *(format_number(values[units].get(key)) for key, _ in METRIC_COLUMNS)]
        for name, values in metrics.items()
    ]
    return Table(header, rows)


def per_target_table(per_target: dict[str, Any]) -> Table:
    """RMSE, MAE, MASE and skill (against the target's own best baseline) of every
    forecaster for each target, in the target's units."""
    rows = []
    for target, by_name in per_target.items():
        for name, values in by_name.items():
            original = values["original"]
            rows.append(
                [target, name, *(format_number(original.get(k)) for k in ("rmse", "mae", "mase", "skill"))]
            )
    return Table(["target", "forecaster", "RMSE", "MAE", "MASE", "skill"], rows)


def per_step_table(per_step: dict[str, Any], units: str) -> Table:
    """RMSE by horizon step (at most 24 rows: longer horizons are sampled evenly)."""
    names = list(per_step)
    horizon = len(per_step[names[0]][units]["rmse"])
    shown = np.unique(np.linspace(0, horizon - 1, min(horizon, 24)).round().astype(int))
    rows = [
        [str(step + 1), *(format_number(per_step[n][units]["rmse"][step]) for n in names)] for step in shown
    ]
    return Table(["step", *(f"{n} RMSE" for n in names)], rows)


def interval_blocks(intervals: dict[str, Any], kind: str) -> list[Block]:
    """The prediction intervals' coverage and width: overall, then by horizon step."""
    from rnncast.render import interval_summary

    blocks: list[Block] = [("h2", "Prediction intervals")]
    blocks.append(("p", interval_summary(intervals, kind)))
    levels = intervals["levels"]
    rows = [
        [
            f"{label}%",
            format_number(entry.get("coverage")),
            format_number(entry.get("mean_width")),
            format_number(entry.get("mean_width_scaled")),
        ]
        for label, entry in levels.items()
    ]
    blocks.append(("table", Table(["level", "coverage", "mean width", "mean width (scaled)"], rows)))
    by_step = {label: entry.get("coverage_by_step") or [] for label, entry in levels.items()}
    horizon = max((len(values) for values in by_step.values()), default=0)
    if horizon > 1:
        shown = np.unique(np.linspace(0, horizon - 1, min(horizon, 24)).round().astype(int))
        step_rows = [
            [
                str(step + 1),
                *(
                    cell
                    for label, entry in levels.items()
                    for cell in (
                        format_number(by_step[label][step]),
                        format_number((entry.get("mean_width_by_step") or [None] * horizon)[step]),
                    )
                ),
            ]
            for step in shown
        ]
        header = ["step", *(f"{name} {label}%" for label in levels for name in ("coverage", "width"))]
        blocks.append(("table", Table(header, step_rows)))
    return blocks


def tuning_blocks(tuning: dict[str, Any]) -> list[Block]:
    """The search that chose this model (``rnncast tune``): its summary and every trial."""
    from rnncast.render import tuning_summary

    blocks: list[Block] = [("h2", "Hyperparameter search"), ("p", tuning_summary(tuning) + ".")]
    trials = [t for t in tuning.get("trials") or [] if isinstance(t, dict)]
    searched = [str(name) for name in tuning.get("searched") or []]
    if trials:
        rows = [
            [
                f"{trial.get('trial')}{' (best)' if trial.get('trial') == tuning.get('best_trial') else ''}",
                *(_plain((trial.get("values") or {}).get(name)) for name in searched),
                format_number(trial.get("val_loss")),
                _plain(trial.get("epochs")),
                format_number(trial.get("seconds")),
                _plain(trial.get("status")),
            ]
            for trial in trials
        ]
        header = ["trial", *searched, "val loss", "epochs", "seconds", "status"]
        blocks.append(("table", Table(header, rows)))
    return blocks


FOLD_HEADER = [
    "fold",
    "trained on",
    "targets from",
    "to",
    "windows",
    "model RMSE",
    "best baseline RMSE",
    "skill",
]


def folds_table(folds: list[dict[str, Any]], units: str = "original") -> Table:
    """One row per backtest fold, RMSE in ``units`` (the terminal shows the same rows)."""
    rows = []
    for fold in folds:
        best = fold.get("best_baseline")
        rows.append(
            [
                str(fold["fold"]),
                f"{fold['history_rows']} rows from {short_stamp(fold['history_start'])}",
                short_stamp(fold["first_target_time"]),
                short_stamp(fold["last_target_time"]),
                str(fold["windows"]),
                format_number(fold["metrics"]["model"][units]["rmse"]),
                f"{best} {format_number(fold['metrics'][best][units]['rmse'])}" if best else "",
                format_number(fold.get("skill_vs_best_baseline")),
            ]
        )
    return Table(FOLD_HEADER, rows)


def data_table(report: dict[str, Any]) -> Table:
    """Where the numbers came from."""
    data = report["data"]
    rows = [
        ["file", str(data.get("path"))],
        ["sha256", str(data.get("sha256"))],
        ["rows", str(data.get("rows"))],
        ["span", f"{short_stamp(data.get('first_timestamp'))} to {short_stamp(data.get('last_timestamp'))}"],
        ["frequency", str(data.get("frequency"))],
        ["targets", ", ".join(report["targets"])],
        ["columns", ", ".join(map(str, data.get("columns", [])))],
    ]
    rows += [["note", note] for note in report.get("data_notes", [])]
    return Table(["", ""], rows)


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown (images referenced beside the file)."""
    lines: list[str] = []
    for kind, content in blocks:
        if kind == "h1":
            lines += [f"# {content}", ""]
        elif kind == "h2":
            lines += [f"## {content}", ""]
        elif kind == "strong":
            lines += [f"**{content}**", ""]
        elif kind == "p":
            lines += [content, ""]
        elif kind == "table":
            lines.append("| " + " | ".join(_md_cell(c) for c in content.header) + " |")
            lines.append("|" + "|".join("---" for _ in content.header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in content.rows]
            lines.append("")
        elif kind == "image":
            lines += [f"![{content.caption}]({content.name})", ""]
    return "\n".join(lines)


def render_html(blocks: list[Block], plots: dict[str, bytes], title: str) -> str:
    """The blocks as one self-contained HTML page: inline CSS, plots as data URIs."""
    body: list[str] = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "strong":
            body.append(f'<p class="verdict"><strong>{html.escape(content)}</strong></p>')
        elif kind == "p":
            body.append(f"<p>{html.escape(content)}</p>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(c)}</th>" for c in content.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in content.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "image":
            data = base64.b64encode(plots[content.name]).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(content.caption)}">'
                f"<figcaption>{html.escape(content.caption)}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}thead{background:#f3f3f3}"
    ".verdict{font-size:1.1em}figure{margin:1em 0}img{max-width:100%}"
    "figcaption{color:#555;font-size:0.9em}"
)


def _title(report: dict[str, Any]) -> str:
    kind = "backtest" if report["kind"] == "backtest" else "evaluation"
    return f"{report['series']}: {report['model_description']}, {kind}"


def _caption(name: str) -> str:
    if name.startswith("forecast_"):
        return "Actual values against the model's and the baselines' forecasts"
    return {
        "error_by_step.png": "RMSE at each step ahead",
        "loss_curves.png": "Training and validation loss per epoch",
        "fold_errors.png": "RMSE per backtest fold",
    }.get(name, name)


BASELINE_DEFINITIONS = {
    "naive": "naive repeats the last value",
    "seasonal_naive": "seasonal_naive repeats the value one season (m = {m} steps) earlier",
    "drift": "drift extends the line through the first and last value of the lookback window",
    "mean": "mean repeats the lookback window's mean",
}


def _definitions(report: dict[str, Any]) -> list[str]:
    skipped = report.get("mape_skipped_zero_actuals", 0)
    present = [name for name in BASELINE_DEFINITIONS if name in report["metrics"]]
    described = "; ".join(BASELINE_DEFINITIONS[n].format(m=report["seasonal_period"]) for n in present)
    texts = [
        "Baselines use only values before each forecast origin, on exactly the model's windows: "
        + described
        + ".",
        "MAPE = 100·mean(|y−ŷ|/|y|) over non-zero actuals"
        + (f" ({skipped} zero actuals skipped)" if skipped else "")
        + "; sMAPE = mean(200·|y−ŷ|/(|y|+|ŷ|)) (M4); "
        f"MASE = MAE / in-sample MAE of the seasonal-naive forecast with m = {report['mase_period']}; "
        f"skill = 1 − RMSE / RMSE of {report.get('best_baseline', 'the best baseline')} "
        "(above 0: better than it).",
    ]
    unobserved = report.get("unobserved_actuals_skipped", 0)
    if unobserved:
        texts.append(
            f"{unobserved} actual values were missing in the data (filled by --fill) and are not scored."
        )
    return texts + list(report.get("evaluation_notes", []))


def _is_report(path: Path) -> bool:
    try:
        return "report_format" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return "(auto)" if value is None else str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")
