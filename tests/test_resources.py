"""A run that would not fit in memory is refused up front, with the estimate and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnncast.cli import app
from rnncast.errors import ExitCode, UsageError
from rnncast.resources import RunSize, available_bytes, estimate_bytes, format_bytes, parse_size
from tests.test_cli import assert_one_line_error


def test_sizes_are_parsed_in_binary_units() -> None:
    assert parse_size("512MB") == 512 * 2**20
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("1.5g") == int(1.5 * 2**30)
    assert parse_size("1073741824") == 2**30
    with pytest.raises(UsageError, match="not a size"):
        parse_size("lots")
    assert format_bytes(3.5 * 2**30) == "3.5 GiB"


def test_the_estimate_grows_with_the_windows_scored_and_the_lookback() -> None:
    small = RunSize(rows=10_000, columns=7, targets=7, lookback=96, horizon=24, scored_windows=1_500)
    assert estimate_bytes(small) < 100 * 2**20
    # A million hourly rows of 7 columns, a 720-step horizon over 150k test windows: the
    # scored forecasts alone are 150k x 720 x 7 float64 values, many times over.
    huge = RunSize(rows=1_000_000, columns=7, targets=7, lookback=336, horizon=720, scored_windows=150_000)
    assert estimate_bytes(huge) > 150_000 * 720 * 7 * 8 * 10
    assert estimate_bytes(huge) > 1000 * estimate_bytes(small)


def test_the_machine_reports_some_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNNCAST_MEMORY_LIMIT", raising=False)
    available = available_bytes()
    assert available is not None and available > 100 * 2**20


def test_train_and_check_refuse_a_run_that_does_not_fit_with_exit_7(
    prices_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", "200MB")
    monkeypatch.chdir(tmp_path)  # runs/latest of this test only
    out = tmp_path / "model"
    for command in (["check", str(prices_csv)], ["train", str(prices_csv), "--out", str(out)]):
        result = CliRunner().invoke(app, command)
        assert_one_line_error(
            result,
            ExitCode.RESOURCES,
            "needs about",
            "only 200.0 MiB is available",
            "RNNCAST_MEMORY_LIMIT",
        )
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_with_enough_memory_the_same_check_passes(prices_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", "4GiB")
    result = CliRunner().invoke(app, ["check", str(prices_csv)])
    assert result.exit_code == 0, result.output
    assert "ready to train" in result.stdout


def test_a_malformed_limit_is_a_clear_error(prices_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", "plenty")
    assert_one_line_error(
        CliRunner().invoke(app, ["check", str(prices_csv)]), ExitCode.USAGE, "is not a size", "2GiB"
    )
    assert "RNNCAST_MEMORY_LIMIT" in os.environ


def test_a_huge_network_is_refused_with_the_network_options_as_the_fix(
    prices_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", "2GiB")
    flags = ["--units", "2048", "--layers", "4", "--bidirectional", "--lookback", "8", "--horizon", "2"]
    result = CliRunner().invoke(app, ["check", str(prices_csv), *flags])
    assert_one_line_error(result, ExitCode.RESOURCES, "weights", "Lower --units, --layers or --batch-size")


def test_the_parameter_estimate_matches_keras() -> None:
    from rnncast.models import ModelShape, build_model
    from rnncast.resources import parameter_count

    for cell, gates in (("simple_rnn", 1), ("gru", 3), ("lstm", 4)):
        model = build_model(ModelShape(12, 5, 3, 2), cell=cell, bidirectional=True, units=16, layers=2)
        size = RunSize(
            rows=100,
            columns=3,
            targets=2,
            lookback=12,
            horizon=5,
            scored_windows=10,
            units=16,
            layers=2,
            directions=2,
            gates=gates,
        )
        assert abs(parameter_count(size) - model.count_params()) < 0.1 * model.count_params(), cell


def test_off_disables_the_check_and_a_file_too_big_to_load_is_refused_before_reading(
    prices_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", "off")
    assert available_bytes() is None
    assert CliRunner().invoke(app, ["check", str(prices_csv)]).exit_code == 0
    monkeypatch.setenv("RNNCAST_MEMORY_LIMIT", f"{prices_csv.stat().st_size * 2}")
    result = CliRunner().invoke(app, ["check", str(prices_csv)])
    assert_one_line_error(result, ExitCode.RESOURCES, "to load", "Cut the file")
