"""The network options of ``rnncast train``: layer normalisation, attention, seq2seq, the
recursive strategy, optimizers and learning-rate schedules, trained end to end and reproduced
from the saved bundle."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.config import TrainConfig
from rnncast.forecasting import forecast_future
from rnncast.inference import load_network
from rnncast.pipeline import load_for_bundle
from tests.conftest import FAST

TOLERANCE = 1e-5
LOOKBACK, HORIZON = 8, 3
# Every option trained end to end with each of the three cells and a bidirectional stack; the
# options are combined so that nine short trainings cover them all (tests/test_bundle.py builds
# every option for every cell, and tests below check each one's own behaviour).
DIRECT = {"layer_norm": True, "attention": True, "layers": 2, "residual": False}  # features too
RECURSIVE = {"strategy": "recursive", "layer_norm": True, "attention": True}  # no features
SEQ2SEQ = {"architecture": "seq2seq", "layer_norm": True, "layers": 2, "dropout": 0.1}
CASES = {
    "simple_rnn-recursive": ("simple_rnn", False, RECURSIVE),
    "lstm-direct": ("lstm", False, DIRECT),
    "gru-direct": ("gru", False, DIRECT),
    "bidirectional-recursive": ("gru", True, RECURSIVE),
    "simple_rnn-seq2seq": ("simple_rnn", False, SEQ2SEQ),
    "lstm-seq2seq+attention": ("lstm", False, {**SEQ2SEQ, "attention": True}),
    "gru-seq2seq": ("gru", False, SEQ2SEQ),
    "gru-seq2seq-recursive": ("gru", False, {**SEQ2SEQ, "strategy": "recursive", "attention": True}),
    "bidirectional-seq2seq+attention": ("lstm", True, {**SEQ2SEQ, "attention": True, "layers": 1}),
    # Two-row output segments for a horizon of 3: the last segment's extra row is cropped.
    "lstm-segments": ("lstm", False, {"architecture": "segments", "segment": 2, "layer_norm": True}),
    "bidirectional-segments": ("gru", True, {"architecture": "segments", "layer_norm": False, "layers": 2}),
}


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 daily rows: two seasonal targets with trend and noise, and a feature that leads them."""
    rng = np.random.default_rng(7)
    t = np.arange(200)
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=200, freq="D").strftime("%Y-%m-%d"),
            "a": 10 + 0.02 * t + np.sin(t / 5) + rng.normal(0, 0.1, 200),
            "b": 5 + np.cos(t / 7) + rng.normal(0, 0.1, 200),
            "x": np.sin((t + 2) / 5) + rng.normal(0, 0.1, 200),
        }
    )
    path = tmp_path_factory.mktemp("data") / "options.csv"
    frame.to_csv(path, index=False)
    return path


def _settings(options: dict[str, object]) -> dict[str, object]:
    features = () if options.get("strategy") == "recursive" else ("x",)
    return {
        **FAST,
        "lookback": LOOKBACK,
        "horizon": HORIZON,
        "target": ("a", "b"),
        "features": features,
        **options,
    }


def _all_layers(model: object) -> list[object]:
    """Every layer of ``model``, descending into nested models and ``TimeDistributed``."""
    found = []
    for layer in model.layers:  # type: ignore[attr-defined]
        found.append(layer)
        inner = getattr(layer, "layer", None) if type(layer).__name__ == "TimeDistributed" else layer
        if hasattr(inner, "layers"):
            found.extend(_all_layers(inner))
    return found


