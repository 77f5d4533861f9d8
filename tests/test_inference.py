"""The NumPy evaluator (rnncast.inference) against Keras' own predictions, and its safety.

Random weights are drawn from N(0, 0.3) on small networks: far from zero, yet not chaotic (a
chaotic network differs between Keras' own batch sizes by more than any tolerance).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import attach_model, load_bundle
from rnncast.errors import BundleError
from rnncast.fileio import sha256_file
from rnncast.forecasting import predict_windows
from rnncast.inference import (
    INFERENCE_ENV,
    NumpyNetwork,
    Unsupported,
    forecast_network,
    load_network,
    network_from_archive,
)
from rnncast.models import ModelShape, build_model
from tests.conftest import FAST, SAMPLE_DATA

TOLERANCE = 1e-5
LOOKBACK, HORIZON = 12, 4


def _randomise(model: object, seed: int = 0) -> None:
    """Every weight of ``model`` drawn from N(0, 0.3): nothing left at its (zero) initialiser."""
    from rnncast import backend

    backend.keras().utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])


def _archive(path: Path) -> tuple[object, bytes]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json")), archive.read("model.weights.h5")


def _windows(n_inputs: int, count: int = 16, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (count, LOOKBACK, n_inputs)).astype(np.float32)


def _rechecksum(bundle: Path) -> None:
    metadata = json.loads((bundle / "metadata.json").read_text())
    for name in metadata["files"]:
        metadata["files"][name] = sha256_file(bundle / name)
    (bundle / "metadata.json").write_text(json.dumps(metadata))


def _replace_model(bundle: Path, model: object) -> None:
    """Save ``model`` as the bundle's model.keras with matching checksums."""
    model.save(bundle / "model.keras")
    _rechecksum(bundle)


# --- every network build_model makes -----------------------------------------------------


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize(
    ("n_inputs", "n_targets", "residual"),
    [(1, 1, True), (3, 2, True), (3, 1, False), (2, 2, False)],
    ids=["one-column", "features-and-targets", "features-no-residual", "targets-no-residual"],
)
def test_numpy_network_matches_keras_predict(
    cell: str, bidirectional: bool, layers: int, n_inputs: int, n_targets: int, residual: bool, tmp_path: Path
) -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, n_inputs, n_targets),
        cell=cell,
        bidirectional=bidirectional,
        units=6,
        layers=layers,
        dropout=0.2 if layers > 1 else 0.0,
        residual=residual,
    )
    _randomise(model)
    model.save(tmp_path / "model.keras")
    network = network_from_archive(*_archive(tmp_path / "model.keras"))

    windows = _windows(n_inputs)
    expected = model.predict(windows, verbose=0)
    assert network.input_shape == (None, LOOKBACK, n_inputs)
    assert network.output_shape == (None, HORIZON, n_targets)
    np.testing.assert_allclose(network.predict(windows), expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(network.predict(windows[:1]), expected[:1], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("window_norm", ["last", "mean"])
@pytest.mark.parametrize("segment", [1, 4, 5], ids=["rows", "segments", "padded-segments"])
@pytest.mark.parametrize(("n_inputs", "n_targets"), [(1, 1), (3, 2)], ids=["one-column", "features"])
def test_numpy_network_matches_keras_with_window_norm_segments_and_linear_skip(
    window_norm: str, segment: int, n_inputs: int, n_targets: int, tmp_path: Path
) -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, n_inputs, n_targets),
        cell="gru",
        units=6,
        window_norm=window_norm,
        segment=segment,
        linear_skip=True,
    )
    _assert_numpy_matches_keras(model, n_inputs, tmp_path)


@pytest.mark.parametrize("trend_window", [2, 5, 24], ids=["even", "odd", "longer-than-the-window"])
def test_numpy_network_matches_keras_with_a_trend_and_seasonal_linear_path(
    trend_window: int, tmp_path: Path
) -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, 3, 2),
        cell="lstm",
        units=6,
        segment=4,
        linear_skip=True,
        window_norm="last",
        trend_window=trend_window,
    )
    _assert_numpy_matches_keras(model, 3, tmp_path)


@pytest.mark.parametrize("season", [2, 3, 12], ids=["divides-the-horizon", "cropped", "one-copy"])
@pytest.mark.parametrize(("n_inputs", "n_targets"), [(1, 1), (3, 2)], ids=["one-column", "features"])
def test_numpy_network_matches_keras_with_the_seasonal_level(
    season: int, n_inputs: int, n_targets: int, tmp_path: Path
) -> None:
    model = build_model(
        ModelShape(LOOKBACK, HORIZON, n_inputs, n_targets),
        cell="gru",
        units=6,
        segment=4,
        linear_skip=True,
        window_norm="season",
        season=season,
    )
    _assert_numpy_matches_keras(model, n_inputs, tmp_path)


