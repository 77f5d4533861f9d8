"""Building the Keras networks: recurrent cell, bidirectional wrapper, depth, dropout, head.

Two architectures share the same building blocks. ``rnn`` reads the window with a recurrent
stack and predicts every horizon step at once with a dense head (optionally attending over the
last layer's sequence first). ``seq2seq`` encodes the window, then a decoder RNN started from
the encoder's state runs over the horizon and a dense layer reads each of its steps. With the
``recursive`` strategy a one-step network is trained and :func:`unroll_recursive` wraps it into
the full lookback -> horizon network that is saved, so every later command uses it unchanged.

Only built-in Keras layers are used, so every saved model loads with ``safe_mode=True``.
Keras is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnncast import backend

if TYPE_CHECKING:
    import keras

    from rnncast.config import TrainConfig

_CELL_LAYERS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
# The Keras classes that hold recurrent weights (what ``--freeze recurrent`` freezes).
RECURRENT_CLASSES = ("SimpleRNN", "LSTM", "GRU", "Bidirectional")
# Momentum for plain SGD: without it SGD crawls on these small, badly scaled problems.
SGD_MOMENTUM = 0.9
# --weight-decay left unset: AdamW decays by this much, the other optimizers not at all.
ADAMW_WEIGHT_DECAY = 1e-4
ATTENTION_HEADS = 1


@dataclass(frozen=True)
class ModelShape:
    """What the network sees and predicts."""

    lookback: int
    horizon: int
    n_inputs: int  # targets first, then features
    n_targets: int


@dataclass(frozen=True)
class _Stack:
    """How each recurrent layer is made and what follows it (shared by both architectures)."""

    cell: str
    bidirectional: bool
    units: int
    dropout: float
    layer_norm: bool
    mixed_precision: bool

    def recurrent(
        self, name: str, wrapper_name: str | None, units: int | None = None, **settings: Any
    ) -> Any:
        """A recurrent layer named ``name`` (``units`` wide, by default the stack's), wrapped in
        ``Bidirectional`` named ``wrapper_name`` when the stack is bidirectional and a wrapper
        name is given. Per-layer policy, not Keras' global one: building a model must not
        change the process."""
        kl = backend.keras().layers
        policy = {"dtype": "mixed_float16"} if self.mixed_precision else {}
        layer_class = getattr(kl, _CELL_LAYERS[self.cell])
        layer = layer_class(units or self.units, name=name, **settings, **policy)
        if self.bidirectional and wrapper_name is not None:
            layer = kl.Bidirectional(layer, name=wrapper_name, **policy)
        return layer

    def after(self, hidden: Any, suffix: str) -> Any:
        """Layer normalisation, then dropout, after one recurrent layer."""
        kl = backend.keras().layers
        if self.layer_norm:
            hidden = kl.LayerNormalization(name=f"layer_norm_{suffix}")(hidden)
        if self.dropout > 0:
            hidden = kl.Dropout(self.dropout, name=f"dropout_{suffix}")(hidden)
        return hidden

    @property
    def width(self) -> int:
        """Features one recurrent layer outputs per step (both directions together)."""
        return self.units * (2 if self.bidirectional else 1)


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
    architecture: str = "rnn",
    attention: bool = False,
    layer_norm: bool = False,
    window_norm: str = "none",
    segment: int = 1,
    linear_skip: bool = False,
    channels: str = "mixed",
    trend_window: int = 0,
    season: int = 1,
) -> keras.Model:
    """A direct multi-step forecaster: ``(lookback, n_inputs)`` -> ``(horizon, n_targets)``.

    ``architecture="rnn"``: the recurrent stack reads the window; a dense head predicts all
    horizon steps of all targets at once. With ``attention`` the last layer returns its whole
    sequence, its last step attends over it, and the head reads that step with its context.
    ``architecture="seq2seq"``: see :func:`_seq2seq`. ``layer_norm`` adds a
    ``LayerNormalization`` after every recurrent layer.

    ``window_norm="last"`` (or ``"mean"``) subtracts each channel's last value (or its mean
    over the window) from the whole window before the network reads it, and adds the targets'
    level back after the head: the network sees shapes, not levels, so a series that trends
    past its training range is no harder than one that does not. ``segment`` > 1 cuts the
    window into segments of that many rows (the oldest padded with zeros to fit), each embedded
    by a dense layer, so the recurrent layers take ``lookback / segment`` steps instead of
    ``lookback``. ``linear_skip`` adds a linear map from the whole (normalised) window to the
    horizon beside the recurrent path (split into trend and seasonal maps with ``trend_window``).
    ``channels="independent"`` (targets only, no features)
    runs one shared network over every target channel on its own.

    With ``residual`` (or any ``window_norm``) the head predicts the change from the window's
    level, and starts at zero, so an untrained network is exactly the naive (last-value)
    forecast (``"last"``) and training can only earn its way past it.

    Defaults stay eligible for the cuDNN kernels on a GPU (tanh, no recurrent dropout).
    With ``mixed_precision`` (for GPUs) the recurrent layers compute in float16 while their
    weights, the head and the output stay float32, so the forecast keeps full precision.
    """
    keras = backend.keras()
    stack = _Stack(cell, bidirectional, units, dropout, layer_norm, mixed_precision)
    paths = _Paths(
        architecture, layers, attention, residual, window_norm, segment, linear_skip, trend_window, season
    )
    if channels == "independent" and shape.n_targets > 1:
        if shape.n_inputs != shape.n_targets:
            raise ValueError("independent channels need every input to be a target")
        return _channel_independent(shape, stack, paths)
    inputs = keras.Input(shape=(shape.lookback, shape.n_inputs), name="window")
    outputs = _network(inputs, shape, stack, paths)
    prefix = "rnncast_seq2seq" if architecture == "seq2seq" else "rnncast"
    return keras.Model(inputs, outputs, name=f"{prefix}_{cell}")


@dataclass(frozen=True)
class _Paths:
    """How the window reaches the recurrent stack and the forecast leaves it."""

    architecture: str
    layers: int
    attention: bool
    residual: bool
    window_norm: str
    segment: int
    linear_skip: bool
    trend_window: int = 0
    season: int = 1

    @property
    def adds_level(self) -> bool:
        """Whether the head predicts a change from the window's level (zero-initialised)."""
        return self.window_norm != "none" or self.residual


