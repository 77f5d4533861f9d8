"""Forecasting without TensorFlow: rnncast's own networks evaluated in NumPy from the bundle.

``import tensorflow`` costs seconds; a forecast is a few small matrix products. This module
reads the architecture from ``model.keras``'s config.json and the trained weights from its
model.weights.h5 (with h5py, which does not import TensorFlow), after the same integrity checks
as the Keras path (the recorded SHA-256, then :func:`rnncast.bundle.check_model_archive`), and
evaluates the network in float64 exactly as Keras 3 defines each layer.

Only the layers of :func:`rnncast.models.build_model`'s direct ``rnn`` networks are understood,
each with the settings it uses (tanh/sigmoid cells, GRU ``reset_after``, concatenating
``Bidirectional``, ``--layer-norm``'s LayerNormalization, a linear head, the residual's
crop/permute/repeat/add, ``--window-norm``'s subtraction, ``--segment``'s padding, reshape and
ReLU embedding, ``--linear-skip``'s flatten and dense), in float32 layers. Attention, seq2seq, recursive
and channel-independent (``TimeDistributed``) networks are left to Keras. Anything else (another
activation, a mixed-precision policy, an unknown key or layer) is not guessed at:
:func:`load_network` returns ``None`` and :func:`forecast_network` falls back to Keras.

``RNNCAST_INFERENCE=keras`` in the environment forces the Keras path (for benchmarks and for
debugging); any other value, or none, uses NumPy where it can.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnncast.bundle import MODEL_FILE, Bundle, attach_model, checked_model_copy
from rnncast.errors import BundleError

if TYPE_CHECKING:
    import h5py
    import keras

INFERENCE_ENV = "RNNCAST_INFERENCE"
PREDICT_BATCH = 1024  # windows per NumPy pass: bounds memory, vectorised enough to be fast

logger = logging.getLogger("rnncast")

Shape = tuple[int, ...]  # without the batch axis
Operation = Callable[[list[np.ndarray]], np.ndarray]

# h5 group name of each layer class in model.weights.h5 (Keras' snake_case of the class name).
_WEIGHT_SLOTS = {
    "InputLayer": "input_layer",
    "SimpleRNN": "simple_rnn",
    "LSTM": "lstm",
    "GRU": "gru",
    "Bidirectional": "bidirectional",
    "Dense": "dense",
    "Dropout": "dropout",
    "Reshape": "reshape",
    "Permute": "permute",
    "Add": "add",
    "Cropping1D": "cropping1d",
    "UpSampling1D": "up_sampling1d",
    "LayerNormalization": "layer_normalization",
    "Subtract": "subtract",
    "Flatten": "flatten",
    "ZeroPadding1D": "zero_padding1d",
    "GlobalAveragePooling1D": "global_average_pooling1d",
    "AveragePooling1D": "average_pooling1d",
    "Concatenate": "concatenate",
}
# Dense activations the evaluator reproduces: the heads are linear, segment embeddings ReLU.
_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
}
# Gate blocks per cell: LSTM i,f,c,o; GRU z,r,h; SimpleRNN one.
_GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
# Config keys that cannot change what a trained layer computes at inference (initialisers,
# regularisers and constraints act in training; dropout is the identity at inference).
_COMMON_KEYS = {"name", "trainable", "dtype"}
_TRAINING_ONLY = {
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
    "unit_forget_bias",  # an initialiser option
    "unroll",  # the same equations, unrolled or looped
    "zero_output_for_mask",  # no masks here (checked: mask is None)
}
_DENSE_KEYS = _COMMON_KEYS | _TRAINING_ONLY | {"units", "quantization_config", "lora_rank", "lora_alpha"}
_LAYER_NORM_KEYS = _COMMON_KEYS | {
    "axis",
    "epsilon",
    *(
        f"{weight}_{role}"
        for weight in ("beta", "gamma")
        for role in ("initializer", "regularizer", "constraint")
    ),
}
_FUNCTIONAL_KEYS = {"name", "trainable", "layers", "input_layers", "output_layers"}
_ENTRY_KEYS = {"module", "class_name", "config", "registered_name", "build_config", "name", "inbound_nodes"}


class Unsupported(Exception):
    """The bundle's network is not one this evaluator reproduces exactly (Keras is used)."""


