"""The bad-input corpus (tests/data/bad): every file real users feed rnncast ends in its
documented exit code with one clear error line (or loads, with the expected notes), and a
refused ``train`` leaves an existing bundle and runs/latest exactly as they were."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from rnncast.cli import app
from rnncast.data import load_series
from rnncast.errors import ExitCode
from rnncast.fileio import point_link
from tests.test_cli import assert_one_line_error

CORPUS = Path(__file__).parent / "data" / "bad"
MANIFEST = CORPUS / "cases.toml"
CASES: list[dict[str, Any]] = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["case"]
FAILING = [case for case in CASES if case["exit"] != 0]
LOADING = [case for case in CASES if case["exit"] == 0]
CASE_KEYS = {"file", "args", "exit", "message", "notes", "rows", "targets", "features", "first", "last"}
CASE_KEYS |= {"first_values", "last_values"}
BUNDLE_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]


def case_id(case: dict[str, Any]) -> str:
    args = "-".join(arg.lstrip("-") for arg in case.get("args", []))
    return f"{case['file']}[{args}]" if args else case["file"]


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(directory: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Every entry under ``directory``: inode, mode, mtime and, for files, the bytes."""
    entries = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        entries[str(path.relative_to(directory))] = (info.st_ino, info.st_mode, info.st_mtime_ns, content)
    return entries


def load_options(args: list[str]) -> dict[str, Any]:
    """The load_series arguments that the command-line ``args`` of a case stand for."""
    options: dict[str, Any] = {}
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    if "--target" in pairs:
        options["target"] = (pairs["--target"],)
    if "--features" in pairs:
        options["features"] = tuple(pairs["--features"].split(","))
    if "--fill" in pairs:
        options["fill"] = pairs["--fill"]
    return options


