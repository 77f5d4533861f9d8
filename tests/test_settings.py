"""Every numeric flag and every job-file key is checked, with one line naming it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnncast.cli import app
from rnncast.errors import ExitCode
from rnncast.jobfile import read_job_file
from tests.test_cli import assert_one_line_error


def check(*args: str | Path) -> object:
    return CliRunner().invoke(app, ["check", *(str(a) for a in args)])


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--units", "-5"], "--units must be at least 1, got -5"),
        (["--units", "0"], "--units must be at least 1"),
        (["--layers", "0"], "--layers must be at least 1"),
        (["--horizon", "0"], "--horizon must be at least 1, got 0"),
        (["--lookback", "-3"], "--lookback must be at least 1"),
        (["--seasonal-period", "0"], "--seasonal-period must be at least 1"),
        (["--dropout", "1"], "--dropout must be in [0.0, 1.0), got 1.0"),
        (["--dropout", "-0.1"], "--dropout must be in [0.0, 1.0)"),
        (["--val-fraction", "0"], "--val-fraction must be in (0.0, 1.0)"),
        (["--test-fraction", "1.2"], "--test-fraction must be in (0.0, 1.0)"),
        (
            ["--val-fraction", "0.5", "--test-fraction", "0.45"],
            "leave less than 10% of the rows for training",
        ),
        (["--learning-rate", "0"], "--learning-rate must be in (0.0, 10.0]"),
        (["--learning-rate", "nan"], "--learning-rate must be a number"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--epochs", "-1"], "--epochs must be at least 1"),
        (["--patience", "-1"], "--patience must be at least 0"),
        (["--clipnorm", "0"], "--clipnorm must be in (0.0, inf)"),
        (["--clipnorm", "inf"], "--clipnorm must be in (0.0, inf)"),
        (["--seed", "-7"], "--seed must be at least 0"),
        (["--seed", str(2**32)], "--seed must be at most 4294967295"),
    ],
)
def test_each_numeric_flag_is_validated(prices_csv: Path, flags: list[str], fragment: str) -> None:
    assert_one_line_error(check(prices_csv, *flags), ExitCode.USAGE, fragment)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--folds", "0"], "--folds must be at least 1, got 0"),
        (["--step", "-2"], "--step must be at least 1, got -2"),
        (["--require-skill", "nan"], "--require-skill"),
    ],
)
def test_backtest_flags_are_validated_before_any_training(
    prices_csv: Path, tmp_path: Path, flags: list[str], fragment: str
) -> None:
    result = CliRunner().invoke(
        app, ["backtest", str(prices_csv), "--report-dir", str(tmp_path / "r"), *flags]
    )
    assert_one_line_error(result, ExitCode.USAGE, fragment)
    assert not (tmp_path / "r").exists()


def _job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nightly.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("unitz = 32\n", ["nightly.toml: unknown key 'unitz'", "Did you mean 'units'?"]),
        ("colour = 'red'\n", ["unknown key 'colour'", "Accepted keys: time_col"]),
        ('units = "many"\n', ['units = "many" has the wrong type', "Write units as a whole number"]),
        ("dropout = true\n", ["dropout = true has the wrong type", "a number"]),
        ("bidirectional = 1\n", ["bidirectional = 1 has the wrong type", "true or false"]),
        ("target = 5\n", ["target = 5 has the wrong type", "list of text"]),
        ("units = 0\n", ["nightly.toml: units = 0 must be at least 1, got 0"]),
        ("dropout = 1.5\n", ["nightly.toml: dropout = 1.5 must be in [0.0, 1.0)"]),
        ('model = "transformer"\n', ["model = \"transformer\" 'transformer' is not supported", "lstm"]),
        ("val_fraction = 0.6\ntest_fraction = 0.5\n", ["nightly.toml: --val-fraction 0.6"]),
        ("units = [\n", ["nightly.toml is not valid TOML", "key = value"]),
    ],
)
def test_bad_job_files_name_the_key_the_value_and_the_fix(
    prices_csv: Path, tmp_path: Path, text: str, fragments: list[str]
) -> None:
    job = _job(tmp_path, text)
    assert_one_line_error(check(prices_csv, "--config", job), ExitCode.USAGE, *fragments)


def test_a_missing_job_file_is_a_usage_error(prices_csv: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        check(prices_csv, "--config", tmp_path / "none.toml"), ExitCode.USAGE, "does not exist", "--config"
    )


def test_job_file_settings_apply_and_command_line_flags_win(prices_csv: Path, tmp_path: Path) -> None:
    job = _job(tmp_path, 'lookback = 30\nhorizon = 4\nmodel = "gru"\nbatch-size = 16\ntarget = ["Close"]\n')
    assert read_job_file(job) == {
        "lookback": 30,
        "horizon": 4,
        "model": "gru",
        "batch_size": 16,
        "target": ["Close"],
    }
    import json

    result = check(prices_csv, "--config", job, "--horizon", "6", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["lookback"], summary["horizon"]) == (30, 6)
    assert summary["config"]["model"] == "gru" and summary["config"]["batch_size"] == 16
    # A flag given with its default value still wins over the file.
    result = check(prices_csv, "--config", job, "--model", "lstm", "--json")
    assert json.loads(result.stdout)["config"]["model"] == "lstm"


def test_backtest_refuses_more_inputs_than_training_windows_before_training(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data" / "bad" / "too_many_features.csv"
    result = CliRunner().invoke(
        app,
        [
            "backtest",
            str(data),
            "--target",
            "output_kw",
            "--features",
            "all",
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert_one_line_error(result, ExitCode.USAGE, "81 input columns", "training windows", "fewer --features")
    assert not (tmp_path / "r").exists()


def test_a_job_file_saved_with_a_byte_order_mark_is_read(prices_csv: Path, tmp_path: Path) -> None:
    job = tmp_path / "windows.toml"
    job.write_bytes("\ufeffunits = 8\n".encode())
    assert read_job_file(job) == {"units": 8}


def test_tables_and_deep_nesting_in_a_job_file_are_one_line_errors(prices_csv: Path, tmp_path: Path) -> None:
    job = _job(tmp_path, "[model]\nunits = 3\n")
    assert_one_line_error(check(prices_csv, "--config", job), ExitCode.USAGE, "model = {units = 3}")
    job = _job(tmp_path, "units = " + "[" * 3000 + "]" * 3000 + "\n")
    assert_one_line_error(check(prices_csv, "--config", job), ExitCode.USAGE, "nightly.toml")


def test_features_add_up_when_repeated(prices_csv: Path) -> None:
    import json

    result = check(prices_csv, "--features", "Open", "--features", "High,Low", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["features"] == ["Open", "High", "Low"]


def test_a_key_set_twice_in_two_spellings_is_refused(prices_csv: Path, tmp_path: Path) -> None:
    job = _job(tmp_path, "batch-size = 4\nbatch_size = 8\n")
    assert_one_line_error(check(prices_csv, "--config", job), ExitCode.USAGE, "batch_size is set twice")
    assert_one_line_error(check(prices_csv, "--config", tmp_path), ExitCode.USAGE, "is a directory")


def test_error_lines_stay_readable_whatever_the_file_holds() -> None:
    from rnncast.errors import DataError

    error = DataError(f"time column 'date' has values that are not dates: {'x' * 20_000!r}\nrow 2", "fix it")
    line = error.one_line()
    assert "\n" not in line and len(line) < 400 and line.endswith("Fix it.")
