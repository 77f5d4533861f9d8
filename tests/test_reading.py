"""Quirks of real exporters are undone when reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnncast.data import load_series
from rnncast.frequency import infer_frequency
from rnncast.reading import read_table


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_yfinance_three_row_header(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-02", periods=8)
    lines = ["Price,Close,High,Low,Open,Volume", "Ticker,MSFT,MSFT,MSFT,MSFT,MSFT", "Date,,,,,"]
    lines += [
        f"{d.date()},{370 + i},{372 + i},{368 + i},{369 + i},{20_000_000 + i}" for i, d in enumerate(days)
    ]
    series = load_series(write(tmp_path / "msft.csv", lines))
    assert series.targets == ("Close",)
    assert series.frequency == "B"
    assert series.frame["Close"].iloc[-1] == 377.0


def test_trailing_delimiters_do_not_shift_columns(tmp_path: Path) -> None:
    lines = ["date,value,"] + [f"2024-01-{d:02d},{d * 1.5}," for d in range(1, 11)]
    series = load_series(write(tmp_path / "trailing.csv", lines))
    assert series.targets == ("value",)
    assert series.frame["value"].iloc[1] == 3.0
    only_rows = ["date,value"] + [f"2024-01-{d:02d},{d * 1.5}," for d in range(1, 11)]
    assert load_series(write(tmp_path / "rows_only.csv", only_rows)).frame["value"].iloc[1] == 3.0


def test_a_saved_pandas_index_column_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "saved.csv"
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=10), "load": range(10)}).to_csv(path)
    assert load_series(path).targets == ("load",)


def test_percent_values_become_numbers_in_percent(tmp_path: Path) -> None:
    lines = ["month,rate"] + [f"2020-{m:02d},{m / 10:.1f}%" for m in range(1, 13)]
    series = load_series(write(tmp_path / "rates.csv", lines))
    assert series.frame["rate"].iloc[0] == 0.1
    assert any("% signs" in note for note in series.notes)


def test_trading_calendar_with_a_rare_weekend_session_is_business_daily() -> None:
    days = pd.bdate_range("2019-01-01", "2021-12-31").union(pd.DatetimeIndex(["2020-02-01", "2021-11-06"]))
    assert infer_frequency(days) == "B"


def test_jena_style_date_time_column_with_day_first_ten_minute_stamps(tmp_path: Path) -> None:
    stamps = pd.date_range("2009-01-01 00:10", periods=30, freq="10min")
    lines = ['"Date Time","p (mbar)","T (degC)"'] + [
        f"{s.strftime('%d.%m.%Y %H:%M:%S')},{996.5 + i / 10:.2f},{-8.0 + i / 100:.2f}"
        for i, s in enumerate(stamps)
    ]
    series = load_series(write(tmp_path / "jena.csv", lines), target=("T (degC)",))
    assert series.time_col == "Date Time"
    assert series.frequency == "10min"
    assert list(series.index) == list(stamps)


def test_legacy_bytes_far_below_an_ascii_head_are_read_as_windows_1252(tmp_path: Path) -> None:
    stamps = pd.date_range("1990-01-01", periods=30_000, freq="D")
    rows = [f"{t:%Y-%m-%d},{i % 7}.5,{'Café' if i == 29_000 else 'plain'}" for i, t in enumerate(stamps)]
    path = tmp_path / "late.csv"
    path.write_bytes(("date,value,place\n" + "\n".join(rows) + "\n").encode("cp1252"))
    frame, _ = read_table(path)
    assert frame["place"].iloc[29_000] == "Café" and len(frame) == 30_000
