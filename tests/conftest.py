"""Shared fixtures: small slices of the real sample data and tiny, fast training settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

# One epoch of a tiny network: enough to exercise every code path in a second or two.
FAST = {"epochs": 1, "units": 4, "batch_size": 32, "patience": 0}


@pytest.fixture(scope="session", autouse=True)
def _work_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """rnncast writes runs/latest under the working directory: keep it out of the checkout."""
    previous = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(previous)


@pytest.fixture(scope="session")
def prices_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The last 400 trading days of the real MSFT sample (Date,Open,High,Low,Close,Volume)."""
    frame = pd.read_csv(SAMPLE_DATA / "msft_daily.csv").tail(400)
    path = tmp_path_factory.mktemp("data") / "msft_tail.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def hourly_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of the real hourly Seattle temperatures, in their 'YYYY/MM/DD HH:MM' format."""
    text = (SAMPLE_DATA / "seattle_temps_hourly.csv").read_text().splitlines()
    path = tmp_path_factory.mktemp("data") / "temps.csv"
    path.write_text("\n".join(text[: 1 + 24 * 21]) + "\n")
    return path


@pytest.fixture(scope="session")
def monthly_crlf_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A monthly series with YYYY-MM dates, CRLF line endings and no final newline."""
    months = pd.period_range("2005-01", periods=120, freq="M")
    values = [100 + 0.5 * i + 8 * ((i % 12) in (5, 6, 7)) for i in range(len(months))]
    lines = ["month,sales"] + [f"{m},{v:.1f}" for m, v in zip(months, values, strict=True)]
    path = tmp_path_factory.mktemp("data") / "monthly.csv"
    path.write_bytes("\r\n".join(lines).encode())
    return path
