"""The accuracy levers: per-window normalisation, segments, the linear skip, independent
channels, seed ensembles, the loss, and bundles written before any of them existed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.config import LEGACY_SETTINGS, TrainConfig
from rnncast.errors import UsageError
from rnncast.models import ModelShape, build_model
from rnncast.windows import default_segment
from tests.conftest import FAST

LOOKBACK, HORIZON = 24, 6


def _randomise(model: object, seed: int = 0) -> None:
    """Every weight drawn from N(0, 0.3): the zero-initialised heads no longer hide anything."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # type: ignore[attr-defined]
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])


def _windows(channels: int, count: int = 8, seed: int = 3) -> np.ndarray:
    """Random-walk windows: the shape real levels have."""
    steps = np.random.default_rng(seed).normal(0, 1, (count, LOOKBACK, channels))
    return np.cumsum(steps, axis=1).astype(np.float32)


@pytest.mark.parametrize("window_norm", ["last", "mean"])
@pytest.mark.parametrize("segment", [1, 6, 5])
def test_a_normalised_window_shifts_the_forecast_by_exactly_the_shift_of_its_level(
    window_norm: str, segment: int
) -> None:
    # The level is taken out before the network and put back after it: a series 500 units
    # higher (a trend beyond the training range) gets the same forecast, 500 units higher.
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 1, 1),
        cell="lstm",
        units=8,
        window_norm=window_norm,
        segment=segment,
        linear_skip=True,
    )
    _randomise(model)
    windows = _windows(1)
    low = model.predict(windows, verbose=0)
    high = model.predict(windows + 500.0, verbose=0)
    np.testing.assert_allclose(high - 500.0, low, atol=2e-3)
    assert np.abs(low - windows[:, -1:, :]).max() > 0.1  # and the trained paths do matter


def test_without_window_norm_the_level_changes_the_forecast_shape() -> None:
    model = build_model(ModelShape(LOOKBACK, HORIZON, 1, 1), cell="lstm", units=8, window_norm="none")
    _randomise(model)
    windows = _windows(1)
    shifted = model.predict(windows + 50.0, verbose=0) - 50.0
    assert np.abs(shifted - model.predict(windows, verbose=0)).max() > 0.1


@pytest.mark.parametrize("window_norm", ["last", "mean"])
def test_an_untrained_default_network_forecasts_a_flat_level(window_norm: str) -> None:
    # Zero-initialised head and linear skip: training starts from the naive (last value) or
    # window-mean forecast and can only earn its way past it.
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 3, 2),
        cell="gru",
        units=8,
        window_norm=window_norm,
        segment=6,
        linear_skip=True,
    )
    windows = _windows(3)
    level = windows[:, -1:, :2] if window_norm == "last" else windows[:, :, :2].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(
        model.predict(windows, verbose=0), np.repeat(level, HORIZON, axis=1), atol=1e-4
    )


