"""Tests of rnncast.data.load_series on small, realistic CSV and Parquet files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.data import SeriesData, load_series
from rnncast.errors import DataError, ExitCode, UsageError
from rnncast.frequency import future_timestamps

# US market holidays inside the stock fixture's range: MLK day and Presidents' Day 2024.
HOLIDAYS = pd.DatetimeIndex(["2024-01-15", "2024-02-19"])
SENSOR_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


def write_text(path: Path, lines: list[str], newline: str = "\n", final_newline: bool = True) -> Path:
    """Write CSV lines as UTF-8 bytes with an explicit line ending."""
    text = newline.join(lines) + (newline if final_newline else "")
    path.write_bytes(text.encode("utf-8"))
    return path


def trading_days() -> pd.DatetimeIndex:
    """Business days of Jan-Feb 2024 without the two market holidays."""
    return pd.bdate_range("2024-01-02", "2024-02-29").difference(HOLIDAYS)


def stock_frame() -> pd.DataFrame:
    """A Yahoo-style daily price table (Date,Open,High,Low,Close,Adj Close,Volume)."""
    days = trading_days()
    close = 370.0 + np.round(np.sin(np.arange(len(days)) / 3.0) * 5 + np.arange(len(days)) * 0.4, 2)
    return pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": close - 1.25,
            "High": close + 2.5,
            "Low": close - 3.0,
            "Close": close,
            "Adj Close": np.round(close * 0.99, 2),
            "Volume": 20_000_000 + np.arange(len(days)) * 1000,
        }
    )


@pytest.fixture
def stock_csv(tmp_path: Path) -> Path:
    path = tmp_path / "MSFT.csv"
    stock_frame().to_csv(path, index=False, lineterminator="\n")
    return path


def sensor_lines(hours: pd.DatetimeIndex) -> list[str]:
    """ETT-style hourly sensor rows with dates written as 'YYYY/M/D H:MM'."""
    lines = ["date," + ",".join(SENSOR_COLUMNS)]
    for i, stamp in enumerate(hours):
        values = [f"{5.0 + i * 0.1 + k:.3f}" for k in range(len(SENSOR_COLUMNS))]
        when = f"{stamp.year}/{stamp.month}/{stamp.day} {stamp.hour}:{stamp.minute:02d}"
        lines.append(when + "," + ",".join(values))
    return lines


HOURS = pd.date_range("2016-07-01 00:00", periods=48, freq="h")


@pytest.fixture
def sensor_csv(tmp_path: Path) -> Path:
    return write_text(tmp_path / "ETTh1.csv", sensor_lines(HOURS))


def daily_csv(tmp_path: Path, values: list[str], name: str = "daily.csv", header: str = "date,value") -> Path:
    days = pd.date_range("2024-03-01", periods=len(values), freq="D")
    lines = [header] + [f"{d:%Y-%m-%d},{v}" for d, v in zip(days, values, strict=True)]
    return write_text(tmp_path / name, lines)


# --- daily stock prices -------------------------------------------------------------------------


def test_stock_prices_default_to_adj_close_on_business_days(stock_csv: Path) -> None:
    data = load_series(stock_csv)
    expected = stock_frame()

    assert isinstance(data, SeriesData)
    assert data.time_col == "Date"
    assert data.targets == ("Adj Close",)
    assert data.features == ()
    assert data.columns == ("Adj Close",)
    assert data.frequency == "B"
    # Holidays stay out: business-daily gaps are not missing data.
    assert data.index.equals(pd.DatetimeIndex(expected["Date"]))
    assert not data.index.isin(HOLIDAYS).any()
    assert len(data) == len(expected)
    assert data.frame["Adj Close"].dtype == np.float64
    np.testing.assert_allclose(data.frame["Adj Close"].to_numpy(), expected["Adj Close"].to_numpy())
    assert data.notes == ()


def test_stock_prices_with_all_features_use_every_other_numeric_column(stock_csv: Path) -> None:
    data = load_series(stock_csv, features=("all",))

    assert data.targets == ("Adj Close",)
    assert data.features == ("Open", "High", "Low", "Close", "Volume")
    assert list(data.frame.columns) == ["Adj Close", "Open", "High", "Low", "Close", "Volume"]
    assert (data.frame.dtypes == np.float64).all()
    np.testing.assert_allclose(data.frame["Volume"].to_numpy(), stock_frame()["Volume"].to_numpy())


def test_stock_prices_without_adj_close_default_to_close(tmp_path: Path) -> None:
    frame = stock_frame().drop(columns=["Adj Close"])
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)

    data = load_series(path)

    assert data.targets == ("Close",)
    np.testing.assert_allclose(data.frame["Close"].to_numpy(), frame["Close"].to_numpy())


def test_upper_case_headers_find_the_time_column_and_close(tmp_path: Path) -> None:
    frame = stock_frame().drop(columns=["Adj Close", "Volume"])
    frame.columns = [c.upper() for c in frame.columns]
    path = tmp_path / "PRICES.CSV"
    frame.to_csv(path, index=False)

    data = load_series(path)

    assert data.time_col == "DATE"
    assert data.targets == ("CLOSE",)
    assert data.frequency == "B"
    np.testing.assert_allclose(data.frame["CLOSE"].to_numpy(), frame["CLOSE"].to_numpy())


# --- hourly multivariate sensor data -----------------------------------------------------------


def test_hourly_sensor_data_without_target_is_a_usage_error_listing_numeric_columns(
    sensor_csv: Path,
) -> None:
    with pytest.raises(UsageError) as caught:
        load_series(sensor_csv)

    message = str(caught.value)
    assert "--target" in message
    for column in SENSOR_COLUMNS:
        assert repr(column) in message
    assert "'date'" not in message
    assert caught.value.exit_code == ExitCode.USAGE == 2


def test_hourly_sensor_data_with_target_ot(sensor_csv: Path) -> None:
    data = load_series(sensor_csv, target=("OT",))

    assert data.time_col == "date"
    assert data.targets == ("OT",)
    assert data.features == ()
    assert data.frequency == "h"
    assert data.index.equals(HOURS)  # 'YYYY/M/D H:MM' parsed, 10:00 and later included
    expected_ot = [5.0 + i * 0.1 + 6 for i in range(len(HOURS))]
    np.testing.assert_allclose(data.frame["OT"].to_numpy(), expected_ot, atol=1e-9)
    assert data.notes == ()


def test_hourly_sensor_data_target_is_matched_ignoring_case(sensor_csv: Path) -> None:
    data = load_series(sensor_csv, target=("ot",), features=("hufl",))

    assert data.targets == ("OT",)
    assert data.features == ("HUFL",)


def test_hourly_missing_hour_is_reinserted_and_forward_filled(tmp_path: Path) -> None:
    gap = pd.Timestamp("2016-07-01 13:00")
    path = write_text(tmp_path / "gappy.csv", sensor_lines(HOURS.drop(gap)))

    data = load_series(path, target=("OT",), features=("HUFL",))

    assert data.frequency == "h"
    assert data.index.equals(HOURS)
    assert len(data) == len(HOURS)
    before = gap - pd.Timedelta(hours=1)
    assert data.frame.loc[gap, "OT"] == data.frame.loc[before, "OT"]
    assert data.frame.loc[gap, "HUFL"] == data.frame.loc[before, "HUFL"]
    assert not data.frame.isna().to_numpy().any()
    notes = " | ".join(data.notes)
    assert "1 missing timestamp" in notes
    assert "forward-filled 2 missing value(s)" in notes  # one hour, two columns


# --- monthly and weekly ------------------------------------------------------------------------


def test_monthly_yyyy_mm_with_crlf_and_no_final_newline(tmp_path: Path) -> None:
    months = pd.period_range("2015-01", periods=36, freq="M")
    values = [100.0 + 2.5 * i for i in range(len(months))]
    lines = ["month,sales"] + [f"{m},{v:.1f}" for m, v in zip(months, values, strict=True)]
    path = write_text(tmp_path / "monthly.csv", lines, newline="\r\n", final_newline=False)
    assert path.read_bytes().endswith(b"187.5")

    data = load_series(path)

    assert data.time_col == "month"
    assert data.targets == ("sales",)
    assert data.frequency == "MS"
    assert data.index.equals(months.to_timestamp(how="start"))
    assert data.frame["sales"].iloc[-1] == 187.5  # not '187.5\r' nor dropped
    np.testing.assert_allclose(data.frame["sales"].to_numpy(), values)


def test_weekly_sunday_series_and_its_future_timestamps(tmp_path: Path) -> None:
    sundays = pd.date_range("2023-01-01", periods=30, freq="W-SUN")
    lines = ["week,visitors"] + [f"{d:%Y-%m-%d},{1000 + 7 * i}" for i, d in enumerate(sundays)]
    path = write_text(tmp_path / "weekly.csv", lines)

    data = load_series(path)

    assert data.frequency == "W-SUN"
    assert (data.index.day_of_week == 6).all()
    future = future_timestamps(data.index[-1], data.frequency, 4)
    assert (future.day_of_week == 6).all()
    assert future[0] == sundays[-1] + pd.Timedelta(days=7)
    assert (future.to_series().diff().dropna() == pd.Timedelta(days=7)).all()


# --- the time column ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["datetime", "DateTime", "TIMESTAMP", "ds", "DS", "Month", "WEEK"])
def test_conventional_time_column_names_are_found_in_any_case(tmp_path: Path, name: str) -> None:
    path = daily_csv(tmp_path, ["1.0", "2.0", "3.0", "4.0"], header=f"{name},y")

    data = load_series(path)

    assert data.time_col == name
    assert data.index.name == name
    assert data.targets == ("y",)
    assert data.index[0] == pd.Timestamp("2024-03-01")


def test_explicit_time_col_is_used_and_matched_ignoring_case(tmp_path: Path) -> None:
    lines = ["station,observed,temp_c", "KSEA,2024-03-01 00:00,7.5", "KSEA,2024-03-01 01:00,7.1"]
    lines += ["KSEA,2024-03-01 02:00,6.8", "KSEA,2024-03-01 03:00,6.6"]
    path = write_text(tmp_path / "obs.csv", lines)

    data = load_series(path, time_col="Observed")

    assert data.time_col == "observed"
    assert data.targets == ("temp_c",)
    assert data.frequency == "h"
    assert data.frame["temp_c"].tolist() == [7.5, 7.1, 6.8, 6.6]


def test_no_time_column_is_a_usage_error_mentioning_time_col(tmp_path: Path) -> None:
    lines = ["station,observed,temp_c", "KSEA,2024-03-01 00:00,7.5", "KSEA,2024-03-01 01:00,7.1"]
    lines += ["KSEA,2024-03-01 02:00,6.8"]
    path = write_text(tmp_path / "obs.csv", lines)

    with pytest.raises(UsageError, match="--time-col") as caught:
        load_series(path)
    assert "'observed'" in str(caught.value)


def test_unknown_explicit_time_col_is_a_usage_error(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["1", "2", "3"])
    with pytest.raises(UsageError, match="--time-col 'when'"):
        load_series(path, time_col="when")


def test_oddly_named_first_column_of_dates_is_the_time_column(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["1", "2", "3", "4"], header="Fecha,Valor")

    data = load_series(path)

    assert data.time_col == "Fecha"
    assert data.targets == ("Valor",)


# --- order and duplicates ----------------------------------------------------------------------


def test_rows_out_of_order_are_sorted_with_a_note(tmp_path: Path) -> None:
    lines = ["date,value", "2024-03-03,3", "2024-03-01,1", "2024-03-04,4", "2024-03-02,2", "2024-03-05,5"]
    path = write_text(tmp_path / "shuffled.csv", lines)

    data = load_series(path)

    assert data.index.is_monotonic_increasing
    assert data.index.equals(pd.date_range("2024-03-01", periods=5, freq="D", name="date"))
    assert data.frame["value"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert any("sorted" in note for note in data.notes)


def test_exact_duplicate_rows_are_dropped_with_a_note(tmp_path: Path) -> None:
    lines = ["date,value", "2024-03-01,1", "2024-03-02,2", "2024-03-02,2", "2024-03-03,3", "2024-03-04,4"]
    path = write_text(tmp_path / "dupes.csv", lines)

    data = load_series(path)

    assert len(data) == 4
    assert data.index.is_unique
    assert data.frame["value"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert any("dropped 1 exact duplicate" in note for note in data.notes)


def test_conflicting_duplicate_timestamps_are_a_data_error(tmp_path: Path) -> None:
    lines = ["date,value", "2024-03-01,1", "2024-03-02,2", "2024-03-02,2.5", "2024-03-03,3", "2024-03-04,4"]
    path = write_text(tmp_path / "conflict.csv", lines)

    with pytest.raises(DataError, match="duplicate timestamp") as caught:
        load_series(path)
    assert "2024-03-02" in str(caught.value)
    assert caught.value.exit_code == ExitCode.DATA == 3


# --- values ------------------------------------------------------------------------------------


def test_non_numeric_target_values_are_a_data_error_naming_the_column(tmp_path: Path) -> None:
    lines = ["Date,Close", "2024-03-01,410.5", "2024-03-04,#REF!", "2024-03-05,411.0"]
    lines += ["2024-03-06,412.0"]
    path = write_text(tmp_path / "prices.csv", lines)

    with pytest.raises(DataError, match="column 'Close'") as caught:
        load_series(path)
    assert "#REF!" in str(caught.value)


def test_nasdaq_export_with_dollars_and_thousands_separators(tmp_path: Path) -> None:
    lines = ["Date,Close/Last,Volume,Open", '03/04/2024,"$1,012.25",21000000,$1000.00']
    lines += ['03/05/2024,"$1,020.50",20000000,$1010.00', '03/06/2024,"$999.75",19000000,$1015.00']
    path = write_text(tmp_path / "nasdaq.csv", lines)

    series = load_series(path)
    assert series.targets == ("Close/Last",)  # not Volume, the only plain number
    assert series.frame["Close/Last"].tolist() == [1012.25, 1020.5, 999.75]
    assert any("currency symbols" in note and "thousands separators" in note for note in series.notes)


def test_european_decimal_commas_are_not_read_as_thousands(tmp_path: Path) -> None:
    lines = ["Datum;Kurs;Umsatz"]
    lines += [f"0{d}.01.2020;1,0{80 + d};1.234.56{d},5" for d in range(1, 8)]
    series = load_series(write_text(tmp_path / "eur.csv", lines), target=("Kurs",), features=("Umsatz",))
    assert series.frame["Kurs"].iloc[0] == 1.081
    assert series.frame["Umsatz"].iloc[0] == 1234561.5
    assert any("decimal commas" in note for note in series.notes)


def test_infinite_values_are_a_data_error(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["1", "inf", "3", "4"])
    with pytest.raises(DataError, match="infinite"):
        load_series(path)


def test_missing_markers_like_yahoo_null_are_forward_filled(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["10", "null", "12", "N/A", "14"])

    data = load_series(path)

    assert data.frame["value"].tolist() == [10.0, 10.0, 12.0, 12.0, 14.0]
    assert any("forward-filled 2 missing value(s)" in note for note in data.notes)


def test_fill_ffill_carries_the_last_value_and_says_how_many(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["10", "11", "", "", "14", "15"])

    data = load_series(path, fill="ffill")

    assert data.frame["value"].tolist() == [10.0, 11.0, 11.0, 11.0, 14.0, 15.0]
    assert len(data) == 6
    assert data.notes == ("forward-filled 2 missing value(s) (value: 2)",)


def test_rows_before_the_first_and_after_the_last_target_value_are_dropped_not_filled(tmp_path: Path) -> None:
    """Future rows left empty in a spreadsheet (or a history before recording began) are not
    data: filling them would invent values and start the forecast after the invented part."""
    path = daily_csv(tmp_path, ["", "", "11", "12", "", "13", "14", "", "", ""])

    data = load_series(path, fill="ffill")

    assert data.frame["value"].tolist() == [11.0, 12.0, 12.0, 13.0, 14.0]
    assert data.index[0] == pd.Timestamp("2024-03-03") and data.index[-1] == pd.Timestamp("2024-03-07")
    assert data.filled.ravel().tolist() == [False, False, True, False, False]
    assert any("dropped the first 2 row(s)" in note for note in data.notes)
    assert any("dropped the last 3 row(s)" in note and "ends 2024-03-07" in note for note in data.notes)


def test_a_leading_gap_in_a_feature_is_back_filled(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, [f"{10 + i},{'' if i < 2 else i}" for i in range(6)], header="date,value,load")

    data = load_series(path, target=("value",), features=("load",), fill="ffill")

    assert data.frame["load"].tolist() == [2.0, 2.0, 2.0, 3.0, 4.0, 5.0]


def test_a_column_mostly_missing_is_refused_rather_than_invented(tmp_path: Path) -> None:
    values = [str(i) if i % 4 == 0 else "" for i in range(40)] + ["99"]
    path = daily_csv(tmp_path, values)

    with pytest.raises(DataError, match=r"missing 7\d% of its values .* make up most of the series"):
        load_series(path, fill="ffill")
    assert len(load_series(path, fill="drop")) == 11


def test_tiny_magnitudes_are_refused_like_huge_ones(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, [f"{1 + i % 5}e-298" for i in range(30)])

    with pytest.raises(DataError, match=r"only tiny values .* Rescale"):
        load_series(path)


def test_fill_interpolate_is_linear_in_time(tmp_path: Path) -> None:
    # 03-02 has an empty cell and 03-03 is missing altogether: both lie between 10 and 40.
    lines = ["date,value", "2024-03-01,10", "2024-03-02,", "2024-03-04,40", "2024-03-05,50", "2024-03-06,60"]
    lines += ["2024-03-07,70"]
    path = write_text(tmp_path / "gaps.csv", lines)

    data = load_series(path, fill="interpolate")

    assert data.frequency == "D"
    assert data.index.equals(pd.date_range("2024-03-01", "2024-03-07", freq="D", name="date"))
    np.testing.assert_allclose(data.frame["value"].to_numpy(), [10, 20, 30, 40, 50, 60, 70])
    assert any(note.startswith("interpolated 2 missing value(s)") for note in data.notes)


def test_fill_drop_removes_rows_with_missing_values(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["10", "11", "", "13", "", "15", "16"])

    data = load_series(path, fill="drop")

    assert len(data) == 5
    assert data.frame["value"].tolist() == [10.0, 11.0, 13.0, 15.0, 16.0]
    assert pd.Timestamp("2024-03-03") not in data.index
    assert not data.frame.isna().to_numpy().any()
    assert any("dropped 2 row(s)" in note for note in data.notes)


def test_fill_error_is_a_data_error_with_the_count(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["10", "11", "", "13", "", "15"])

    with pytest.raises(DataError, match="2 missing value") as caught:
        load_series(path, fill="error")
    assert "value: 2" in str(caught.value)


def test_fill_drop_that_leaves_no_rows_is_a_data_error(tmp_path: Path) -> None:
    # A feature column exported with no values at all: every row has a missing value.
    lines = ["date,value,promo"] + [f"2024-03-0{d},{d}," for d in range(1, 6)]
    path = write_text(tmp_path / "empty_feature.csv", lines)

    with pytest.raises(DataError):
        load_series(path, target=("value",), features=("promo",), fill="drop")


def test_a_column_with_no_values_is_a_data_error_under_ffill(tmp_path: Path) -> None:
    lines = ["date,value,promo"] + [f"2024-03-0{d},{d}," for d in range(1, 6)]
    path = write_text(tmp_path / "empty_feature.csv", lines)

    with pytest.raises(DataError, match="promo"):
        load_series(path, target=("value",), features=("promo",), fill="ffill")


# --- unusable files ----------------------------------------------------------------------------


def test_two_rows_are_a_data_error(tmp_path: Path) -> None:
    path = daily_csv(tmp_path, ["1.5", "2.5"])
    with pytest.raises(DataError, match="2 usable row"):
        load_series(path)


def test_empty_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_series(path)


def test_header_only_file_is_a_data_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "header.csv", ["date,value"])
    with pytest.raises(DataError, match="no data rows"):
        load_series(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_series(tmp_path / "nope.csv")


# --- formats -----------------------------------------------------------------------------------


def test_semicolon_delimited_file_loads(tmp_path: Path) -> None:
    lines = ["Datum;Verbrauch", "2024-03-01;12.5", "2024-03-02;13.25", "2024-03-03;11.0", "2024-03-04;12.0"]
    path = write_text(tmp_path / "strom.csv", lines)

    data = load_series(path, time_col="Datum")

    assert data.targets == ("Verbrauch",)
    assert data.frame["Verbrauch"].tolist() == [12.5, 13.25, 11.0, 12.0]
    assert data.frequency == "D"


def test_utf8_bom_file_loads_with_a_clean_first_column_name(tmp_path: Path) -> None:
    lines = ["Date,Close", "2024-03-01,410.5", "2024-03-02,411.0", "2024-03-03,412.5", "2024-03-04,413.0"]
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")

    data = load_series(path)

    assert data.time_col == "Date"  # not '\ufeffDate'
    assert data.targets == ("Close",)
    assert data.frame["Close"].tolist() == [410.5, 411.0, 412.5, 413.0]


@pytest.mark.parametrize("layout", ["column", "named_index"])
def test_parquet_round_trip_loads_the_same_as_csv(stock_csv: Path, tmp_path: Path, layout: str) -> None:
    frame = pd.read_csv(stock_csv, parse_dates=["Date"])
    path = tmp_path / "MSFT.parquet"
    if layout == "column":
        frame.to_parquet(path, index=False)
    else:
        frame.set_index("Date").to_parquet(path)

    from_csv = load_series(stock_csv, features=("all",))
    from_parquet = load_series(path, features=("all",))

    assert from_parquet.time_col == "Date"
    assert from_parquet.targets == from_csv.targets
    assert from_parquet.features == from_csv.features
    assert from_parquet.frequency == from_csv.frequency == "B"
    pd.testing.assert_frame_equal(from_parquet.frame, from_csv.frame)


def test_parquet_with_an_unnamed_datetime_index_loads(tmp_path: Path) -> None:
    # What `series.to_frame("load").to_parquet(path)` writes for a resampled series.
    index = pd.date_range("2024-03-01", periods=48, freq="h")
    frame = pd.DataFrame({"load": np.arange(48, dtype=float)}, index=index)
    path = tmp_path / "load.parquet"
    frame.to_parquet(path)

    data = load_series(path)

    assert data.targets == ("load",)
    assert data.frequency == "h"
    assert data.index.equals(index)


# --- frequency and fingerprint -----------------------------------------------------------------


def test_known_frequency_that_does_not_match_is_a_data_error(sensor_csv: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_series(sensor_csv, target=("OT",), frequency="D")
    message = str(caught.value)
    assert "'h'" in message and "'D'" in message


def test_known_frequency_that_matches_is_used(sensor_csv: Path) -> None:
    data = load_series(sensor_csv, target=("OT",), frequency="h")
    assert data.frequency == "h"
    assert data.fingerprint["frequency"] == "h"


def test_fingerprint_describes_the_file_and_the_series(stock_csv: Path) -> None:
    data = load_series(stock_csv, features=("Volume",))
    fp = data.fingerprint
    days = trading_days()

    assert fp["sha256"] == hashlib.sha256(stock_csv.read_bytes()).hexdigest()
    assert len(fp["sha256"]) == 64 and all(c in "0123456789abcdef" for c in fp["sha256"])
    assert fp["rows"] == len(days) == len(data)
    assert fp["first_timestamp"] == days[0].isoformat()
    assert fp["last_timestamp"] == days[-1].isoformat()
    assert pd.Timestamp(fp["last_timestamp"]) == pd.Timestamp("2024-02-29")
    assert fp["frequency"] == "B"
    assert fp["columns"] == ["Adj Close", "Volume"]
    assert fp["time_col"] == "Date"
    assert fp["size_bytes"] == stock_csv.stat().st_size
    assert Path(fp["path"]) == stock_csv.resolve()


def test_fingerprint_changes_when_the_file_changes(tmp_path: Path) -> None:
    first = load_series(daily_csv(tmp_path, ["1", "2", "3", "4"], name="a.csv")).fingerprint
    second = load_series(daily_csv(tmp_path, ["1", "2", "3", "5"], name="b.csv")).fingerprint

    assert first["sha256"] != second["sha256"]
    assert first["rows"] == second["rows"] == 4


def test_a_month_missing_from_trading_days_is_reported(tmp_path: Path) -> None:
    frame = stock_frame()
    holed = frame[(frame["Date"] < "2024-01-20") | (frame["Date"] > "2024-02-10")]
    path = tmp_path / "holed.csv"
    holed.to_csv(path, index=False)
    series = load_series(path)
    assert series.frequency == "B"
    assert any("2024-01-19 to 2024-02-12" in note for note in series.notes)
    plain = tmp_path / "plain.csv"
    frame.to_csv(plain, index=False)
    assert not any("gap" in note for note in load_series(plain).notes)  # holidays are not gaps


def test_a_redundant_year_column_beside_full_dates_is_fine(tmp_path: Path) -> None:
    months = pd.date_range("2010-01-01", periods=60, freq="MS")
    lines = ["month,year,sales"] + [f"{m:%Y-%m-%d},{m.year},{100 + i}" for i, m in enumerate(months)]
    data = load_series(write_text(tmp_path / "sales.csv", lines), target=("sales",))
    assert len(data) == 60 and data.frequency == "MS"


def test_features_all_leaves_out_mostly_empty_columns(tmp_path: Path) -> None:
    days = pd.bdate_range("2020-01-01", periods=120)
    lines = ["Date,Close,Volume,Dividends"] + [
        f"{d:%Y-%m-%d},{100 + i % 9},{1000 + i},{'0.5' if i % 60 == 0 else ''}" for i, d in enumerate(days)
    ]
    data = load_series(write_text(tmp_path / "prices.csv", lines), features=("all",))
    assert data.features == ("Volume",)
    assert any("left out mostly empty column(s) 'Dividends'" in note for note in data.notes)


def test_a_parquet_index_and_column_of_the_same_name_both_survive_info_and_loading(tmp_path: Path) -> None:
    from rnncast.sniffing import sketch_data_file

    stamps = pd.date_range("2020-01-01", periods=300, freq="h", name="time")
    path = tmp_path / "dup.parquet"
    pd.DataFrame({"time": range(300), "load": range(300)}, index=stamps).to_parquet(path)
    assert sketch_data_file(path)["time_col"] == "time"
    assert len(load_series(path, target=("load",))) == 300


def test_a_file_whose_only_column_is_an_unnamed_index_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "index_only.csv"
    path.write_bytes(b'""\n0\n')
    with pytest.raises(DataError, match="no named columns"):
        load_series(path)
