"""``rnncast doctor``: what this machine offers a training run, and what would slow it down.

Gathers, as one JSON-ready dict: the versions (Python, rnncast, TensorFlow, Keras and its
backend), how TensorFlow was built (CUDA, cuDNN, XLA), the devices it sees (GPUs with their
compute capability), whether mixed precision would pay, the thread settings, and whether the
configured network (the default settings', or a bundle's) can use the cuDNN kernels, with the
reasons when not. :func:`doctor_text` renders it for people.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

from rnncast import __version__, backend
from rnncast.config import TrainConfig

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "CUDA_VISIBLE_DEVICES",
    "KERAS_BACKEND",
)
# Tensor Cores (fast float16 matrix units) arrived with Volta, compute capability 7.0.
MIXED_PRECISION_CAPABILITY = (7, 0)
# A placeholder window for building the default network: its length does not affect cuDNN.
PLACEHOLDER_WINDOW = 8


def diagnose(model: str | Path | None = None) -> dict[str, Any]:
    """The doctor's findings as a JSON-ready dict.

    Args:
        model: a bundle directory whose network to check (loaded safely, with the bundle's own
            checks); ``None`` checks the network that the default settings build.

    Raises:
        BundleError: ``model`` is missing or not a loadable bundle.
    """
    # Read before the backend import, which sets KERAS_BACKEND: report what the user set.
    environment = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    network = _configured_network(model)  # first: a bad --model fails before the slow probing
    tf = backend.tensorflow()
    keras = backend.keras()

    devices = _devices(tf)
    gpus = [device for device in devices if device["type"] == "GPU"]
    build = _build(tf)
    network["cudnn_used"] = bool(network["cudnn_eligible"] and gpus and build["cuda"])
    report = {
        "versions": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "rnncast": __version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
        },
        "build": build,
        "devices": devices,
        "gpu_count": len(gpus),
        "mixed_precision": _mixed_precision(gpus, keras),
        "xla": {
            "built_with_xla": bool(tf.test.is_built_with_xla()),
            "global_jit": tf.config.optimizer.get_jit() or "off",
        },
        "threads": _threads(tf, environment),
        "model": network,
    }
    report["notes"] = _notes(report)
    return report


def _configured_network(model: str | Path | None) -> dict[str, Any]:
    """The network to check: a bundle's saved model, or a freshly built default one."""
    from rnncast.cudnn import cudnn_problems, recurrent_layers

    if model is None:
        config = TrainConfig()
        keras_model = _default_network(config)
        source, bundle_path = "defaults", None
    else:
        from rnncast.bundle import load_bundle

        bundle = load_bundle(model)  # with its model: safe_mode=True, checksums, shapes
        config, keras_model = bundle.config, bundle.model
        source, bundle_path = "bundle", str(bundle.path)
    problems = cudnn_problems(keras_model)
    return {
        "source": source,
        "bundle": bundle_path,
        "network": describe_network(config),
        "recurrent_layers": [layer.name for layer in recurrent_layers(keras_model)],
        "cudnn_eligible": not problems,
        "cudnn_problems": problems,
    }


def _default_network(config: TrainConfig) -> Any:
    """The network ``rnncast train`` builds from ``config``, for one target: built, not trained."""
    from rnncast.models import ModelShape, build_for_config

    shape = ModelShape(config.lookback or PLACEHOLDER_WINDOW, config.horizon or 1, 1, 1)
    return build_for_config(shape, config)


def describe_network(config: TrainConfig) -> str:
    """``1 x lstm(64), dropout 0.0``: the recurrent stack a config asks for."""
    cell = ("bidirectional " if config.bidirectional else "") + config.model
    return f"{config.layers} x {cell}({config.units}), dropout {config.dropout:g}"