def _channel_independent(shape: ModelShape, stack: _Stack, paths: _Paths) -> keras.Model:
    """One network for a single channel, shared by every target channel (each read alone).

    ``(lookback, C)`` is turned channels-first, each channel becomes a one-column window,
    ``TimeDistributed`` runs the shared network over the C of them, and the ``(horizon, 1)``
    forecasts are put back side by side: built-in layers only.
    """
    keras = backend.keras()
    kl = keras.layers
    channels = shape.n_targets
    one = ModelShape(shape.lookback, shape.horizon, 1, 1)
    single_input = keras.Input(shape=(shape.lookback, 1), name="channel_window")
    single = keras.Model(single_input, _network(single_input, one, stack, paths), name="one_channel")
    inputs = keras.Input(shape=(shape.lookback, channels), name="window")
    each = kl.Permute((2, 1), name="channels_first_windows")(inputs)
    each = kl.Reshape((channels, shape.lookback, 1), name="one_window_per_channel")(each)
    forecasts = kl.TimeDistributed(single, name="each_channel")(each)
    forecasts = kl.Reshape((channels, shape.horizon), name="channel_forecasts")(forecasts)
    outputs = kl.Permute((2, 1), name="forecast")(forecasts)
    return keras.Model(inputs, outputs, name=f"rnncast_independent_{stack.cell}")


