"""Quirks of real exporters are undone when reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rnncast.data import load_series
from rnncast.errors import DataError
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


# --- Thousands dots, decimal commas and other number spellings --------------------------------------


def read_values(path: Path, column: str) -> tuple[list[float], list[str]]:
    frame, notes = read_table(path)
    return frame[column].tolist(), notes


def test_thousands_dots_in_a_semicolon_file_beside_decimal_commas(tmp_path: Path) -> None:
    lines = [
        "Datum;Umsatz;Temperatur",
        "01.01.2024;15.000;1,3",
        "02.01.2024;12.500;2,5",
        "03.01.2024;9.800;-0,5",
    ]
    frame, notes = read_table(write(tmp_path / "de.csv", lines))
    assert frame["Umsatz"].tolist() == [15000, 12500, 9800]
    assert frame["Temperatur"].tolist() == [1.3, 2.5, -0.5]
    assert "column 'Umsatz': read dots as thousands separators ('15.000' as 15000)" in notes


def test_a_semicolon_column_crossing_a_thousand_keeps_its_thousands(tmp_path: Path) -> None:
    values = ["823", "829", "998", "1.004", "1.040", "1.029"]
    lines = ["Datum;Wert"] + [f"{d:02d}.01.2024;{v}" for d, v in enumerate(values, 1)]
    assert read_values(write(tmp_path / "count.csv", lines), "Wert")[0] == [823, 829, 998, 1004, 1040, 1029]


def test_plain_point_decimals_in_a_semicolon_file_stay_decimals(tmp_path: Path) -> None:
    for values in (
        ["0.976", "1.004", "0.991"],  # a leading 0 is no group of thousands
        ["12.5", "1.004", "13.25"],
        ["3.14159", "2.71828", "1.41421"],
        ["1.5e3", "1.004", "2.000"],
        ["1004", "1.500", "2.750"],  # 1004 undotted: the file writes no thousands dots
    ):
        lines = ["date;value"] + [f"2024-01-0{d};{v}" for d, v in enumerate(values, 1)]
        numbers, notes = read_values(write(tmp_path / "point.csv", lines), "value")
        assert numbers == [float(v) for v in values], values
        assert not notes


def test_a_leading_zero_makes_a_comma_decimal_in_any_file(tmp_path: Path) -> None:
    lines = ["Datum\tKurs", "01.01.2024\t0,976", "02.01.2024\t1,004", "03.01.2024\t1,081"]
    numbers, notes = read_values(write(tmp_path / "rate.tsv", lines), "Kurs")
    assert numbers == [0.976, 1.004, 1.081]
    assert notes == ["column 'Kurs': decimal commas read as decimal points"]
    quoted = ["date,price", '2024-01-01,"1,081"', '2024-01-02,"1,234"']  # no 0,: still thousands
    assert read_values(write(tmp_path / "quoted.csv", quoted), "price")[0] == [1081, 1234]


def test_accounting_negatives_unicode_minus_and_swiss_apostrophes(tmp_path: Path) -> None:
    lines = ["date,pnl,temp,chf", "2024-01-01,(1.82),\u22121.8,10'035.0", "2024-01-02,2.50,3.1,9\u2019999.5"]
    frame, notes = read_table(write(tmp_path / "decorated.csv", lines))
    assert frame["pnl"].tolist() == [-1.82, 2.5]
    assert frame["temp"].tolist() == [-1.8, 3.1]
    assert frame["chf"].tolist() == [10035.0, 9999.5]
    assert notes == [
        "column 'pnl': read numbers in parentheses as negative (accounting style)",
        "column 'temp': read '\u2212' (Unicode minus) as '-'",
        "column 'chf': removed apostrophe thousands separators",
    ]


def test_error_cells_are_left_for_validation_to_name(tmp_path: Path) -> None:
    lines = ["date,ratio", "2024-01-01,(1.82)", "2024-01-02,#DIV/0!", "2024-01-03,2.5"]
    frame, notes = read_table(write(tmp_path / "errors.csv", lines))
    assert "#DIV/0!" in frame["ratio"].tolist() and not notes


# --- Lines above the header -----------------------------------------------------------------------


def test_comment_lines_above_the_header_are_skipped_but_not_hashes_in_the_data(tmp_path: Path) -> None:
    lines = [
        "# exported from sensor hub",
        "# units: kWh",
        "",
        "date,value",
        "2024-01-01,5",
        "2024-01-02,#N/A",
    ]
    frame, notes = read_table(write(tmp_path / "hub.csv", lines))
    assert list(frame.columns) == ["date", "value"]
    assert frame["value"].iloc[0] == 5 and pd.isna(frame["value"].iloc[1])
    assert notes == ["skipped 2 comment line(s) above the header"]


def test_a_header_that_starts_with_a_hash_is_kept(tmp_path: Path) -> None:
    lines = ["#,date,value", "1,2024-01-01,5", "2,2024-01-02,6"]
    frame, notes = read_table(write(tmp_path / "numbered.csv", lines))
    assert list(frame.columns) == ["#", "date", "value"] and not notes


def test_excel_sep_lines_name_the_delimiter(tmp_path: Path) -> None:
    for line, delimiter, name in (("sep=;", ";", "';'"), ('"sep=,"', ",", "','"), ("sep=\t", "\t", "tab")):
        lines = [line, f"date{delimiter}value", f"2024-01-01{delimiter}5", f"2024-01-02{delimiter}6"]
        frame, notes = read_table(write(tmp_path / "excel.csv", lines))
        assert list(frame.columns) == ["date", "value"] and frame["value"].tolist() == [5, 6]
        assert notes == [
            f"read the {name} delimiter named on the first line ({line!r}) and skipped that line"
        ]


def test_several_title_lines_above_the_header_are_named(tmp_path: Path) -> None:
    lines = ["Quarterly report", "Region: North", "Prepared by: finance", "date,value"]
    lines += [f"2024-01-{d:02d},{d}" for d in range(1, 21)]
    with pytest.raises(
        DataError, match=r"the first 3 lines of titles.csv \('Quarterly report', 'Region: North', \.\.\.\)"
    ):
        read_table(write(tmp_path / "titles.csv", lines))


def test_the_delimiter_is_the_one_that_splits_the_header_and_the_rows_alike(tmp_path: Path) -> None:
    """A comma inside a column name (Wert (EUR, netto)) must not win over the ';' of every row."""
    days = pd.date_range("2024-01-01", periods=60)
    path = tmp_path / "umsatz.csv"
    path.write_text(
        "Datum;Wert (EUR, netto)\n" + "".join(f"{d:%Y-%m-%d};{i % 9},5\n" for i, d in enumerate(days))
    )
    data = load_series(path)
    assert data.targets == ("Wert (EUR, netto)",) and data.frame.iloc[0, 0] == 0.5
    pipe = tmp_path / "pipe.csv"
    pipe.write_text("date|value, USD\n" + "".join(f"{d:%Y-%m-%d}|{i % 9}.5\n" for i, d in enumerate(days)))
    assert load_series(pipe).targets == ("value, USD",)
