"""Building the Keras networks: recurrent cell, bidirectional wrapper, depth, dropout, head.

Only built-in Keras layers are used, so every saved model loads with ``safe_mode=True``.
Keras is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rnncast import backend

if TYPE_CHECKING:
    import keras

    from rnncast.config import TrainConfig

_CELL_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass(frozen=True)
class ModelShape:
    """What the network sees and predicts."""

    lookback: int
    horizon: int
    n_inputs: int  # targets first, then features
    n_targets: int


def build_model(
    shape: ModelShape,
    *,
    cell: str = "lstm",
    bidirectional: bool = False,
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.0,
    residual: bool = True,
    mixed_precision: bool = False,
) -> keras.Model:
    """A direct multi-step forecaster: ``(lookback, n_inputs)`` -> ``(horizon, n_targets)``.

    The recurrent stack reads the window; a dense head predicts all horizon steps of all
    targets at once. With ``residual`` the head predicts the change from the window's last
    target values, and starts at zero, so an untrained network is exactly the naive
    (last-value) forecast and training can only earn its way past it.

    Defaults stay eligible for the cuDNN kernels on a GPU (tanh, no recurrent dropout).
    With ``mixed_precision`` (for GPUs) the recurrent layers compute in float16 while their
    weights, the head and the output stay float32, so the forecast keeps full precision.
    """
    keras = backend.keras()
    kl = keras.layers

    inputs = keras.Input(shape=(shape.lookback, shape.n_inputs), name="window")
    hidden = inputs
    layer_class = getattr(kl, _CELL_LAYERS[cell])
    for depth in range(layers):
        # Per-layer policy, not Keras' global one: building a model must not change the process.
        policy = {"dtype": "mixed_float16"} if mixed_precision else {}
        recurrent = layer_class(
            units, return_sequences=depth < layers - 1, name=f"{cell}_{depth + 1}", **policy
        )
        if bidirectional:
            recurrent = kl.Bidirectional(recurrent, name=f"bidirectional_{depth + 1}", **policy)
        hidden = recurrent(hidden)
        if dropout > 0:
            hidden = kl.Dropout(dropout, name=f"dropout_{depth + 1}")(hidden)

    size = shape.horizon * shape.n_targets
    head = kl.Dense(size, kernel_initializer="zeros" if residual else "glorot_uniform", name="head")
    outputs = kl.Reshape((shape.horizon, shape.n_targets), name="forecast")(head(hidden))
    if residual:
        outputs = kl.Add(name="plus_last_value")([outputs, _last_target_values(inputs, shape)])
    return keras.Model(inputs, outputs, name=f"rnncast_{cell}")


def build_for_config(shape: ModelShape, config: TrainConfig, *, mixed_precision: bool = False) -> keras.Model:
    """The network ``config`` describes (cell, bidirectional, units, layers, dropout, residual)."""
    return build_model(
        shape,
        cell=config.model,
        bidirectional=config.bidirectional,
        units=config.units,
        layers=config.layers,
        dropout=config.dropout,
        residual=config.residual,
        mixed_precision=mixed_precision,
    )


def _last_target_values(inputs: keras.KerasTensor, shape: ModelShape) -> keras.KerasTensor:
    """The last row of the target channels, repeated over the horizon, with built-in layers."""
    kl = backend.keras().layers

    last = kl.Cropping1D((shape.lookback - 1, 0), name="last_row")(inputs)  # (b, 1, inputs)
    extra = shape.n_inputs - shape.n_targets
    if extra:
        # Targets are the first channels; crop the feature channels off along a swapped axis.
        last = kl.Permute((2, 1), name="channels_first")(last)
        last = kl.Cropping1D((0, extra), name="target_channels")(last)
        last = kl.Permute((2, 1), name="channels_last")(last)
    return kl.UpSampling1D(shape.horizon, name="repeat_over_horizon")(last)


def compile_model(
    model: keras.Model,
    learning_rate: float,
    clipnorm: float,
    *,
    xla: bool = False,
    loss_scaling: bool = False,
) -> None:
    """Adam on mean squared error, with gradients clipped to ``clipnorm``.

    ``xla`` compiles the whole training step with XLA: on a CPU it fuses the recurrent loop's
    many small operations and roughly doubles throughput (benchmarks/training_speed.py).
    ``loss_scaling`` wraps Adam in a loss-scale optimizer, which float16 layers need so small
    gradients do not underflow.
    """
    keras = backend.keras()

    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=clipnorm)
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=False)
    if xla:
        # Keras refuses XLA whenever TensorFlow's op determinism is on (some GPU kernels lack a
        # deterministic XLA version); rnncast only asks for it on a CPU, where XLA's code is
        # deterministic on its own, so set the flag past that blanket check.
        model._jit_compile = True
