"""The project's exceptions: each carries the exit code the CLI returns and a message for users.

Every expected failure is an :class:`RnncastError`. The CLI prints its message as one line on
stderr and exits with its code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from enum import IntEnum

# Messages quote cells and names from the user's files: no run of characters without a space
# longer than this (a 20,000-character cell), and no message longer than MAX_MESSAGE.
MAX_TOKEN = 160
MAX_MESSAGE = 1200


class ExitCode(IntEnum):
    """The documented exit-code contract of the ``rnncast`` command (see README)."""

    OK = 0
    INTERNAL = 1  # an unexpected error: a bug, reported with a traceback
    USAGE = 2  # bad flags, bad config values, impossible settings
    DATA = 3  # the data file is missing, unreadable or unusable
    MODEL = 4  # the model bundle is missing, corrupt or incompatible
    QUALITY_GATE = 5  # the model's skill is below --require-skill
    TRAINING = 6  # training diverged (NaN/inf loss) or the device failed
    RESOURCES = 7  # the run would not fit in the memory available
    PARTIAL = 8  # rnncast run: some series failed, the others succeeded
    ANOMALIES = 9  # rnncast detect --fail-on-new: one of the newest rows is an anomaly
    LOCKED = 75  # another run holds the lock (EX_TEMPFAIL, "try again later")


class RnncastError(Exception):
    """Base class of every expected failure.

    Args:
        message: what was wrong, written for the user (one sentence).
        hint: how to fix it (one sentence), appended after the message.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = _tame(message)
        self.hint = _tame(hint) if hint is not None else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and the hint as the single line the CLI prints."""
        text = self.message.rstrip(".")
        if self.hint:
            hint = self.hint.rstrip(".")
            return f"{text}. {hint[:1].upper()}{hint[1:]}."
        return f"{text}."


class UsageError(RnncastError):
    """A flag, setting or combination of settings that cannot work."""

    exit_code = ExitCode.USAGE


class DataError(RnncastError):
    """The data file cannot be read or does not make a usable time series."""

    exit_code = ExitCode.DATA


class HistoryRewrittenError(DataError):
    """The rows a model was trained on changed: it cannot be fine-tuned, only retrained."""


class BundleError(RnncastError):
    """The model bundle is missing, damaged, or does not fit the data it is asked to use."""

    exit_code = ExitCode.MODEL


class TrainingError(RnncastError):
    """Training failed: the loss diverged, or the requested device is not available."""

    exit_code = ExitCode.TRAINING


class QualityGateError(RnncastError):
    """The model does not reach the skill the user required (``--require-skill``)."""

    exit_code = ExitCode.QUALITY_GATE


class AnomalyError(RnncastError):
    """``detect --fail-on-new``: one of the newest rows is an anomaly (the outputs are written)."""

    exit_code = ExitCode.ANOMALIES


class LockedError(RnncastError):
    """Another rnncast process is writing the same output; cron should simply try again."""

    exit_code = ExitCode.LOCKED


class ResourceError(RnncastError):
    """The run would need more memory than the machine (or container) has available."""

    exit_code = ExitCode.RESOURCES


def _tame(text: str) -> str:
    """``text`` on one line, with overlong tokens and an overlong whole cut short."""
    text = " ".join(text.splitlines())
    text = re.sub(rf"\S{{{MAX_TOKEN + 1},}}", lambda m: f"{m.group()[:100]}…{m.group()[-20:]}", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), for quoting a
    library's error inside an rnncast message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
