"""A model bundle's files, read and checked without loading its model or the data stack.

Everything :func:`rnncast.bundle.load_bundle` verifies before Keras is involved lives here: the
directory (following ``runs/latest``), the format version, every checksum, the Keras version, the
model archive's JSON config, the metadata's fields and the scaler's columns. Nothing here imports
pandas or TensorFlow (NumPy only, to rebuild the scalers), so ``rnncast info`` answers at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnncast import __version__
from rnncast.config import TrainConfig
from rnncast.errors import BundleError, DataError, RnncastError, first_line
from rnncast.fileio import follow_link, restore_interrupted_replacement, sha256_file

if TYPE_CHECKING:
    from rnncast.windows import Scaler

FORMAT_VERSION = 2  # the newest format this release reads and writes
SINGLE_SERIES_FORMAT = 1  # single-series bundles stay readable by releases that know only 1
MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.json"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.json"
HISTORY_FILE = "history.csv"
BUNDLE_FILES = (MODEL_FILE, SCALER_FILE, METADATA_FILE, REPORT_FILE, HISTORY_FILE)
CHECKSUMMED_FILES = (MODEL_FILE, SCALER_FILE, REPORT_FILE, HISTORY_FILE)
REQUIRED_METADATA = ("config", "data", "model", "split", "training", "versions")
# What a Keras 3 model archive holds; anything else in model.keras is refused.
ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
# Every class the networks of rnncast.models are made of (tests build each variant and check
# it passes); anything else in a model's config is refused. Extend it with new model options.
KERAS_CLASSES = frozenset(
    {
        "Functional",
        "InputLayer",
        "SimpleRNN",
        "LSTM",
        "GRU",
        "Bidirectional",
        "Dense",
        "Dropout",
        "Reshape",
        "Permute",
        "Add",
        "Cropping1D",
        "UpSampling1D",
        "DTypePolicy",
        "GlorotUniform",
        "Orthogonal",
        "Zeros",
        "Adam",
        # --layer-norm, --attention, --architecture seq2seq, --strategy recursive
        "LayerNormalization",
        "Ones",
        "MultiHeadAttention",
        "Concatenate",
        "RepeatVector",
        # --window-norm, --segment, --linear-skip, --channels independent
        "Subtract",
        "GlobalAveragePooling1D",
        "ZeroPadding1D",
        "Flatten",
        "AveragePooling1D",
        "TimeDistributed",
        "Average",  # --ensemble
        # --optimizer, --lr-schedule cosine, --mixed-precision (saved with the compile config)
        "AdamW",
        "RMSprop",
        "SGD",
        "CosineDecay",
        "LossScaleOptimizer",
    }
)
# Sizes beyond anything rnncast writes: a config.json is kilobytes, weights at most hundreds of
# megabytes; float weights barely compress, so a high ratio means a zip bomb.
MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 4 << 30
MAX_COMPRESSION_RATIO = 200
MAX_CONFIG_DEPTH = 64
# Bundle JSON files (metadata, scaler, report) are kilobytes to a few megabytes.
MAX_JSON_BYTES = 64 << 20

logger = logging.getLogger("rnncast")


@dataclass(frozen=True)
class BundleFiles:
    """A bundle's verified contents, without its Keras model."""

    directory: Path
    metadata: dict[str, Any]
    scaler: Scaler
    report: dict[str, Any]
    series_scalers: dict[str, Scaler] | None = None


def resolve_bundle_path(path: str | Path) -> Path:
    """The bundle directory ``path`` names, following a ``latest`` link."""
    path = follow_link(Path(path))
    if path.is_symlink() and not path.exists():  # runs/latest -> a bundle a crash left renamed aside
        restore_interrupted_replacement(path.parent / os.readlink(path))
    restore_interrupted_replacement(path)
    if path.is_symlink() and path.exists():
        path = path.resolve()  # report the real bundle, not "runs/latest"
    if not path.exists():
        hint = (
            "train one first with: rnncast train DATA.csv"
            if path.name == "latest"
            else "check the path given to --model (bundles live in runs/<name>/ by default)"
        )
        raise BundleError(f"no model bundle at {str(path)!r}", hint)
    if not path.is_dir():
        raise BundleError(
            f"{str(path)!r} is a file, not a model bundle directory",
            "pass the bundle directory to --model",
        )
    return path