@pytest.fixture(scope="module")
def trained_bundle(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny bundle, trained on a slice of the real MSFT sample, that refused runs must not touch."""
    out = tmp_path_factory.mktemp("bundle") / "prices"
    result = run("train", prices_csv, "--out", out, *BUNDLE_FLAGS)
    assert result.exit_code == 0, result.output
    return out


def test_the_manifest_lists_every_file_of_the_corpus_and_only_those() -> None:
    listed = {case["file"] for case in CASES}
    on_disk = {path.name for path in CORPUS.iterdir() if path != MANIFEST}
    assert listed == on_disk, (sorted(listed - on_disk), sorted(on_disk - listed))
    assert all((CORPUS / name).is_file() for name in listed)
    documented = {int(code) for code in ExitCode}
    for case in CASES:
        assert set(case) <= CASE_KEYS, case
        assert case["exit"] in documented, case
        if case["exit"]:
            # One fragment naming the problem and one from the fix, at least.
            assert len(case["message"]) >= 2 and "notes" not in case, case
        else:
            assert "message" not in case, case
    assert len({case_id(case) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", FAILING, ids=case_id)
def test_check_refuses_with_one_line_and_the_documented_exit_code(case: dict[str, Any]) -> None:
    path = CORPUS / case["file"]
    before = sha256(path)
    result = run("check", path, *case.get("args", []))
    assert_one_line_error(result, case["exit"], *case["message"])
    assert result.stdout == ""
    assert sha256(path) == before


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_info_sketches_or_refuses_every_file_in_one_line(case: dict[str, Any]) -> None:
    """info reads only the file's ends: problems in the middle are check's to find, but
    whatever info cannot read (the file's format, header or delimiter) is refused in one line
    with the same exit code check gives."""
    result = run("info", CORPUS / case["file"], "--json")
    if result.exit_code == 0:
        sketch = json.loads(result.stdout)
        assert sketch["columns"] and sketch["size_bytes"] == (CORPUS / case["file"]).stat().st_size
        assert "Warning" not in result.stderr
    else:
        assert_one_line_error(result, case["exit"])


@pytest.mark.parametrize("case", LOADING, ids=case_id)
def test_check_loads_with_the_expected_notes(case: dict[str, Any]) -> None:
    path = CORPUS / case["file"]
    before = sha256(path)
    result = run("check", path, *case.get("args", []), "--json")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith("note: ") for line in lines), result.stderr  # and no warnings
    for fragment in case.get("notes", []):
        assert any(fragment in line for line in lines), f"{fragment!r} not among {lines}"
    summary = json.loads(result.stdout)
    data = summary["data"]
    for key, actual in (
        ("rows", data["rows"]),
        ("targets", summary["targets"]),
        ("features", summary["features"]),
        ("first", data["first_timestamp"]),
        ("last", data["last_timestamp"]),
    ):
        if key in case:
            assert actual == case[key], key
    assert sha256(path) == before


@pytest.mark.parametrize("case", [c for c in LOADING if "first_values" in c], ids=case_id)
def test_loaded_values_are_the_numbers_written_in_the_file(case: dict[str, Any]) -> None:
    series = load_series(CORPUS / case["file"], **load_options(case.get("args", [])))
    for row, expected in ((0, case["first_values"]), (-1, case.get("last_values", {}))):
        for column, value in expected.items():
            assert math.isclose(series.frame[column].iloc[row], value, rel_tol=1e-12), (column, row)


@pytest.mark.parametrize("latest", ["absent", "present"])
@pytest.mark.parametrize("case", FAILING, ids=case_id)
def test_refused_train_leaves_the_bundle_and_runs_latest_untouched(
    case: dict[str, Any],
    latest: str,
    trained_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bundle = tmp_path / "models" / "prices"
    shutil.copytree(trained_bundle, bundle)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    link = work / "runs" / "latest"
    if latest == "present":
        point_link(link, bundle)
    bundle_before, work_before = snapshot(bundle), snapshot(work)
    data_before = sha256(CORPUS / case["file"])

    result = run("train", CORPUS / case["file"], *case.get("args", []), "--out", bundle)

    assert_one_line_error(result, case["exit"], *case["message"])
    assert snapshot(bundle) == bundle_before  # byte for byte, not even rewritten
    assert sorted(p.name for p in bundle.parent.iterdir()) == ["prices"]  # no staging leftovers
    assert snapshot(work) == work_before  # runs/latest neither created nor changed
    if latest == "present":
        assert link.resolve() == bundle.resolve()
    else:
        assert not (work / "runs").exists()
    assert sha256(CORPUS / case["file"]) == data_before


def test_check_and_train_refuse_every_bad_file_without_importing_tensorflow(tmp_path: Path) -> None:
    script = f"""
import sys, tomllib
from pathlib import Path
from typer.testing import CliRunner
from rnncast.cli import app
corpus = Path({str(CORPUS)!r})
runner = CliRunner()
for case in tomllib.loads((corpus / "cases.toml").read_text(encoding="utf-8"))["case"]:
    args = [str(corpus / case["file"]), *case.get("args", [])]
    assert runner.invoke(app, ["check", *args]).exit_code == case["exit"], case
    if case["exit"]:
        assert runner.invoke(app, ["train", *args, "--out", "m"]).exit_code == case["exit"], case
assert "tensorflow" not in sys.modules, "tensorflow was imported"
assert not Path("m").exists() and not Path("runs").exists()
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def hourly_rows(start: str, count: int) -> bytes:
    """Real-looking hourly temperature and humidity rows."""
    stamps = pd.date_range(start, periods=count, freq="h")
    lines = [
        f"{stamp:%Y-%m-%d %H:%M},{11.5 + 5.5 * math.sin((stamp.hour - 9) / 24 * 2 * math.pi):.1f},"
        f"{70 + (i * 7) % 23}\n"
        for i, stamp in enumerate(stamps)
    ]
    return "".join(lines).encode()


def test_info_sketches_a_2_gib_file_from_its_two_ends(tmp_path: Path) -> None:
    """The middle of the file is a sparse hole of NUL bytes: a full read would refuse it as
    binary, so a correct sketch proves only the ends were read."""
    size = 2 * 1024**3
    header = b"timestamp,temperature,humidity\n"
    head = hourly_rows("1990-01-01 00:00", 13_000)
    tail = hourly_rows("2023-07-01 00:00", 13_000)
    assert len(head) > 300 * 1024 and len(tail) > 300 * 1024
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(header + head)
        handle.seek(size - len(tail))
        handle.write(tail)
    assert path.stat().st_size == size

    result = run("info", path, "--json")

    assert result.exit_code == 0, result.output
    sketch = json.loads(result.stdout)
    assert sketch["first_timestamp"] == "1990-01-01T00:00:00"
    last = pd.Timestamp("2023-07-01 00:00") + pd.Timedelta(hours=13_000 - 1)
    assert sketch["last_timestamp"] == last.isoformat()
    assert sketch["rows_estimated"] is True
    implied = (size - len(header)) / ((len(head) + len(tail)) / 26_000)
    assert abs(sketch["rows"] - implied) <= 0.2 * implied, (sketch["rows"], implied)
    assert sketch["bytes_read"] < 1024**2
    assert [c["name"] for c in sketch["columns"]] == ["timestamp", "temperature", "humidity"]
    os.remove(path)
