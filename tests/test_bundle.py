"""Bundles are refused, with a clear message and exit code 4, whenever they cannot be trusted."""

from __future__ import annotations

import json
import logging
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.errors import BundleError, ExitCode
from tests.conftest import FAST

COMMITTED_BUNDLE = Path(__file__).parent / "data" / "bundle_v1"


@pytest.fixture(scope="module")
def trained(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "prices"
    rnncast.train(prices_csv, out=out, lookback=10, horizon=3, **FAST)
    return out


@pytest.fixture
def bundle_copy(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    return copy


def _refused(path: Path, match: str) -> None:
    with pytest.raises(BundleError, match=match) as caught:
        load_bundle(path)
    assert caught.value.exit_code == ExitCode.MODEL


def test_round_trip_gives_the_same_predictions(bundle_copy: Path, trained: Path) -> None:
    windows = np.random.default_rng(0).normal(size=(2, 10, 1)).astype("float32")
    first, second = load_bundle(trained), load_bundle(bundle_copy)
    np.testing.assert_array_equal(
        first.model.predict(windows, verbose=0), second.model.predict(windows, verbose=0)
    )


def test_missing_bundle(tmp_path: Path) -> None:
    _refused(tmp_path / "nothing", "no model bundle")


def test_truncated_model_file(bundle_copy: Path) -> None:
    model = bundle_copy / "model.keras"
    model.write_bytes(model.read_bytes()[:1000])
    _refused(bundle_copy, "checksum")


def test_edited_scaler(bundle_copy: Path) -> None:
    scaler = json.loads((bundle_copy / "scaler.json").read_text())
    scaler["columns"]["Close"]["offset"] += 1
    (bundle_copy / "scaler.json").write_text(json.dumps(scaler))
    _refused(bundle_copy, "checksum")


def test_newer_format_version(bundle_copy: Path) -> None:
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    metadata["format_version"] = 99
    (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
    _refused(bundle_copy, "(?i)upgrade rnncast")


def test_metadata_that_is_not_json(bundle_copy: Path) -> None:
    (bundle_copy / "metadata.json").write_text("{not json")
    _refused(bundle_copy, "not valid JSON")


def test_a_lambda_layer_is_refused_not_executed(bundle_copy: Path, tmp_path: Path) -> None:
    """A hostile model.keras (with matching checksum) must not run code when loaded."""
    import keras

    marker = tmp_path / "pwned"
    namespace: dict = {}
    # The path is a literal inside the function's code, so it travels with the saved bytecode.
    exec(f"def touch(x):\n    open({str(marker)!r}, 'w').close()\n    return x", namespace)
    inputs = keras.Input((10, 1))
    hostile = keras.layers.Lambda(namespace["touch"])(inputs)
    outputs = keras.layers.Reshape((10, 1))(keras.layers.Dense(1)(hostile))
    keras.Model(inputs, outputs).save(bundle_copy / "model.keras")
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    from rnncast.fileio import sha256_file

    metadata["files"]["model.keras"] = sha256_file(bundle_copy / "model.keras")
    (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
    marker.unlink(missing_ok=True)
    _refused(bundle_copy, "refers to a Lambda object")
    assert not marker.exists()


def _replace_model(bundle: Path, model: object) -> None:
    """Save ``model`` as the bundle's model.keras with a matching checksum (a forged bundle)."""

    model.save(bundle / "model.keras")
    _rechecksum(bundle)


def _rechecksum(bundle: Path) -> None:
    from rnncast.fileio import sha256_file

    metadata = json.loads((bundle / "metadata.json").read_text())
    for name in metadata["files"]:
        metadata["files"][name] = sha256_file(bundle / name)
    (bundle / "metadata.json").write_text(json.dumps(metadata))


def test_a_custom_layer_is_refused_before_its_code_can_run(bundle_copy: Path, tmp_path: Path) -> None:
    """A registered custom class whose constructor has side effects: refused from the archive's
    JSON, so its code never runs (not even with the class importable in this process)."""
    import keras

    marker = tmp_path / "constructed"

    @keras.saving.register_keras_serializable(package="evil")
    class Touch(keras.layers.Layer):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            marker.touch()

        def call(self, x: object) -> object:
            return x

    inputs = keras.Input((10, 1))
    outputs = keras.layers.Cropping1D((0, 7))(keras.layers.Dense(1)(Touch()(inputs)))
    _replace_model(bundle_copy, keras.Model(inputs, outputs))
    keras.saving.get_custom_objects().pop("evil>Touch", None)  # leave no global registration behind
    marker.unlink()
    _refused(bundle_copy, "custom object")
    assert not marker.exists()
    # info reads no model, yet refuses the forged archive too.
    with pytest.raises(BundleError, match="custom object"):
        load_bundle(bundle_copy, with_model=False)


def test_a_truncated_model_with_a_matching_checksum_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "model.keras"
    model.write_bytes(model.read_bytes()[:2000])
    _rechecksum(bundle_copy)
    _refused(bundle_copy, "not a Keras model archive")


def test_extra_files_inside_the_model_archive_are_refused(bundle_copy: Path) -> None:
    with zipfile.ZipFile(bundle_copy / "model.keras", "a") as archive:
        archive.writestr("../../outside.py", "print('hi')")
    _rechecksum(bundle_copy)
    _refused(bundle_copy, "unexpected files")


def test_a_scaler_whose_columns_disagree_with_the_model_is_refused(bundle_copy: Path) -> None:
    scaler = json.loads((bundle_copy / "scaler.json").read_text())
    scaler["columns"] = {"Volume": scaler["columns"]["Close"]}
    (bundle_copy / "scaler.json").write_text(json.dumps(scaler))
    _rechecksum(bundle_copy)
    _refused(bundle_copy, "disagree with the model")


def test_a_model_saved_by_another_keras_major_version_is_refused(bundle_copy: Path) -> None:
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    metadata["versions"]["keras"] = "2.15.0"
    (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
    _refused(bundle_copy, "saved by Keras 2.15.0")


def test_a_bundle_from_another_rnncast_release_loads_with_a_note_when_newer(
    bundle_copy: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI's tests route the "rnncast" logger to the terminal only; let caplog see it.
    monkeypatch.setattr(logging.getLogger("rnncast"), "propagate", True)
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    for made_by, noted in (("0.0.1", False), ("99.0.0", True)):
        metadata["versions"]["rnncast"] = made_by
        (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
        caplog.clear()
        with caplog.at_level("WARNING", logger="rnncast"):
            bundle = load_bundle(bundle_copy, with_model=False)
        assert bundle.metadata["versions"]["rnncast"] == made_by
        assert ("made by rnncast 99.0.0" in caplog.text) is noted


def test_committed_bundle_still_loads_and_forecasts(prices_csv: Path) -> None:
    """Guards the bundle format: a bundle written by an earlier release must keep working."""
    assert zipfile.is_zipfile(COMMITTED_BUNDLE / "model.keras")
    result = rnncast.forecast(COMMITTED_BUNDLE, data=prices_csv, ledger=False)  # keep tests/data as it is
    assert len(result.frame) == 3 and np.isfinite(result.frame.to_numpy()).all()
    assert result.frame.index[0] > pd.Timestamp(pd.read_csv(prices_csv)["Date"].iloc[-1])


def test_a_crash_between_the_two_renames_is_recovered(bundle_copy: Path) -> None:
    """replace_directory renames the old bundle aside, then the new one in: simulate dying
    after the first rename."""
    retired = bundle_copy.with_name(f".{bundle_copy.name}.old-deadbeef")
    bundle_copy.rename(retired)
    bundle = load_bundle(bundle_copy)
    assert bundle.path == bundle_copy and not retired.exists()


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("data", "path", None, "data.path"),
        ("data", "time_col", 5, "data.time_col"),
        ("data", "frequency", "XYZ", "data.frequency"),
        ("split", "test_start", "garbage", "split.test_start"),
        ("model", "targets", [], "model.targets"),
        ("config", "units", -3, "--units"),
    ],
)
def test_damaged_metadata_fields_are_a_bundle_error(
    bundle_copy: Path, section: str, key: str, value: object, fragment: str
) -> None:
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    if value is None:
        del metadata[section][key]
    else:
        metadata[section][key] = value
    (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
    _refused(bundle_copy, re.escape(fragment))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_network_rnncast_builds_passes_the_archive_check(
    cell: str, bidirectional: bool, tmp_path: Path
) -> None:
    """The allowlist of Keras classes covers every model option (or training could not save)."""
    from rnncast.bundle import check_model_archive
    from rnncast.models import ModelShape, build_model, compile_model, unroll_recursive

    # (network options, optimizer options): every architecture, option and optimizer at least once.
    attention_and_norm = {"attention": True, "layer_norm": True}
    variants = [
        ({"residual": False}, {}),
        ({"residual": True, **attention_and_norm}, {"optimizer": "adamw", "schedule": "cosine"}),
        ({"architecture": "seq2seq", "layer_norm": True}, {"optimizer": "rmsprop", "schedule": "plateau"}),
        (
            {"architecture": "seq2seq", "attention": True, "residual": False},
            {"optimizer": "sgd", "loss_scaling": True},
        ),
        ({"recursive": True, **attention_and_norm}, {"weight_decay": 0.01}),
    ]
    for network, training in variants:
        recursive = network.pop("recursive", False)
        # A recursive network's step reads and predicts the targets only (one step at a time).
        shape = ModelShape(8, 1, 2, 2) if recursive else ModelShape(8, 3, 3, 2)
        model = build_model(
            shape, cell=cell, bidirectional=bidirectional, units=4, layers=2, dropout=0.2, **network
        )
        if recursive:
            model = unroll_recursive(model, 3)
        compile_model(model, 1e-3, 1.0, decay_steps=10, **training)
        model.save(tmp_path / "model.keras")
        check_model_archive(tmp_path / "model.keras")


def _forge_archive(bundle: Path, config_json: bytes) -> None:
    """Rewrite model.keras with ``config_json`` (keeping its weights) and fix the checksums."""
    model = bundle / "model.keras"
    with zipfile.ZipFile(model) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = config_json
    with zipfile.ZipFile(model, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    _rechecksum(bundle)


def test_a_zip_bomb_config_is_refused_without_decompressing_it(bundle_copy: Path) -> None:
    with zipfile.ZipFile(bundle_copy / "model.keras") as archive:
        config = archive.read("config.json")
    _forge_archive(bundle_copy, config + b" " * (64 << 20))  # 64 MiB of spaces, ~64 KiB zipped
    _refused(bundle_copy, "implausibly large or compressed config.json")


def test_deeply_nested_configs_and_metadata_are_refused_not_crashing(bundle_copy: Path) -> None:
    deep = b'{"a": ' * 5000 + b"1" + b"}" * 5000
    _forge_archive(bundle_copy, deep)
    _refused(bundle_copy, "not a Keras model archive|nested")
    nested = {"class_name": "Functional", "module": "keras", "config": {}}
    node = nested
    for _ in range(200):
        node["config"] = {"layer": {"class_name": "Dense", "module": "keras.layers", "config": {}}}
        node = node["config"]["layer"]
    _forge_archive(bundle_copy, json.dumps(nested).encode())
    _refused(bundle_copy, "nested more than")
    (bundle_copy / "metadata.json").write_text("[" * 100_000)
    _refused(bundle_copy, "not valid JSON")


def test_a_keras_layer_rnncast_never_uses_is_refused(bundle_copy: Path) -> None:
    """Built-in but foreign (StringLookup reads files; TorchModuleWrapper unpickles)."""
    with zipfile.ZipFile(bundle_copy / "model.keras") as archive:
        config = archive.read("config.json").decode()
    _forge_archive(
        bundle_copy, config.replace('"class_name": "Reshape"', '"class_name": "TorchModuleWrapper"').encode()
    )
    _refused(bundle_copy, "a TorchModuleWrapper object")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m["config"].__setitem__("target", 5), "--target must name columns"),
        (lambda m: m["config"].__setitem__("lookback", None), "config.lookback"),
        (lambda m: m.pop("created_at"), "created_at"),
        (lambda m: m["training"].__setitem__("epochs_run", "many"), "training.epochs_run"),
        (lambda m: m["versions"].__setitem__("keras", 3), "versions"),
        (lambda m: m["split"].__setitem__("test_start", "2017-01-03T00:00:00+00:00"), "time zones"),
    ],
)
def test_forged_metadata_is_a_bundle_error_for_info_too(
    bundle_copy: Path, edit: object, fragment: str
) -> None:
    metadata = json.loads((bundle_copy / "metadata.json").read_text())
    edit(metadata)
    (bundle_copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match=re.escape(fragment)):
        load_bundle(bundle_copy, with_model=False)


def test_data_whose_time_zones_differ_from_the_training_data_is_refused(
    trained: Path, tmp_path: Path
) -> None:
    from rnncast.errors import DataError

    metadata = json.loads((trained / "metadata.json").read_text())
    frame = pd.read_csv(metadata["data"]["path"])
    frame["Date"] = pd.to_datetime(frame["Date"]).dt.tz_localize("UTC")
    aware = tmp_path / "aware.csv"
    frame.to_csv(aware, index=False)
    for call in (rnncast.evaluate, rnncast.forecast):
        with pytest.raises(DataError, match="with UTC offsets"):
            call(trained, data=aware)


def test_a_flat_recent_stretch_is_fine_input_for_forecasting(trained: Path, tmp_path: Path) -> None:
    """Only training refuses a constant target; a trained model forecasts from flat data."""
    metadata = json.loads((trained / "metadata.json").read_text())
    frame = pd.read_csv(metadata["data"]["path"]).tail(60)
    frame["Close"] = 50.0
    flat = tmp_path / "flat.csv"
    frame.to_csv(flat, index=False)
    result = rnncast.forecast(trained, data=flat)
    assert np.isfinite(result.frame.to_numpy()).all()
