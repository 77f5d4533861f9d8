"""rnncast doctor and the cuDNN eligibility check: runs on a CPU-only machine, needs no GPU."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncast import backend, doctor
from rnncast.cli import app
from rnncast.cudnn import config_problems, cudnn_problems, recurrent_layers
from rnncast.errors import ExitCode
from rnncast.models import ModelShape, build_model

COMMITTED_BUNDLE = Path(__file__).parent / "data" / "bundle_v1"
FAST_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]
SHAPE = ModelShape(lookback=10, horizon=3, n_inputs=2, n_targets=1)


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def gpus() -> list[Any]:
    return backend.tensorflow().config.list_physical_devices("GPU")


def keras_model(*recurrent: Any) -> Any:
    """A model of the given recurrent layers, stacked, over windows of 10 steps of 2 columns."""
    keras = backend.keras()
    inputs = keras.Input(shape=(10, 2))
    hidden = inputs
    for layer in recurrent:
        hidden = layer(hidden)
    return keras.Model(inputs, hidden)


# --- cuDNN eligibility -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the defaults: one LSTM layer
        {"cell": "gru"},
        {"cell": "lstm", "bidirectional": True, "layers": 2, "dropout": 0.2},  # Dropout layers are fine
    ],
)
def test_rnncast_networks_are_eligible(settings: dict[str, Any]) -> None:
    model = build_model(SHAPE, **settings)
    assert cudnn_problems(model) == []
    assert config_problems(model.get_config()) == []
    assert recurrent_layers(model)  # the check did find the recurrent layers


def test_default_network_has_one_lstm_layer_checked() -> None:
    assert [layer.name for layer in recurrent_layers(build_model(SHAPE))] == ["lstm_1"]


def test_simple_rnn_has_no_cudnn_kernel() -> None:
    model = build_model(SHAPE, cell="simple_rnn", layers=2)
    problems = cudnn_problems(model)
    assert len(problems) == 2
    assert problems[0].startswith("simple_rnn_1: SimpleRNN has no cuDNN kernel")
    assert "--model lstm" in problems[0]
    assert config_problems(model.get_config()) == problems


def test_recurrent_dropout_disables_cudnn() -> None:
    keras = backend.keras()
    model = keras_model(keras.layers.LSTM(4, recurrent_dropout=0.2, name="lstm_1"))
    assert cudnn_problems(model) == [
        "lstm_1: recurrent_dropout=0.2 disables the cuDNN kernel; use --dropout (between layers) instead"
    ]
    assert config_problems(model.get_config()) == cudnn_problems(model)


def test_every_setting_keras_checks_is_named() -> None:
    keras = backend.keras()
    model = keras_model(
        keras.layers.GRU(
            4,
            activation="relu",
            recurrent_activation="hard_sigmoid",
            use_bias=False,
            reset_after=False,
            unroll=True,
            return_sequences=True,
            name="gru_1",
        ),
        keras.layers.LSTM(4, use_cudnn=False, name="lstm_2"),
    )
    problems = cudnn_problems(model)
    text = "\n".join(problems)
    for setting in (
        "activation='relu'",
        "recurrent_activation='hard_sigmoid'",
        "use_bias=False",
        "reset_after=False",
        "unroll=True",
    ):
        assert f"gru_1: {setting} disables the cuDNN kernel" in text
    assert "lstm_2: use_cudnn=False turns the cuDNN kernel off" in text
    assert len(problems) == 6
    # use_cudnn is not serialised (a loaded model is back on "auto"): the config sees the rest.
    assert config_problems(model.get_config()) == problems[:5]


def test_bidirectional_checks_forward_and_backward() -> None:
    keras = backend.keras()
    wrapped = keras.layers.Bidirectional(keras.layers.LSTM(4, recurrent_dropout=0.1, name="lstm"), name="bi")
    problems = cudnn_problems(keras_model(wrapped))
    assert [p.split(":")[0] for p in problems] == ["bi/forward_lstm", "bi/backward_lstm"]
    assert all("recurrent_dropout=0.1" in p for p in problems)


def test_activation_functions_keras_accepts() -> None:
    keras, tf = backend.keras(), backend.tensorflow()
    accepted = keras_model(keras.layers.LSTM(4, activation=keras.ops.tanh, recurrent_activation=tf.sigmoid))
    assert cudnn_problems(accepted) == []
    # NumPy's tanh is named "tanh" but is not a function Keras's cuDNN check accepts.
    rejected = cudnn_problems(keras_model(keras.layers.LSTM(4, activation=np.tanh, name="lstm_np")))
    assert rejected == ["lstm_np: activation='numpy.tanh' disables the cuDNN kernel; use activation='tanh'"]


def test_generic_rnn_layer_over_a_cell_has_no_cudnn_kernel() -> None:
    keras = backend.keras()
    model = keras_model(keras.layers.RNN(keras.layers.LSTMCell(4), name="loop"))
    assert cudnn_problems(model) == [
        "loop: a generic RNN layer over LSTMCell has no cuDNN kernel; use keras.layers.LSTM or GRU"
    ]
    assert config_problems(model.get_config()) == cudnn_problems(model)


def test_model_without_recurrent_layers_has_no_problems() -> None:
    keras = backend.keras()
    assert cudnn_problems(keras_model(keras.layers.Dense(3))) == []


# --- the thread-quota reading --------------------------------------------------------------------


def test_cpu_quota_from_cgroup_files(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert doctor.cpu_quota(tmp_path) == 2.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert doctor.cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert doctor.cpu_quota(tmp_path) == 0.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert doctor.cpu_quota(tmp_path) is None
    assert doctor.cpu_quota(tmp_path / "missing") is None


def test_a_quota_below_the_cpus_suggests_thread_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(doctor, "cpu_quota", lambda: 0.5)
    findings = doctor.diagnose()
    assert findings["threads"]["cpu_quota"] == 0.5
    assert any("TF_NUM_INTRAOP_THREADS=1" in note for note in findings["notes"]), findings["notes"]


# --- rnncast doctor ------------------------------------------------------------------------------


def test_doctor_json_on_this_machine() -> None:
    result = run("doctor", "--json")
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    assert set(findings) >= {
        "versions",
        "build",
        "devices",
        "gpu_count",
        "mixed_precision",
        "xla",
        "threads",
        "model",
        "notes",
    }
    tf, keras = backend.tensorflow(), backend.keras()
    versions = findings["versions"]
    assert versions["tensorflow"] == tf.__version__ and versions["keras"] == keras.__version__
    assert versions["keras_backend"] == "tensorflow"
    assert set(versions) >= {"python", "platform", "rnncast"}
    assert {"cuda", "cuda_version", "cudnn_version"} <= set(findings["build"])
    assert any(device["type"] == "CPU" for device in findings["devices"])
    assert findings["gpu_count"] == len(gpus())
    threads = findings["threads"]
    assert threads["cpu_count"] == os.cpu_count()
    assert 1 <= threads["usable_cpus"] <= threads["cpu_count"]
    assert threads["intra_op"] >= 0 and threads["inter_op"] >= 0
    assert set(threads["environment"]) == set(doctor.THREAD_VARIABLES)
    assert isinstance(findings["xla"]["built_with_xla"], bool)
    model = findings["model"]
    assert model["source"] == "defaults" and model["bundle"] is None
    assert model["network"] == "1 x lstm(64), dropout 0"
    assert model["cudnn_eligible"] is True and model["cudnn_problems"] == []
    if not gpus():  # this CPU machine: says so, and nothing is promised of a GPU
        assert findings["mixed_precision"]["would_help"] is False
        assert model["cudnn_used"] is False
        assert any("GPU" in note and "CPU" in note for note in findings["notes"])


def test_doctor_text_output() -> None:
    result = run("doctor")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for key in ("tensorflow:", "keras:", "devices:", "threads:", "environment:", "model:", "cuDNN: eligible"):
        assert key in text, text
    assert "the default settings" in text
    if not gpus():
        assert "no GPU visible" in text


def test_doctor_on_a_committed_bundle(tmp_path: Path) -> None:
    bundle = shutil.copytree(COMMITTED_BUNDLE, tmp_path / "bundle")
    result = run("doctor", "--model", bundle, "--json")
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["model"]
    assert model["source"] == "bundle" and Path(model["bundle"]) == bundle.resolve()
    assert model["network"] == "1 x lstm(4), dropout 0"
    assert model["cudnn_eligible"] is True


def test_doctor_on_a_trained_simple_rnn_bundle(prices_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "simple"
    trained = run("train", prices_csv, "--out", out, "--model", "simple_rnn", "--quiet", *FAST_FLAGS)
    assert trained.exit_code == 0, trained.output
    result = run("doctor", "--model", out, "--json")
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["model"]
    assert model["cudnn_eligible"] is False
    assert model["recurrent_layers"] == ["simple_rnn_1"]
    assert model["cudnn_problems"][0].startswith("simple_rnn_1: SimpleRNN has no cuDNN kernel")
    text = run("doctor", "--model", out).stdout
    assert "cuDNN: not eligible (1 problem(s))" in text
    assert "- simple_rnn_1: SimpleRNN has no cuDNN kernel" in text


def test_doctor_bad_model_path_is_one_line(tmp_path: Path) -> None:
    result = run("doctor", "--model", tmp_path / "no-such-bundle")
    assert result.exit_code == ExitCode.MODEL, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no model bundle at"), result.stderr
    assert "Traceback" not in result.output
