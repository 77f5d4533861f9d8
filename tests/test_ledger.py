"""The forecast ledger: appends that survive crashes, exact round trips, and realised errors
checked against numbers worked out by hand."""

from __future__ import annotations

import inspect
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast.errors import DataError
from rnncast.ledger import (
    LEDGER_COLUMNS,
    append_to_ledger,
    forecast_rows,
    ledger_path,
    read_ledger,
    realised_errors,
)

ROOT = Path(__file__).resolve().parent.parent
HEADER = "series,target,origin,step,time,forecast,naive,seasonal_naive,model,written_at\n"
WRITTEN = "2017-01-10T18:00:00+00:00"

# MSFT closes from sample_data/msft_daily.csv.
CLOSES = {"2017-01-03": 61.52, "2017-01-04": 61.246, "2017-01-05": 61.246, "2017-01-06": 61.776}


def _msft(origin: str, forecasts: list[float], times: list[str], model: str = "m1") -> pd.DataFrame:
    """Ledger rows of one 3-step MSFT Close forecast, with the naive forecast (the origin's close)."""
    frame = pd.DataFrame({"Close": forecasts}, index=pd.DatetimeIndex(times))
    naive = np.full((len(times), 1), CLOSES[origin])
    return forecast_rows(
        frame, series="MSFT", origin=pd.Timestamp(origin), naive=naive, seasonal_naive=None, model=model
    )


def _first_origin(model: str = "m1") -> pd.DataFrame:
    return _msft("2017-01-03", [61.40, 61.30, 61.60], ["2017-01-04", "2017-01-05", "2017-01-06"], model)


def _second_origin(model: str = "m1") -> pd.DataFrame:
    return _msft("2017-01-04", [61.30, 61.50, 61.70], ["2017-01-05", "2017-01-06", "2017-01-09"], model)


def test_the_ledger_lives_beside_the_bundle(tmp_path: Path) -> None:
    assert ledger_path(tmp_path / "models" / "msft") == tmp_path / "models" / "msft.ledger.csv"


def test_forecast_rows_number_steps_and_pair_each_forecast_with_its_baselines() -> None:
    index = pd.DatetimeIndex(["2017-01-04", "2017-01-05"])
    frame = pd.DataFrame({"Close": [61.4, 61.3], "Open": [61.5, 61.2]}, index=index)
    naive = np.array([[61.52, 61.727], [61.52, 61.727]])
    seasonal = np.array([[61.0, 61.1], [61.2, 61.3]])
    rows = forecast_rows(
        frame,
        series="MSFT",
        origin=pd.Timestamp("2017-01-03"),
        naive=naive,
        seasonal_naive=seasonal,
        model="2017-01-03T20:00:00+00:00",
        written_at=WRITTEN,
    )
    assert tuple(rows.columns) == LEDGER_COLUMNS
    assert rows[["target", "step", "time", "forecast", "naive", "seasonal_naive"]].values.tolist() == [
        ["Close", 1, "2017-01-04T00:00:00", 61.4, 61.52, 61.0],
        ["Open", 1, "2017-01-04T00:00:00", 61.5, 61.727, 61.1],
        ["Close", 2, "2017-01-05T00:00:00", 61.3, 61.52, 61.2],
        ["Open", 2, "2017-01-05T00:00:00", 61.2, 61.727, 61.3],
    ]
    assert set(rows["origin"]) == {"2017-01-03T00:00:00"}
    with pytest.raises(ValueError, match="shape"):
        forecast_rows(
            frame,
            series="",
            origin=pd.Timestamp("2017-01-03"),
            naive=naive[:1],
            seasonal_naive=None,
            model="m",
        )


