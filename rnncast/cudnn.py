"""Which recurrent layers can run on the fused cuDNN kernels of Keras 3's TensorFlow backend.

On a GPU, Keras swaps an ``LSTM`` or ``GRU`` layer's step-by-step loop for one cuDNN call (often
several times faster) only when the layer's settings match what cuDNN computes. The conditions
are Keras's own (``keras/src/layers/rnn/lstm.py`` and ``gru.py``, ``inner_loop``; and
``keras/src/backend/tensorflow/rnn.py``, ``cudnn_ok``):

- ``use_cudnn`` is ``"auto"`` or ``True``, and ``recurrent_dropout`` is 0;
- ``activation`` is tanh and ``recurrent_activation`` sigmoid;
- ``unroll`` is ``False`` and ``use_bias`` is ``True``;
- for a GRU also ``reset_after=True``.

``SimpleRNN`` and a generic ``RNN`` layer over a cell have no cuDNN kernel at all. A
``Bidirectional`` wrapper runs a forward and a backward copy of its layer: both are checked.
Whether a GPU is present is not this module's question: the answers hold on any machine.

Two entry points share one set of rules: :func:`cudnn_problems` for a built Keras model (what
training uses) and :func:`config_problems` for a serialised one (``model.get_config()`` or a
``.keras`` archive's ``config.json``), which needs no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnncast import backend

if TYPE_CHECKING:
    import keras

CUDNN_LAYERS = ("LSTM", "GRU")
WRAPPERS = ("Bidirectional",)
NESTED_MODELS = ("Functional", "Sequential", "Model")


@dataclass(frozen=True)
class RecurrentSettings:
    """The settings of one recurrent layer that decide whether it can use cuDNN.

    ``activation`` and ``recurrent_activation`` are names: ``"tanh"`` and ``"sigmoid"`` mean the
    functions Keras accepts (its own, TensorFlow's or ``keras.ops``'), anything else is shown
    as it is.
    """

    name: str
    kind: str  # LSTM, GRU, SimpleRNN, or RNN (a generic layer over a cell)
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    recurrent_dropout: float = 0.0
    unroll: bool = False
    use_bias: bool = True
    reset_after: bool = True  # GRU only
    use_cudnn: Any = "auto"  # "auto", True or False
    cell: str | None = None  # a generic RNN layer's cell class


def problems(layer: RecurrentSettings) -> list[str]:
    """Why ``layer`` cannot use the cuDNN kernel, one sentence each naming the setting and the
    fix; empty when it can."""
    name = layer.name
    if layer.kind == "SimpleRNN":
        return [f"{name}: SimpleRNN has no cuDNN kernel; use --model lstm or --model gru on a GPU"]
    if layer.kind not in CUDNN_LAYERS:
        cell = f" over {layer.cell}" if layer.cell else ""
        return [f"{name}: a generic RNN layer{cell} has no cuDNN kernel; use keras.layers.LSTM or GRU"]
    found = []
    if layer.use_cudnn not in ("auto", True):
        found.append(
            f"{name}: use_cudnn={layer.use_cudnn!r} turns the cuDNN kernel off; use use_cudnn='auto'"
        )
    if layer.recurrent_dropout:
        found.append(
            f"{name}: recurrent_dropout={layer.recurrent_dropout:g} disables the cuDNN kernel; "
            "use --dropout (between layers) instead"
        )
    if layer.activation != "tanh":
        found.append(
            f"{name}: activation={layer.activation!r} disables the cuDNN kernel; use activation='tanh'"
        )
    if layer.recurrent_activation != "sigmoid":
        found.append(
            f"{name}: recurrent_activation={layer.recurrent_activation!r} disables the cuDNN kernel; "
            "use recurrent_activation='sigmoid'"
        )
    if layer.unroll:
        found.append(f"{name}: unroll=True disables the cuDNN kernel; use unroll=False")
    if not layer.use_bias:
        found.append(f"{name}: use_bias=False disables the cuDNN kernel; use use_bias=True")
    if layer.kind == "GRU" and not layer.reset_after:
        found.append(
            f"{name}: reset_after=False disables the cuDNN kernel; use reset_after=True (the default)"
        )
    return found


def cudnn_problems(model: keras.Model) -> list[str]:
    """Why the recurrent layers of a built Keras ``model`` cannot use the cuDNN kernels, one
    reason per layer and setting (``"lstm_1: recurrent_dropout=0.2 disables ..."``); empty when
    every recurrent layer can, or when there is none. Needs no GPU."""
    return [reason for layer in recurrent_layers(model) for reason in problems(layer)]


def recurrent_layers(model: keras.Model) -> list[RecurrentSettings]:
    """The settings of every recurrent layer of a built model, in order; a Bidirectional
    wrapper gives its forward then its backward layer, named ``wrapper/inner``."""
    keras = backend.keras()
    return list(_live_layers(model, "", keras))


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """:func:`cudnn_problems` for a serialised model or layer: a ``model.get_config()`` dict,
    or one ``{"class_name": ..., "config": ...}`` entry of its ``layers``. No TensorFlow."""
    return [reason for layer in config_layers(config) for reason in problems(layer)]


def config_layers(config: Mapping[str, Any]) -> list[RecurrentSettings]:
    """The settings of every recurrent layer of a serialised model or layer, in order."""
    if "class_name" in config:
        return list(_serialised_layers(config, ""))
    return [found for entry in config.get("layers", []) for found in _serialised_layers(entry, "")]


def _live_layers(layer: Any, prefix: str, keras: Any) -> Iterator[RecurrentSettings]:
    kl = keras.layers
    if isinstance(layer, kl.Bidirectional):
        for inner in (layer.forward_layer, layer.backward_layer):
            yield from _live_layers(inner, f"{prefix}{layer.name}/", keras)
    elif isinstance(layer, kl.RNN):
        yield _live_settings(layer, prefix + layer.name, keras)
    elif isinstance(layer, keras.Model):  # a nested model: its own layers
        for inner in layer.layers:
            yield from _live_layers(inner, prefix, keras)


def _live_settings(layer: Any, name: str, keras: Any) -> RecurrentSettings:
    kl = keras.layers
    # Subclasses first: LSTM, GRU and SimpleRNN are all RNNs.
    kind = next((k for k in ("LSTM", "GRU", "SimpleRNN") if isinstance(layer, getattr(kl, k))), "RNN")
    if kind == "RNN":
        return RecurrentSettings(name, kind, cell=type(layer.cell).__name__)
    cell = layer.cell
    return RecurrentSettings(
        name,
        kind,
        activation=_function_name(cell.activation, "tanh"),
        recurrent_activation=_function_name(getattr(cell, "recurrent_activation", None), "sigmoid"),
        recurrent_dropout=float(getattr(cell, "recurrent_dropout", 0.0) or 0.0),
        unroll=bool(layer.unroll),
        use_bias=bool(cell.use_bias),
        reset_after=bool(getattr(cell, "reset_after", True)),
        use_cudnn=getattr(layer, "use_cudnn", "auto"),
    )


def _function_name(function: Any, wanted: str) -> str:
    """``wanted`` if ``function`` is one of the functions Keras's cuDNN check accepts for it,
    else a name for it that is never ``wanted`` (``numpy.tanh`` is not Keras's tanh)."""
    if function is None:
        return "none"
    keras, tf = backend.keras(), backend.tensorflow()
    accepted = (getattr(keras.activations, wanted), getattr(tf, wanted), getattr(keras.ops, wanted))
    if any(function is candidate for candidate in accepted):
        return wanted
    name = getattr(function, "__name__", type(function).__name__)
    return f"{getattr(function, '__module__', None) or 'custom'}.{name}" if name == wanted else name


def _serialised_layers(entry: Mapping[str, Any], prefix: str) -> Iterator[RecurrentSettings]:
    kind = entry.get("class_name")
    config = entry.get("config") or {}
    name = prefix + str(config.get("name", kind))
    if kind in WRAPPERS:
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), Mapping):
                yield from _serialised_layers(config[key], f"{name}/")
    elif kind in ("LSTM", "GRU", "SimpleRNN"):
        yield RecurrentSettings(
            name,
            kind,
            activation=_serialised_name(config.get("activation", "tanh")),
            recurrent_activation=_serialised_name(config.get("recurrent_activation", "sigmoid")),
            recurrent_dropout=float(config.get("recurrent_dropout") or 0.0),
            unroll=bool(config.get("unroll", False)),
            use_bias=bool(config.get("use_bias", True)),
            reset_after=bool(config.get("reset_after", True)),
            use_cudnn=config.get("use_cudnn", "auto"),  # not serialised by Keras 3.15; "auto" on load
        )
    elif kind == "RNN":
        cell = config.get("cell")
        yield RecurrentSettings(
            name, kind, cell=cell.get("class_name") if isinstance(cell, Mapping) else None
        )
    elif kind in NESTED_MODELS:
        for inner in config.get("layers", []):
            yield from _serialised_layers(inner, prefix)


def _serialised_name(value: Any) -> str:
    # Keras serialises its own activations (and TensorFlow's and keras.ops') as their bare
    # name; anything else is a registered custom object, shown by its registered name.
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return f"custom {value.get('registered_name') or value.get('config') or value.get('class_name')}"
    return str(value)