def _network(inputs: keras.KerasTensor, shape: ModelShape, stack: _Stack, paths: _Paths) -> keras.KerasTensor:
    """``inputs`` (lookback, n_inputs) -> the forecast (horizon, n_targets), every path."""
    kl = backend.keras().layers
    window = inputs
    level = None
    if paths.window_norm != "none":
        # "season" reads the window minus its last value too, but adds back the last season
        # of the targets repeated over the horizon: the seasonal-naive forecast.
        window_level = _window_level(
            inputs, shape, "last" if paths.window_norm == "season" else paths.window_norm
        )
        spread = kl.UpSampling1D(shape.lookback, name="level_over_window")(window_level)
        window = kl.Subtract(name="window_minus_level")([inputs, spread])
        if paths.window_norm == "season":
            level = _seasonal_level(inputs, shape, paths.season)
        else:
            level = _over_horizon(_target_channels(window_level, shape, "level"), shape)
    elif paths.residual:
        level = _last_target_values(inputs, shape)
    steps = _segments(window, shape, paths.segment, stack.units)

    if paths.architecture == "seq2seq":
        outputs = _seq2seq(steps, shape, stack, paths.layers, paths.attention, level is not None)
    elif paths.architecture == "segments":
        out_segment = paths.segment if paths.segment > 1 else shape.horizon
        outputs = _segment_decoder(steps, shape, stack, paths.layers, out_segment, level is not None)
    else:
        outputs = _recurrent_head(steps, shape, stack, paths, level is not None)
    if paths.linear_skip:
        outputs = kl.Add(name="plus_linear")([outputs, _linear_path(window, shape, paths.trend_window)])
    if level is not None:
        outputs = kl.Add(name="plus_last_value")([outputs, level])
    return outputs


def _linear_path(window: keras.KerasTensor, shape: ModelShape, trend_window: int) -> keras.KerasTensor:
    """A linear map from the whole window to ``(horizon, n_targets)``, zero at the start; with
    ``trend_window`` > 1 the window is split into its moving-average trend (``trend_window``
    rows, centred; shorter at the ends) and the rest, each mapped on its own (DLinear)."""
    kl = backend.keras().layers
    size = shape.horizon * shape.n_targets
    if trend_window > 1:
        trend = kl.AveragePooling1D(trend_window, strides=1, padding="same", name="trend")(window)
        seasonal = kl.Subtract(name="seasonal")([window, trend])
        parts = [
            kl.Dense(size, kernel_initializer="zeros", name=f"linear_{part}")(
                kl.Flatten(name=f"flat_{part}")(values)
            )
            for part, values in (("trend", trend), ("seasonal", seasonal))
        ]
        linear = kl.Add(name="trend_plus_seasonal")(parts)
    else:
        flat = kl.Flatten(name="flat_window")(window)
        linear = kl.Dense(size, kernel_initializer="zeros", name="linear_skip")(flat)
    return kl.Reshape((shape.horizon, shape.n_targets), name="linear_forecast")(linear)


def _segments(window: keras.KerasTensor, shape: ModelShape, segment: int, units: int) -> keras.KerasTensor:
    """The window as ``ceil(lookback / segment)`` embedded segments (itself when ``segment`` is 1)."""
    if segment <= 1:
        return window
    kl = backend.keras().layers
    padding = -shape.lookback % segment
    if padding:
        window = kl.ZeroPadding1D((padding, 0), name="pad_oldest")(window)
    count = (shape.lookback + padding) // segment
    pieces = kl.Reshape((count, segment * shape.n_inputs), name="segments")(window)
    return kl.Dense(units, activation="relu", name="segment_embedding")(pieces)


