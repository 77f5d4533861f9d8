"""File helpers: atomic writes (files appear complete or not at all) and content hashes.

Everything is written to a temporary name in the destination's own directory (same file
system, so the final rename is atomic), flushed to disk, then renamed into place.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

# Names Windows reserves for devices, in any case and with any extension.
_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def safe_file_name(name: str, fallback: str = "series", max_length: int = 80) -> str:
    """A file name made from text rnncast did not choose (a column, a series id, a file stem).

    Letters, digits, ``.``, ``-`` and ``_`` are kept and anything else becomes ``_``, so the
    result has no path separators; leading dots are dropped, so it is never ``.``, ``..`` or a
    hidden file; a Windows device name gets a ``_`` suffix; a name with nothing readable left
    becomes ``fallback`` plus a hash of the name, and one longer than ``max_length`` is cut and
    given that hash, so different names stay different.
    """
    digest = hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[:8]
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".").rstrip(". ")
    if not re.search(r"[A-Za-z0-9]", safe):  # nothing readable left ("", "..", "日本")
        safe = f"{fallback}-{digest}" if name.strip(". ") else fallback
    stem, dot, rest = safe.partition(".")
    if stem.upper() in _DEVICE_NAMES:  # "con.txt" is reserved too: the stem decides
        safe = f"{stem}_{dot}{rest}"
    if len(safe) > max_length:
        safe = f"{safe[: max_length - 9]}-{digest}"
    return safe


def data_file_problem(path: Path) -> tuple[str, str] | None:
    """Why ``path`` cannot be read as a data file (what is wrong, how to fix it), or None:
    standard input, a missing file, a directory, a pipe or device, an empty file.

    rnncast reads a data file more than once (to fingerprint it, to sniff and to parse it), so
    standard input, pipes and devices are refused rather than read empty.
    """
    if str(path) == "-":
        return "rnncast reads data from files, not from standard input ('-')", "save the data to a file first"
    if not path.exists():
        return f"data file {str(path)!r} does not exist", "check the path"
    if path.is_dir():
        return f"{str(path)!r} is a directory, not a data file", "name a .csv or .parquet file"
    if not path.is_file():
        return (
            f"{str(path)!r} is a pipe or device, not a file",
            "save the data to a file first (rnncast reads it more than once)",
        )
    if path.stat().st_size == 0:
        return f"{path.name} is empty", "export the series again with a header row"
    return None


def fsync_directory(directory: Path) -> None:
    """Persist a directory entry (a rename) where the platform allows it."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the old file stays intact until the rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)  # mkstemp's 0600 would make outputs private
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_directory(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_json(data: Any) -> str:
    """Stable, readable JSON (sorted keys off so sections keep their logical order)."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# A staging file or directory older than this was left by a killed run, not a running one.
STALE_STAGING_SECONDS = 6 * 3600


def sweep_stale_staging(target: Path) -> list[Path]:
    """Delete what killed runs left beside ``target``: hidden ``.<name>.*.tmp`` staging files
    and directories, and ``.<name>.old-*`` copies retired by :func:`replace_directory` once
    ``target`` is complete, older than :data:`STALE_STAGING_SECONDS`. Returns what was deleted.

    Recent ones may belong to a run still writing, so they are left alone.
    """
    removed = []
    now = time.time()
    pattern = f".{glob.escape(target.name)}."
    leftovers = list(target.parent.glob(f"{pattern}*.tmp"))
    if target.exists():  # a complete target: old copies retired by replace_directory are garbage
        leftovers += target.parent.glob(f"{pattern}old-*")
    for leftover in leftovers:
        try:
            if now - leftover.lstat().st_mtime < STALE_STAGING_SECONDS:
                continue
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        except OSError:
            continue  # someone else's, or already gone: never fail a run over cleanup
        removed.append(leftover)
    return removed


def new_staging_directory(target: Path) -> Path:
    """An empty hidden directory beside ``target`` to build its replacement in (stale ones
    left by killed runs are swept first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(target)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    # mkdtemp makes it private (0700); a bundle gets the usual permissions under the umask.
    umask = os.umask(0)
    os.umask(umask)
    staged.chmod(0o777 & ~umask)
    return staged


def replace_directory(staged: Path, target: Path) -> None:
    """Move the complete ``staged`` directory to ``target``, replacing any old one.

    The old directory is first renamed aside, so at every moment either the old or the new
    one is complete; it is deleted only after the new one is in place.
    """
    for name in os.listdir(staged):
        with open(staged / name, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_directory(staged)
    if target.is_dir() and not target.is_symlink() and exchange_paths(staged, target):
        # The new directory took the old one's place in one step: no reader ever finds the
        # target missing. The old one now has the staging name (swept if deletion is cut short).
        fsync_directory(target.parent)
        shutil.rmtree(staged, ignore_errors=True)
        return
    retired = None
    if target.exists() or target.is_symlink():
        retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, retired)
    try:
        os.replace(staged, target)
    except BaseException:
        if retired is not None:
            os.replace(retired, target)
        raise
    fsync_directory(target.parent)
    if retired is not None:
        # Renamed to a staging name first, so a deletion cut short leaves a .tmp to sweep, never
        # a half-deleted ".old-" copy that recovery would take for the previous output.
        trash = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            os.replace(retired, trash)
        except OSError:
            trash = retired
        shutil.rmtree(trash, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    Returns False, having changed nothing, where the system or file system cannot do it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (musl before 1.2.0, old glibc)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(second))


def restore_interrupted_replacement(target: Path) -> bool:
    """If a crash fell between the two renames of :func:`replace_directory`, put the retired
    directory back. Returns True when something was restored."""
    if target.exists() or target.is_symlink() or not target.parent.is_dir():
        return False
    retired = sorted(
        target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    if not retired:
        return False
    try:
        os.replace(retired[0], target)
    except OSError as exc:
        from rnncast.errors import UsageError

        raise UsageError(
            f"{str(target)!r} was left renamed aside as {retired[0].name} by an interrupted run, and "
            f"cannot be put back ({exc.strerror})",
            f"rename {retired[0]} to {target} by hand",
        ) from exc
    logging.getLogger("rnncast").warning(
        "restored %s from %s, left renamed aside by an interrupted run", target, retired[0].name
    )
    return True


def point_link(link: Path, target: Path) -> None:
    """Make ``link`` a relative symlink to ``target``, replacing the old link atomically.

    Where symlinks are not allowed, ``link`` becomes a small text file naming the target,
    which :func:`follow_link` understands too.
    """
    try:
        relative = os.path.relpath(target, link.parent)
    except ValueError:  # another drive on Windows
        relative = str(Path(target).resolve())
    link.parent.mkdir(parents=True, exist_ok=True)
    staged = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.symlink(relative, staged, target_is_directory=True)
    except OSError:
        atomic_write_text(link, relative + "\n")
        return
    os.replace(staged, link)


def is_replaceable_link(path: Path) -> bool:
    """True when ``path`` is absent or a link :func:`point_link` could have made."""
    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink():
        return True
    return path.is_file() and follow_link(path) != path


def follow_link(path: Path) -> Path:
    """Resolve a link made by :func:`point_link` (a symlink or a text file naming a directory)."""
    if path.is_file() and not path.is_symlink() and path.stat().st_size < 4096:
        try:
            named = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return path
        if not named or "\n" in named or len(named) > 1024:
            return path  # a small data file, not a link
        candidate = path.parent / named
        with contextlib.suppress(OSError):  # not a path at all
            if candidate.is_dir():
                return candidate
    return path


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
