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


def test_a_second_header_row_is_named_as_such_not_as_dates_that_fail() -> None:
    days = list(pd.date_range("2023-01-01", periods=20).strftime("%Y-%m-%d"))
    for first in ("Date", "YYYY-MM-DD", "# checkpoint"):
        with pytest.raises(
            DataError, match=rf"row 1 of time column 'date' \({first!r}\) is not a date"
        ) as caught:
            parse([first, *days])
        assert "2023-01-01" not in str(caught.value) and "Delete that row" in str(caught.value)
    with pytest.raises(DataError, match=r"rows 1 to 2 of time column 'date' \('Date', 'dd.mm.yyyy'\)"):
        parse(["Date", "dd.mm.yyyy", *pd.date_range("2023-01-01", periods=20).strftime("%d.%m.%Y")])


def test_valid_dates_are_never_listed_as_not_dates() -> None:
    days = list(pd.date_range("2023-01-01", periods=20).strftime("%m/%d/%Y"))
    with pytest.raises(DataError, match=r"not dates: 'soon', 'later' \(row\(s\) 1, 12\)"):
        parse(["soon", *days[:10], "later", *days[10:]])


def test_twelve_hour_clock_times_are_read() -> None:
    hours = pd.date_range("2024-03-13 10:00", periods=6, freq="h")
    values = [f"{h.month}/{h.day}/{h.year} {(h.hour % 12) or 12}:{h.minute:02d} {h:%p}" for h in hours]
    index, _ = parse(values)  # 3/13/2024 10:00 AM ... 3/13/2024 3:00 PM
    assert list(index) == list(hours)
    index, _ = parse(["2024-03-01 12:30 am", "2024-03-01 1:30 a.m.", "2024-03-01 12:30 p.m."])
    assert list(index.hour) == [0, 1, 12]


@pytest.mark.parametrize(
    ("values", "first"),
    [
        (["January 2010", "February 2010", "March 2010"], "2010-01-01"),
        (["Jan 2010", "Feb 2010", "Mar 2010"], "2010-01-01"),
        (["01jan2023", "02jan2023", "03jan2023"], "2023-01-01"),
        (["01JAN2024:00:00:00", "01JAN2024:01:00:00", "01JAN2024:02:00:00"], "2024-01-01"),
        (["2023m11", "2023m12", "2024m1"], "2023-11-01"),
        (["2024Q1", "2024Q2", "2024Q3"], "2024-01-01"),
        (["2024-Q4", "2025-Q1", "2025-Q2"], "2024-10-01"),
        (["2024-W05", "2024-W06", "2024-W07"], "2024-01-29"),
    ],
)
def test_unambiguous_spellings_pandas_does_not_guess_are_read(values: list[str], first: str) -> None:
    index, _ = parse(values)
    assert index[0] == pd.Timestamp(first)
    assert index.is_monotonic_increasing and index.is_unique


def test_quarters_and_weeks_say_which_day_they_stand_for() -> None:
    _, notes = parse(["2024Q1", "2024Q2", "2024Q3"])
    assert notes == ["read quarters such as '2024Q1' as their first day (2024-01-01)"]
    _, notes = parse(["2024-W05", "2024-W06", "2024-W07"])
    assert notes == ["read ISO weeks such as '2024-W05' as their Monday (2024-01-29)"]


def test_a_week_that_does_not_exist_is_named() -> None:
    with pytest.raises(DataError, match=r"not dates: '2024-W54'"):
        parse(["2024-W51", "2024-W52", "2024-W54", "2025-W01"])


def test_a_spelling_mixed_with_another_is_refused() -> None:
    with pytest.raises(DataError, match="mixes date formats"):
        parse(["2024Q1", "2024Q2", "2024Q3", "2024-10-01"])


@pytest.mark.parametrize(
    "values", [["01/31/23", "02/28/23", "03/31/23"], ["31.01.23", "28.02.23", "31.03.23"]]
)
def test_two_digit_years_are_refused_not_guessed(values: list[str]) -> None:
    with pytest.raises(DataError, match=rf"writes years with two digits \(e.g. {values[0]!r}\)"):
        parse(values)


@pytest.mark.parametrize("values", [["Jan-10", "Feb-10", "Mar-10"], ["10-Jan", "10-Feb", "10-Mar"]])
def test_a_month_beside_two_digits_is_refused_as_ambiguous(values: list[str]) -> None:
    with pytest.raises(DataError, match="could mean January '10 \\(a month\\) or 10 January"):
        parse(values)


def test_day_first_bursts_far_apart_are_read_day_first_not_refused() -> None:
    """The month-first reading of such stamps spans months of seconds: too big a grid to build,
    which must count against that reading, not abort the choice."""
    first = pd.date_range("2024-01-02 10:00:00", periods=50, freq="s")
    second = pd.date_range("2024-01-12 10:00:00", periods=50, freq="s")
    text = pd.Series([f"{t:%d/%m/%Y %H:%M:%S}" for t in first.append(second)])
    index, _ = parse_timestamps(text, "time")
    assert index[0] == first[0] and index[-1] == second[-1]


def test_years_before_1000_and_huge_numbers_are_refused_cleanly() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        for values in (pd.Series(["0000Q1", "0000Q2", "0000Q3"]), pd.Series([1e300, 2e300, 3e300])):
            with pytest.raises(DataError):
                parse_timestamps(values, "date")


def test_a_very_long_cell_is_judged_quickly_and_quoted_short() -> None:
    text = pd.Series(["x" * 20_000] + [f"2024-01-0{d}" for d in range(1, 6)])
    with pytest.raises(DataError) as caught:
        parse_timestamps(text, "date")
    assert len(caught.value.one_line()) < 600


def test_step_numbers_are_refused_with_how_to_date_them() -> None:
    # The M4 files and some loaders number the steps instead of dating them.
    with pytest.raises(DataError, match=r"'ds' numbers the steps \(1, 2, \.\.\.\)") as caught:
        parse_timestamps(pd.Series(range(1, 700)), "ds")
    assert "pd.to_timedelta(steps, unit='h')" in caught.value.hint


def test_other_numbers_keep_the_plain_refusal() -> None:
    with pytest.raises(DataError, match=r"'id' holds numbers \(7, \.\.\.\), not dates") as caught:
        parse_timestamps(pd.Series([7, 3, 11, 5]), "id")
    assert "--time-col" in caught.value.hint
