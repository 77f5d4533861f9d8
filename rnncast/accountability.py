"""Forecast accountability: every published forecast goes into the bundle's ledger, and once
the actual values arrive, the realised errors of the model and of the naive baselines show
whether the model still earns its keep.

The held-out test score says how a model did on the past it was shown; the ledger says how its
forecasts did on a future nobody had seen. When the two drift apart (``--max-decay``), it is
time to look.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnncast.baselines import naive_forecast, seasonal_naive_forecast
from rnncast.bundle import Bundle, load_bundle
from rnncast.data import SeriesData
from rnncast.errors import QualityGateError
from rnncast.frequency import seasonal_period
from rnncast.ledger import append_to_ledger, forecast_rows, ledger_path, read_ledger, realised_errors
from rnncast.locking import exclusive

logger = logging.getLogger("rnncast")

SINGLE_SERIES_ID = ""  # the ledger's series id of a single-series model
DECAY_ORIGINS = 10  # --max-decay judges the forecasts of this many latest realised origins
LEDGER_WAIT_SECONDS = 60.0  # appends take milliseconds; a writer holding longer is stuck


def future_baselines(
    series: SeriesData, horizon: int, season: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The naive and seasonal-naive forecasts (horizon x targets) after the series' last row,
    recorded beside the model's so their realised errors can be compared later."""
    values = series.frame[list(series.targets)].to_numpy()
    end = np.array([len(values)])
    naive = naive_forecast(values, end, horizon)[0]
    period = season or seasonal_period(series.frequency)
    seasonal = None
    if period > 1 and len(values) >= period:
        seasonal = seasonal_naive_forecast(values, end, horizon, period)[0]
    return naive, seasonal


def record_forecast(bundle: Bundle, frame: pd.DataFrame, members: dict[str, SeriesData]) -> int:
    """Append a forecast ``frame`` (as :func:`rnncast.pipeline.forecast` returns it) to the
    bundle's ledger; ``members`` are the series it was made from, by ledger id.

    Only the point forecast (one column per target) is recorded: the prediction-interval
    columns ``<target>_lower_<level>`` / ``<target>_upper_<level>`` a bundle trained with
    ``--intervals`` adds are left out, so the ledger keeps one format whatever the bundle, and
    ``history`` judges the point forecast against the naive baselines as before (the intervals'
    coverage is measured by ``evaluate`` and ``backtest``).

    Returns:
        Rows appended (0 when this exact forecast was recorded before).
    """
    config = bundle.config
    assert config.horizon is not None
    id_col = frame.attrs.get("id_col")
    # One pass over the frame, not one mask per series (quadratic in the number of series).
    by_key = (
        {str(key): rows.drop(columns=[id_col]) for key, rows in frame.groupby(id_col, sort=False)}
        if id_col
        else None
    )
    model_name = model_id(bundle)
    parts = []
    hindcasts = []
    for key, series in members.items():
        part = frame if by_key is None else by_key.get(key)
        if part is None or part.empty:
            continue
        if _before_trained_data(bundle, key, series.index[-1]):
            # The model was made with actuals after this origin: a hindcast, not a forecast.
            hindcasts.append(f"{key or 'the series'} ends at {series.index[-1].isoformat()}")
            continue
        naive, seasonal = future_baselines(series, len(part), config.seasonal_period)
        parts.append(
            forecast_rows(
                part[list(series.targets)],
                series=key,
                origin=series.index[-1],
                naive=naive,
                seasonal_naive=seasonal,
                model=model_name,
            )
        )
    if hindcasts:
        logger.warning(
            "not added to the ledger: %s, before the model's data ended (its actuals were known "
            "when the model was made); forecast from the newest data to keep score",
            "; ".join(hindcasts[:3]) + (f" (and {len(hindcasts) - 3} more)" if len(hindcasts) > 3 else ""),
        )
    if not parts:
        return 0
    path = ledger_path(bundle.path)
    with exclusive(path, wait=LEDGER_WAIT_SECONDS):
        return append_to_ledger(path, pd.concat(parts, ignore_index=True))


def model_id(bundle: Bundle) -> str:
    """How the ledger names the model that made a forecast: when it was made, and the first
    digits of its weights' checksum (two bundles made in the same second still differ)."""
    checksum = str(bundle.metadata.get("files", {}).get("model.keras", ""))[:12]
    return f"{bundle.metadata['created_at']} {checksum}".strip()


def _before_trained_data(bundle: Bundle, key: str, origin: pd.Timestamp) -> bool:
    """Whether ``origin`` comes before the end of the data the bundle was made from (for
    series ``key``), so the actuals of its forecast were already known."""
    data = bundle.metadata.get("data") or {}
    members = data.get("series")
    if isinstance(members, dict):
        # A global model: a series it was not made from (new to the file) had no actuals in it,
        # however early that series ends.
        data = members.get(key) or {}
    text = data.get("last_timestamp")
    try:
        return isinstance(text, str) and bool(origin < pd.Timestamp(text))
    except (ValueError, TypeError):  # unreadable, or tz-aware against tz-naive
        return False


