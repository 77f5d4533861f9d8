"""One writer at a time per output: a bundle, a ledger, or a job's output directory.

Locks are ``filelock`` locks (``flock`` on POSIX): the operating system releases them when the
holding process exits, even by ``kill -9``, so a lock left by a dead run never blocks the next
one. The lock file stays behind (removing it would race with a waiting process); who holds the
lock is written beside it, for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from rnncast.errors import LockedError, UsageError


def lock_file_for(target: Path) -> Path:
    """The lock file guarding ``target``: a hidden file beside it (``runs/.prices.lock``)."""
    target = Path(os.path.abspath(target))
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def exclusive(
    target: Path, *, wait: float = 0.0, flag: str = "--wait", lock_file: Path | None = None
) -> Iterator[None]:
    """Hold the lock of ``target`` for the block.

    Args:
        target: what is about to be written (a bundle directory, a ledger, a job's output).
        wait: seconds to wait for another holder; 0 tries once.
        flag: the option that sets ``wait``, named in the message.
        lock_file: the lock file, instead of :func:`lock_file_for` ``(target)``: a directory
            that is never replaced whole (a job's output) keeps its lock inside, so it needs
            no write permission on its parent.

    Raises:
        LockedError: another process held the lock for all of ``wait`` (exit 75).
        UsageError: the lock file cannot be created (a read-only directory).
    """
    from filelock import FileLock, Timeout

    path = Path(os.path.abspath(lock_file)) if lock_file is not None else lock_file_for(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create {str(path.parent)!r} ({exc.strerror})", "choose a writable output"
        ) from exc
    lock = FileLock(str(path), timeout=max(wait, 0.0))
    try:
        lock.acquire()
    except Timeout:
        owner = _owner_text(path)
        waited = f" for {wait:g} s" if wait > 0 else ""
        raise LockedError(
            f"another rnncast run{owner} is writing {str(target)!r} (lock {path.name} held{waited})",
            f"try again later, or pass {flag} SECONDS to wait for it",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot lock {str(target)!r} ({exc.strerror})", "choose a writable output") from exc
    owner_path = _owner_file(path)
    try:
        with contextlib.suppress(OSError):
            owner_path.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    }
                ),
                encoding="utf-8",
            )
        yield
    finally:
        with contextlib.suppress(OSError):
            owner_path.unlink()
        lock.release()


def _owner_file(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".owner")


def _owner_text(lock_path: Path) -> str:
    """`` (pid 123 on host, since ...)`` from the holder's note, or nothing."""
    try:
        owner = json.loads(_owner_file(lock_path).read_text(encoding="utf-8"))
        return f" (pid {int(owner['pid'])} on {owner['host']}, since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""
