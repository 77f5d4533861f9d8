"""Tests of rnncast.frequency: inferring offset aliases, season lengths and future timestamps."""

from __future__ import annotations

import pandas as pd
import pytest

from rnncast.errors import DataError
from rnncast.frequency import (
    future_timestamps,
    infer_frequency,
    missing_timestamps,
    off_grid_timestamps,
    seasonal_period,
)

# US market holidays in early 2024: MLK day (a Monday) and Presidents' Day (a Monday).
HOLIDAYS = pd.DatetimeIndex(["2024-01-15", "2024-02-19"])


def stamps(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(text) for text in texts]


@pytest.mark.parametrize(
    ("start", "alias"),
    [
        ("2024-01-01", "D"),
        ("2024-01-01 00:00", "h"),
        ("2024-01-01 00:00", "15min"),
        ("2020-01-01", "MS"),
        ("2020-01-31", "ME"),
        ("2015-01-01", "QS-JAN"),
        ("2015-02-01", "QS-FEB"),
        ("2015-03-31", "QE-DEC"),
        ("2024-01-07", "W-SUN"),
        ("2024-01-05", "W-FRI"),
        ("2000-01-01", "YS-JAN"),
        ("2000-12-31", "YE-DEC"),
    ],
)
def test_infer_frequency_recovers_the_alias_of_a_regular_pandas_grid(start: str, alias: str) -> None:
    index = pd.date_range(start, periods=40, freq=alias)
    assert infer_frequency(index) == alias


def test_infer_frequency_business_days_with_holidays_is_b() -> None:
    index = pd.bdate_range("2024-01-02", "2024-03-28").difference(HOLIDAYS)
    assert pd.infer_freq(index) is None  # what pandas alone makes of it
    assert infer_frequency(index) == "B"


def test_infer_frequency_calendar_days_with_weekends_is_d_even_with_a_gap() -> None:
    index = pd.date_range("2024-01-01", periods=60, freq="D").drop(pd.Timestamp("2024-01-20"))
    assert infer_frequency(index) == "D"


def test_infer_frequency_weekdays_only_without_a_weekend_step_is_not_b() -> None:
    # Monday to Thursday: no Friday->Monday step, so nothing shows it is a trading calendar.
    index = pd.date_range("2024-03-04", periods=4, freq="D")
    assert infer_frequency(index) == "D"


def test_infer_frequency_hourly_with_a_missing_hour_is_h() -> None:
    index = pd.date_range("2024-01-01", periods=72, freq="h").drop(pd.Timestamp("2024-01-02 05:00"))
    assert infer_frequency(index) == "h"


def test_infer_frequency_monthly_with_a_missing_month_is_ms() -> None:
    index = pd.date_range("2018-01-01", periods=48, freq="MS").drop(pd.Timestamp("2019-06-01"))
    assert infer_frequency(index) == "MS"


def test_infer_frequency_needs_three_timestamps() -> None:
    with pytest.raises(DataError, match="2 timestamp"):
        infer_frequency(pd.date_range("2024-01-01", periods=2, freq="D"))


@pytest.mark.parametrize(
    ("alias", "period"),
    [
        ("h", 24),
        ("D", 7),
        ("B", 5),
        ("W-SUN", 52),
        ("W-FRI", 52),
        ("MS", 12),
        ("ME", 12),
        ("QS-JAN", 4),
        ("QE-DEC", 4),
    ],
)
def test_seasonal_period(alias: str, period: int) -> None:
    assert seasonal_period(alias) == period


def test_seasonal_period_of_yearly_data_is_one() -> None:
    assert seasonal_period("YS-JAN") == 1


def test_future_business_days_after_a_friday_skip_the_weekend() -> None:
    friday = pd.Timestamp("2024-03-01")
    assert friday.day_name() == "Friday"

    future = future_timestamps(friday, "B", 5)

    assert list(future) == list(pd.date_range("2024-03-04", "2024-03-08", freq="D"))
    assert list(future.day_name()) == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def test_future_business_days_over_two_weeks_have_no_weekend() -> None:
    future = future_timestamps(pd.Timestamp("2024-03-01"), "B", 10)
    assert len(future) == 10
    assert (future.day_of_week < 5).all()
    assert future[-1] == pd.Timestamp("2024-03-15")


def test_future_month_starts_cross_the_year() -> None:
    future = future_timestamps(pd.Timestamp("2024-12-01"), "MS", 3)
    assert list(future) == stamps("2025-01-01", "2025-02-01", "2025-03-01")


def test_future_month_ends_follow_month_lengths() -> None:
    future = future_timestamps(pd.Timestamp("2024-01-31"), "ME", 3)
    assert list(future) == stamps("2024-02-29", "2024-03-31", "2024-04-30")


def test_future_hours_cross_midnight() -> None:
    future = future_timestamps(pd.Timestamp("2024-03-10 22:00"), "h", 4)
    expected = ["2024-03-10 23:00", "2024-03-11 00:00", "2024-03-11 01:00", "2024-03-11 02:00"]
    assert list(future) == [pd.Timestamp(t) for t in expected]


def test_future_weeks_stay_on_sundays() -> None:
    sunday = pd.Timestamp("2024-03-31")
    future = future_timestamps(sunday, "W-SUN", 3)
    assert list(future) == stamps("2024-04-07", "2024-04-14", "2024-04-21")


def test_future_quarters_start_in_january_april_july_october() -> None:
    future = future_timestamps(pd.Timestamp("2024-10-01"), "QS-JAN", 2)
    assert list(future) == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-01")]


def test_future_timestamps_continue_an_inferred_series() -> None:
    index = pd.date_range("2024-01-01 00:00", periods=30, freq="15min")
    future = future_timestamps(index[-1], infer_frequency(index), 5)
    assert future.equals(pd.date_range(index[-1] + pd.Timedelta(minutes=15), periods=5, freq="15min"))


def test_missing_timestamps_lists_the_gaps_of_the_grid() -> None:
    full = pd.date_range("2024-01-01", periods=48, freq="h")
    gaps = pd.DatetimeIndex(["2024-01-01 05:00", "2024-01-02 13:00"])
    assert missing_timestamps(full.difference(gaps), "h").equals(gaps)
    assert len(missing_timestamps(full, "h")) == 0


def test_off_grid_timestamps_finds_stamps_between_grid_points() -> None:
    index = pd.date_range("2024-01-01", periods=10, freq="h").append(pd.DatetimeIndex(["2024-01-01 10:30"]))
    off = off_grid_timestamps(index.sort_values(), "h")
    assert list(off) == [pd.Timestamp("2024-01-01 10:30")]


def test_monthly_on_the_30th_survives_february() -> None:
    stamps = pd.DatetimeIndex(
        [pd.Timestamp(2009, m, min(30, pd.Timestamp(2009, m, 1).days_in_month)) for m in range(3, 13)]
        + [pd.Timestamp(2010, 1, 30), pd.Timestamp(2010, 2, 28)]
    )
    frequency = infer_frequency(stamps)
    assert frequency == "month-day-30"
    assert list(future_timestamps(stamps[-1], frequency, 2)) == [
        pd.Timestamp("2010-03-30"),
        pd.Timestamp("2010-04-30"),
    ]
    assert len(off_grid_timestamps(stamps, frequency)) == 0
