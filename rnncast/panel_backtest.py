"""``backtest`` for one global model over many series: rolling origins in every series at once.

Each series gets the folds :func:`rnncast.folds.plan_folds` gives a single series, counted back
from its own last row: fold ``k`` scores the origins ``[o_k, o_k + step)`` of every series, and
its global model is trained on the rows before each series' ``o_k`` only (each series' scaler
on its own training rows before that). With ``--folds 1 --step 1`` every series is scored once,
on its last ``horizon`` rows: the M4 competition's protocol. The pooled scores report sMAPE,
MASE and OWA against Naive2 beside the usual metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rnncast.config import TrainConfig
from rnncast.errors import DataError, UsageError
from rnncast.evaluation import VERDICT_KEYS
from rnncast.fitting import history_split
from rnncast.folds import Fold, default_step, plan_folds, validation_rows
from rnncast.many_series import load_training_panel, plan_panel_training
from rnncast.panel import (
    Panel,
    fit_panel,
    fit_scalers,
    panel_windows,
    per_series_rmse,
    score_panel_windows,
    warn_left_out,
)
from rnncast.scoring import WindowForecasts, describe_model, pool_windows
from rnncast.training import EpochHook
from rnncast.windows import Split


def backtest_panel(
    path: Path,
    config: TrainConfig,
    *,
    folds: int,
    step: int | None,
    window: str,
    refit: str,
    on_fold: Callable[[int, int, str], None] | None = None,
    on_epoch: EpochHook | None = None,
) -> dict[str, Any]:
    """Rolling-origin backtest of a global model over the series of ``path`` (arguments as
    :func:`rnncast.pipeline.backtest` takes them; ``step`` None: each series' own default).

    Raises:
        UsageError: a sliding window (not supported for many series) or no series holds the
            folds; DataError: the file or its series cannot be used.
    """
    if window != "expanding":
        raise UsageError(
            "--window sliding is not supported with --id-col / --series-columns yet",
            "use --window expanding (the default)",
        )
    panel = load_training_panel(path, config)
    config, _ = plan_panel_training(panel, config)
    plans, splits = plan_series_folds(panel, config, folds, step, refit)
    panel = dataclasses.replace(panel, members={key: panel.members[key] for key in plans})

    fold_reports: list[dict[str, Any]] = []
    scored: dict[str, list[WindowForecasts]] = {key: [] for key in plans}
    all_starts: dict[str, list[np.ndarray]] = {key: [] for key in plans}
    fitted: tuple[Any, Any, Any] | None = None
    for number in range(1, folds + 1):
        origins = {key: plan[number - 1].origins for key, plan in plans.items()}
        history_ends = {key: int(starts[0]) for key, starts in origins.items()}
        if fitted is None or refit == "each-fold":
            if on_fold is not None:
                rows = sum(history_ends.values())
                on_fold(number, folds, f"training on {rows} rows of {len(plans)} series before the fold")
            scalers = fit_scalers(panel, config, splits[number])
            model, summary = fit_panel(panel, config, splits[number], scalers, on_epoch)
            fitted = (model, scalers, summary)
        model, scalers, summary = fitted
        by_series = panel_windows(model, scalers, panel, origins, config, history_ends)
        scores = score_panel_windows(panel, by_series, origins, config)
        fold_reports.append(
            {
                "fold": number,
                "history_start": min(member.index[0] for member in panel.members.values()).isoformat(),
                "history_rows": sum(history_ends.values()),
                "trained": refit == "each-fold" or number == 1,
                "training": summary.to_dict(),
                **{key: scores[key] for key in _WINDOW_KEYS},
                "metrics": scores["metrics"],
                **{key: scores[key] for key in VERDICT_KEYS if key in scores},
            }
        )
        for key, windows in by_series.items():
            scored[key].append(windows)
            all_starts[key].append(origins[key])

    together = {key: pool_windows(parts) for key, parts in scored.items()}
    starts = {key: np.concatenate(parts) for key, parts in all_starts.items()}
    pooled = score_panel_windows(panel, together, starts, config)
    return {
        "kind": "backtest",
        "data_path": panel.source["path"],
        "series": Path(panel.source["path"]).stem,
        "model_description": describe_model(config),
        "data": panel.fingerprint(),
        "data_notes": list(panel.notes),
        "config": config.to_dict(),
        "backtest": {"folds": folds, "step": step, "window": window, "refit": refit},
        "split": "backtest",
        **pooled,
        "folds": fold_reports,
        "per_series": per_series_rmse(together),
    }


_WINDOW_KEYS = (
    "windows",
    "series_scored",
    "first_target_time",
    "last_target_time",
    "lookback",
    "horizon",
    "targets",
    "frequency",
    "seasonal_period",
    "mase_period",
)


def plan_series_folds(
    panel: Panel, config: TrainConfig, folds: int, step: int | None, refit: str
) -> tuple[dict[str, list[Fold]], dict[int, dict[str, Split]]]:
    """Every usable series' folds, and per fold that trains, each series' train / validation
    split of the rows before its origin. Series too short for the folds are left out, named.

    Raises:
        UsageError: no series is long enough.
    """
    assert config.lookback is not None and config.horizon is not None
    minimum_history = config.lookback + 2 * config.horizon + 1
    plans: dict[str, list[Fold]] = {}
    splits: dict[int, dict[str, Split]] = {}
    short: dict[str, str] = {}
    for key, member in panel.members.items():
        rows = len(member)
        try:
            plan = plan_folds(
                rows,
                config.horizon,
                folds,
                step if step is not None else default_step(rows, folds, config.test_fraction),
                "expanding",
                minimum_history,
            )
            member_splits = {
                fold.number: _history_split(fold.origin, config)
                for fold in (plan if refit == "each-fold" else plan[:1])
            }
        except (UsageError, DataError) as error:
            short[key] = error.message
            continue
        plans[key] = plan
        for number, split in member_splits.items():
            splits.setdefault(number, {})[key] = split
    if not plans:
        example = next(iter(short.values()))
        raise UsageError(
            f"no series is long enough for {folds} fold(s) ({example})",
            "use fewer --folds, a smaller --step, a shorter --lookback / --horizon, or longer series",
        )
    warn_left_out(short, "too short for the folds (not backtested)")
    return plans, splits


def _history_split(origin: int, config: TrainConfig) -> Split:
    """The train / validation split of a series' ``origin`` rows before a fold."""
    assert config.lookback is not None and config.horizon is not None
    val_rows = validation_rows(origin, config.val_fraction, config.horizon)
    return history_split(origin, val_rows, config.lookback, config.horizon)
