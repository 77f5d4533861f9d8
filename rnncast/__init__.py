"""rnncast: forecast time series with recurrent neural networks, from the command line or Python.

The API (``train``, ``forecast``, ``evaluate``, ``backtest``, ``check``, ``info``, ``sketch``)
lives in :mod:`rnncast.pipeline` and is loaded on first use, so ``import rnncast`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "backtest", "check", "evaluate", "forecast", "info", "sketch", "train"]

_API = {"train", "forecast", "evaluate", "backtest", "check", "info", "sketch"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from rnncast import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'rnncast' has no attribute {name!r}")