def _assert_numpy_matches_keras(model: object, n_inputs: int, tmp_path: Path) -> None:
    """Randomise ``model``'s weights, save it, and compare the NumPy evaluator with Keras."""
    _randomise(model)
    model.save(tmp_path / "model.keras")  # type: ignore[attr-defined]
    network = network_from_archive(*_archive(tmp_path / "model.keras"))
    windows = _windows(n_inputs)
    np.testing.assert_allclose(
        network.predict(windows),
        model.predict(windows, verbose=0),
        rtol=0,
        atol=TOLERANCE,  # type: ignore[attr-defined]
    )


# --- real bundles --------------------------------------------------------------------------

BUNDLE_SETTINGS = {
    "lstm-targets-features": {"target": "Close,Open", "features": ("Volume",)},
    "gru-bidirectional-2": {"model": "gru", "bidirectional": True, "layers": 2, "dropout": 0.2},
    "simple-rnn-no-residual": {
        "model": "simple_rnn",
        "window_norm": "none",
        "residual": False,
        "linear_skip": False,
        "features": ("High",),
    },
    "lstm-mean-norm-segments": {"window_norm": "mean", "segment": 5, "features": ("Volume",)},
    "gru-trend-window": {"trend_window": 7},
}


@pytest.fixture(scope="module", params=sorted(BUNDLE_SETTINGS))
def bundle(
    request: pytest.FixtureRequest, prices_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("runs") / request.param
    rnncast.train(
        prices_csv, out=out, lookback=LOOKBACK, horizon=HORIZON, **FAST, **BUNDLE_SETTINGS[request.param]
    )
    return out


def _forecast_both_ways(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.DataFrame, pd.DataFrame]:
    monkeypatch.delenv(INFERENCE_ENV, raising=False)
    numpy_frame = rnncast.forecast(bundle, ledger=False).frame
    monkeypatch.setenv(INFERENCE_ENV, "keras")
    keras_frame = rnncast.forecast(bundle, ledger=False).frame
    monkeypatch.delenv(INFERENCE_ENV)
    return numpy_frame, keras_frame


def _assert_same_forecast(bundle: Path, numpy_frame: pd.DataFrame, keras_frame: pd.DataFrame) -> None:
    """Equal to ``TOLERANCE`` in scaled units (the scaler's scale of each target)."""
    scale = load_bundle(bundle, with_model=False).scaler
    assert numpy_frame.index.equals(keras_frame.index)
    assert list(numpy_frame.columns) == list(keras_frame.columns)
    for column in keras_frame.columns:
        if column not in scale.columns:
            continue  # an id column
        unit = scale.scale[scale.columns.index(column)]
        np.testing.assert_allclose(numpy_frame[column], keras_frame[column], rtol=0, atol=TOLERANCE * unit)


def test_trained_bundles_predict_and_forecast_the_keras_numbers(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_bundle(bundle, with_model=False)
    network = load_network(loaded)
    assert isinstance(network, NumpyNetwork)
    keras_model = attach_model(loaded).model
    windows = _windows(network.input_shape[-1], count=40)
    np.testing.assert_allclose(
        network.predict(windows), keras_model.predict(windows, verbose=0), atol=TOLERANCE
    )
    _assert_same_forecast(bundle, *_forecast_both_ways(bundle, monkeypatch))

    # The same bundle with every weight random, saved and verified as a bundle again.
    forged = tmp_path / "random"
    shutil.copytree(bundle, forged)
    _randomise(keras_model, seed=3)
    _replace_model(forged, keras_model)
    network = load_network(load_bundle(forged, with_model=False))
    assert isinstance(network, NumpyNetwork)
    np.testing.assert_allclose(
        network.predict(windows), keras_model.predict(windows, verbose=0), atol=TOLERANCE
    )
    _assert_same_forecast(forged, *_forecast_both_ways(forged, monkeypatch))


def test_predict_windows_takes_either_network(bundle: Path, prices_csv: Path) -> None:
    loaded = load_bundle(bundle, with_model=False)
    columns = list(loaded.scaler.columns)
    scaled = loaded.scaler.transform(pd.read_csv(prices_csv)[columns].to_numpy())
    starts = np.arange(LOOKBACK, len(scaled) - HORIZON + 1)
    network = load_network(loaded)
    by_numpy = predict_windows(network, scaled, starts, LOOKBACK, batch_size=64)
    by_keras = predict_windows(attach_model(loaded).model, scaled, starts, LOOKBACK)
    assert by_numpy.shape == by_keras.shape == (len(starts), HORIZON, len(loaded.targets))
    np.testing.assert_allclose(by_numpy, by_keras, rtol=0, atol=TOLERANCE)


@pytest.fixture(scope="module")
def base_bundle(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default network (an LSTM with the residual) on the MSFT closes."""
    out = tmp_path_factory.mktemp("runs") / "base"
    rnncast.train(prices_csv, out=out, lookback=LOOKBACK, horizon=HORIZON, **FAST)
    return out


@pytest.fixture(scope="module")
def stocks_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "stocks"
    rnncast.train(
        SAMPLE_DATA / "stocks_monthly.csv", out=out, id_col="symbol", lookback=12, horizon=3, **FAST
    )
    return out


def test_a_global_model_forecasts_the_keras_numbers(
    stocks_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(load_network(load_bundle(stocks_bundle, with_model=False)), NumpyNetwork)
    numpy_frame, keras_frame = _forecast_both_ways(stocks_bundle, monkeypatch)
    assert numpy_frame["symbol"].tolist() == keras_frame["symbol"].tolist()
    loaded = load_bundle(stocks_bundle, with_model=False)
    for symbol, scaler in loaded.series_scalers.items():
        ours, theirs = numpy_frame[numpy_frame.symbol == symbol], keras_frame[keras_frame.symbol == symbol]
        unit = scaler.scale[0]
        np.testing.assert_allclose(ours["price"], theirs["price"], rtol=0, atol=TOLERANCE * unit)


# --- the command, in a fresh process --------------------------------------------------------

_CLI_SCRIPT = """
import json, sys
from typer.testing import CliRunner
from rnncast.cli import app
runs = []
for bundle, output in zip(sys.argv[1::2], sys.argv[2::2]):
    result = CliRunner().invoke(app, ["forecast", "-m", bundle, "-o", output, "-q"])
    runs.append([result.exit_code, result.output])
print(json.dumps({"runs": runs, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


def _cli_forecast(pairs: list[tuple[Path, Path]], inference: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != INFERENCE_ENV}
    if inference is not None:
        env[INFERENCE_ENV] = inference
    argv = [str(p) for pair in pairs for p in pair]
    done = subprocess.run(
        [sys.executable, "-c", _CLI_SCRIPT, *argv], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(code == 0 for code, _ in report["runs"]), report["runs"]
    return report


def test_cli_forecast_writes_the_keras_numbers_without_importing_tensorflow(
    base_bundle: Path, stocks_bundle: Path, tmp_path: Path
) -> None:
    single = Path(shutil.copytree(base_bundle, tmp_path / "single"))  # the ledger is written beside it
    bundles = [single, stocks_bundle]
    numpy_run = _cli_forecast([(b, tmp_path / f"{b.name}-numpy.csv") for b in bundles], None)
    keras_run = _cli_forecast([(b, tmp_path / f"{b.name}-keras.csv") for b in bundles], "keras")
    assert not numpy_run["tensorflow"] and not numpy_run["keras"]
    assert keras_run["tensorflow"]
    for b in bundles:
        ours = pd.read_csv(tmp_path / f"{b.name}-numpy.csv")
        theirs = pd.read_csv(tmp_path / f"{b.name}-keras.csv")
        assert ours.columns.tolist() == theirs.columns.tolist()
        numbers = ours.select_dtypes("number").columns
        assert ours.drop(columns=numbers).equals(theirs.drop(columns=numbers))  # times and ids
        scales = load_bundle(b, with_model=False)
        unit = max(max(s.scale) for s in [scales.scaler, *(scales.series_scalers or {}).values()])
        np.testing.assert_allclose(ours[numbers], theirs[numbers], rtol=0, atol=TOLERANCE * unit)


# --- safety and fall-back -----------------------------------------------------------------


@pytest.fixture
def bundle_copy(base_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(base_bundle, tmp_path / "copy"))


def test_tampered_weights_are_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "model.keras"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside model.weights.h5 (stored uncompressed)
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        rnncast.forecast(bundle_copy, ledger=False)


def test_a_model_replaced_after_verification_is_refused(bundle_copy: Path) -> None:
    loaded = load_bundle(bundle_copy, with_model=False)
    model = bundle_copy / "model.keras"
    model.write_bytes(model.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="changed while it was being loaded"):
        forecast_network(loaded)


def test_a_forged_archive_is_refused_not_evaluated(bundle_copy: Path) -> None:
    """A foreign class with a matching checksum is an error on the NumPy path too, not a
    fall-back to Keras."""
    model = bundle_copy / "model.keras"
    with zipfile.ZipFile(model) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["class_name"] = "Lambda"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(model, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _rechecksum(bundle_copy)
    with pytest.raises(BundleError, match="Lambda"):
        rnncast.forecast(bundle_copy, ledger=False)


def test_an_unknown_architecture_falls_back_to_keras(
    bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An LSTM with relu (allowed by the archive check, never built by rnncast) runs in Keras."""
    from rnncast import backend

    keras = backend.keras()
    original = attach_model(load_bundle(bundle_copy, with_model=False)).model
    config = original.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "LSTM":
            layer["config"]["activation"] = "relu"
    changed = keras.Model.from_config(config)
    _randomise(changed)
    _replace_model(bundle_copy, changed)

    loaded = load_bundle(bundle_copy, with_model=False)
    assert load_network(loaded) is None
    assert not isinstance(forecast_network(loaded), NumpyNetwork)
    frame = rnncast.forecast(bundle_copy, ledger=False).frame
    recent = pd.read_csv(json.loads((bundle_copy / "metadata.json").read_text())["data"]["path"])
    window = loaded.scaler.transform(recent[list(loaded.scaler.columns)].to_numpy()[-LOOKBACK:])
    expected = loaded.scaler.inverse(
        changed.predict(window[None].astype(np.float32), verbose=0)[0], loaded.targets
    )
    np.testing.assert_allclose(frame.to_numpy(), expected, rtol=1e-6)


def test_the_environment_variable_forces_keras(bundle_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_bundle(bundle_copy, with_model=False)
    assert isinstance(forecast_network(loaded), NumpyNetwork)
    monkeypatch.setenv(INFERENCE_ENV, "keras")
    assert not isinstance(forecast_network(loaded), NumpyNetwork)


def _mutated(path: Path, change: object) -> tuple[object, bytes]:
    config, weights = _archive(path)
    change(config)
    return config, weights


def _layer(config: dict, class_name: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == class_name)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: _layer(c, "LSTM")["config"].update(dtype="mixed_float16"),
        lambda c: _layer(c, "Dense")["config"].update(
            dtype={"class_name": "DTypePolicy", "module": "keras", "config": {"name": "bfloat16"}}
        ),
        lambda c: _layer(c, "LSTM")["config"].update(some_new_option=True),
        lambda c: _layer(c, "LSTM")["config"].update(return_state=True),
        lambda c: _layer(c, "LSTM")["config"].update(stateful=True),
        lambda c: _layer(c, "LSTM")["config"].update(recurrent_activation="hard_sigmoid"),
        lambda c: _layer(c, "Dense")["config"].update(activation="tanh"),
        lambda c: _layer(c, "Dense")["inbound_nodes"][0]["kwargs"].update(training=True),
        lambda c: _layer(c, "Cropping1D")["config"].update(cropping=[0, 0]),
        lambda c: _layer(c, "Dropout").update(class_name="GaussianDropout"),
        lambda c: c.update(class_name="Sequential"),
    ],
    ids=[
        "mixed-precision",
        "bfloat16-head",
        "unknown-key",
        "return-state",
        "stateful",
        "hard-sigmoid",
        "tanh-head",
        "training-call",
        "other-crop",
        "unknown-layer",
        "sequential",
    ],
)
def test_settings_it_does_not_reproduce_are_unsupported(change: object, tmp_path: Path) -> None:
    model = build_model(ModelShape(LOOKBACK, HORIZON, 1, 1), units=4, layers=2, dropout=0.1)
    model.save(tmp_path / "model.keras")
    network_from_archive(*_archive(tmp_path / "model.keras"))  # the unchanged model is fine
    with pytest.raises((Unsupported, KeyError, TypeError, ValueError)):
        network_from_archive(*_mutated(tmp_path / "model.keras", change))


def test_a_float32_policy_on_the_head_is_tolerated(tmp_path: Path) -> None:
    model = build_model(ModelShape(LOOKBACK, HORIZON, 2, 1), units=4)
    _randomise(model)
    model.save(tmp_path / "model.keras")
    config, weights = _archive(tmp_path / "model.keras")
    _layer(config, "Dense")["config"]["dtype"] = "float32"
    windows = _windows(2)
    np.testing.assert_allclose(
        network_from_archive(config, weights).predict(windows),
        model.predict(windows, verbose=0),
        atol=TOLERANCE,
    )


def test_a_mixed_precision_network_is_left_to_keras(tmp_path: Path) -> None:
    """float16 recurrent layers cannot be reproduced to 1e-5 in float64: Keras runs them."""
    model = build_model(ModelShape(LOOKBACK, HORIZON, 2, 1), units=4, mixed_precision=True)
    model.save(tmp_path / "model.keras")
    with pytest.raises(Unsupported, match="mixed_float16"):
        network_from_archive(*_archive(tmp_path / "model.keras"))
