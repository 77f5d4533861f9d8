"""The one place TensorFlow and Keras are imported, with rnncast's environment settings.

Nothing imports them at module level: ``rnncast --help``, ``info`` and data validation never
pay TensorFlow's multi-second import. Call these inside the functions that need a model.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType


def _prepare_environment() -> None:
    # rnncast's models are TensorFlow-backend Keras; quiet TensorFlow's C++ start-up logging
    # unless the user asked for it.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # 3: also its C++ "errors", which are noise (e.g. "NodeDef mentions attribute
    # use_unbounded_threadpool" when a second model runs in one process); real failures raise.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's C++ core writes straight to file descriptor 2 at start-up
    (absl INFO lines, "could not find cuda drivers") which no environment variable silences.

    If the block fails, the captured text is written back so nothing useful is lost.
    ``RNNCAST_DEBUG=1`` leaves stderr alone.
    """
    if os.environ.get("RNNCAST_DEBUG", "") not in ("", "0"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except KeyboardInterrupt:
            raise  # the user stopped us: TensorFlow's start-up chatter would only be noise
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            os.write(2, capture.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module (imported with its start-up chatter hidden)."""
    _prepare_environment()
    if "tensorflow" not in sys.modules:
        with native_stderr_silenced():
            import tensorflow as tf

            # Probing devices initialises CUDA, which on a GPU-less machine logs an error line.
            tf.config.list_physical_devices("GPU")
            # Python-side warnings (e.g. "triggered tf.function retracing" when a backtest
            # trains one model per fold) are not the user's concern and break --quiet.
            tf.get_logger().setLevel("ERROR")
    import tensorflow as tf

    return tf


def keras() -> ModuleType:
    """The ``keras`` module, on the TensorFlow backend."""
    tensorflow()  # Keras on the TensorFlow backend imports it anyway: do it quietly
    import keras as keras_module

    return keras_module
