"""Big files: the fast paths (pyarrow parsing, bulk ISO timestamps, scoring in parts) give what
the careful paths give, and quirks still reach the careful paths.

The files are small; the size thresholds are lowered to send them down the fast paths.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnncast import evaluation, fastcsv, reading
from rnncast.data import load_series, rows_digest
from rnncast.errors import DataError
from rnncast.evaluation import score_forecasts
from rnncast.reading import read_table
from rnncast.timestamps import _plain_iso, _try_format


@pytest.fixture
def fast_reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Send every UTF-8 file down the pyarrow path; records whether each attempt gave a table."""
    taken: list[bool] = []
    original = fastcsv.read_plain_csv

    def spy(*args: object, **kwargs: object) -> pd.DataFrame | None:
        frame = original(*args, **kwargs)  # type: ignore[arg-type]
        taken.append(frame is not None)
        return frame

    monkeypatch.setattr(reading, "FAST_PATH_BYTES", 0)
    monkeypatch.setattr(reading, "FAST_PATH_CPUS", 1)
    monkeypatch.setattr(fastcsv, "read_plain_csv", spy)
    return taken


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """``read_table(path)`` with the fast path on and off (each a table and notes, or the error)."""

    def attempt() -> object:
        try:
            return read_table(path)
        except DataError as error:
            return ("error", error.one_line())

    fast = attempt()
    with monkeypatch.context() as patch:
        patch.setattr(reading, "FAST_PATH_BYTES", 2**62)
        careful = attempt()
    return fast, careful


def assert_same(fast: object, careful: object) -> None:
    if isinstance(careful, tuple) and isinstance(careful[0], str):  # ("error", message)
        assert fast == careful
        return
    (fast_frame, fast_notes), (careful_frame, careful_notes) = fast, careful  # type: ignore[misc]
    pd.testing.assert_frame_equal(fast_frame, careful_frame, check_exact=True)
    assert fast_notes == careful_notes


def hourly(rows: int) -> list[str]:
    return [f"{t:%Y-%m-%d %H:%M:%S}" for t in pd.date_range("2024-01-01", periods=rows, freq="h")]


