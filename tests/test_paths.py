"""Names rnncast did not choose (columns, file names) never steer where it writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import rnncast
from rnncast.fileio import safe_file_name
from rnncast.pipeline import default_bundle_path
from tests.conftest import FAST


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Adj Close", "Adj_Close"),
        ("msft.v2", "msft.v2"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a\\b/c", "a_b_c"),
        (".hidden", "hidden"),
        ("CON", "CON_"),
        ("nul.csv", "nul_.csv"),
        ("con.txt", "con_.txt"),
    ],
)
def test_names_become_safe_file_names(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


@pytest.mark.parametrize("name", ["", ".", "..", "   ", "日本", "///"])
def test_names_with_nothing_readable_fall_back(name: str) -> None:
    safe = safe_file_name(name, fallback="series")
    assert safe.startswith("series") and "/" not in safe and not safe.startswith(".")


def test_distinct_unreadable_or_long_names_stay_distinct() -> None:
    assert safe_file_name("日本") != safe_file_name("中国")
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert safe_file_name(long_a) != safe_file_name(long_b)
    assert len(safe_file_name(long_a)) <= 80


@pytest.mark.parametrize(
    ("file_name", "bundle"),
    [("prices.csv", "prices"), ("..csv", "model"), ("my prices (copy).csv", "my_prices__copy_")],
)
def test_default_bundle_paths_stay_under_runs(file_name: str, bundle: str) -> None:
    path = default_bundle_path(Path("/data") / file_name)
    assert path == Path("runs") / bundle


def test_a_hostile_column_name_cannot_move_a_report_plot(prices_csv: Path, tmp_path: Path) -> None:
    """A column named like a path is only ever text: its plot lands inside the report directory."""
    frame = pd.read_csv(prices_csv)[["Date", "Close"]].rename(columns={"Close": "../../escaped"})
    data = tmp_path / "work" / "prices.csv"
    data.parent.mkdir()
    frame.to_csv(data, index=False)
    bundle = tmp_path / "work" / "bundle"
    rnncast.train(data, out=bundle, target=("../../escaped",), lookback=10, horizon=3, **FAST)
    report_dir = tmp_path / "work" / "report"
    rnncast.evaluate(bundle, report_dir=report_dir)
    assert [p.name for p in report_dir.glob("forecast_*.png")] == ["forecast__.._escaped.png"]
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "work")}
    assert outside == set()
    assert not (tmp_path / "escaped.png").exists() and not (tmp_path.parent / "escaped.png").exists()