@pytest.mark.parametrize(("cell", "bidirectional", "options"), list(CASES.values()), ids=list(CASES))
def test_each_option_trains_saves_and_forecasts_the_keras_numbers(
    series_csv: Path, tmp_path: Path, cell: str, bidirectional: bool, options: dict[str, object]
) -> None:
    settings = _settings(options)
    out = tmp_path / "bundle"
    result = rnncast.train(series_csv, out=out, model=cell, bidirectional=bidirectional, **settings)
    saved = result.metadata["config"]
    assert all(saved[key] == value for key, value in settings.items() if key not in ("target", "features"))

    bundle = load_bundle(out)  # checksums, the archive's classes, safe_mode=True, shapes
    model = bundle.model
    assert model.input_shape == (None, LOOKBACK, 2 + len(settings["features"]))
    assert model.output_shape == (None, HORIZON, 2)
    # Recursive: the one-step network nested in the unrolled one; independent channels: the
    # one-channel network inside TimeDistributed.
    names = {type(layer).__name__ for layer in _all_layers(model)}
    assert ("LayerNormalization" in names) is settings["layer_norm"]
    assert ("MultiHeadAttention" in names) is settings.get("attention", False)
    assert ("RepeatVector" in names) is (settings.get("architecture") == "seq2seq")
    assert ("Bidirectional" in names) is bidirectional
    # Nothing the NumPy evaluator does not know is guessed at: it leaves these to Keras.
    assert load_network(load_bundle(out, with_model=False)) is None

    frame = rnncast.forecast(out, ledger=False).frame
    assert len(frame) == HORIZON and list(frame.columns) == ["a", "b"]
    expected = forecast_future(model, bundle.scaler, load_for_bundle(bundle, None), LOOKBACK, HORIZON)
    np.testing.assert_allclose(frame.to_numpy(), expected.to_numpy(), rtol=TOLERANCE)


