"""Transfer learning: start a new network from a trained bundle's weights (``--init-from``).

Two steps, at two moments:

1. :func:`adopt_source_architecture`, before any data is read: the source bundle is verified
   (checksums, metadata, the model archive's classes; no TensorFlow) and its network settings
   replace the run's, each change noted, so a bad or unusable source is refused at once.
2. :func:`initialise_from_source`, once the new network is built and before it is compiled:
   the source's model is loaded (``safe_mode=True``), its weights copied layer by layer by
   name, refusing any layer whose weights have other shapes here, and with
   ``--freeze recurrent`` the recurrent layers are frozen.

Either a single-series (format 1) or a many-series (format 2) bundle can be the source: only
its network is used; the new run fits its own scaler on its own data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rnncast.bundle import MODEL_FILE, Bundle, load_bundle
from rnncast.config import TrainConfig, flag_name
from rnncast.errors import UsageError

if TYPE_CHECKING:
    import keras

logger = logging.getLogger("rnncast")

# The settings that decide which layers the network has and their weights' shapes: the new
# network must have the source's, or its weights could not be copied.
ARCHITECTURE_FIELDS = (
    "model",
    "bidirectional",
    "units",
    "layers",
    "residual",
    "architecture",
    "strategy",
    "attention",
    "layer_norm",
    "window_norm",
    "segment",
    "linear_skip",
    "trend_window",
    "channels",
)
# Weights that do not depend on these; taken from the source only when the run leaves them unset.
WINDOW_FIELDS = ("lookback", "horizon")
# Layers whose weights are shaped by the lookback (the linear path reads every input row): with
# another lookback they are trained from their zero start instead of copied.
LOOKBACK_SHAPED_LAYERS = ("linear_skip", "linear_trend", "linear_seasonal")
FROM_SCRATCH = "or train from scratch without --init-from"


def adopt_source_architecture(config: TrainConfig) -> TrainConfig:
    """``config`` with the network settings of its ``--init-from`` bundle (and the bundle's
    lookback and horizon where ``config`` leaves them unset); ``init_from`` becomes the
    bundle's resolved path. Each setting that differs from the run's is noted in the log.

    Imports no TensorFlow: the bundle's files are verified, its model is not loaded.

    Raises:
        BundleError: the source bundle is missing, damaged or not rnncast's.
        UsageError: the source's settings cannot be combined with this run's (a recursive
            source for a run with features, or a direct head for another horizon).
    """
    if config.init_from is None:
        return config
    source = load_bundle(config.init_from, with_model=False)
    theirs = source.config
    where = f"--init-from {source.path}"
    # Absolute: the path is saved with the config, and `update --retrain` may run elsewhere.
    changes: dict[str, Any] = {"init_from": str(source.path.resolve())}
    for name in ARCHITECTURE_FIELDS:
        value = getattr(theirs, name)
        if value != getattr(config, name):
            logger.warning(
                "%s: using the source model's %s %s (not %s)",
                where,
                flag_name(name),
                _shown(value),
                _shown(getattr(config, name)),
            )
            changes[name] = value
    for name in WINDOW_FIELDS:
        if getattr(config, name) is None:
            logger.info("%s: using the source model's %s %s", where, flag_name(name), getattr(theirs, name))
            changes[name] = getattr(theirs, name)
    direct_head = theirs.architecture == "rnn" and theirs.strategy == "direct"
    if direct_head and config.horizon is not None and config.horizon != theirs.horizon:
        raise UsageError(
            f"{where}: the source's dense head predicts {theirs.horizon} steps, "
            f"not --horizon {config.horizon}",
            f"use --horizon {theirs.horizon} (or no --horizon), a source trained with --architecture "
            f"seq2seq or --strategy recursive, {FROM_SCRATCH}",
        )
    try:
        return config.replace(**changes)
    except UsageError as exc:
        raise UsageError(
            f"{where}: the source model's settings do not fit this run: {exc.message}",
            f"{exc.hint or 'change the run'}, {FROM_SCRATCH}",
        ) from exc


def initialise_from_source(model: keras.Model, config: TrainConfig) -> dict[str, Any]:
    """Copy the ``--init-from`` bundle's weights into ``model`` (built, not yet compiled) and
    freeze its recurrent layers with ``--freeze recurrent``.

    Returns:
        The lineage record the new bundle keeps: the source's path, creation time, data and
        model checksums, how many series it was trained on, and the frozen layers' names.

    Raises:
        BundleError: the source bundle cannot be loaded safely.
        UsageError: a layer of ``model`` is missing from the source or holds weights of
            other shapes (other numbers of targets or inputs, another horizon).
    """
    assert config.init_from is not None
    source = load_bundle(config.init_from)  # verified again, and loaded with safe_mode=True
    copy_weights(source.model, model, f"--init-from {source.path}")
    frozen = freeze_recurrent(model) if config.freeze == "recurrent" else []
    return lineage_record(source, frozen)


def lineage_record(source: Bundle, frozen: list[str]) -> dict[str, Any]:
    """What the new bundle's metadata records about where its starting weights came from."""
    metadata = source.metadata
    series = metadata.get("series")
    return {
        "init_from": str(source.path.resolve()),
        "source_created_at": metadata["created_at"],
        "source_data_path": metadata["data"].get("path"),
        "source_data_sha256": metadata["data"].get("sha256"),
        "source_model_sha256": metadata.get("files", {}).get(MODEL_FILE),
        "source_series": series.get("trained_on", 1) if isinstance(series, dict) else 1,
        "source_targets": list(source.targets),
        "frozen": frozen,
    }


