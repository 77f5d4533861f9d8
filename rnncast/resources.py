"""Memory: what a run will need, what the machine has, and a clear refusal before work starts.

A run that would not fit must fail in a second with the estimate and the fix, not after
minutes of training with the kernel's OOM killer (exit 137, no message, maybe a half-written
file). The estimate counts the arrays rnncast itself allocates; TensorFlow's own footprint is
a fixed allowance.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from rnncast.errors import ResourceError, UsageError

# TensorFlow's runtime, kernels and Keras graphs, measured at about 0.7 GB RSS on import.
RUNTIME_BYTES = 800 * 2**20
# Arrays per scored value: the actual, five forecasts, errors and report columns (float64).
SCORING_ARRAYS = 16
MEMORY_LIMIT_VARIABLE = "RNNCAST_MEMORY_LIMIT"
# Peak memory of loading a data file, per byte of file.
CSV_EXPANSION = 4
PARQUET_EXPANSION = 12
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass(frozen=True)
class RunSize:
    """The shapes that decide a run's memory."""

    rows: int
    columns: int
    targets: int
    lookback: int
    horizon: int
    scored_windows: int
    batch_size: int = 64
    units: int = 64
    layers: int = 1
    directions: int = 1
    gates: int = 4  # weight blocks per recurrent cell: 1 SimpleRNN, 3 GRU, 4 LSTM


def parameter_count(size: RunSize) -> int:
    """About how many weights the network has: each recurrent layer's gates over its inputs
    and its own state, per direction, plus the dense head."""
    count = 0
    inputs = size.columns
    for _ in range(size.layers):
        per_direction = size.gates * size.units * (inputs + size.units + 2)
        count += per_direction * size.directions
        inputs = size.units * size.directions
    return count + inputs * size.horizon * size.targets + size.horizon * size.targets


def estimate_bytes(size: RunSize) -> int:
    """Peak bytes of the data rnncast holds for a run of ``size`` (TensorFlow's runtime aside).

    The series is held a few times (float64 frame, scaled copy, float32 tensors for the input
    pipelines); training gathers one batch of windows at a time; scoring keeps every scored
    window's forecasts from the model and the baselines.
    """
    table = size.rows * size.columns * (3 * 8 + 3 * 4)
    batch = size.batch_size * (size.lookback * size.columns + size.horizon * size.targets) * 4 * 4
    # Recurrent activations kept for backpropagation: about 8 numbers per unit per step.
    activations = size.batch_size * size.lookback * size.units * size.layers * size.directions * 8 * 4
    # Weights, their gradients and Adam's two moments, float32.
    weights = parameter_count(size) * 4 * 4
    scoring = size.scored_windows * size.horizon * size.targets * 8 * SCORING_ARRAYS
    return table + batch + activations + weights + scoring


def available_bytes() -> int | None:
    """Memory this process may still use: ``RNNCAST_MEMORY_LIMIT`` when set (``off`` or 0:
    None, no check), else the smaller of the system's available memory and the room under the
    container's (cgroup) limit; None when the platform does not say."""
    override = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    if override.lower() in ("off", "none", "0"):
        return None
    if override:
        return parse_size(override)
    candidates = [value for value in (_meminfo_available(), _cgroup_room()) if value is not None]
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return None
    return min(candidates)


def check_fits_in_memory(size: RunSize, what: str) -> int:
    """Refuse a run whose estimate exceeds the memory available; returns the estimate.

    Raises:
        ResourceError: the estimate plus TensorFlow's runtime exceeds what is available.
    """
    needed = estimate_bytes(size)
    available = available_bytes()
    if available is not None and needed + RUNTIME_BYTES > available:
        network = parameter_count(size) * 16 + size.batch_size * size.lookback * size.units * 32
        if network > needed / 2:  # the network, not the data, is what is too big
            what_is_big = f"a network of about {parameter_count(size):,} weights, batch {size.batch_size}"
            fix = "lower --units, --layers or --batch-size, drop --bidirectional"
        else:
            what_is_big = (
                f"{size.rows:,} rows x {size.columns} column(s), lookback {size.lookback}, "
                f"horizon {size.horizon}, {size.scored_windows:,} scored windows"
            )
            fix = "lower --lookback or --horizon, use fewer --features, pass a shorter span of the data"
        raise ResourceError(
            f"{what} needs about {format_bytes(needed + RUNTIME_BYTES)} of memory ({what_is_big}) "
            f"but only {format_bytes(available)} is available",
            f"{fix}, or free memory ({MEMORY_LIMIT_VARIABLE} sets the limit rnncast assumes; off "
            "disables the check)",
        )
    return needed


def check_file_fits_in_memory(path: Path) -> None:
    """Refuse, before reading it, a data file too big to load into the memory available.

    Parsed tables take more room than their text (timestamps become objects first), Parquet
    several times its compressed size.

    Raises:
        ResourceError: the file's estimated in-memory size exceeds what is available.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return  # reading reports a missing file
    factor = PARQUET_EXPANSION if path.suffix.lower() in (".parquet", ".pq") else CSV_EXPANSION
    available = available_bytes()
    if available is not None and size * factor > available:
        raise ResourceError(
            f"{path.name} ({format_bytes(size)}) needs about {format_bytes(size * factor)} of memory "
            f"to load but only {format_bytes(available)} is available",
            "cut the file to the span you need (recent years, fewer columns), or free memory "
            f"({MEMORY_LIMIT_VARIABLE} sets the limit rnncast assumes)",
        )


def parse_size(text: str) -> int:
    """``"512MB"``, ``"2GiB"``, ``"1.5g"`` or a plain byte count, as bytes.

    Raises:
        UsageError: the text is not a size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not match:
        raise UsageError(
            f"{MEMORY_LIMIT_VARIABLE}={text!r} is not a size", "write it like 512MB, 2GiB or 1073741824"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_bytes(count: float) -> str:
    """Bytes in binary units, e.g. ``3.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB" if count < 1e6 else f"{count:.1e} TiB"


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, flags=re.M)
    return int(match.group(1)) * 1024 if match else None


def _cgroup_room() -> int | None:
    """The room left under a container's memory limit (cgroup v2, then v1). The kernel reclaims
    inactive page cache before it kills anything, so that part of the usage counts as room."""
    for directory, limit_name, usage_name, cache_key in (
        ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        try:
            limit = Path(directory, limit_name).read_text().strip()
            usage = int(Path(directory, usage_name).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            return max(int(limit) - usage + _stat_value(Path(directory, "memory.stat"), cache_key), 0)
    return None


def _stat_value(path: Path, key: str) -> int:
    """One ``key value`` line of a cgroup ``memory.stat`` file (0 when absent)."""
    try:
        text = path.read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key} (\d+)$", text, flags=re.M)
    return int(match.group(1)) if match else 0