def test_recursive_forecast_is_the_one_step_model_iterated(series_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "recursive"
    optimizer = {"optimizer": "adamw", "lr_schedule": "cosine"}
    rnncast.train(series_csv, out=out, **_settings({"strategy": "recursive", "horizon": 5, **optimizer}))
    bundle = load_bundle(out)
    model = bundle.model
    (step,) = [layer for layer in model.layers if hasattr(layer, "layers")]  # the nested one-step net
    assert step.input_shape == (None, LOOKBACK, 2) and step.output_shape == (None, 1, 2)

    windows = np.random.default_rng(3).normal(size=(6, LOOKBACK, 2)).astype(np.float32)
    window, by_hand = windows, []
    for _ in range(5):
        prediction = step.predict(window, verbose=0)  # (windows, 1, targets)
        by_hand.append(prediction)
        window = np.concatenate([window[:, 1:], prediction], axis=1)  # drop the oldest, append
    unrolled = model.predict(windows, verbose=0)
    np.testing.assert_allclose(unrolled, np.concatenate(by_hand, axis=1), rtol=1e-5, atol=1e-6)
    # evaluate scores the saved, unrolled network on the held-out windows.
    report = rnncast.evaluate(out)
    model_rmse = report["metrics"]["model"]["original"]["rmse"]
    assert np.isfinite(model_rmse) and model_rmse != report["metrics"]["naive"]["original"]["rmse"]
    # The saved model records the optimizer that trained the step.
    with zipfile.ZipFile(out / "model.keras") as archive:
        saved = json.loads(archive.read("config.json"))["compile_config"]["optimizer"]
    assert saved["class_name"] == "AdamW"
    assert saved["config"]["learning_rate"]["class_name"] == "CosineDecay"


def test_the_requested_optimizer_and_schedule_are_the_ones_used() -> None:
    from rnncast.fitting import fit_network

    rng = np.random.default_rng(0)
    scaled = rng.normal(size=(100, 1)).astype(np.float32)
    train, val = np.arange(6, 75), np.arange(75, 98)
    base = TrainConfig(lookback=6, horizon=2, units=4, batch_size=16, epochs=2, patience=0)

    model, _ = fit_network(scaled, 1, 1, train, val, base.replace(optimizer="sgd", lr_schedule="cosine"))
    settings = model.optimizer.get_config()
    assert type(model.optimizer).__name__ == "SGD" and settings["momentum"] == 0.9
    schedule = settings["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["decay_steps"] == 2 * int(np.ceil(len(train) / 16))  # epochs x steps
    assert float(model.optimizer.learning_rate) < base.learning_rate  # decayed along the way

    # A rate too small to improve the validation loss: plateau halves it after such an epoch.
    stalled = base.replace(optimizer="adamw", lr_schedule="plateau", learning_rate=1e-9, epochs=3, patience=2)
    model, summary = fit_network(scaled, 1, 1, train, val, stalled)
    assert type(model.optimizer).__name__ == "AdamW"
    assert model.optimizer.weight_decay == pytest.approx(1e-4)  # the default for AdamW
    assert summary.history["learning_rate"][0] == pytest.approx(1e-9)
    assert float(model.optimizer.learning_rate) < 1e-9


@pytest.mark.parametrize(
    ("name", "weight_decay", "expected"), [("adam", None, None), ("rmsprop", 0.01, 0.01), ("sgd", 0.0, None)]
)
def test_compile_model_uses_the_named_optimizer_and_decay(
    name: str, weight_decay: float | None, expected: float | None
) -> None:
    from rnncast.models import ModelShape, build_model, compile_model

    model = build_model(ModelShape(6, 2, 1, 1), units=4)
    compile_model(model, 1e-3, 1.0, optimizer=name, weight_decay=weight_decay)
    assert type(model.optimizer).__name__ == {"adam": "Adam", "rmsprop": "RMSprop", "sgd": "SGD"}[name]
    assert model.optimizer.weight_decay == (pytest.approx(expected) if expected else None)
    assert model.optimizer.clipnorm == 1.0


def test_loss_scaling_wraps_the_requested_optimizer() -> None:
    from rnncast.models import ModelShape, build_model, compile_model

    model = build_model(ModelShape(6, 2, 1, 1), units=4)
    compile_model(model, 1e-3, 1.0, loss_scaling=True, optimizer="rmsprop", schedule="cosine", decay_steps=10)
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    assert type(model.optimizer.inner_optimizer).__name__ == "RMSprop"
    x = np.zeros((4, 6, 1), np.float32)
    model.fit(x, np.ones((4, 2, 1), np.float32), epochs=1, verbose=0)  # trains as compiled


@pytest.mark.parametrize("options", [DIRECT, RECURSIVE, SEQ2SEQ, {**SEQ2SEQ, "attention": True}])
def test_an_untrained_residual_network_is_the_naive_forecast(options: dict[str, object]) -> None:
    """Every architecture starts exactly at the last value, so training only improves on it."""
    from rnncast.models import ModelShape, build_for_config, training_shape, unroll_recursive

    config = TrainConfig(units=4, **{**options, "residual": True})
    shape = ModelShape(7, 3, 2, 2)
    model = build_for_config(training_shape(shape, config), config)
    if config.strategy == "recursive":
        model = unroll_recursive(model, 3)
    windows = np.random.default_rng(5).normal(size=(4, 7, 2)).astype(np.float32)
    naive = np.repeat(windows[:, -1:, :], 3, axis=1)
    np.testing.assert_allclose(model.predict(windows, verbose=0), naive, rtol=1e-6, atol=1e-6)


def test_mixed_precision_seq2seq_keeps_a_float32_forecast() -> None:
    from rnncast.models import ModelShape, build_model

    model = build_model(
        ModelShape(8, 3, 2, 1), cell="lstm", bidirectional=True, units=4, architecture="seq2seq",
        attention=True, layer_norm=True, mixed_precision=True,
    )  # fmt: skip
    output = model.predict(np.ones((2, 8, 2), np.float32), verbose=0)
    assert output.dtype == np.float32 and output.shape == (2, 3, 1)


@pytest.mark.parametrize(
    ("cell", "bidirectional"),
    [("simple_rnn", False), ("lstm", False), ("gru", False), ("lstm", True)],
    ids=["simple_rnn", "lstm", "gru", "bidirectional"],
)
def test_numpy_inference_reproduces_layer_normalisation(
    cell: str, bidirectional: bool, tmp_path: Path
) -> None:
    """--layer-norm alone keeps forecasts on the fast NumPy path, with Keras' numbers."""
    from rnncast.inference import network_from_archive
    from rnncast.models import ModelShape, build_model

    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 3, 2), cell=cell, bidirectional=bidirectional, units=5, layers=2,
        layer_norm=True, residual=False,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    for layer in model.layers:  # every weight away from its initialiser, gamma and beta too
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in layer.get_weights()])
    model.save(tmp_path / "model.keras")
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        network = network_from_archive(
            json.loads(archive.read("config.json")), archive.read("model.weights.h5")
        )
    windows = rng.normal(size=(16, LOOKBACK, 3)).astype(np.float32)
    np.testing.assert_allclose(network.predict(windows), model.predict(windows, verbose=0), rtol=0, atol=1e-5)