def _recurrent_head(
    steps: keras.KerasTensor, shape: ModelShape, stack: _Stack, paths: _Paths, from_level: bool
) -> keras.KerasTensor:
    """The recurrent stack over ``steps`` and a dense head to (horizon, n_targets)."""
    kl = backend.keras().layers
    hidden = steps
    length = steps.shape[1]
    for depth in range(paths.layers):
        last = depth == paths.layers - 1
        recurrent = stack.recurrent(
            f"{stack.cell}_{depth + 1}",
            f"bidirectional_{depth + 1}",
            return_sequences=not last or paths.attention,
        )
        hidden = stack.after(recurrent(hidden), str(depth + 1))
    if paths.attention:
        # The last step asks which earlier steps matter; its own state and that context feed
        # the head (the sequence -> (steps, width); the summary -> (2 * width,)).
        query = kl.Cropping1D((length - 1, 0), name="last_step")(hidden)
        context = _attention(query, hidden, stack.width)
        joined = kl.Concatenate(name="state_and_context")([query, context])
        hidden = kl.Reshape((2 * stack.width,), name="summary")(joined)

    size = shape.horizon * shape.n_targets
    head = kl.Dense(size, kernel_initializer="zeros" if from_level else "glorot_uniform", name="head")
    return kl.Reshape((shape.horizon, shape.n_targets), name="forecast")(head(hidden))


def _seq2seq(
    steps: keras.KerasTensor, shape: ModelShape, stack: _Stack, layers: int, attention: bool, from_level: bool
) -> keras.KerasTensor:
    """Encoder-decoder: ``steps`` -> ``(horizon, n_targets)``.

    The encoder stack reads the window; its last layer also returns its final states (both
    directions' concatenated when bidirectional). The decoder, ``units`` x directions wide so
    those states fit, starts from them and runs over ``horizon`` copies of the encoder's
    summary; a dense layer maps each decoder step to the targets. With ``attention`` every
    decoder step also attends over the encoder's outputs.
    """
    kl = backend.keras().layers
    hidden, states = _encode(steps, stack, layers, attention)
    # Without attention the encoder's (normalised) last output is its summary; with it, the
    # last layer returned its sequence, and the final hidden state summarises instead.
    summary = states[0] if attention else hidden
    repeated = kl.RepeatVector(shape.horizon, name="repeat_summary")(summary)
    # One direction only (no wrapper), as wide as the encoder's joined states.
    decoder = stack.recurrent(f"decoder_{stack.cell}", None, units=stack.width, return_sequences=True)
    decoded = decoder(repeated, initial_state=states)
    decoded = stack.after(decoded, "decoder")
    if attention:
        context = _attention(decoded, hidden, stack.width)
        decoded = kl.Concatenate(name="state_and_context")([decoded, context])
    head = kl.Dense(
        shape.n_targets, kernel_initializer="zeros" if from_level else "glorot_uniform", name="head"
    )
    return head(decoded)