def forecast_network(bundle: Bundle) -> NumpyNetwork | keras.Model:
    """The network a forecast runs: the NumPy evaluator, or the Keras model where it cannot be
    used (an architecture it does not know, or ``RNNCAST_INFERENCE=keras``).

    Raises:
        BundleError: the model file changed since the bundle was verified, or holds objects
            rnncast never writes (refused, never evaluated by either path).
    """
    if os.environ.get(INFERENCE_ENV, "").strip().lower() == "keras":
        return attach_model(bundle).model
    network = load_network(bundle)
    return network if network is not None else attach_model(bundle).model


def load_network(bundle: Bundle) -> NumpyNetwork | None:
    """The bundle's network as a :class:`NumpyNetwork`, or ``None`` if it is not one of the
    architectures this module reproduces exactly.

    Raises:
        BundleError: the integrity checks of :func:`rnncast.bundle.attach_model` failed.
    """
    config, weights = _checked_archive(bundle)
    n_targets = len(bundle.targets)
    n_inputs = n_targets + len(bundle.features)
    try:
        network = network_from_archive(config, weights)
        expected_in = (None, bundle.config.lookback, n_inputs)
        expected_out = (None, bundle.config.horizon, n_targets)
        if network.input_shape != expected_in or network.output_shape != expected_out:
            raise Unsupported(f"maps {network.input_shape} to {network.output_shape}, not {expected_out}")
    except Unsupported as exc:
        logger.debug("NumPy inference cannot run this model (%s); using Keras", exc)
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # A malformed config or weights file: Keras loads it next and reports it properly.
        logger.debug("NumPy inference cannot read this model (%s); using Keras", exc)
        return None
    return network


def network_from_archive(config: Any, weights: bytes) -> NumpyNetwork:
    """The network of a Keras archive's parsed config.json and model.weights.h5 bytes; no
    integrity checks (see :func:`load_network`).

    Raises:
        Unsupported: not a network this module reproduces exactly.
        OSError, ValueError, KeyError, TypeError, AttributeError, IndexError: a malformed
            config or weights file (h5py and the JSON structure fail in many ways).
    """
    import h5py  # ~40 ms, and only when forecasting

    with h5py.File(io.BytesIO(weights), "r") as file:
        return _build(config, *_read_weights(file))


def _checked_archive(bundle: Bundle) -> tuple[Any, bytes]:
    """config.json (parsed) and model.weights.h5 (bytes) from the bundle's model, once its bytes
    match the recorded checksum and the archive passes :func:`check_model_archive`."""
    checksum = bundle.metadata.get("files", {}).get(MODEL_FILE)
    with checked_model_copy(bundle.path / MODEL_FILE, checksum) as (_, data):
        try:  # only the checked bytes, never the file again
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return json.loads(archive.read("config.json")), archive.read("model.weights.h5")
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise BundleError(
                f"{MODEL_FILE} in {bundle.path} is not a Keras model archive ({exc})",
                "retrain the model or restore the bundle from a good copy",
            ) from exc


# --- the network -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    name: str
    inputs: tuple[str, ...]
    operation: Operation


