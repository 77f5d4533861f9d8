from __future__ import annotations

import numpy as np
import pytest

from rnncast.models import ModelShape, build_model


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_cell_builds_a_direct_multi_step_model(cell: str, bidirectional: bool) -> None:
    shape = ModelShape(lookback=8, horizon=3, n_inputs=4, n_targets=2)
    model = build_model(shape, cell=cell, bidirectional=bidirectional, units=5, layers=2, dropout=0.1)
    assert model.input_shape == (None, 8, 4)
    assert model.output_shape == (None, 3, 2)
    layer_types = {type(layer).__name__ for layer in model.layers}
    expected = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    assert ("Bidirectional" in layer_types) is bidirectional
    assert bidirectional or expected in layer_types
    assert "Dropout" in layer_types


def test_untrained_residual_model_is_exactly_the_naive_forecast() -> None:
    shape = ModelShape(lookback=6, horizon=4, n_inputs=3, n_targets=2)
    model = build_model(shape, units=3)
    windows = np.random.default_rng(1).normal(size=(5, 6, 3)).astype("float32")
    predicted = model.predict(windows, verbose=0)
    expected = np.repeat(windows[:, -1:, :2], 4, axis=1)  # last row of the two target channels
    np.testing.assert_allclose(predicted, expected, rtol=1e-6)


def test_plain_head_is_not_the_naive_forecast() -> None:
    shape = ModelShape(lookback=6, horizon=2, n_inputs=1, n_targets=1)
    model = build_model(shape, units=3, residual=False)
    windows = np.random.default_rng(2).normal(size=(4, 6, 1)).astype("float32")
    assert not np.allclose(model.predict(windows, verbose=0), windows[:, -1:, :])


def test_gradients_are_clipped_by_default() -> None:
    from rnncast.config import TrainConfig
    from rnncast.models import ModelShape, build_model, compile_model

    config = TrainConfig()
    assert config.clipnorm == 1.0
    model = build_model(ModelShape(10, 3, 1, 1), cell="lstm", units=4)
    compile_model(model, config.learning_rate, config.clipnorm)
    assert model.optimizer.clipnorm == 1.0
