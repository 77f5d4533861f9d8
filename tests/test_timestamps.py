"""Time columns are read one format per column, and never silently misread."""

from __future__ import annotations

import pandas as pd
import pytest

from rnncast.errors import DataError
from rnncast.frequency import infer_frequency
from rnncast.timestamps import parse_timestamps


def parse(values: list) -> tuple[pd.DatetimeIndex, list[str]]:
    return parse_timestamps(pd.Series(values), "date")


def test_day_first_dates_are_read_day_first_when_that_keeps_the_order() -> None:
    days = pd.date_range("2020-10-05", periods=10, freq="W-MON")
    index, _ = parse(list(days.strftime("%d.%m.%Y")))
    assert list(index) == list(days)


def test_fully_ambiguous_dotted_dates_are_day_first_and_say_so() -> None:
    months = pd.date_range("2020-01-01", periods=12, freq="MS") + pd.Timedelta(days=2)  # the 3rd
    index, notes = parse(list(months.strftime("%d.%m.%Y")))  # 03.01.2020 ... 03.12.2020
    assert list(index) == list(months)
    assert any("%d.%m.%Y" in note for note in notes)


def test_day_first_daily_series_is_not_scrambled() -> None:
    days = pd.date_range("2021-01-01", periods=60, freq="D")
    index, _ = parse(list(days.strftime("%d/%m/%Y")))
    assert list(index) == list(days)


def test_month_first_dates_are_read_month_first_when_that_keeps_the_order() -> None:
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    index, _ = parse(list(days.strftime("%m/%d/%Y")))
    assert list(index) == list(days)


def test_unambiguous_day_first_slashes() -> None:
    index, _ = parse(["25/12/2020", "26/12/2020", "27/12/2020"])
    assert index[0] == pd.Timestamp("2020-12-25")


def test_mixed_utc_offsets_across_daylight_saving_become_utc() -> None:
    values = ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00"]
    index, notes = parse(values)
    assert str(index.tz) == "UTC"
    assert list(index.hour) == [23, 0, 1]  # one regular hourly step each
    assert infer_frequency(index) == "h"
    assert any("UTC" in note for note in notes)


def test_years_and_compact_dates_given_as_numbers() -> None:
    years, _ = parse_timestamps(pd.Series([1990, 1991, 1992]), "year")
    assert list(years.year) == [1990, 1991, 1992]
    compact, _ = parse_timestamps(pd.Series([20240130, 20240131, 20240201]), "date")
    assert compact[-1] == pd.Timestamp("2024-02-01")


def test_plain_numbers_are_not_dates() -> None:
    with pytest.raises(DataError, match="numbers"):
        parse_timestamps(pd.Series([1.5, 2.5, 3.5]), "t")


def test_mixed_formats_are_refused_not_guessed() -> None:
    with pytest.raises(DataError, match="mixes date formats"):
        parse(["2024-01-01", "2024-01-02", "01/03/2024"])


def test_garbage_is_named_in_the_message() -> None:
    with pytest.raises(DataError, match="'soon'"):
        parse(["2024-01-01", "soon", "2024-01-03"])


def test_empty_time_cell_names_the_row() -> None:
    with pytest.raises(DataError, match="row"):
        parse(["2024-01-01", None, "2024-01-03"])