def _segment_decoder(
    steps: keras.KerasTensor, shape: ModelShape, stack: _Stack, layers: int, segment: int, from_level: bool
) -> keras.KerasTensor:
    """The horizon a segment at a time (SegRNN's idea): the encoder's final states start a
    decoder that reads one learned position embedding per output segment, and one dense layer,
    shared by every segment, maps each decoder step to ``segment`` rows of the forecast.

    The embeddings are the bias of a dense layer applied to zeros (built-in layers only: a
    constant input cannot be made otherwise without a Lambda, which safe loading refuses).
    """
    kl = backend.keras().layers
    _, states = _encode(steps, stack, layers, attention=False)
    count = -(-shape.horizon // segment)
    first = kl.Cropping1D((0, steps.shape[1] - 1), name="first_step")(steps)
    nothing = kl.Flatten(name="first_step_flat")(kl.Subtract(name="zeros")([first, first]))
    positions = kl.Dense(count * stack.width, kernel_initializer="zeros", name="position_embedding")(nothing)
    positions = kl.Reshape((count, stack.width), name="positions")(positions)
    decoder = stack.recurrent(f"decoder_{stack.cell}", None, units=stack.width, return_sequences=True)
    decoded = stack.after(decoder(positions, initial_state=states), "decoder")
    head = kl.Dense(
        segment * shape.n_targets,
        kernel_initializer="zeros" if from_level else "glorot_uniform",
        name="segment_head",
    )(decoded)
    rows = kl.Reshape((count * segment, shape.n_targets), name="segment_rows")(head)
    if count * segment > shape.horizon:
        rows = kl.Cropping1D((0, count * segment - shape.horizon), name="forecast")(rows)
    return rows


def _encode(
    steps: keras.KerasTensor, stack: _Stack, layers: int, attention: bool
) -> tuple[keras.KerasTensor, list[keras.KerasTensor]]:
    """The encoder stack over ``steps``: its last layer's output (its whole sequence with
    ``attention``) and final states, both directions' joined when bidirectional."""
    kl = backend.keras().layers
    hidden = steps
    for depth in range(layers):
        last = depth == layers - 1
        encoder = stack.recurrent(
            f"encoder_{stack.cell}_{depth + 1}",
            f"encoder_bidirectional_{depth + 1}",
            return_sequences=not last or attention,
            return_state=last,
        )
        result = encoder(hidden)
        if last:
            hidden, *states = result
        else:
            hidden = result
        hidden = stack.after(hidden, f"encoder_{depth + 1}")
    if stack.bidirectional:
        # Bidirectional returns the forward states, then the backward ones ([h, c] each for
        # an LSTM, [h] otherwise): join each pair so the wider decoder can start from it.
        half = len(states) // 2
        states = [
            kl.Concatenate(name=f"encoder_state_{k + 1}")([forward, backward])
            for k, (forward, backward) in enumerate(zip(states[:half], states[half:], strict=True))
        ]
    return hidden, states


def _attention(query: keras.KerasTensor, sequence: keras.KerasTensor, width: int) -> keras.KerasTensor:
    """Multi-head attention of ``query`` over ``sequence``: learned projections, so the network
    chooses what to compare, with only a built-in layer."""
    kl = backend.keras().layers
    attend = kl.MultiHeadAttention(ATTENTION_HEADS, key_dim=width, name="attention")
    return attend(query, sequence)


def unroll_recursive(step: keras.Model, horizon: int) -> keras.Model:
    """The one-step network ``step`` applied ``horizon`` times: ``(lookback, n)`` -> ``(horizon, n)``.

    Each application's window drops its oldest row and appends the previous prediction
    (``step`` must read exactly the channels it predicts: recursive forecasting has no future
    feature values). Built from built-in layers around the nested ``step``, so the unrolled
    network is what a bundle saves and every command uses it as it would a direct one.
    """
    keras = backend.keras()
    kl = keras.layers
    _, lookback, n_inputs = step.input_shape
    _, step_horizon, n_targets = step.output_shape
    if step_horizon != 1 or n_inputs != n_targets:
        raise ValueError(f"a recursive step maps (lookback, n) to (1, n), not {step.output_shape}")
    inputs = keras.Input(shape=(lookback, n_inputs), name="window")
    window = inputs
    predictions = []
    for number in range(1, horizon + 1):
        prediction = step(window)
        predictions.append(prediction)
        if number == horizon:
            break
        if lookback == 1:
            window = prediction  # the window is just the newest row
        else:
            kept = kl.Cropping1D((1, 0), name=f"drop_oldest_{number}")(window)
            window = kl.Concatenate(axis=1, name=f"append_prediction_{number}")([kept, prediction])
    outputs = (
        predictions[0] if horizon == 1 else kl.Concatenate(axis=1, name="recursive_forecast")(predictions)
    )
    return keras.Model(inputs, outputs, name=f"{step.name}_recursive")


def average_members(members: list[keras.Model]) -> keras.Model:
    """One network whose forecast is the mean of ``members``' (same input and output shapes),
    each nested under its own name: a seed ensemble saved and used like a single network."""
    keras = backend.keras()
    inputs = keras.Input(shape=members[0].input_shape[1:], name="window")
    outputs = []
    for number, member in enumerate(members, start=1):
        member.name = f"member_{number}"
        outputs.append(member(inputs))
    average = keras.layers.Average(name="ensemble_mean")(outputs)
    return keras.Model(inputs, average, name=f"rnncast_ensemble_{len(members)}")


def training_shape(shape: ModelShape, config: TrainConfig) -> ModelShape:
    """The shape of the network that is trained: one step for ``--strategy recursive``."""
    if config.strategy == "recursive":
        return ModelShape(shape.lookback, 1, shape.n_inputs, shape.n_targets)
    return shape


def build_for_config(shape: ModelShape, config: TrainConfig, *, mixed_precision: bool = False) -> keras.Model:
    """The network ``config`` describes (cell, bidirectional, units, layers, dropout, residual,
    architecture, attention, layer normalisation) for ``shape``, as given: for a recursive
    config pass :func:`training_shape` to get the one-step network."""
    return build_model(
        shape,
        cell=config.model,
        bidirectional=config.bidirectional,
        units=config.units,
        layers=config.layers,
        dropout=config.dropout,
        residual=config.residual,
        mixed_precision=mixed_precision,
        architecture=config.architecture,
        attention=config.attention,
        layer_norm=config.layer_norm,
        window_norm=config.window_norm,
        segment=config.segment or 1,
        linear_skip=config.linear_skip,
        channels=resolved_channels(config, shape),
        trend_window=config.trend_window,
        season=config.seasonal_period or 1,
    )


def resolved_channels(config: TrainConfig, shape: ModelShape) -> str:
    """``--channels auto``: independent when every input is a target and there are several."""
    if config.channels != "auto":
        return config.channels
    return "independent" if shape.n_targets > 1 and shape.n_inputs == shape.n_targets else "mixed"


def _last_target_values(inputs: keras.KerasTensor, shape: ModelShape) -> keras.KerasTensor:
    """The last row of the target channels, repeated over the horizon, with built-in layers."""
    kl = backend.keras().layers
    last = kl.Cropping1D((shape.lookback - 1, 0), name="last_row")(inputs)  # (b, 1, inputs)
    return _over_horizon(_target_channels(last, shape, "last"), shape)


def _window_level(inputs: keras.KerasTensor, shape: ModelShape, how: str) -> keras.KerasTensor:
    """Each channel's level in the window, ``(b, 1, n_inputs)``: its last value or its mean."""
    kl = backend.keras().layers
    if how == "last":
        return kl.Cropping1D((shape.lookback - 1, 0), name="last_row")(inputs)
    if how == "mean":
        mean = kl.GlobalAveragePooling1D(name="window_mean")(inputs)
        return kl.Reshape((1, shape.n_inputs), name="mean_row")(mean)
    raise ValueError(f"unknown window normalisation {how!r}")


def _target_channels(row: keras.KerasTensor, shape: ModelShape, label: str) -> keras.KerasTensor:
    """The target channels (the first ``n_targets``) of a ``(b, 1, n_inputs)`` row."""
    kl = backend.keras().layers
    extra = shape.n_inputs - shape.n_targets
    if not extra:
        return row
    # Targets are the first channels; crop the feature channels off along a swapped axis.
    names = ("channels_first", "target_channels", "channels_last")
    if label != "last":
        names = tuple(f"{label}_{name}" for name in names)
    row = kl.Permute((2, 1), name=names[0])(row)
    row = kl.Cropping1D((0, extra), name=names[1])(row)
    return kl.Permute((2, 1), name=names[2])(row)


def _seasonal_level(inputs: keras.KerasTensor, shape: ModelShape, season: int) -> keras.KerasTensor:
    """The targets' last ``season`` rows of the window repeated over the horizon,
    ``(b, horizon, n_targets)``: the seasonal-naive forecast, with built-in layers."""
    if not 1 < season <= shape.lookback:
        raise ValueError(f"a season of {season} rows does not fit a lookback of {shape.lookback}")
    kl = backend.keras().layers
    last_season = kl.Cropping1D((shape.lookback - season, 0), name="last_season")(inputs)
    last_season = _target_channels(last_season, shape, "season")
    copies = -(-shape.horizon // season)
    if copies > 1:
        last_season = kl.Concatenate(axis=1, name="seasons_over_horizon")([last_season] * copies)
    extra = copies * season - shape.horizon
    return kl.Cropping1D((0, extra), name="seasonal_naive")(last_season) if extra else last_season


def _over_horizon(row: keras.KerasTensor, shape: ModelShape) -> keras.KerasTensor:
    """A ``(b, 1, n_targets)`` row repeated over the horizon."""
    kl = backend.keras().layers
    return kl.UpSampling1D(shape.horizon, name="repeat_over_horizon")(row)


def make_optimizer(
    name: str,
    learning_rate: float,
    clipnorm: float,
    *,
    weight_decay: float | None = None,
    schedule: str = "constant",
    decay_steps: int | None = None,
) -> keras.optimizers.Optimizer:
    """The optimizer ``--optimizer`` names, clipping gradients to ``clipnorm``.

    ``weight_decay`` is decoupled (Keras subtracts ``decay x learning rate x weight`` after
    each step); unset, AdamW decays by :data:`ADAMW_WEIGHT_DECAY` and the others not at all.
    ``schedule="cosine"`` decays the rate along a cosine to zero over ``decay_steps`` steps
    (every step of training); ``constant`` and ``plateau`` start from a plain rate (the plateau
    callback of :func:`schedule_callbacks` lowers it).
    """
    keras = backend.keras()
    optimizers = keras.optimizers

    if weight_decay is None and name == "adamw":
        weight_decay = ADAMW_WEIGHT_DECAY
    rate: Any = learning_rate
    if schedule == "cosine":
        if not decay_steps or decay_steps < 1:
            raise ValueError("a cosine schedule needs the number of training steps")
        rate = optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    common = {"learning_rate": rate, "clipnorm": clipnorm, "weight_decay": weight_decay or None}
    if name == "adam":
        return optimizers.Adam(**common)
    if name == "adamw":
        return optimizers.AdamW(**common)
    if name == "rmsprop":
        return optimizers.RMSprop(**common)
    if name == "sgd":
        return optimizers.SGD(momentum=SGD_MOMENTUM, **common)
    raise ValueError(f"unknown optimizer {name!r}")


def schedule_callbacks(schedule: str, patience: int) -> list[Any]:
    """Keras callbacks a learning-rate schedule needs: ``plateau`` halves the rate after
    ``max(1, patience // 2)`` epochs without a better validation loss, so the rate drops
    before early stopping (after ``patience``) gives up."""
    if schedule != "plateau":
        return []
    keras = backend.keras()
    return [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, patience // 2))]


def compile_model(
    model: keras.Model,
    learning_rate: float,
    clipnorm: float,
    *,
    xla: bool = False,
    loss_scaling: bool = False,
    optimizer: str = "adam",
    weight_decay: float | None = None,
    schedule: str = "constant",
    decay_steps: int | None = None,
    loss: str = "mse",
) -> None:
    """Compile on ``loss`` (mean squared error by default; ``mae`` or ``huber``) with
    :func:`make_optimizer` (Adam by default), gradients clipped to ``clipnorm``.

    ``xla`` compiles the whole training step with XLA: on a CPU it fuses the recurrent loop's
    many small operations and roughly doubles throughput (benchmarks/training_speed.py).
    ``loss_scaling`` wraps the optimizer in a loss-scale optimizer, which float16 layers need
    so small gradients do not underflow.
    """
    keras = backend.keras()

    chosen = make_optimizer(
        optimizer,
        learning_rate,
        clipnorm,
        weight_decay=weight_decay,
        schedule=schedule,
        decay_steps=decay_steps,
    )
    if loss_scaling:
        chosen = keras.optimizers.LossScaleOptimizer(chosen)
    model.compile(optimizer=chosen, loss=loss, jit_compile=False)
    if xla:
        # Keras refuses XLA whenever TensorFlow's op determinism is on (some GPU kernels lack a
        # deterministic XLA version); rnncast only asks for it on a CPU, where XLA's code is
        # deterministic on its own, so set the flag past that blanket check.
        model._jit_compile = True