def read_bundle_files(path: str | Path) -> BundleFiles:
    """Read and verify every file of a bundle; the model archive only as far as its JSON config.

    Raises:
        BundleError: missing files, a newer format, checksum mismatches, or a model that
            rnncast did not build.
    """
    from rnncast.windows import Scaler  # NumPy, not pandas

    directory = resolve_bundle_path(path)
    metadata = _read_json(directory, METADATA_FILE)
    version = metadata.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{METADATA_FILE} in {directory} has no format_version", "retrain the model")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format {version} is newer than this rnncast understands ({FORMAT_VERSION})",
            "upgrade rnncast: pip install -U rnncast",
        )
    verify_checksums(directory, metadata)
    check_versions(directory, metadata)
    check_model_archive(directory / MODEL_FILE)  # cheap (JSON only): info refuses hostile files too
    scaler_data = _read_json(directory, SCALER_FILE)
    scaler = Scaler.from_dict(scaler_data)
    series_scalers = _series_scalers(scaler_data, scaler.columns)
    report = _read_json(directory, REPORT_FILE)
    missing = [key for key in REQUIRED_METADATA if not isinstance(metadata.get(key), dict)]
    if missing:
        raise BundleError(f"{METADATA_FILE} in {directory} lacks {', '.join(missing)}", "retrain the model")
    problem = metadata_problem(metadata)
    if problem:
        raise BundleError(f"{METADATA_FILE} in {directory} is damaged: {problem}", "retrain the model")
    expected = tuple(metadata["model"]["targets"]) + tuple(metadata["model"]["features"])
    if scaler.columns != expected:
        raise BundleError(
            f"scaler.json columns {list(scaler.columns)} disagree with the model's {list(expected)}",
            "retrain the model",
        )
    return BundleFiles(directory, metadata, scaler, report, series_scalers)


def describe_bundle(path: str | Path) -> dict[str, Any]:
    """What a bundle is: data, config, versions, training and metrics (``rnncast info``)."""
    files = read_bundle_files(path)
    return {"path": str(files.directory), **files.metadata, "report": files.report}


def training_data_path(metadata: dict[str, Any], data: str | Path | None) -> Path:
    """The data file a bundle is used on: ``data``, else the file it was trained on.

    Raises:
        DataError: no ``data`` was given and the training file no longer exists.
    """
    path = Path(data) if data is not None else Path(metadata["data"]["path"])
    if data is None and not path.exists():
        raise DataError(
            f"the training data {str(path)!r} no longer exists", "pass the newest data with --data"
        )
    return path


def _series_scalers(data: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Scaler] | None:
    """Each series' scaler from a many-series scaler.json; ``None`` for a single series."""
    from rnncast.windows import Scaler

    if "series" not in data:
        return None
    series = data["series"]
    if not isinstance(series, dict) or not series:
        raise BundleError("scaler.json lists no series", "retrain the model")
    scalers = {}
    for key, parameters in series.items():
        scaler = Scaler.from_dict({"kind": data.get("kind"), "columns": parameters})
        if scaler.columns != columns:
            raise BundleError(
                f"scaler.json series {key!r} has other columns than the model", "retrain the model"
            )
        scalers[str(key)] = scaler
    return scalers


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """What is wrong with the fields rnncast relies on, or None when they are sound.

    metadata.json carries the other files' checksums but none of its own, so its fields are
    checked one by one before anything trusts them.
    """
    data, model, split = metadata["data"], metadata["model"], metadata["split"]
    if not isinstance(metadata.get("created_at"), str):
        return "created_at is missing or not text"
    for section, key in (
        ("data", "path"),
        ("data", "time_col"),
        ("data", "frequency"),
        ("data", "first_timestamp"),
        ("data", "last_timestamp"),
        ("split", "test_start"),
        ("training", "device"),
    ):
        if not isinstance(metadata[section].get(key), str):
            return f"{section}.{key} is missing or not text"
    for section, key in (
        ("data", "rows"),
        ("split", "train_rows"),
        ("split", "val_rows"),
        ("split", "test_rows"),
        ("model", "parameters"),
        ("training", "epochs_run"),
        ("training", "best_epoch"),
        ("training", "seconds"),
    ):
        value = metadata[section].get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"{section}.{key} is missing or not a number"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata["versions"].items()):
        return "versions is not a table of version strings"
    for key in ("targets", "features"):
        names = model.get(key)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return f"model.{key} is not a list of column names"
    if not model["targets"]:
        return "model.targets is empty"
    if not _is_known_frequency(data["frequency"]):
        return f"data.frequency {data['frequency']!r} is not a frequency"
    try:
        test_start_has_zone = _has_utc_offset(split["test_start"])
    except ValueError:
        return f"split.test_start {split['test_start']!r} is not a timestamp"
    try:
        config = TrainConfig.from_dict(metadata["config"])
    except RnncastError as exc:
        return f"config: {exc.message}"
    if config.lookback is None or config.horizon is None:
        return "config.lookback and config.horizon must be numbers in a trained model"
    if test_start_has_zone != _has_utc_offset(data["last_timestamp"]):
        return "split.test_start and data.last_timestamp disagree on time zones"
    if "intervals" in metadata:  # bundles trained without --intervals (or before it) lack it
        from rnncast.intervals import calibration_problem  # NumPy only

        problem = calibration_problem(metadata["intervals"], config, len(model["targets"]))
        if problem is not None:
            return f"intervals: {problem}"
    return None