PLAIN = {
    "floats": ["time,a,b"] + [f"{t},{i * 0.25:.2f},{-i / 3:.6f}" for i, t in enumerate(hourly(50))],
    "integers and missing": ["time,count,level"]
    + [f"{t},{i},{'' if i % 7 == 0 else i * 1.5}" for i, t in enumerate(hourly(50))],
    "missing markers": ["time,v,w"]
    + [f"{t},{['-', 'NA', 'null', '.', '#N/A', '1.5'][i % 6]},{i}" for i, t in enumerate(hourly(36))],
    "text column": ["time,symbol,price"] + [f"{t},MSFT,{300 + i}.5" for i, t in enumerate(hourly(40))],
    "repeated names": ["time,v,v"] + [f"{t},{i},{i + 1}" for i, t in enumerate(hourly(30))],
    "empty column": ["time,v,notes"] + [f"{t},{i}.5," for i, t in enumerate(hourly(30))],
    "semicolons": ["time;v;w"] + [f"{t};{i}.25;{i * 1000}" for i, t in enumerate(hourly(30))],
    "tabs and scientific": ["time\tv"] + [f"{t}\t{i}e-3" for i, t in enumerate(hourly(30))],
}
QUIRKY = {
    "leading spaces in text": ["time,name,v"] + [f"{t}, x{i},{i}" for i, t in enumerate(hourly(30))],
    "quoted thousands": ["time,v"] + [f'{t},"1,{i:03d}.5"' for i, t in enumerate(hourly(30))],
    "decimal commas": ["time;v"] + [f"{t};{i},5" for i, t in enumerate(hourly(30))],
    "thousands dots": ["time;v"] + [f"{t};{1 + i}.{i:03d}" for i, t in enumerate(hourly(30))],
    "booleans": ["time,flag,v"] + [f"{t},{i % 2 == 0},{i}" for i, t in enumerate(hourly(30))],
    "NAN spelled oddly": ["time,v"] + [f"{t},{'NAN' if i == 3 else i}" for i, t in enumerate(hourly(30))],
    "infinity": ["time,v"] + [f"{t},{'inf' if i == 3 else i}" for i, t in enumerate(hourly(30))],
    "hex": ["time,v"] + [f"{t},{'0x1F' if i == 3 else i}" for i, t in enumerate(hourly(30))],
    "wide row": ["time,v"] + [f"{t},{i}" + (",9" if i == 20 else "") for i, t in enumerate(hourly(30))],
    "short row": ["time,v,w"] + [f"{t},{i}" + ("" if i == 20 else ",1") for i, t in enumerate(hourly(30))],
    "trailing delimiters": ["time,v,"] + [f"{t},{i}," for i, t in enumerate(hourly(30))],
    "huge integers": ["time,v"] + [f"{t},{2**60 + i}" for i, t in enumerate(hourly(30))],
    "percent": ["time,v"] + [f"{t},{i}%" for i, t in enumerate(hourly(30))],
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_files_read_by_pyarrow_exactly_as_by_pandas(
    name: str, tmp_path: Path, fast_reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(PLAIN[name]) + "\n", encoding="utf-8")
    assert_same(*both_ways(path, monkeypatch))
    assert fast_reads == [True]


@pytest.mark.parametrize("name", sorted(QUIRKY))
def test_quirky_files_read_the_same_either_way(
    name: str, tmp_path: Path, fast_reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "quirky.csv"
    path.write_text("\n".join(QUIRKY[name]) + "\n", encoding="utf-8")
    assert_same(*both_ways(path, monkeypatch))


@pytest.mark.parametrize("decimals", [False, True])
@pytest.mark.parametrize(
    ("late_row", "taken"),
    [
        ("9,x", False),  # text in a number column: pandas reads the column as text
        ("9,1.5,7", False),  # a row wider than the header: pandas' diagnosis
        ("9,0x1F", False),  # hexadecimal, which pyarrow would read as a number
        ("9,NAN", False),  # NaN and infinity written out: pandas reads some spellings as text
        ("9,+inf", False),
        ("9,7.0", True),  # integers that turn decimal: floats either way
        ("9,", True),  # a missing value: NaN either way
        ("9, 2.5", None),  # a space before a number: 2.5 either way
    ],
)
def test_a_quirk_below_the_head_leaves_the_file_to_pandas(
    late_row: str,
    taken: bool | None,
    decimals: bool,
    tmp_path: Path,
    fast_reads: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = 40_000  # past the head pandas and pyarrow are compared on
    lines = ["t,v", *(f"{i},{i % 100}{'.5' if decimals else ''}" for i in range(rows)), late_row]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > reading.HEAD_BYTES
    assert_same(*both_ways(path, monkeypatch))
    assert fast_reads == [taken] or taken is None


def test_bytes_that_are_not_utf8_below_the_head_leave_the_file_to_pandas(
    tmp_path: Path, fast_reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["date,place,v", *(f"2000-01-01,plain,{i}" for i in range(30_000)), "2000-01-02,Café,1"]
    path = tmp_path / "late_cp1252.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    fast, careful = both_ways(path, monkeypatch)
    assert_same(fast, careful)
    assert fast_reads == [False]
    assert careful[0]["place"].iloc[-1] == "Café"  # type: ignore[index]


def test_a_big_plain_file_loads_the_same_either_way(
    tmp_path: Path, fast_reads: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    stamps = pd.date_range("2020-01-01", periods=5000, freq="10min")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"time": stamps.strftime("%Y-%m-%dT%H:%M"), "y": rng.normal(size=5000).round(4)})
    frame["x"] = np.arange(5000)
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    fast = load_series(path, target=("y",), features=("x",))
    with monkeypatch.context() as patch:
        patch.setattr(reading, "FAST_PATH_BYTES", 2**62)
        careful = load_series(path, target=("y",), features=("x",))
    assert fast_reads == [True]
    pd.testing.assert_frame_equal(fast.frame, careful.frame, check_exact=True)
    assert (fast.fingerprint, fast.notes, fast.time_format) == (
        careful.fingerprint,
        careful.notes,
        careful.time_format,
    )


# --- Timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [10, 16, 19])
@pytest.mark.parametrize("separator", [" ", "T"])
def test_plain_iso_timestamps_read_in_bulk_as_pandas_reads_them(width: int, separator: str) -> None:
    seconds = np.random.default_rng(width).integers(-62_135_596_800, 253_402_300_799, 5000)
    text = pd.Series(np.datetime_as_string(seconds.astype("datetime64[s]")), name="when")
    text = text.str.replace("T", separator).str[:width].astype("str")
    bulk, careful = _plain_iso(text), _try_format(text, "ISO8601")
    assert bulk is not None and careful is not None
    pd.testing.assert_index_equal(bulk, careful[0], exact=True)


@pytest.mark.parametrize(
    "values",
    [
        ["2023-02-28", "2023-02-29"],  # no such day
        ["2024-01-01 23:00", "2024-01-01 24:00"],
        ["2024-01-01 00:00:00", "2024-01-01 00:00:60"],
        ["2024-13-01"],
        ["0000-01-01"],  # pandas has no year 0
        ["2024-01-01 00:00:00", "2024-01-01T00:00:00"],  # two layouts
        ["2024-01-01 00:00:00", "2024-01-01 00:00+01"],  # a UTC offset
        ["2024-01-01", "+024-01-01"],
        ["2024-01-01", "2024-1-01"],
        ["٢٠٢٤-01-01"],
        ["2024/01/01"],
    ],
)
def test_anything_but_plain_iso_timestamps_is_left_to_pandas(values: list[str]) -> None:
    assert _plain_iso(pd.Series(values, dtype="str")) is None


# --- Fingerprints and scores ----------------------------------------------------------------------


def test_rows_digest_hashes_the_rows_in_slices_as_in_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame(
        np.random.default_rng(1).normal(size=(1000, 3)),
        index=pd.date_range("2024-01-01", periods=1000, freq="h", name="time"),
    )
    whole = hashlib.sha256()
    whole.update(frame.index.as_unit("us").asi8.tobytes())
    whole.update(np.ascontiguousarray(frame.to_numpy()).tobytes())
    monkeypatch.setattr("rnncast.data._DIGEST_ROWS", 7)
    assert rows_digest(frame) == whole.hexdigest()


def test_scores_of_windows_scored_in_parts_match_scoring_them_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    actual = rng.normal(10, 3, (2000, 6, 2))
    actual[rng.random(actual.shape) < 0.05] = np.nan
    actual[rng.random(actual.shape) < 0.02] = 0.0
    forecasts = {"model": actual + rng.normal(0, 1, actual.shape), "naive": rng.normal(10, 3, actual.shape)}
    unit_scale = np.broadcast_to(rng.uniform(1, 2, (2000, 1, 2)), (2000, 1, 2))
    mase_scale = np.array([1.5, 0.5])

    def scores() -> dict[str, object]:
        return score_forecasts(actual, forecasts, ("a", "b"), unit_scale, mase_scale)

    whole = scores()
    monkeypatch.setattr(evaluation, "SCORED_POINTS", 12 * 256)  # 256 windows a part: 8 parts
    assert len(evaluation.window_parts(2000, 12)) == 8
    assert_close(scores(), whole)


def assert_close(left: object, right: object) -> None:
    """Equal structures; numbers equal but for rounding (sums taken in another order)."""
    if isinstance(right, dict):
        assert isinstance(left, dict) and left.keys() == right.keys()
        for key in right:
            assert_close(left[key], right[key])
    elif isinstance(right, list):
        assert isinstance(left, list) and len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_close(a, b)
    elif isinstance(right, float):
        assert left == pytest.approx(right, rel=1e-12)
    else:
        assert left == right


class LastValue:
    """A stand-in network: forecasts the last input row's targets (as Keras' predict would be
    called, one batch of windows at a time)."""

    def __init__(self, horizon: int, targets: int) -> None:
        self.output_shape = (None, horizon, targets)

    def predict(self, dataset: object, verbose: int = 0) -> np.ndarray:
        batches = [np.asarray(batch)[:, -1:, : self.output_shape[2]] for batch in dataset]  # type: ignore[attr-defined]
        return np.concatenate(batches).repeat(self.output_shape[1], axis=1)


def test_test_windows_forecast_and_scored_in_parts_score_as_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnncast.config import TrainConfig
    from rnncast.scoring import score_windows
    from rnncast.windows import Scaler

    rng = np.random.default_rng(3)
    stamps = pd.date_range("2024-01-01", periods=3000, freq="h").strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({"time": stamps, "a": rng.normal(size=3000).cumsum(), "b": rng.normal(size=3000)})
    frame.loc[rng.choice(3000, 40, replace=False), "a"] = np.nan  # filled, so never scored
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    series = load_series(path, target=("a", "b"))
    config = TrainConfig(lookback=30, horizon=5)
    scaler = Scaler.fit("standard", series.columns, series.frame.to_numpy()[:2000])
    starts = np.arange(2000, 2996)
    model = LastValue(5, 2)

    whole, kept = score_windows(model, scaler, series, starts, config, 2000)
    monkeypatch.setattr(evaluation, "SCORED_POINTS", 10 * 256)  # 256 windows a part: 4 parts
    in_parts, kept_in_parts = score_windows(model, scaler, series, starts, config, 2000)
    streamed, nothing = score_windows(model, scaler, series, starts, config, 2000, keep_windows=False)

    assert_close(in_parts, whole)
    assert streamed == in_parts and nothing is None
    assert kept is not None and kept_in_parts is not None
    np.testing.assert_array_equal(kept.actual, kept_in_parts.actual)
    for name, forecast in kept.forecasts.items():
        np.testing.assert_array_equal(kept_in_parts.forecasts[name], forecast)
