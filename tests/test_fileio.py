"""Atomic outputs: complete or absent, and what killed runs left behind is swept later."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rnncast.fileio import STALE_STAGING_SECONDS, atomic_write_text, new_staging_directory


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_leftovers_of_killed_runs_are_swept_and_a_running_ones_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "forecast.csv"
    stale_file = tmp_path / ".forecast.csv.k3j2.tmp"
    stale_file.write_text("half a forecast")
    stale_dir = tmp_path / ".forecast.csv.x9.tmp"
    stale_dir.mkdir()
    (stale_dir / "model.keras").write_bytes(b"partial")
    for leftover in (stale_file, stale_dir):
        _age(leftover, STALE_STAGING_SECONDS + 60)
    running = tmp_path / ".forecast.csv.fresh.tmp"
    running.write_text("another run is writing this")
    unrelated = tmp_path / ".other.csv.old.tmp"
    unrelated.write_text("not ours")
    _age(unrelated, STALE_STAGING_SECONDS + 60)

    atomic_write_text(target, "date,value\n")

    assert target.read_text() == "date,value\n"
    assert not stale_file.exists() and not stale_dir.exists()
    assert running.exists() and unrelated.exists()


def test_a_new_staging_directory_sweeps_stale_ones_of_the_same_target(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    stale = tmp_path / ".bundle.abc.tmp"
    stale.mkdir()
    _age(stale, STALE_STAGING_SECONDS + 1)
    target.mkdir()
    retired = tmp_path / ".bundle.old-1234abcd"
    retired.mkdir()
    _age(retired, STALE_STAGING_SECONDS + 1)
    staged = new_staging_directory(target)
    assert staged.is_dir() and staged.name.startswith(".bundle.")
    assert not stale.exists() and not retired.exists()


def test_replacing_a_directory_swaps_it_whole_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    from rnncast.fileio import exchange_paths, new_staging_directory, replace_directory

    target = tmp_path / "bundle"
    target.mkdir()
    (target / "model.keras").write_text("old")
    staged = new_staging_directory(target)
    (staged / "model.keras").write_text("new")
    replace_directory(staged, target)
    assert (target / "model.keras").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    # On Linux the swap is one renameat2(RENAME_EXCHANGE): both names exist at every instant.
    other = tmp_path / "other"
    other.mkdir()
    if exchange_paths(other, target):
        assert (other / "model.keras").read_text() == "new" and not any(target.iterdir())