def test_independent_channels_share_one_network_and_read_only_their_own_channel() -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 3, 3),
        cell="gru",
        units=8,
        window_norm="last",
        segment=6,
        linear_skip=True,
        channels="independent",
    )
    _randomise(model)
    windows = _windows(3)
    forecast = model.predict(windows, verbose=0)
    swapped = model.predict(windows[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(swapped, forecast[:, :, ::-1], atol=1e-4)  # the same network for each
    changed = windows.copy()
    changed[:, :, 2] += np.random.default_rng(0).normal(0, 3, changed[:, :, 2].shape)
    moved = model.predict(changed, verbose=0)
    np.testing.assert_allclose(moved[:, :, :2], forecast[:, :, :2], atol=1e-5)  # others untouched
    assert np.abs(moved[:, :, 2] - forecast[:, :, 2]).max() > 0.01


@pytest.mark.parametrize(
    ("lookback", "season", "expected"),
    [(96, 24, 24), (336, 24, 24), (56, 7, 7), (60, 5, 5), (52, 52, 6), (24, 12, 3), (12, 4, 1), (8, 1, 1)],
)
def test_default_segment_is_a_season_when_the_window_holds_several(
    lookback: int, season: int, expected: int
) -> None:
    assert default_segment(lookback, season) == expected


def test_a_bundle_written_before_these_settings_rebuilds_the_network_it_was_trained_with() -> None:
    saved = TrainConfig(lookback=10, horizon=2).to_dict()
    for key in LEGACY_SETTINGS:
        del saved[key]
    old = TrainConfig.from_dict(saved)
    assert (old.window_norm, old.segment, old.linear_skip, old.channels, old.ensemble) == (
        "none",
        1,
        False,
        "mixed",
        1,
    )
    new = TrainConfig()
    assert (new.window_norm, new.linear_skip, new.channels) == ("last", True, "auto")


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        ({"channels": "independent", "features": ("x",)}, "--channels independent"),
        ({"ensemble": 2, "init_from": "runs/source"}, "--ensemble"),
        ({"window_norm": "median"}, "--window-norm"),
        ({"segment": 0}, "--segment"),
        ({"loss": "logcosh"}, "--loss"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_the_flag_named(
    settings: dict[str, object], flag: str
) -> None:
    with pytest.raises(UsageError, match=flag):
        TrainConfig(**settings)  # type: ignore[arg-type]


def test_an_ensemble_bundle_averages_its_members_and_forecasts_like_any_other(
    prices_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ensemble"
    result = rnncast.train(
        prices_csv,
        out=out,
        lookback=LOOKBACK,
        horizon=HORIZON,
        **{**FAST, "epochs": 2},
        ensemble=3,
        loss="huber",
    )
    assert result.metadata["config"]["ensemble"] == 3
    bundle = load_bundle(out)  # the archive's classes checked, safe_mode=True
    members = [layer for layer in bundle.model.layers if layer.name.startswith("member_")]
    assert len(members) == 3
    windows = np.random.default_rng(0).normal(0, 1, (5, LOOKBACK, 1)).astype(np.float32)
    each = np.stack([member.predict(windows, verbose=0) for member in members])
    np.testing.assert_allclose(bundle.model.predict(windows, verbose=0), each.mean(axis=0), atol=1e-5)
    assert np.abs(each[0] - each[1]).max() > 1e-4  # different seeds, different networks
    frame = rnncast.forecast(out, ledger=False).frame
    assert len(frame) == HORIZON and np.isfinite(frame.to_numpy()).all()
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["config"]["loss"] == "huber"


def test_several_targets_train_one_shared_network_per_channel_by_default(
    prices_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "channels"
    result = rnncast.train(
        prices_csv, out=out, target=("Close", "Open", "High"), lookback=LOOKBACK, horizon=HORIZON, **FAST
    )
    assert result.metadata["config"]["channels"] == "independent"  # auto, resolved
    assert result.metadata["config"]["segment"] == default_segment(LOOKBACK, 5)  # business days
    model = load_bundle(out).model
    assert any(type(layer).__name__ == "TimeDistributed" for layer in model.layers)
    frame = rnncast.forecast(out, ledger=False).frame
    assert list(frame.columns) == ["Close", "Open", "High"] and len(frame) == HORIZON


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("segment", [1, 5])
def test_an_untrained_segment_decoder_is_the_naive_forecast(cell: str, segment: int) -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON + 1, 1, 1),
        cell=cell,
        units=8,
        architecture="segments",
        window_norm="last",
        segment=segment,
        linear_skip=True,
    )
    windows = _windows(1)
    naive = np.repeat(windows[:, -1:, :], HORIZON + 1, axis=1)
    np.testing.assert_allclose(model.predict(windows, verbose=0), naive, atol=1e-5)
    names = {layer.name for layer in model.layers}
    assert {"position_embedding", "segment_head"} <= names


def test_segment_decoder_positions_are_learned_per_output_segment() -> None:
    model = build_model(
        ModelShape(LOOKBACK, 12, 1, 1),
        cell="gru",
        units=8,
        architecture="segments",
        segment=6,
        window_norm="last",
        linear_skip=False,
    )
    _randomise(model)
    forecast = model.predict(_windows(1), verbose=0)
    assert forecast.shape == (8, 12, 1)
    # Two output segments from two positions: the decoder's steps differ, so do the segments.
    assert np.abs(forecast[:, :6] - forecast[:, 6:]).max() > 1e-3


def test_attention_has_no_place_in_the_segment_decoder() -> None:
    with pytest.raises(UsageError, match="--attention does not apply"):
        TrainConfig(architecture="segments", attention=True)


def test_a_trend_window_splits_the_linear_path_and_starts_as_the_naive_forecast() -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 1, 1),
        cell="lstm",
        units=8,
        window_norm="last",
        segment=6,
        linear_skip=True,
        trend_window=5,
    )
    names = {layer.name for layer in model.layers}
    assert {"trend", "seasonal", "linear_trend", "linear_seasonal"} <= names and "linear_skip" not in names
    windows = _windows(1)
    np.testing.assert_allclose(
        model.predict(windows, verbose=0), np.repeat(windows[:, -1:, :], HORIZON, axis=1), atol=1e-5
    )
    with pytest.raises(UsageError, match="--no-linear-skip turns it off"):
        TrainConfig(trend_window=25, linear_skip=False)


@pytest.mark.parametrize("horizon", [HORIZON, 2 * LOOKBACK // 3])
def test_an_untrained_seasonal_level_network_is_the_seasonal_naive_forecast(horizon: int) -> None:
    season = LOOKBACK // 3
    model = build_model(
        ModelShape(LOOKBACK, horizon, 2, 1),
        cell="gru",
        units=8,
        window_norm="season",
        season=season,
        segment=4,
        linear_skip=True,
    )
    windows = _windows(2)
    last_season = windows[:, -season:, :1]
    expected = np.concatenate([last_season] * (horizon // season + 1), axis=1)[:, :horizon]
    np.testing.assert_allclose(model.predict(windows, verbose=0), expected, atol=1e-5)


def test_the_seasonal_level_records_its_season_and_refuses_data_without_one(
    prices_csv: Path, tmp_path: Path
) -> None:
    result = rnncast.train(
        prices_csv, out=tmp_path / "season", lookback=LOOKBACK, horizon=HORIZON, window_norm="season", **FAST
    )
    assert result.metadata["config"]["seasonal_period"] == 5  # business days: a week
    frame = rnncast.forecast(tmp_path / "season", ledger=False).frame
    assert len(frame) == HORIZON and np.isfinite(frame.to_numpy()).all()
    with pytest.raises(UsageError, match="the season is m = 30 with a lookback of 24"):
        rnncast.train(
            prices_csv,
            out=tmp_path / "never",
            lookback=LOOKBACK,
            horizon=HORIZON,
            window_norm="season",
            seasonal_period=30,
            **FAST,
        )
    assert not (tmp_path / "never").exists()