# The frequencies rnncast.frequency.infer_frequency writes, known at a glance; any other text (a
# hand-edited file) is judged by rnncast.frequency.is_known_frequency, which needs pandas.
_WRITTEN_FREQUENCY = re.compile(
    r"B|D|MS|ME|BMS|BME|YE-DEC|month-day-\d+|W-(MON|TUE|WED|THU|FRI|SAT|SUN)"
    r"|(QS|QE|YS)-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)|([1-9]\d*)?(D|h|min|s|ms|us|ns)"
)
# A timestamp as pandas writes it (Timestamp.isoformat); the year within what pandas can hold.
_ISO_TIMESTAMP = re.compile(r"(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?([+-]\d{2}:\d{2})?")
_PANDAS_YEARS = range(1678, 2262)


def _is_known_frequency(frequency: str) -> bool:
    if _WRITTEN_FREQUENCY.fullmatch(frequency):
        return True
    from rnncast.frequency import is_known_frequency

    return is_known_frequency(frequency)


def _has_utc_offset(text: str) -> bool:
    """Whether the timestamp ``text`` carries a UTC offset, as ``pandas.Timestamp`` reads it.

    Raises:
        ValueError: ``text`` is not a timestamp.
    """
    match = _ISO_TIMESTAMP.fullmatch(text)
    if match is not None and int(match[1]) in _PANDAS_YEARS:
        try:
            return dt.datetime.fromisoformat(text).tzinfo is not None
        except ValueError:
            pass  # a day or an offset that does not exist: pandas words the refusal
    import pandas as pd  # other spellings (a hand-edited file): pandas decides, as it always did

    return pd.Timestamp(text).tz is not None


def check_versions(directory: Path, metadata: dict[str, Any]) -> None:
    """Refuse a bundle whose model this Keras cannot read; note one made by a newer rnncast.

    Bundles of the same format_version from other rnncast releases load as they are (the
    format is the contract); a model saved by another major version of Keras does not.
    """
    versions = metadata.get("versions")
    if not isinstance(versions, dict):
        return  # reported as missing metadata by the caller
    saved_keras = _release(versions.get("keras"))
    if saved_keras and saved_keras[0] != 3:
        raise BundleError(
            f"the model in {directory} was saved by Keras {versions['keras']}; rnncast uses Keras 3",
            "retrain the model with this rnncast",
        )
    made_by = versions.get("rnncast")
    if _release(made_by) > _release(__version__):
        logger.warning(
            "bundle %s was made by rnncast %s, newer than this rnncast %s; it uses the same bundle "
            "format, but upgrading is safer (pip install -U rnncast)",
            directory,
            made_by,
            __version__,
        )


