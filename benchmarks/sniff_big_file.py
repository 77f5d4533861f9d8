"""``rnncast info DATA`` on big files: its cost must not grow with the file.

Writes sparse CSV files of 256 MiB, 2 GiB and 16 GiB (real hourly rows at both ends, a hole in
the middle that takes no disk space), then times, in the same run:

- ``sketch``: ``rnncast.sketch`` (what ``rnncast info DATA`` runs), best of 5;
- ``hash 256 MiB``: hashing the first 256 MiB of the file (SHA-256, as ``check`` and ``train``
  fingerprint a whole file), the reference that grows with the size.

The ratio sketch / reference shows the sketch is a constant cost. Run from the project root::

    python benchmarks/sniff_big_file.py [--dir /tmp]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import pandas as pd

import rnncast

ROWS_PER_END = 20_000
SIZES = {"256 MiB": 256 << 20, "2 GiB": 2 << 30, "16 GiB": 16 << 30}


def hourly_rows(start: str) -> bytes:
    stamps = pd.date_range(start, periods=ROWS_PER_END, freq="h")
    return "".join(f"{t:%Y-%m-%d %H:%M},{i % 97}.25\n" for i, t in enumerate(stamps)).encode()


def write_sparse(path: Path, size: int) -> None:
    head = b"time,load\n" + hourly_rows("2000-01-01")
    tail = hourly_rows("2200-01-01")
    with path.open("wb") as handle:
        handle.write(head)
        handle.seek(size - len(tail))
        handle.write(tail)


def best_of(repeats: int, action: object) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def hash_prefix(path: Path, limit: int) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        remaining = limit
        while remaining > 0:
            chunk = handle.read(min(1 << 20, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    reference = None
    print(f"{'file':>8}  {'sketch s':>9}  {'rows (estimated)':>17}  {'last timestamp':>20}  ratio to hash")
    for label, size in SIZES.items():
        path = args.dir / f"rnncast_sniff_{size}.csv"
        write_sparse(path, size)
        try:
            sketch_seconds = best_of(5, lambda p=path: rnncast.sketch(p))
            sketch = rnncast.sketch(path)
            if reference is None:
                reference = best_of(3, lambda p=path: hash_prefix(p, 256 << 20))
                print(f"reference: SHA-256 of 256 MiB = {reference:.3f} s")
            print(
                f"{label:>8}  {sketch_seconds:9.3f}  {sketch['rows']:>17,}  {sketch['last_timestamp']:>20}"
                f"  {sketch_seconds / reference:.3f}"
            )
        finally:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
