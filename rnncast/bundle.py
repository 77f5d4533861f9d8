"""The model bundle: one directory holding everything a trained model needs, written atomically.

Layout (format_version 1; 2 for a model of many series)::

    model.keras     Keras model, built-in layers only (loads with safe_mode=True)
    scaler.json     scaler parameters per column (format 2: per series too, under "series")
    metadata.json   versions, full config, data fingerprint, split, training summary, checksums
    report.json     held-out metrics beside the naive baselines
    history.csv     per-epoch losses

Loading checks the format version and every checksum before anything is used, and the model
is deserialised with ``safe_mode=True``: a bundle can never run code.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncast import backend
from rnncast.bundle_files import (
    BUNDLE_FILES,
    CHECKSUMMED_FILES,
    FORMAT_VERSION,
    HISTORY_FILE,
    METADATA_FILE,
    MODEL_FILE,
    REPORT_FILE,
    SCALER_FILE,
    SINGLE_SERIES_FORMAT,
    check_model_archive,
    read_bundle_files,
)
from rnncast.bundle_files import resolve_bundle_path as resolve_bundle_path  # known by this module's name
from rnncast.config import TrainConfig
from rnncast.errors import BundleError, UsageError, first_line
from rnncast.fileio import (
    new_staging_directory,
    replace_directory,
    restore_interrupted_replacement,
    sha256_file,
    to_json,
)

if TYPE_CHECKING:
    import keras

    from rnncast.windows import Scaler


@dataclass
class Bundle:
    """A loaded bundle. ``model`` is ``None`` when loaded without it (for ``info``)."""

    path: Path
    metadata: dict[str, Any]
    scaler: Scaler
    report: dict[str, Any]
    model: keras.Model | None = field(default=None, repr=False)
    series_scalers: dict[str, Scaler] | None = field(default=None, repr=False)

    @property
    def many_series(self) -> bool:
        """Whether this is one global model over many series (format 2)."""
        return self.series_scalers is not None

    @property
    def config(self) -> TrainConfig:
        """The resolved training config (lookback and horizon are numbers)."""
        return TrainConfig.from_dict(self.metadata["config"])

    @property
    def targets(self) -> tuple[str, ...]:
        """Target columns, in the model's output order."""
        return tuple(self.metadata["model"]["targets"])

    @property
    def features(self) -> tuple[str, ...]:
        """Input-only columns."""
        return tuple(self.metadata["model"]["features"])

    @property
    def frequency(self) -> str:
        """The data's frequency as a pandas offset alias."""
        return str(self.metadata["data"]["frequency"])