def _release(version: Any) -> tuple[int, ...]:
    """The leading numbers of a version string (``"3.15.1rc1"`` -> ``(3, 15, 1)``); () if none."""
    if not isinstance(version, str):
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def check_model_archive(model_path: Path) -> None:
    """Refuse a ``model.keras`` holding anything rnncast does not build itself.

    rnncast's networks use a small, fixed set of built-in Keras layers, so any other class
    (a Lambda layer, a function, a custom or registered class, a Keras layer rnncast never
    uses) means the file was not written by rnncast: it is refused from the archive's JSON
    config, before Keras deserialises anything (``safe_mode=True`` is the second line of
    defence). Sizes are checked before anything is decompressed (no zip bombs).

    Raises:
        BundleError: not a Keras archive, unexpected or oversized members, or foreign objects.
    """
    where = f"{MODEL_FILE} in {model_path.parent}"
    try:
        with zipfile.ZipFile(model_path) as archive:
            members = archive.infolist()
            unexpected = [m.filename for m in members if m.filename not in ARCHIVE_MEMBERS]
            if unexpected:
                raise BundleError(
                    f"{where} holds unexpected files ({', '.join(unexpected[:3])})",
                    "retrain the model; do not use bundles from untrusted sources",
                )
            oversized = [m.filename for m in members if not _plausible_member(m)]
            if oversized:
                raise BundleError(
                    f"{where} holds an implausibly large or compressed {oversized[0]}",
                    "retrain the model; do not use bundles from untrusted sources",
                )
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(
            f"{where} is not a Keras model archive ({first_line(exc)})",
            "retrain the model or restore the bundle from a good copy",
        ) from exc
    foreign = _foreign_object(config)
    if foreign:
        raise BundleError(
            f"{where} refers to {foreign}, which rnncast's models never contain, so it is not loaded "
            "(a forged model can run code)",
            "retrain the model with rnncast; do not use bundles from untrusted sources",
        )


def _plausible_member(member: zipfile.ZipInfo) -> bool:
    """Whether a model archive member's sizes are ones rnncast could have written."""
    limit = MAX_WEIGHTS_BYTES if member.filename == "model.weights.h5" else MAX_CONFIG_BYTES
    ratio = member.file_size / max(member.compress_size, 1)
    return member.file_size <= limit and ratio <= MAX_COMPRESSION_RATIO


def _foreign_object(config: Any) -> str | None:
    """The first object in a Keras config outside :data:`KERAS_CLASSES`, described; or None.

    Walks the JSON iteratively with a depth limit, so a deeply nested forgery cannot exhaust
    the stack.
    """
    stack: list[tuple[Any, int]] = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            return f"a config nested more than {MAX_CONFIG_DEPTH} levels deep"
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        name = node.get("class_name")
        if name is not None:
            module = node.get("module")
            registered = node.get("registered_name")
            if name == "__keras_tensor__" and module is None:
                pass  # a reference to a layer's output inside the functional graph
            elif not isinstance(module, str) or not re.fullmatch(r"keras(\.\w+)*", module):
                return f"a custom object {module}.{name}"
            elif name not in KERAS_CLASSES:
                return f"a {name} object"
            elif registered is not None and registered != name:
                return f"a registered custom object {registered!r}"
        stack.extend((value, depth + 1) for value in node.values())
    return None


def verify_checksums(directory: Path, metadata: dict[str, Any]) -> None:
    """Refuse a bundle whose files are missing or differ from the recorded SHA-256."""
    recorded = metadata.get("files")
    if not isinstance(recorded, dict):
        raise BundleError(f"{METADATA_FILE} in {directory} lists no file checksums", "retrain the model")
    for name in CHECKSUMMED_FILES:
        file_path = directory / name
        if not file_path.is_file():
            raise BundleError(f"bundle {directory} is missing {name}", "retrain the model")
        if sha256_file(file_path) != recorded.get(name):
            raise BundleError(
                f"{name} in {directory} does not match its recorded checksum (damaged or edited)",
                "retrain the model or restore the bundle from a good copy",
            )


def _read_json(directory: Path, name: str) -> dict[str, Any]:
    file_path = directory / name
    if not file_path.is_file():
        raise BundleError(f"{directory} is not a model bundle: {name} is missing", "retrain the model")
    if file_path.stat().st_size > MAX_JSON_BYTES:
        raise BundleError(f"{name} in {directory} is implausibly large", "retrain the model")
    try:
        data = json.loads(file_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(
            f"{name} in {directory} is not valid JSON ({first_line(exc)})", "retrain the model"
        ) from exc
    if not isinstance(data, dict):
        raise BundleError(f"{name} in {directory} is not a JSON object", "retrain the model")
    return data