def test_appends_create_the_file_skip_rows_already_there_and_add_new_origins(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    assert append_to_ledger(path, _first_origin()) == 3
    text = path.read_text()
    assert text.startswith(HEADER)
    assert text.count("\n") == 4

    assert append_to_ledger(path, _first_origin()) == 0  # the same forecast run twice
    assert path.read_text() == text
    assert append_to_ledger(path, pd.concat([_first_origin(), _second_origin()])) == 3
    ledger = read_ledger(path)
    assert len(ledger) == 6
    assert ledger["origin"].tolist() == ["2017-01-03T00:00:00"] * 3 + ["2017-01-04T00:00:00"] * 3
    assert ledger["step"].tolist() == [1, 2, 3, 1, 2, 3]
    assert ledger["forecast"].tolist() == [61.40, 61.30, 61.60, 61.30, 61.50, 61.70]
    assert not list(tmp_path.glob(".*.tmp"))  # no staging file left behind


def test_rows_without_the_ledger_columns_are_a_programming_error(tmp_path: Path) -> None:
    rows = _first_origin().drop(columns="written_at")
    with pytest.raises(ValueError, match="columns"):
        append_to_ledger(tmp_path / "x.ledger.csv", rows)
    assert not (tmp_path / "x.ledger.csv").exists()


def test_a_torn_last_line_is_dropped_on_read_and_cut_off_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    append_to_ledger(path, _first_origin())
    complete = path.read_bytes()
    with path.open("ab") as handle:  # what a crash halfway through a write leaves
        handle.write(b"MSFT,Close,2017-01-04T00:00:00,1,2017-01-05T00:00:00,61.3")

    assert len(read_ledger(path)) == 3
    assert append_to_ledger(path, _second_origin()) == 3
    data = path.read_bytes()
    assert data.startswith(complete)
    assert data.endswith(b"\n")
    ledger = read_ledger(path)
    assert len(ledger) == 6
    assert ledger["origin"].value_counts().to_dict() == {"2017-01-03T00:00:00": 3, "2017-01-04T00:00:00": 3}
    assert not ledger[["forecast", "naive"]].isna().any().any()


def test_a_record_torn_just_after_a_line_break_inside_quotes_is_dropped_too(tmp_path: Path) -> None:
    path = tmp_path / "panel.ledger.csv"
    append_to_ledger(path, _first_origin())
    # The tail ends with a newline, but it is inside a quoted series id: the record is incomplete.
    with path.open("ab") as handle:
        handle.write(b'"store 1\n')
    assert len(read_ledger(path)) == 3

    frame = pd.DataFrame({"sales": [10.5]}, index=pd.DatetimeIndex(["2017-01-04"]))
    rows = forecast_rows(
        frame,
        series="store 1\nnorth",
        origin=pd.Timestamp("2017-01-03"),
        naive=[[9.0]],
        seasonal_naive=None,
        model="m",
    )
    assert append_to_ledger(path, rows) == 1
    ledger = read_ledger(path)
    assert ledger["series"].tolist() == ["MSFT"] * 3 + ["store 1\nnorth"]
    assert ledger["forecast"].tolist()[-1] == 10.5


def test_a_file_that_is_not_a_ledger_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    foreign = b"Date,Close\n2017-01-03,61.52\n2017-01-04,61.246\n"
    path.write_bytes(foreign)
    with pytest.raises(DataError, match="not an rnncast forecast ledger") as caught:
        append_to_ledger(path, _first_origin())
    message = str(caught.value)
    assert str(path) in message and "move" in message.lower() and "\n" not in message
    assert path.read_bytes() == foreign
    with pytest.raises(DataError, match="not an rnncast forecast ledger"):
        read_ledger(path)
    assert path.read_bytes() == foreign


def test_text_keeps_its_exact_form_and_floats_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "panel.ledger.csv"
    index = pd.DatetimeIndex(["2017-01-04", "2017-01-05"])
    frame = pd.DataFrame({'Close, adj. "split"': [0.1 + 0.2, 1e-300], "NA": [-0.0, 61.246]}, index=index)
    batches = [
        forecast_rows(
            frame,
            series=series,
            origin=pd.Timestamp("2017-01-03"),
            naive=np.full((2, 2), 61.52),
            seasonal_naive=np.array([[np.nan, 1 / 3], [2 / 3, np.nan]]),
            model="2017-01-03T20:00:00+00:00",
        )
        for series in ("007", "NA", "", "null")
    ]
    rows = pd.concat(batches, ignore_index=True)
    assert append_to_ledger(path, rows) == 16
    ledger = read_ledger(path)
    pd.testing.assert_frame_equal(ledger, rows)
    assert ledger["series"].unique().tolist() == ["007", "NA", "", "null"]
    assert ledger["forecast"].tolist()[:2] == [0.1 + 0.2, -0.0]
    assert math.copysign(1.0, ledger["forecast"].iloc[1]) == -1.0
    assert ledger["seasonal_naive"].isna().tolist()[:4] == [True, False, False, True]
    assert append_to_ledger(path, rows) == 0  # the keys read back equal the keys written


def test_an_empty_file_at_the_ledger_path_is_started_as_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    path.touch()
    assert len(read_ledger(path)) == 0
    assert append_to_ledger(path, _first_origin()) == 3
    assert path.read_text().startswith(HEADER)
    assert len(read_ledger(path)) == 3


def test_a_missing_ledger_reads_as_an_empty_typed_frame(tmp_path: Path) -> None:
    ledger = read_ledger(tmp_path / "none.ledger.csv")
    assert tuple(ledger.columns) == LEDGER_COLUMNS
    assert len(ledger) == 0
    assert ledger["step"].dtype == np.int64
    assert ledger["forecast"].dtype == np.float64


def test_realised_errors_match_the_hand_worked_numbers(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    append_to_ledger(path, pd.concat([_first_origin("m1"), _second_origin("m1")]))
    # A retrained model forecasts again from the second origin: the ledger keeps both rows, and
    # the published forecast (m1's, written first) is the one scored.
    retrained = _msft("2017-01-04", [70.0, 70.0, 70.0], ["2017-01-05", "2017-01-06", "2017-01-09"], "m2")
    assert append_to_ledger(path, retrained) == 3
    actuals = pd.DataFrame(
        {
            "series": "MSFT",
            "target": "Close",
            "time": pd.to_datetime(["2017-01-04", "2017-01-05", "2017-01-06"]),  # 01-09 not in yet
            "actual": [CLOSES["2017-01-04"], CLOSES["2017-01-05"], CLOSES["2017-01-06"]],
        }
    )
    result = realised_errors(read_ledger(path), actuals)

    # Model errors (forecast - actual):   origin 01-03: 61.40-61.246, 61.30-61.246, 61.60-61.776
    #                                     origin 01-04: 61.30-61.246, 61.50-61.776, (01-09 pending)
    # Naive errors (last close - actual): origin 01-03: 61.52-61.246, 61.52-61.246, 61.52-61.776
    #                                     origin 01-04: 61.246-61.246, 61.246-61.776
    assert result.pending == 1
    assert result.overall["n"] == 5
    assert result.by_step.index.tolist() == [1, 2, 3]
    assert result.by_step["n"].tolist() == [2, 2, 1]
    expected = {
        "model_rmse": [math.sqrt((0.154**2 + 0.054**2) / 2), math.sqrt((0.054**2 + 0.276**2) / 2), 0.176],
        "model_mae": [(0.154 + 0.054) / 2, (0.054 + 0.276) / 2, 0.176],
        "naive_rmse": [math.sqrt((0.274**2 + 0.0**2) / 2), math.sqrt((0.274**2 + 0.53**2) / 2), 0.256],
        "naive_mae": [(0.274 + 0.0) / 2, (0.274 + 0.53) / 2, 0.256],
    }
    for column, values in expected.items():
        assert result.by_step[column].tolist() == pytest.approx(values, rel=1e-9), column
    assert result.by_step["seasonal_naive_rmse"].isna().all()
    assert result.by_step["seasonal_naive_mae"].isna().all()

    model_mse = (0.154**2 + 0.054**2 + 0.176**2 + 0.054**2 + 0.276**2) / 5
    naive_mse = (0.274**2 + 0.274**2 + 0.256**2 + 0.0**2 + 0.53**2) / 5
    assert result.overall["model_mse"] == pytest.approx(model_mse, rel=1e-9)
    assert result.overall["naive_rmse"] == pytest.approx(math.sqrt(naive_mse), rel=1e-9)
    assert result.overall["model_mae"] == pytest.approx((0.154 + 0.054 + 0.176 + 0.054 + 0.276) / 5)
    assert result.overall["skill_vs_naive"] == pytest.approx(1 - math.sqrt(model_mse) / math.sqrt(naive_mse))
    assert math.isnan(result.overall["seasonal_naive_rmse"])

    assert result.by_origin.index.tolist() == [pd.Timestamp("2017-01-03"), pd.Timestamp("2017-01-04")]
    assert result.by_origin["n"].tolist() == [3, 2]
    assert result.by_origin["model_rmse"].tolist() == pytest.approx(
        [math.sqrt((0.154**2 + 0.054**2 + 0.176**2) / 3), math.sqrt((0.054**2 + 0.276**2) / 2)]
    )
    assert result.by_series.loc["MSFT", "n"] == 5
    assert set(result.scored["model"]) == {"m1"}
    assert result.scored["error"].abs().max() < 1  # m2's 70.0 would be off by more than 8

    report = result.to_dict()
    assert report["overall"]["seasonal_naive_rmse"] is None
    assert report["by_origin"][0]["origin"] == "2017-01-03T00:00:00"
    assert report["by_step"][2] == pytest.approx(
        {
            "step": 3,
            "n": 1,
            "model_rmse": 0.176,
            "model_mae": 0.176,
            "naive_rmse": 0.256,
            "naive_mae": 0.256,
            "seasonal_naive_rmse": None,
            "seasonal_naive_mae": None,
        }
    )
    assert len(report["scored"]) == 5


def test_with_no_actuals_everything_is_pending(tmp_path: Path) -> None:
    path = tmp_path / "msft.ledger.csv"
    append_to_ledger(path, _second_origin())
    empty = pd.DataFrame({"series": [], "target": [], "time": pd.to_datetime([]), "actual": []})
    result = realised_errors(read_ledger(path), empty)
    assert result.pending == 3
    assert result.overall["n"] == 0
    assert len(result.by_step) == 0
    assert math.isnan(result.overall["skill_vs_naive"])
    assert result.to_dict()["overall"]["model_rmse"] is None


def test_tz_aware_times_join_as_instants_across_a_daylight_saving_change(tmp_path: Path) -> None:
    # Paris hourly temperatures over the night clocks went forward (2017-03-26, 02:00 -> 03:00).
    index = pd.date_range("2017-03-26 01:00", periods=3, freq="h", tz="Europe/Paris")
    frame = pd.DataFrame({"temp": [6.0, 5.5, 5.0]}, index=index)
    rows = forecast_rows(
        frame,
        series="paris",
        origin=pd.Timestamp("2017-03-26 00:00", tz="Europe/Paris"),
        naive=np.full((3, 1), 6.5),
        seasonal_naive=np.array([[7.0], [6.0], [np.nan]]),
        model="m",
    )
    assert rows["time"].tolist() == [
        "2017-03-26T01:00:00+01:00",
        "2017-03-26T03:00:00+02:00",
        "2017-03-26T04:00:00+02:00",
    ]
    path = tmp_path / "temps.ledger.csv"
    append_to_ledger(path, rows)
    # Actuals kept in Tokyo time (UTC+9): 09:00+09:00 is 01:00+01:00, 10:00+09:00 is 03:00+02:00
    # and 11:00+09:00 is 04:00+02:00. Wall clocks never match; instants do.
    actuals = pd.DataFrame(
        {
            "series": "paris",
            "target": "temp",
            "time": pd.DatetimeIndex(
                ["2017-03-26 09:00", "2017-03-26 10:00", "2017-03-26 11:00"]
            ).tz_localize("Asia/Tokyo"),
            "actual": [5.0, 5.0, 4.0],
        }
    )
    result = realised_errors(read_ledger(path), actuals)
    assert result.pending == 0
    assert result.scored["error"].tolist() == pytest.approx([6.0 - 5.0, 5.5 - 5.0, 5.0 - 4.0])
    assert result.scored["naive_error"].tolist() == pytest.approx([1.5, 1.5, 2.5])
    assert result.by_step["seasonal_naive_mae"].tolist()[:2] == pytest.approx([2.0, 1.0])
    assert math.isnan(result.by_step["seasonal_naive_mae"].iloc[2])
    assert result.overall["seasonal_naive_rmse"] == pytest.approx(math.sqrt((2.0**2 + 1.0**2) / 2))

    naive_actuals = actuals.assign(time=actuals["time"].dt.tz_localize(None))
    with pytest.raises(DataError, match="tz-aware"):
        realised_errors(read_ledger(path), naive_actuals)


# --- crash safety ----------------------------------------------------------------------------

STEPS = 30
SERIES = ("MSFT", "007", "store, north")
TARGETS = ("Close", "Volume")
BATCH = STEPS * len(SERIES) * len(TARGETS)
KILLS = 5

# The child defines crash_batch from this module's source, so it need not import pytest. It
# imports pandas (most of a second), says so, and waits for the first batch number: every
# child is started up front, so the test waits for those imports once, not once per kill.
CHILD = """
import sys
from pathlib import Path
import numpy as np
import pandas as pd
sys.path.insert(0, {root!r})
from rnncast.ledger import append_to_ledger, forecast_rows
STEPS, SERIES, TARGETS = {steps!r}, {series!r}, {targets!r}
{source}
path = Path({path!r})
print("ready", flush=True)
start = int(sys.stdin.readline())
for number in range(start, start + 100000):
    append_to_ledger(path, crash_batch(number))
"""


def crash_batch(number: int) -> pd.DataFrame:
    """The forecasts made from origin ``number``: every series and target, 30 steps ahead."""
    origin = pd.Timestamp("2017-01-03") + pd.Timedelta(days=number)
    index = pd.date_range(origin + pd.Timedelta(days=1), periods=STEPS, freq="D")
    level = 61.5 + 0.01 * number + 0.001 * np.arange(STEPS)[:, None] + np.arange(len(TARGETS))[None, :]
    return pd.concat(
        [
            forecast_rows(
                pd.DataFrame(level * (k + 1), index=index, columns=list(TARGETS)),
                series=series,
                origin=origin,
                naive=np.full(level.shape, 61.52 * (k + 1)),
                seasonal_naive=None,
                model="2017-01-02T20:00:00+00:00",
            )
            for k, series in enumerate(SERIES)
        ],
        ignore_index=True,
    )


def _check_complete(ledger: pd.DataFrame) -> None:
    assert not ledger[["forecast", "naive"]].isna().any().any()
    assert ledger["step"].between(1, STEPS).all()
    assert set(ledger["series"]) <= set(SERIES)
    assert set(ledger["target"]) <= set(TARGETS)
    assert (ledger["written_at"] != "").all()
    assert not ledger.duplicated(["series", "target", "origin", "step", "model"]).any()
    assert (ledger.groupby("origin").size() <= BATCH).all()


def test_a_ledger_survives_appends_killed_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "crash.ledger.csv"
    chance = random.Random(20170103)
    script = CHILD.format(
        root=str(ROOT),
        steps=STEPS,
        series=SERIES,
        targets=TARGETS,
        source=inspect.getsource(crash_batch),
        path=str(path),
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(KILLS)
    ]
    try:
        for attempt, child in enumerate(children):
            assert child.stdin is not None and child.stdout is not None
            assert child.stdout.readline() == "ready\n"
            origins = read_ledger(path)["origin"].nunique()
            child.stdin.write(f"{max(origins - 1, 0)}\n")  # the last batch may be incomplete
            child.stdin.flush()
            time.sleep(chance.uniform(0.01, 0.15))
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait() == -signal.SIGKILL, attempt

            ledger = read_ledger(path)
            _check_complete(ledger)
            written = ledger["origin"].nunique()
            assert written >= origins
            # The next append works: a new origin goes in whole, after any torn tail is cut off.
            assert append_to_ledger(path, crash_batch(written)) == BATCH
            assert path.read_bytes().endswith(b"\n")
            _check_complete(read_ledger(path))
            # Kills seldom land inside the write itself, so leave what one would: part of the next
            # batch, cut at a random byte (maybe inside the quoted "store, north"). The next child
            # starts on that torn tail.
            text = crash_batch(written + 1).to_csv(header=False, index=False, lineterminator="\n")
            with path.open("ab") as handle:
                handle.write(text.encode()[: chance.randrange(1, len(text))])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()

    # Appending every batch again restores what the kills cut short, and duplicates nothing.
    ledger = read_ledger(path)
    _check_complete(ledger)
    numbers = range(ledger["origin"].nunique())
    restored = sum(append_to_ledger(path, crash_batch(number)) for number in numbers)
    final = read_ledger(path)
    assert len(final) == len(ledger) + restored == BATCH * len(numbers)
    _check_complete(final)
    assert (final.groupby("origin").size() == BATCH).all()