def check_bundle_target(target: Path) -> None:
    """Refuse to write a bundle over anything that is not a bundle (a data file, a home
    directory): replacing the target deletes what was there.

    Raises:
        UsageError: ``target`` exists and is not an rnncast bundle directory.
    """
    parent = target.parent
    if (parent / METADATA_FILE).is_file() and (parent / MODEL_FILE).is_file():
        raise UsageError(
            f"--out {str(target)!r} is inside the model bundle {str(parent)!r}",
            "choose a directory outside any bundle",
        )
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not target.is_symlink():
        names = {entry.name for entry in target.iterdir()}
        if not names:
            return
        if names <= set(BUNDLE_FILES) and METADATA_FILE in names:
            try:
                metadata = json.loads((target / METADATA_FILE).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                metadata = None
            if isinstance(metadata, dict) and "format_version" in metadata:
                return
    raise UsageError(
        f"--out {str(target)!r} exists and is not a model bundle, so it will not be replaced",
        "choose a new directory or an existing bundle for --out",
    )


def save_bundle(
    target: Path,
    *,
    model: keras.Model,
    scaler: Scaler,
    metadata: dict[str, Any],
    report: dict[str, Any],
    history: dict[str, list[float]],
    series_scalers: dict[str, Scaler] | None = None,
) -> Path:
    """Write a complete bundle to ``target``, replacing an older one only once it is whole.

    ``series_scalers`` (a model of many series) are saved with ``scaler`` in scaler.json.
    """
    restore_interrupted_replacement(target)
    check_bundle_target(target)
    staged = new_staging_directory(target)
    try:
        model.save(staged / MODEL_FILE)
        scalers = scaler.to_dict()
        if series_scalers is not None:
            scalers["series"] = {key: value.to_dict()["columns"] for key, value in series_scalers.items()}
        (staged / SCALER_FILE).write_text(to_json(scalers), encoding="utf-8")
        (staged / REPORT_FILE).write_text(to_json(report), encoding="utf-8")
        (staged / HISTORY_FILE).write_text(history_csv(history), encoding="utf-8")
        metadata = {
            **metadata,
            "format_version": FORMAT_VERSION if series_scalers is not None else SINGLE_SERIES_FORMAT,
            "files": {name: sha256_file(staged / name) for name in CHECKSUMMED_FILES},
        }
        (staged / METADATA_FILE).write_text(to_json(metadata), encoding="utf-8")
        replace_directory(staged, target)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target


def history_csv(history: dict[str, list[float]]) -> str:
    """Per-epoch losses as CSV: ``epoch,loss,val_loss``."""
    names = sorted(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for epoch in range(len(history[names[0]]) if names else 0):
        writer.writerow([epoch + 1, *(repr(history[n][epoch]) for n in names)])
    return buffer.getvalue()


def read_history(bundle: Bundle) -> dict[str, list[float]]:
    """The per-epoch losses from the bundle's history.csv (``{}`` if it cannot be parsed)."""
    import pandas as pd  # only reports plot the losses

    try:
        frame = pd.read_csv(bundle.path / HISTORY_FILE)
    except (OSError, ValueError):
        return {}
    return {str(c): [float(v) for v in frame[c]] for c in frame.columns if c != "epoch"}


def load_bundle(path: str | Path, *, with_model: bool = True) -> Bundle:
    """Load and verify a bundle; ``with_model=False`` skips Keras (no TensorFlow import).

    Raises:
        BundleError: missing files, a newer format, checksum mismatches, or a model that
            cannot be loaded safely.
    """
    files = read_bundle_files(path)
    bundle = Bundle(
        files.directory, files.metadata, files.scaler, files.report, series_scalers=files.series_scalers
    )
    if with_model:
        attach_model(bundle)
    return bundle


def attach_model(bundle: Bundle) -> Bundle:
    """Load the bundle's Keras model (imports TensorFlow) if it is not loaded yet."""
    if bundle.model is None:
        n_inputs = len(bundle.targets) + len(bundle.features)
        bundle.model = _load_keras_model(
            bundle.path / MODEL_FILE,
            bundle.config,
            n_inputs,
            len(bundle.targets),
            bundle.metadata.get("files", {}).get(MODEL_FILE),
        )
    return bundle


def _load_keras_model(
    model_path: Path, config: TrainConfig, n_inputs: int, n_targets: int, checksum: str | None
) -> keras.Model:
    with checked_model_copy(model_path, checksum) as (copy, _):
        return _load_checked_archive(copy, config, n_inputs, n_targets)


@contextlib.contextmanager
def checked_model_copy(model_path: Path, checksum: str | None) -> Iterator[tuple[Path, bytes]]:
    """A private copy of the bundle's model archive and its bytes, once they match ``checksum``
    and pass :func:`check_model_archive` (foreign classes, unexpected members, zip bombs).

    The bytes are read once and only they are used: a bundle replaced meanwhile by another run
    cannot pair its model with the metadata and scaler already read and verified.

    Raises:
        BundleError: the file changed since its checksum was recorded, or the archive is unsafe.
    """
    data = model_path.read_bytes()
    if checksum is not None and hashlib.sha256(data).hexdigest() != checksum:
        raise BundleError(
            f"{MODEL_FILE} in {model_path.parent} changed while it was being loaded (another run "
            "replaced the bundle?)",
            "run the command again",
        )
    with tempfile.TemporaryDirectory(prefix="rnncast-model-") as private:
        copy = Path(private) / MODEL_FILE
        copy.write_bytes(data)
        check_model_archive(copy)
        yield copy, data


def _load_checked_archive(
    model_path: Path, config: TrainConfig, n_inputs: int, n_targets: int
) -> keras.Model:
    keras = backend.keras()

    try:
        model = keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for unsafe or damaged files
        raise BundleError(
            f"{MODEL_FILE} cannot be loaded safely ({first_line(exc)})", "retrain the model"
        ) from exc
    expected_in = (None, config.lookback, n_inputs)
    expected_out = (None, config.horizon, n_targets)
    if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
        raise BundleError(
            f"{MODEL_FILE} maps {model.input_shape} to {model.output_shape}, but the metadata "
            f"describes {expected_in} to {expected_out}",
            "retrain the model",
        )
    return model