def copy_weights(source: keras.Model, target: keras.Model, where: str) -> int:
    """Set every weight-bearing layer of ``target`` to the weights of the ``source`` layer of
    the same name (nested models, such as a recursive network's step, are searched too).

    Returns:
        How many layers were copied.

    Raises:
        UsageError: a layer is missing from ``source`` or its weights' shapes differ.
    """
    available = dict(_weighted_layers(source))
    copied = 0
    for name, layer in _weighted_layers(target):
        theirs = available.get(name)
        if theirs is None:
            raise UsageError(
                f"{where}: the source model has no layer {name!r} to start it from",
                f"use a source trained with the same network settings, {FROM_SCRATCH}",
            )
        if len(layer.weights) != len(theirs.weights):
            raise UsageError(
                f"{where}: layer {name!r} holds {len(theirs.weights)} weights in the source model "
                f"but {len(layer.weights)} here",
                f"use a source trained with the same network settings, {FROM_SCRATCH}",
            )
        shapes_differ = any(
            tuple(ours.shape) != tuple(their.shape)
            for ours, their in zip(layer.weights, theirs.weights, strict=True)
        )
        if shapes_differ and name in LOOKBACK_SHAPED_LAYERS:
            # A map from every input row: another lookback cannot reuse it, so it starts at zero.
            logger.info("%s: layer %r starts afresh (its shape depends on the lookback)", where, name)
            continue
        for ours, their in zip(layer.weights, theirs.weights, strict=True):
            if tuple(ours.shape) != tuple(their.shape):
                raise UsageError(
                    f"{where}: layer {name!r} weight {_weight_name(ours)} has shape "
                    f"{tuple(their.shape)} in the source model but {tuple(ours.shape)} here",
                    "train on as many targets and input columns (and, for a dense head, the same "
                    f"--horizon) as the source, {FROM_SCRATCH}",
                )
        layer.set_weights(theirs.get_weights())
        copied += 1
    return copied


def freeze_recurrent(model: keras.Model) -> list[str]:
    """Stop training the recurrent layers of ``model`` (Bidirectional wrappers whole, the
    seq2seq encoder and decoder, a recursive network's step); returns their names."""
    from rnncast import backend

    kl = backend.keras().layers
    frozen = []
    for layer in _leaf_layers(model):
        if isinstance(layer, kl.RNN | kl.Bidirectional):
            layer.trainable = False  # a wrapper passes it on to both directions
            frozen.append(layer.name)
    return frozen


def _leaf_layers(model: Any) -> Iterator[Any]:
    """The layers of ``model``, those of nested models in their place (not the models)."""
    from rnncast import backend

    keras = backend.keras()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def _weighted_layers(model: Any) -> Iterator[tuple[str, Any]]:
    return ((layer.name, layer) for layer in _leaf_layers(model) if layer.weights)


def _weight_name(variable: Any) -> str:
    # Keras 3 paths read "lstm_1/lstm_cell/kernel": the last part names the weight.
    return str(getattr(variable, "path", variable.name)).rsplit("/", 1)[-1]


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