def actual_values(members: dict[str, SeriesData]) -> pd.DataFrame:
    """Observed target values as ``series, target, time, actual`` rows (values ``--fill``
    made up are left out: no forecast is judged against them)."""
    frames = []
    for key, series in members.items():
        for position, target in enumerate(series.targets):
            observed = np.ones(len(series), dtype=bool)
            if series.filled is not None:
                observed = ~series.filled[:, position]
            frames.append(
                pd.DataFrame(
                    {
                        "series": key,
                        "target": target,
                        "time": series.index[observed],
                        "actual": series.frame[target].to_numpy()[observed],
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Decay:
    """Realised RMSE of the latest forecasts against the model's held-out test RMSE."""

    realised_rmse: float
    test_rmse: float
    origins: int
    forecasts: int
    series: int = 1  # several: the RMSEs are the median series', the ratio the median ratio
    median_ratio: float | None = None

    @property
    def ratio(self) -> float:
        """How much worse than on the test split: 0.25 is 25% higher RMSE."""
        if self.median_ratio is not None:
            return self.median_ratio
        return self.realised_rmse / self.test_rmse - 1.0 if self.test_rmse > 0 else np.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, the ratio included."""
        return {
            "realised_rmse": self.realised_rmse,
            "test_rmse": self.test_rmse,
            "ratio": self.ratio,
            "origins": self.origins,
            "forecasts": self.forecasts,
            "series": self.series,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Decay:
        """Rebuild from :meth:`to_dict` output."""
        series = int(values.get("series", 1))
        return cls(
            float(values["realised_rmse"]),
            float(values["test_rmse"]),
            int(values["origins"]),
            int(values["forecasts"]),
            series,
            float(values["ratio"]) if series > 1 else None,
        )


def latest_decay(scored: pd.DataFrame, test_rmse: float | None) -> Decay | None:
    """Decay over the :data:`DECAY_ORIGINS` latest realised origins, or None without data."""
    if test_rmse is None or scored.empty:
        return None
    origins = sorted(scored["origin"].unique())[-DECAY_ORIGINS:]
    recent = scored[scored["origin"].isin(origins)]
    errors = recent["forecast"] - recent["actual"]
    return Decay(float(np.sqrt(np.mean(errors**2))), float(test_rmse), len(origins), len(recent))


def latest_decay_by_series(scored: pd.DataFrame, test_rmse: dict[str, float]) -> Decay | None:
    """Decay of a model of many series: each series' realised RMSE over the latest origins
    against its own held-out test RMSE (pooled errors would mix the series' units), judged by
    the median series."""
    if scored.empty or not test_rmse:
        return None
    origins = sorted(scored["origin"].unique())[-DECAY_ORIGINS:]
    recent = scored[scored["origin"].isin(origins)]
    found = []
    for key, group in recent.groupby("series", sort=True):
        reference = test_rmse.get(str(key))
        if reference is None or not reference > 0:
            continue
        realised = float(np.sqrt(np.mean((group["forecast"] - group["actual"]) ** 2)))
        found.append((realised / reference - 1.0, realised, reference))
    if not found:
        return None
    found.sort()
    ratio, realised, reference = found[(len(found) - 1) // 2]
    return Decay(realised, reference, len(origins), len(recent), len(found), ratio)


def check_decay(decay: Decay | None, max_decay: float | None) -> None:
    """Raise when the realised RMSE has worsened past ``max_decay`` (exit 5)."""
    if max_decay is None or decay is None or decay.ratio <= max_decay:
        return
    which = f" for the median of {decay.series} series" if decay.series > 1 else ""
    raise QualityGateError(
        f"realised RMSE {decay.realised_rmse:.4g} over the {decay.origins} latest forecast origins is "
        f"{decay.ratio:.0%} above the held-out test RMSE {decay.test_rmse:.4g}{which} "
        f"(--max-decay {max_decay:g})",
        "retrain the model on recent data, or look at what changed in the series",
    )


def test_rmse_by_series(bundle: Bundle) -> dict[str, float]:
    """Each series' held-out RMSE in its own units (a model of many series), from report.json."""
    found = {}
    for entry in bundle.report.get("per_series", []) if isinstance(bundle.report, dict) else []:
        value = entry.get("model_rmse") if isinstance(entry, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[str(entry.get("series"))] = float(value)
    return found


def test_rmse_of(bundle: Bundle) -> float | None:
    """The model's held-out RMSE in the data's units (single target), from report.json."""
    try:
        value = bundle.report["metrics"]["model"]["original"]["rmse"]
    except (KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) and len(bundle.targets) == 1 else None


def history(model: str | Path, data: str | Path | None = None) -> dict[str, Any]:
    """How the bundle's published forecasts compare with what happened: realised errors by
    horizon step, by origin (over time) and by series, beside the naive baselines'.

    Args:
        model: the bundle directory.
        data: the newest data (default: the bundle's training file as it is now).
    """
    bundle = load_bundle(model, with_model=False)
    members = members_for(bundle, data)
    path = ledger_path(bundle.path)
    ledger = read_ledger(path)
    # An empty ledger goes through the same scoring: --json has one shape whatever is recorded.
    result: dict[str, Any] = {"model": str(bundle.path), "ledger": str(path), "recorded": len(ledger)}
    realised = realised_errors(ledger, actual_values(members))
    if bundle.many_series:
        test_rmse = None  # pooled over series of different units: meaningless
        decay = latest_decay_by_series(realised.scored, test_rmse_by_series(bundle))
    else:
        test_rmse = test_rmse_of(bundle)
        decay = latest_decay(realised.scored, test_rmse)
    result.update(realised.to_dict(rows=False))
    result["test_rmse"] = test_rmse
    if decay is not None:
        result["decay"] = decay.to_dict()
    return result


def members_for(bundle: Bundle, data: str | Path | None) -> dict[str, SeriesData]:
    """The series of ``data`` as the bundle reads them, by ledger id."""
    if bundle.many_series:
        from rnncast.many_series import panel_for_bundle

        return dict(panel_for_bundle(bundle, data).members)
    from rnncast.pipeline import load_for_bundle

    # The training file as it is now (new actuals are the point here, not worth a warning).
    return {SINGLE_SERIES_ID: load_for_bundle(bundle, data)}
