"""rnncast info DATA: what a file holds, from its ends only, without TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from rnncast.cli import app
from rnncast.errors import ExitCode
from rnncast.sniffing import sketch_data_file
from tests.test_cli import assert_one_line_error


def test_a_small_csv_is_described_exactly(prices_csv: Path) -> None:
    sketch = sketch_data_file(prices_csv)
    frame = pd.read_csv(prices_csv)
    assert sketch["format"] == "csv" and sketch["delimiter"] == ","
    assert sketch["rows"] == len(frame) and sketch["rows_estimated"] is False
    assert sketch["time_col"] == "Date" and sketch["target"] == ["Close"]
    assert sketch["first_timestamp"].startswith(frame["Date"].iloc[0])
    assert sketch["last_timestamp"].startswith(frame["Date"].iloc[-1])
    assert sketch["frequency"] == "B"
    kinds = {c["name"]: c["kind"] for c in sketch["columns"]}
    assert kinds["Date"] == "time" and kinds["Volume"] == "number"


def test_a_semicolon_file_with_decimal_commas_and_several_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sensor.csv"
    rows = [
        f"2024-03-{d:02d} {h:02d}:00;{20 + h / 10:.1f};{h * 3}".replace(".", ",")
        for d in (1, 2)
        for h in range(24)
    ]
    path.write_text("Zeit;Temperatur;Last\n" + "\n".join(rows) + "\n", encoding="latin-1")
    sketch = sketch_data_file(path)
    assert sketch["delimiter"] == ";" and sketch["frequency"] == "h"
    assert sketch["target"] is None and "--target" in sketch["target_problem"]
    assert [c["kind"] for c in sketch["columns"]] == ["time", "number", "number"]


def test_parquet_row_count_comes_from_its_metadata(prices_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(prices_csv, parse_dates=["Date"])
    path = tmp_path / "prices.parquet"
    frame.to_parquet(path, row_group_size=100)
    sketch = sketch_data_file(path)
    assert sketch["format"] == "parquet" and sketch["rows"] == len(frame)
    assert sketch["last_timestamp"] == frame["Date"].iloc[-1].isoformat()


def test_info_takes_a_data_file_or_a_bundle_directory(prices_csv: Path) -> None:
    result = CliRunner().invoke(app, ["info", str(prices_csv)])
    assert result.exit_code == 0, result.output
    assert "time column: Date" in result.stdout and "rnncast check" in result.stdout
    result = CliRunner().invoke(app, ["info", str(prices_csv), "--json"])
    assert json.loads(result.stdout)["target"] == ["Close"]


def test_info_on_a_missing_or_empty_file_is_a_data_error(tmp_path: Path) -> None:
    assert_one_line_error(
        CliRunner().invoke(app, ["info", str(tmp_path / "nope.csv")]), ExitCode.DATA, "does not exist"
    )
    (tmp_path / "empty.csv").write_bytes(b"")
    assert_one_line_error(
        CliRunner().invoke(app, ["info", str(tmp_path / "empty.csv")]), ExitCode.DATA, "is empty"
    )


def test_info_with_a_bundle_directory_describes_the_bundle() -> None:
    bundle = Path(__file__).parent / "data" / "bundle_v1"
    result = CliRunner().invoke(app, ["info", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "bundle:" in result.stdout and "lookback" in result.stdout


def _hourly_lines(count: int, day_first: bool = False) -> list[str]:
    stamps = pd.date_range("2001-01-01", periods=count, freq="h")
    spelling = "%d/%m/%Y %H:%M" if day_first else "%Y-%m-%d %H:%M"
    return [f"{t.strftime(spelling)},{i % 50}.5" for i, t in enumerate(stamps)]


def test_the_tail_is_read_in_the_heads_date_format(tmp_path: Path) -> None:
    lines = _hourly_lines(30_000, day_first=True)  # ~600 KiB: head and tail do not overlap
    path = tmp_path / "dayfirst.csv"
    path.write_text("time,value\n" + "\n".join(lines) + "\n")
    sketch = sketch_data_file(path)
    assert sketch["rows_estimated"] is True
    assert sketch["last_timestamp"] == (pd.Timestamp("2001-01-01") + pd.Timedelta(hours=29_999)).isoformat()


def test_utf16_big_endian_cr_line_endings_and_no_readable_tail(tmp_path: Path) -> None:
    lines = _hourly_lines(30_000)
    expected_last = (pd.Timestamp("2001-01-01") + pd.Timedelta(hours=29_999)).isoformat()
    utf16 = tmp_path / "utf16be.csv"
    utf16.write_bytes(b"\xfe\xff" + ("time,value\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-16-be"))
    assert sketch_data_file(utf16)["last_timestamp"] == expected_last
    old_mac = tmp_path / "cr.csv"
    old_mac.write_text("time,value\r" + "\r".join(lines) + "\r", newline="")
    sketch = sketch_data_file(old_mac)
    assert sketch["time_col"] == "time" and sketch["last_timestamp"] == expected_last
    blank_tail = tmp_path / "blank_tail.csv"
    blank_tail.write_text("time,value\n" + "\n".join(lines) + "\n" + " \n" * 200_000)
    assert sketch_data_file(blank_tail)["last_timestamp"] is None  # unknown, not the head's last row


def test_a_first_line_longer_than_the_sniffed_bytes_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(
        "time," + ",".join(f"column_{i}" for i in range(40_000)) + "\n2024-01-01," + "1," * 39_999 + "1\n"
    )
    assert_one_line_error(CliRunner().invoke(app, ["info", str(path)]), ExitCode.DATA, "longer than 256 KiB")


def test_parquet_with_a_datetime_index_reports_its_last_timestamp(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"load": range(500)}, index=pd.date_range("2020-01-01", periods=500, freq="h", name="time")
    )
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path, row_group_size=100)
    sketch = sketch_data_file(path)
    assert sketch["time_col"] == "time" and sketch["last_timestamp"] == frame.index[-1].isoformat()
