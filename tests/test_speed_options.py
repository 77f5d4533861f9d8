"""The speed levers of training: XLA, windows per epoch, the validation sample, mixed precision."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rnncast.config import TrainConfig
from rnncast.errors import UsageError
from rnncast.fitting import (
    AUTO_EPOCH_WINDOWS,
    VALIDATION_WINDOWS,
    XLA_MIN_WINDOWS,
    epoch_size,
    fit_network,
    use_xla,
    validation_sample,
)
from rnncast.models import ModelShape, build_model, compile_model
from rnncast.windows import window_dataset


def test_xla_is_chosen_by_epoch_size_on_a_cpu_unless_the_user_says() -> None:
    auto = TrainConfig()
    assert use_xla(auto, "cpu", XLA_MIN_WINDOWS)
    assert not use_xla(auto, "cpu", XLA_MIN_WINDOWS - 1)
    assert not use_xla(auto, "gpu", 10 * XLA_MIN_WINDOWS)  # cuDNN kernels there, which XLA cannot compile
    assert use_xla(TrainConfig(xla=True), "cpu", 10)
    assert not use_xla(TrainConfig(xla=False), "cpu", 10 * XLA_MIN_WINDOWS)


def test_epochs_draw_at_most_the_cap_and_zero_means_all() -> None:
    assert epoch_size(1_000, TrainConfig()) == 1_000
    assert epoch_size(10 * AUTO_EPOCH_WINDOWS, TrainConfig()) == AUTO_EPOCH_WINDOWS
    assert epoch_size(10 * AUTO_EPOCH_WINDOWS, TrainConfig(epoch_windows=0)) == 10 * AUTO_EPOCH_WINDOWS
    assert epoch_size(500, TrainConfig(epoch_windows=200)) == 200
    with pytest.raises(UsageError, match="--epoch-windows must be at least 0"):
        TrainConfig(epoch_windows=-1)
    with pytest.raises(UsageError, match="--xla must be true or false"):
        TrainConfig(xla="yes")  # type: ignore[arg-type]


def test_validation_sample_is_fixed_sorted_and_only_for_big_splits() -> None:
    small = np.arange(100, 200)
    assert validation_sample(small, seed=1) is small
    big = np.arange(5, 5 + 3 * VALIDATION_WINDOWS)
    sample = validation_sample(big, seed=1)
    assert len(sample) == VALIDATION_WINDOWS
    assert np.all(np.diff(sample) > 0) and set(sample) <= set(big)
    np.testing.assert_array_equal(sample, validation_sample(big, seed=1))  # same windows every epoch


def test_each_epoch_draws_a_fresh_sample_of_windows() -> None:
    values = np.arange(400, dtype=np.float64)[:, None]
    starts = np.arange(10, 390)
    dataset = window_dataset(values, values, starts, 10, 2, 16, shuffle=True, seed=3, epoch_windows=48)
    epochs = [np.concatenate([targets[:, 0, 0].numpy() for _, targets in dataset]) for _ in range(2)]
    assert [len(e) for e in epochs] == [48, 48]
    assert len(set(epochs[0])) == 48  # without replacement
    assert set(epochs[0]) != set(epochs[1])
    assert set(np.concatenate(epochs)) <= set(starts.astype(float))


def test_compile_model_really_turns_xla_on_despite_op_determinism() -> None:
    from rnncast.training import seed_everything

    seed_everything(0)  # op determinism on: Keras alone would silently refuse XLA
    model = build_model(ModelShape(8, 2, 1, 1), units=4)
    compile_model(model, 1e-3, 1.0, xla=True)
    assert model.jit_compile is True
    compile_model(model, 1e-3, 1.0, xla=False)
    assert model.jit_compile is False


def _series(rows: int = 600) -> np.ndarray:
    t = np.arange(rows)
    rng = np.random.default_rng(0)
    return (np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=rows))[:, None]


def _fit(xla: bool) -> np.ndarray:
    scaled = _series()
    config = TrainConfig(lookback=24, horizon=6, units=8, epochs=2, patience=0, batch_size=32, xla=xla)
    model, summary = fit_network(scaled, 1, 1, np.arange(24, 400), np.arange(400, 500), config)
    assert summary.epochs_run == 2
    return np.concatenate([w.ravel() for w in model.get_weights()])


def test_xla_training_is_repeatable_bit_for_bit() -> None:
    first, second = _fit(xla=True), _fit(xla=True)
    np.testing.assert_array_equal(first, second)
    # and it trains the same network as the plain path, to float32 rounding
    np.testing.assert_allclose(first, _fit(xla=False), atol=1e-4)


def test_mixed_precision_keeps_weights_and_output_in_float32() -> None:
    model = build_model(ModelShape(8, 3, 2, 1), cell="gru", units=4, bidirectional=True, mixed_precision=True)
    recurrent = [layer for layer in model.layers if layer.name.startswith("bidirectional")]
    assert recurrent and all(layer.dtype_policy.name == "mixed_float16" for layer in recurrent)
    assert all(w.dtype == "float32" for w in model.weights)
    assert model.get_layer("head").dtype_policy.name == "float32"
    assert model.output.dtype == "float32"


def test_mixed_precision_on_a_cpu_is_ignored_with_a_note(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI's tests route the "rnncast" logger to the terminal only; let caplog see it.
    monkeypatch.setattr(logging.getLogger("rnncast"), "propagate", True)
    scaled = _series(300)
    config = TrainConfig(lookback=12, horizon=3, units=4, epochs=1, batch_size=32, mixed_precision=True)
    with caplog.at_level(logging.WARNING, logger="rnncast"):
        model, _ = fit_network(scaled, 1, 1, np.arange(12, 200), np.arange(200, 250), config)
    assert "--mixed-precision applies on a GPU only" in caplog.text
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