class NumpyNetwork:
    """A functional graph of NumPy layer operations; a stand-in for ``keras.Model.predict``."""

    def __init__(
        self, input_name: str, nodes: list[_Node], output_name: str, input_shape: Shape, output_shape: Shape
    ) -> None:
        self._input_name = input_name
        self._nodes = nodes
        self._output_name = output_name
        self.input_shape: tuple[int | None, ...] = (None, *input_shape)
        self.output_shape: tuple[int | None, ...] = (None, *output_shape)

    def predict(self, x: np.ndarray, verbose: int = 0, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Outputs (windows x horizon x targets, float64) for input windows ``x``.

        ``x`` is cast to float32 first, as Keras would, so both paths see the same inputs.
        """
        del verbose  # Keras' signature; nothing is printed
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"expected windows of shape {self.input_shape[1:]}, got {x.shape[1:]}")
        if len(x) == 0:
            return np.empty((0, *self.output_shape[1:]))
        parts = [self._run(x[i : i + batch_size].astype(np.float64)) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts)

    def _run(self, x: np.ndarray) -> np.ndarray:
        values = {self._input_name: x}
        for node in self._nodes:
            values[node.name] = node.operation([values[name] for name in node.inputs])
        return values[self._output_name]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1 / (1 + exp(-x)), without overflow warnings


@dataclass(frozen=True)
class _Recurrent:
    """One direction of a SimpleRNN, LSTM or GRU (reset_after) layer, Keras 3's equations."""

    kind: str
    kernel: np.ndarray  # (inputs, gates * units)
    recurrent: np.ndarray  # (units, gates * units)
    bias: np.ndarray  # (gates * units,); GRU: (2, 3 * units), input and recurrent rows
    go_backwards: bool
    return_sequences: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.go_backwards:
            x = x[:, ::-1]
        input_bias = self.bias[0] if self.kind == "GRU" else self.bias
        projected = x @ self.kernel + input_bias  # every step's input term at once
        units = self.recurrent.shape[0]
        h = np.zeros((len(x), units))
        c = np.zeros((len(x), units))
        outputs = []
        for step in range(x.shape[1]):
            z = projected[:, step]
            if self.kind == "SimpleRNN":
                h = np.tanh(z + h @ self.recurrent)
            elif self.kind == "LSTM":
                z = z + h @ self.recurrent
                i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
                c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                h = _sigmoid(o) * np.tanh(c)
            else:  # GRU, reset gate applied after the recurrent product
                inner = h @ self.recurrent + self.bias[1]
                update = _sigmoid(z[:, :units] + inner[:, :units])
                reset = _sigmoid(z[:, units : 2 * units] + inner[:, units : 2 * units])
                candidate = np.tanh(z[:, 2 * units :] + reset * inner[:, 2 * units :])
                h = update * h + (1.0 - update) * candidate
            outputs.append(h)
        # Keras returns a backward layer's sequence in processing (reversed) order.
        return np.stack(outputs, axis=1) if self.return_sequences else h


def _bidirectional(forward: _Recurrent, backward: _Recurrent) -> Operation:
    def run(inputs: list[np.ndarray]) -> np.ndarray:
        ahead, behind = forward(inputs[0]), backward(inputs[0])
        if forward.return_sequences:
            behind = behind[:, ::-1]  # back into time order, as Bidirectional does
        return np.concatenate([ahead, behind], axis=-1)

    return run


# --- reading the architecture and weights ------------------------------------------------


def _read_weights(file: h5py.File) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Every layer weight in model.weights.h5 by path (``layers/lstm/cell/vars/0``) as float64,
    and the layer name each ``vars`` group records (by its parent's path); the optimizer's
    state is skipped.

    Only hard links to plain float32 datasets held in the file itself are accepted.
    """
    import h5py

    if set(file.keys()) - {"layers", "optimizer", "vars"} or file.attrs.keys():
        raise Unsupported("model.weights.h5 holds unexpected top-level entries")
    weights, names = {}, {}
    for path, item in _walk(file, ""):
        if isinstance(item, h5py.Group):
            if path.endswith("/vars") and isinstance(item.attrs.get("name"), str):
                names[path.removesuffix("/vars")] = item.attrs["name"]
            continue
        if not isinstance(item, h5py.Dataset):
            raise Unsupported(f"{path} in model.weights.h5 is not a group or dataset")
        if item.is_virtual or item.external or item.attrs.keys() or item.dtype != np.dtype("<f4"):
            raise Unsupported(f"{path} in model.weights.h5 is not a plain float32 array")
        weights[path] = np.asarray(item[()], dtype=np.float64)
    return weights, names


def _walk(group: h5py.Group, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every group and dataset below ``group`` (not the optimizer's), refusing soft and
    external links."""
    import h5py

    for key in group:
        path = f"{prefix}{key}"
        if path == "optimizer":
            continue  # training state, never read
        if not isinstance(group.get(key, getlink=True), h5py.HardLink):
            raise Unsupported(f"{path} in model.weights.h5 is a link")
        item = group[key]
        yield path, item
        if isinstance(item, h5py.Group):
            yield from _walk(item, f"{path}/")


class _Builder:
    """Turns config.json's layer list into :class:`_Node` operations, checking every setting."""

    def __init__(self, weights: dict[str, np.ndarray], layer_names: dict[str, str]) -> None:
        self.weights = weights
        self.layer_names = layer_names  # h5 group -> the layer name its vars group records

    def take(self, path: str, count: int, expected_name: str | None) -> list[np.ndarray]:
        """The ``count`` arrays under ``path``/vars, removed from the pool of unused weights;
        with ``expected_name``, the layer name the group records (if any) must be it."""
        recorded = self.layer_names.get(path)
        if expected_name is not None and recorded is not None and recorded != expected_name:
            raise Unsupported(f"weights at {path} belong to {recorded!r}, not {expected_name!r}")
        arrays = [self.weights.pop(f"{path}/vars/{k}", None) for k in range(count)]
        if any(a is None for a in arrays):
            raise Unsupported(f"weights missing at {path}")
        return arrays  # type: ignore[return-value]

    def recurrent(self, entry: dict[str, Any], slot: str, shape: Shape) -> tuple[_Recurrent, Shape]:
        kind, config = entry["class_name"], entry["config"]
        if (
            kind not in _GATES
            or entry.get("module") != "keras.layers"
            or entry.get("registered_name") not in (None, kind)
        ):
            raise Unsupported(f"a {kind} layer")
        expected = {"return_state": False, "stateful": False, "activation": "tanh", "use_bias": True}
        if kind != "SimpleRNN":
            expected["recurrent_activation"] = "sigmoid"
        if kind == "GRU":
            expected["reset_after"] = True
        known = _COMMON_KEYS | _TRAINING_ONLY | set(expected) | {"units", "go_backwards", "return_sequences"}
        _check_config(config, expected, known)
        units, backwards, sequences = config["units"], config["go_backwards"], config["return_sequences"]
        if not (_is_int(units) and units > 0 and isinstance(backwards, bool) and isinstance(sequences, bool)):
            raise Unsupported(f"{kind} settings {units!r}, {backwards!r}, {sequences!r}")
        if len(shape) != 2:
            raise Unsupported(f"a {kind} layer on inputs of shape {shape}")
        kernel, recurrent, bias = self.take(f"{slot}/cell", 3, None)
        width = _GATES[kind] * units
        bias_shape = (2, width) if kind == "GRU" else (width,)
        if kernel.shape != (shape[1], width) or recurrent.shape != (units, width) or bias.shape != bias_shape:
            raise Unsupported(f"{kind} weights of shapes {kernel.shape}, {recurrent.shape}, {bias.shape}")
        self.take(slot, 0, config.get("name"))  # its own (empty) vars group names the layer
        cell = _Recurrent(kind, kernel, recurrent, bias, backwards, sequences)
        return cell, ((shape[0], units) if sequences else (units,))

    def operation(self, entry: dict[str, Any], slot: str, inputs: list[Shape]) -> tuple[Operation, Shape]:
        """The operation of one layer and its output shape, given its input shapes."""
        kind, config = entry["class_name"], entry["config"]
        if kind not in ("Add", "Subtract", "Concatenate") and len(inputs) != 1:
            raise Unsupported(f"a {kind} layer with {len(inputs)} inputs")
        shape = inputs[0]
        self.take(slot, 0, config["name"])  # the h5 group holds this layer's weights
        if kind in _GATES:
            cell, out = self.recurrent(entry, slot, shape)
            return (lambda xs: cell(xs[0])), out
        if kind == "Bidirectional":
            _check_config(
                config, {"merge_mode": "concat"}, _COMMON_KEYS | {"merge_mode", "layer", "backward_layer"}
            )
            forward_entry, backward_entry = config["layer"], config["backward_layer"]
            for inner in (forward_entry, backward_entry):
                if not isinstance(inner, dict) or set(inner) - (_ENTRY_KEYS - {"name", "inbound_nodes"}):
                    raise Unsupported("a Bidirectional layer's inner layers")
            forward, out = self.recurrent(forward_entry, f"{slot}/forward_layer", shape)
            backward, back_out = self.recurrent(backward_entry, f"{slot}/backward_layer", shape)
            if (
                forward_entry["class_name"] != backward_entry["class_name"]
                or forward.go_backwards
                or not backward.go_backwards
                or forward.return_sequences != backward.return_sequences
                or out != back_out
            ):
                raise Unsupported("a Bidirectional layer with unmatched directions")
            return _bidirectional(forward, backward), (*out[:-1], 2 * out[-1])
        if kind == "Dense":
            _check_config(config, {"use_bias": True}, _DENSE_KEYS | {"activation"})
            activation = _ACTIVATIONS.get(config.get("activation"))  # type: ignore[arg-type]
            if activation is None:
                raise Unsupported(f"a Dense layer with activation {config.get('activation')!r}")
            if config.get("quantization_config") is not None or config.get("lora_rank") is not None:
                raise Unsupported("a quantized or LoRA Dense layer")
            kernel, bias = self.take(slot, 2, None)
            units = config["units"]
            if not _is_int(units) or kernel.shape != (shape[-1], units) or bias.shape != (units,):
                raise Unsupported(f"Dense weights of shapes {kernel.shape}, {bias.shape}")
            return (lambda xs: activation(xs[0] @ kernel + bias)), (*shape[:-1], units)
        if kind == "LayerNormalization":
            return _layer_norm(config, self.take(slot, 2, None), shape)
        if kind == "Dropout":  # the identity at inference
            _check_config(config, {}, _COMMON_KEYS | {"rate", "seed", "noise_shape"})
            return (lambda xs: xs[0]), shape
        if kind == "Reshape":
            _check_config(config, {}, _COMMON_KEYS | {"target_shape"})
            target = _int_tuple(config["target_shape"])
            if any(d <= 0 for d in target) or int(np.prod(target)) != int(np.prod(shape)):
                raise Unsupported(f"a Reshape of {shape} to {target}")
            return (lambda xs: xs[0].reshape((len(xs[0]), *target))), target
        if kind == "Permute":
            _check_config(config, {}, _COMMON_KEYS | {"dims"})
            dims = _int_tuple(config["dims"])
            if sorted(dims) != list(range(1, len(shape) + 1)):
                raise Unsupported(f"a Permute of {dims}")
            return (lambda xs: np.transpose(xs[0], (0, *dims))), tuple(shape[d - 1] for d in dims)
        if kind == "Cropping1D":
            _check_config(config, {}, _COMMON_KEYS | {"cropping"})
            start, end = _int_tuple(config["cropping"], length=2)
            if len(shape) != 2 or start < 0 or end < 0 or start + end >= shape[0]:
                raise Unsupported(f"a Cropping1D of {(start, end)} on {shape}")
            stop = shape[0] - end
            return (lambda xs: xs[0][:, start:stop]), (stop - start, shape[1])
        if kind == "UpSampling1D":
            _check_config(config, {}, _COMMON_KEYS | {"size"})
            size = config["size"]
            if not _is_int(size) or size <= 0 or len(shape) != 2:
                raise Unsupported(f"an UpSampling1D of {size!r} on {shape}")
            return (lambda xs: np.repeat(xs[0], size, axis=1)), (shape[0] * size, shape[1])
        if kind == "Subtract":
            _check_config(config, {}, _COMMON_KEYS)
            if len(inputs) != 2 or inputs[1] != shape:
                raise Unsupported(f"a Subtract of shapes {inputs}")
            return (lambda xs: xs[0] - xs[1]), shape
        if kind == "Flatten":
            _check_config(config, {"data_format": "channels_last"}, _COMMON_KEYS | {"data_format"})
            size = int(np.prod(shape))
            return (lambda xs: xs[0].reshape(len(xs[0]), size)), (size,)
        if kind == "ZeroPadding1D":
            _check_config(config, {"data_format": "channels_last"}, _COMMON_KEYS | {"padding", "data_format"})
            before, after = _int_tuple(config["padding"], length=2)
            if len(shape) != 2 or before < 0 or after < 0:
                raise Unsupported(f"a ZeroPadding1D of {(before, after)} on {shape}")
            return (lambda xs: np.pad(xs[0], ((0, 0), (before, after), (0, 0)))), (
                shape[0] + before + after,
                shape[1],
            )
        if kind == "AveragePooling1D":
            expected = {"data_format": "channels_last", "padding": "same"}
            _check_config(config, expected, _COMMON_KEYS | set(expected) | {"pool_size", "strides"})
            pool = _int_tuple(config["pool_size"], length=1)[0]
            if len(shape) != 2 or pool < 1 or _int_tuple(config["strides"], length=1) != (1,):
                raise Unsupported(f"an AveragePooling1D of {config['pool_size']!r} on {shape}")
            return (lambda xs: _moving_average(xs[0], pool)), shape
        if kind == "GlobalAveragePooling1D":
            expected = {"data_format": "channels_last", "keepdims": False}
            _check_config(config, expected, _COMMON_KEYS | set(expected))
            if len(shape) != 2:
                raise Unsupported(f"a GlobalAveragePooling1D on {shape}")
            return (lambda xs: xs[0].mean(axis=1)), (shape[1],)
        if kind == "Add":
            _check_config(config, {}, _COMMON_KEYS)
            if len(inputs) < 2 or any(s != shape for s in inputs):
                raise Unsupported(f"an Add of shapes {inputs}")
            return (lambda xs: np.sum(xs, axis=0)), shape
        if kind == "Concatenate":
            _check_config(config, {}, _COMMON_KEYS | {"axis"})
            axis = config["axis"]
            rank = len(shape)
            if not _is_int(axis) or not -rank <= axis <= rank or axis == 0 or len(inputs) < 2:
                raise Unsupported(f"a Concatenate along axis {axis!r}")
            position = axis - 1 if axis > 0 else rank + axis  # in the shapes without the batch axis
            others = [s[:position] + s[position + 1 :] for s in inputs]
            if any(len(s) != rank for s in inputs) or any(o != others[0] for o in others):
                raise Unsupported(f"a Concatenate of shapes {inputs}")
            joined = (*shape[:position], sum(s[position] for s in inputs), *shape[position + 1 :])
            return (lambda xs: np.concatenate(xs, axis=position + 1)), joined
        raise Unsupported(f"a {kind} layer")


def _moving_average(values: np.ndarray, pool: int) -> np.ndarray:
    """``AveragePooling1D(pool, strides=1, padding="same")`` over axis 1: each row's mean over
    the ``pool`` rows around it (``(pool - 1) // 2`` before), fewer at the ends, as TensorFlow
    averages only the rows that exist."""
    rows = values.shape[1]
    before = (pool - 1) // 2
    totals = np.concatenate([np.zeros_like(values[:, :1]), np.cumsum(values, axis=1)], axis=1)
    first = np.clip(np.arange(rows) - before, 0, rows)
    last = np.clip(np.arange(rows) - before + pool, 0, rows)
    counts = (last - first).astype(values.dtype)[None, :, None]
    return (totals[:, last] - totals[:, first]) / counts


def _layer_norm(config: dict[str, Any], weights: list[np.ndarray], shape: Shape) -> tuple[Operation, Shape]:
    """Keras' LayerNormalization over the last axis, with its scale (gamma) and offset (beta):
    ``(x - mean) / sqrt(variance + epsilon) * gamma + beta``."""
    _check_config(config, {"center": True, "scale": True, "rms_scaling": False}, _LAYER_NORM_KEYS)
    axis, epsilon = config["axis"], config["epsilon"]
    if axis not in ([-1], -1, [len(shape)], len(shape)) or not isinstance(epsilon, float) or epsilon <= 0:
        raise Unsupported(f"a LayerNormalization over axis {axis!r} with epsilon {epsilon!r}")
    gamma, beta = weights  # Keras creates gamma first
    if gamma.shape != (shape[-1],) or beta.shape != (shape[-1],):
        raise Unsupported(f"LayerNormalization weights of shapes {gamma.shape}, {beta.shape}")

    def run(inputs: list[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        mean = x.mean(axis=-1, keepdims=True)
        variance = x.var(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta

    return run, shape


def _build(config: Any, weights: dict[str, np.ndarray], names: dict[str, str]) -> NumpyNetwork:
    """The network config.json describes, with its weights; every weight must be used."""
    if not isinstance(config, dict) or config.get("class_name") != "Functional":
        raise Unsupported("not a functional model")
    graph = config.get("config")
    if not isinstance(graph, dict) or set(graph) - _FUNCTIONAL_KEYS:
        raise Unsupported("unexpected model settings")
    entries = graph.get("layers")
    if not isinstance(entries, list):
        raise Unsupported("no layer list")
    # Keras names each layer's h5 group by its class, numbered in layer order: lstm, lstm_1, ...
    slots, counts = [], {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("class_name") not in _WEIGHT_SLOTS:
            raise Unsupported(f"a {entry.get('class_name') if isinstance(entry, dict) else entry!r} layer")
        base = _WEIGHT_SLOTS[entry["class_name"]]
        slots.append(f"layers/{base}_{counts[base]}" if base in counts else f"layers/{base}")
        counts[base] = counts.get(base, 0) + 1
    builder = _Builder(weights, names)
    input_name = _single_reference(graph.get("input_layers"))
    output_name = _single_reference(graph.get("output_layers"))
    nodes: list[_Node] = []
    shapes: dict[str, Shape] = {}
    for entry, slot in zip(entries, slots, strict=True):
        name, kind, layer_config = entry.get("name"), entry["class_name"], entry.get("config")
        if (
            set(entry) - _ENTRY_KEYS
            or entry.get("module") != "keras.layers"
            or entry.get("registered_name") not in (None, kind)
            or not isinstance(name, str)
            or name in shapes
            or not isinstance(layer_config, dict)
            or layer_config.get("name") != name
        ):
            raise Unsupported(f"layer entry {name!r}")
        if kind == "InputLayer":
            expected = {"dtype": "float32", "sparse": False, "ragged": False, "optional": False, "name": name}
            _check_config(layer_config, expected, {"batch_shape", *expected})
            batch_shape = layer_config["batch_shape"]
            if name != input_name or entry.get("inbound_nodes") or not isinstance(batch_shape, list):
                raise Unsupported("the input layer")
            if batch_shape[:1] != [None]:
                raise Unsupported("a fixed batch size")
            shapes[name] = _int_tuple(batch_shape[1:])
            builder.take(slot, 0, name)
            continue
        inputs = _inbound(entry.get("inbound_nodes"))
        if any(i not in shapes for i in inputs):
            raise Unsupported(f"layer {name!r} reads a layer not defined before it")
        operation, shapes[name] = builder.operation(entry, slot, [shapes[i] for i in inputs])
        nodes.append(_Node(name, inputs, operation))
    if weights:  # weights of layers the config does not describe
        raise Unsupported(f"unused weights {sorted(weights)[:3]}")
    if input_name not in shapes or output_name not in shapes or output_name == input_name:
        raise Unsupported("the model's inputs or outputs")
    return NumpyNetwork(input_name, nodes, output_name, shapes[input_name], shapes[output_name])


def _check_config(config: Any, expected: dict[str, Any], known: set[str]) -> None:
    """Refuse a layer config with keys outside ``known``, a key of ``expected`` missing or set
    otherwise, or a dtype policy other than float32."""
    if not isinstance(config, dict):
        raise Unsupported("a layer config that is not an object")
    unknown = set(config) - known - set(expected)
    if unknown:
        raise Unsupported(f"unknown settings {sorted(unknown)}")
    for key, value in expected.items():
        if key not in config or config[key] != value or type(config[key]) is not type(value):
            raise Unsupported(f"{key}={config.get(key)!r}")
    _check_dtype(config.get("dtype"))


def _check_dtype(dtype: Any) -> None:
    """Only float32 layers: mixed precision computes in float16, which is not reproduced here."""
    if dtype is None or dtype == "float32":
        return
    if (
        isinstance(dtype, dict)
        and dtype.get("class_name") == "DTypePolicy"
        and dtype.get("module") == "keras"
        and dtype.get("registered_name") in (None, "DTypePolicy")
        and dtype.get("config") == {"name": "float32"}
        and set(dtype) <= {"module", "class_name", "config", "registered_name", "shared_object_id"}
    ):
        return
    raise Unsupported(f"dtype {dtype!r}")


def _inbound(nodes: Any) -> tuple[str, ...]:
    """The names of the layers feeding a layer called once, on tensors of single-output layers."""
    if not isinstance(nodes, list) or len(nodes) != 1 or not isinstance(nodes[0], dict):
        raise Unsupported("a layer called other than once")
    node = nodes[0]
    args, kwargs = node.get("args"), node.get("kwargs", {})
    if set(node) - {"args", "kwargs"} or not isinstance(args, list) or len(args) != 1:
        raise Unsupported("a layer call's arguments")
    # training=False / mask=None are how Keras records a plain inference call.
    if not isinstance(kwargs, dict) or any(
        key not in ("training", "mask") or value not in (None, False) for key, value in kwargs.items()
    ):
        raise Unsupported(f"a layer call with {kwargs!r}")
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    names = []
    for tensor in tensors:
        if not isinstance(tensor, dict) or tensor.get("class_name") != "__keras_tensor__":
            raise Unsupported("a layer input that is not a layer's output")
        history = tensor.get("config", {}).get("keras_history")
        if not isinstance(history, list):
            raise Unsupported("a layer input that is not a layer's output")
        names.append(_reference(history))
    return tuple(names)


def _single_reference(value: Any) -> str:
    """``["name", 0, 0]`` or ``[["name", 0, 0]]`` (one model input or output)."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    return _reference(value)


def _reference(value: Any) -> str:
    if not isinstance(value, list) or len(value) != 3 or value[1:] != [0, 0] or not isinstance(value[0], str):
        raise Unsupported(f"a tensor reference {value!r}")
    return value[0]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_tuple(value: Any, length: int | None = None) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is_int(v) for v in value) or not value:
        raise Unsupported(f"{value!r} is not a list of integers")
    if length is not None and len(value) != length:
        raise Unsupported(f"{value!r} does not have {length} entries")
    return tuple(value)