def _build(tf: Any) -> dict[str, Any]:
    """How this TensorFlow was compiled: CUDA and cuDNN versions and the GPU targets."""
    try:
        info = dict(tf.sysconfig.get_build_info())
    except Exception:  # some builds (and old versions) lack the build record
        info = {}
    return {
        "cuda": bool(info.get("is_cuda_build", False)),
        "cuda_version": info.get("cuda_version"),
        "cudnn_version": info.get("cudnn_version"),
        "cuda_compute_capabilities": list(info.get("cuda_compute_capabilities") or []),
        "rocm": bool(info.get("is_rocm_build", False)),
    }


def _devices(tf: Any) -> list[dict[str, Any]]:
    """The physical devices TensorFlow sees; a GPU with its model name and compute capability."""
    devices = []
    for device in tf.config.list_physical_devices():
        entry: dict[str, Any] = {"type": device.device_type, "name": device.name.split("device:")[-1]}
        if device.device_type == "GPU":
            try:
                details = tf.config.experimental.get_device_details(device)
            except Exception:  # details are a nicety: a driver that will not say is not fatal
                details = {}
            capability = details.get("compute_capability")
            entry["model"] = details.get("device_name")
            entry["compute_capability"] = f"{capability[0]}.{capability[1]}" if capability else None
        devices.append(entry)
    return devices


def _mixed_precision(gpus: list[dict[str, Any]], keras: Any) -> dict[str, Any]:
    """Whether float16 compute would speed training up here: only on Tensor Core GPUs."""
    capabilities = [_capability(gpu.get("compute_capability")) for gpu in gpus]
    fast = [c for c in capabilities if c is not None and c >= MIXED_PRECISION_CAPABILITY]
    if not gpus:
        reason = "no GPU visible; on a CPU float16 is slower"
    elif fast:
        reason = f"compute capability {max(fast)[0]}.{max(fast)[1]} has Tensor Cores"
    else:
        reason = "needs a GPU of compute capability 7.0 or higher (Tensor Cores)"
    return {"would_help": bool(fast), "reason": reason, "policy": keras.mixed_precision.global_policy().name}


def _capability(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _threads(tf: Any, environment: dict[str, str | None]) -> dict[str, Any]:
    """CPU counts and thread-pool sizes (0: TensorFlow sizes the pool from the usable CPUs)."""
    try:
        usable: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "cpu_quota": cpu_quota(),
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "environment": environment,
    }


def cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs a container's cgroup lets this process use (``2.5``), or ``None`` when unlimited
    or unknown. TensorFlow counts the CPUs it may be scheduled on, not this quota, so a
    container limited to 2 CPUs on a 64-core host gets 64 threads fighting for 2 CPUs."""
    try:
        quota, _, period = (root / "cpu.max").read_text().partition(" ")  # cgroup v2: "max 100000"
        if quota.strip() == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def _notes(report: dict[str, Any]) -> list[str]:
    """What to do about what was found, one sentence each."""
    notes = []
    build, threads = report["build"], report["threads"]
    hidden = threads["environment"].get("CUDA_VISIBLE_DEVICES")
    if report["versions"]["keras_backend"] != "tensorflow":
        notes.append(
            f"Keras runs on {report['versions']['keras_backend']!r}, but rnncast needs TensorFlow: "
            "unset KERAS_BACKEND"
        )
    if not report["gpu_count"]:
        if not build["cuda"]:
            notes.append(
                "this TensorFlow has no CUDA support, so training runs on the CPU; on Linux with an "
                "NVIDIA GPU: pip install 'rnncast[gpu]'"
            )
        elif hidden is not None and hidden.strip() in ("", "-1"):
            notes.append(f"CUDA_VISIBLE_DEVICES={hidden!r} hides every GPU, so training runs on the CPU")
        else:
            notes.append(
                f"TensorFlow was built with CUDA {build['cuda_version']} but sees no GPU, so training "
                "runs on the CPU; on a GPU machine check the NVIDIA driver (nvidia-smi)"
            )
    elif not report["model"]["cudnn_eligible"]:
        notes.append("the network cannot use cuDNN: training on this GPU takes the slower generic kernel")
    quota, usable = threads["cpu_quota"], threads["usable_cpus"] or threads["cpu_count"]
    if (
        quota is not None
        and usable is not None
        and quota < usable
        and not threads["intra_op"]
        and not threads["environment"].get("TF_NUM_INTRAOP_THREADS")
    ):
        wanted = max(1, math.ceil(quota))
        notes.append(
            f"this container may use {quota:g} CPUs but TensorFlow sizes its thread pools for {usable}: "
            f"set TF_NUM_INTRAOP_THREADS={wanted} and TF_NUM_INTEROP_THREADS=1"
        )
    return notes


def doctor_text(report: dict[str, Any]) -> str:
    """The findings as aligned ``key: value`` lines, the cuDNN reasons listed under the model."""
    versions, build, threads = report["versions"], report["build"], report["threads"]
    network, mixed, xla = report["model"], report["mixed_precision"], report["xla"]
    if build["cuda"]:
        compiled = f"built with CUDA {build['cuda_version']}, cuDNN {build['cudnn_version']}"
    else:
        compiled = "built without CUDA" + (" (ROCm build)" if build["rocm"] else "")
    gpus = [d for d in report["devices"] if d["type"] == "GPU"]
    others = ", ".join(d["name"] for d in report["devices"] if d["type"] != "GPU")
    devices = ", ".join([*([others] if others else []), *(_gpu_text(gpu) for gpu in gpus)])
    environment = threads["environment"]
    set_names = [f"{k}={v}" for k, v in environment.items() if v is not None]
    unset = [k for k, v in environment.items() if v is None]
    source = (
        f"bundle {network['bundle']}"
        if network["source"] == "bundle"
        else "the default settings (no --model)"
    )
    if network["cudnn_eligible"]:
        cudnn = "eligible" + (
            "; in use on this GPU" if network["cudnn_used"] else "; used when a GPU is visible"
        )
    else:
        cudnn = f"not eligible ({len(network['cudnn_problems'])} problem(s))"
    lines: list[tuple[str, str]] = [
        ("python", f"{versions['python']} on {versions['platform']}"),
        ("rnncast", versions["rnncast"]),
        ("tensorflow", f"{versions['tensorflow']}, {compiled}"),
        ("keras", f"{versions['keras']}, backend {versions['keras_backend']}"),
        ("devices", devices + ("" if gpus else "; no GPU visible")),
        (
            "mixed precision",
            f"{'would help' if mixed['would_help'] else 'would not help'}: {mixed['reason']}",
        ),
        ("xla", f"{'built in' if xla['built_with_xla'] else 'not built in'}; global JIT {xla['global_jit']}"),
        (
            "cpus",
            f"{threads['cpu_count']} on the machine, {threads['usable_cpus'] or '?'} usable by this process"
            + (f", cgroup quota {threads['cpu_quota']:g}" if threads["cpu_quota"] is not None else ""),
        ),
        (
            "threads",
            f"TensorFlow intra-op {threads['intra_op']}, inter-op {threads['inter_op']} "
            "(0: sized from the usable CPUs)",
        ),
        ("environment", "; ".join(part for part in (", ".join(set_names), _unset(unset)) if part)),
        ("model", f"{network['network']}, from {source}"),
        ("cuDNN", cudnn),
        *(("", f"- {reason}") for reason in network["cudnn_problems"]),
        *(("note", note) for note in report["notes"]),
    ]
    width = max(len(key) for key, _ in lines)
    return "\n".join(
        f"{key.rjust(width)}: {value}" if key else f"{'':{width}}  {value}" for key, value in lines
    )


def _unset(names: list[str]) -> str:
    return f"unset: {', '.join(names)}" if names else ""


def _gpu_text(gpu: dict[str, Any]) -> str:
    """``GPU:0 NVIDIA H100 80GB HBM3 (compute 9.0)``."""
    model = f" {gpu['model']}" if gpu.get("model") else ""
    capability = gpu.get("compute_capability") or "?"
    return f"{gpu['name']}{model} (compute {capability})"
