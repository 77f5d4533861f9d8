"""``update`` for one global model over many series: fine-tune on every series' new rows.

Each series the bundle knows must extend its recorded rows unchanged (the same digest check as
for a single series, series by series). The network then continues training on the windows
whose targets reach into each series' new rows, plus a share of each series' most recent
older windows, so the batch that updates the shared weights stays balanced across series.
Series new to the file are forecast (scaled by their own rows) but not fine-tuned on: the model
has no scaler fitted on their training rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnncast.bundle import Bundle
from rnncast.data import rows_digest
from rnncast.errors import HistoryRewrittenError
from rnncast.panel import Panel, stack
from rnncast.training import EpochHook
from rnncast.windows import Scaler, check_scalable

logger = logging.getLogger("rnncast")


@dataclass(frozen=True)
class PanelUpdate:
    """The windows to fine-tune on: per series, the target-start rows."""

    added: dict[str, int]  # series -> new rows
    starts: dict[str, np.ndarray]

    @property
    def rows_added(self) -> int:
        return sum(self.added.values())


def appended_panel_rows(bundle: Bundle, panel: Panel) -> dict[str, int]:
    """New rows per known series, checking each one's old rows are unchanged.

    Raises:
        DataError: a series' history was rewritten, or a series the model trained on is gone.
    """
    recorded = bundle.metadata["data"].get("series", {})
    added: dict[str, int] = {}
    for key, facts in recorded.items():
        member = panel.members.get(key)
        if member is None:
            raise HistoryRewrittenError(
                f"the data's history was rewritten (series {key!r}, which the model was trained on, is gone)",
                "pass the whole file, every series, to --data (or --retrain to train on this one)",
            )
        last = pd.Timestamp(facts["last_timestamp"])
        kept = int(member.index.searchsorted(last, side="right"))
        if kept != facts["rows"] or rows_digest(member.frame, kept) != facts["rows_sha256"]:
            raise HistoryRewrittenError(
                f"the data's history was rewritten (series {key!r}: its rows up to "
                f"{last.isoformat()} differ from those the model was trained on)",
                "pass --retrain to train a new model on the whole file",
            )
        added[key] = len(member) - kept
    unknown = sorted(set(panel.members) - set(recorded))
    if unknown:
        logger.warning(
            "%d series the model was not trained on are not fine-tuned on: %s",
            len(unknown),
            ", ".join(repr(key) for key in unknown[:12]),
        )
    return added


def plan_panel_update(
    panel: Panel, added: dict[str, int], lookback: int, horizon: int, batch_size: int
) -> PanelUpdate:
    """Per series: the windows reaching into its new rows, plus its share of recent older ones
    (together at least one batch over the series that grew)."""
    grown = [key for key, count in added.items() if count > 0]
    share = math.ceil(batch_size / max(len(grown), 1))
    starts = {}
    for key in grown:
        last_start = len(panel.members[key]) - horizon
        count = max(added[key], share)
        window_starts = np.arange(max(lookback, last_start + 1 - count), last_start + 1, dtype=np.int64)
        if len(window_starts):
            starts[key] = window_starts
    return PanelUpdate(added, starts)


def fine_tune_panel(
    bundle: Bundle,
    panel: Panel,
    plan: PanelUpdate,
    scalers: dict[str, Scaler],
    epochs: int,
    on_epoch: EpochHook | None,
) -> dict[str, float]:
    """Continue training the bundle's network on the planned windows of every series."""
    from rnncast.updating import fine_tune_windows

    keys = list(plan.starts)
    for key in keys:
        check_scalable(panel.members[key].frame.to_numpy(), panel.columns)
    ends = {key: len(panel.members[key]) for key in keys}
    stacked = stack(panel, scalers, keys, ends, bundle.config.transform)
    starts = np.concatenate([plan.starts[key] + stacked.offsets[key] for key in keys])
    return fine_tune_windows(bundle, stacked.values, len(panel.targets), starts, epochs, on_epoch)
