"""The rnncast command: every command, every documented exit code, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnncast.cli import app
from rnncast.errors import ExitCode

FAST_FLAGS = ["--epochs", "1", "--units", "4", "--batch-size", "32", "--lookback", "10", "--horizon", "3"]
COMMITTED_BUNDLE = Path(__file__).parent / "data" / "bundle_v1"
STOCKS = Path(__file__).resolve().parent.parent / "sample_data" / "stocks_monthly.csv"


def run(*args: str | Path) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result: object, code: int, *fragments: str) -> None:
    """The error contract: the exit code, notes then one last ``error:`` line on stderr, no
    traceback and no leaked Python warning, and the message fragments in that line."""
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # one line, and the last
    assert not any("Warning" in line for line in lines), result.stderr  # no Python warnings leak
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


@pytest.fixture(scope="module")
def trained(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "prices"
    result = run("train", prices_csv, "--out", out, *FAST_FLAGS)
    assert result.exit_code == 0, result.output
    return out


def test_train_saves_a_bundle(trained: Path) -> None:
    assert (trained / "model.keras").is_file()


def test_train_json_summary_and_plain_progress(prices_csv: Path, tmp_path: Path) -> None:
    result = run("train", prices_csv, "--out", tmp_path / "m", "--json", *FAST_FLAGS, "--model", "gru")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["config"]["model"] == "gru"
    assert set(summary["report"]["metrics"]) >= {"model", "naive", "seasonal_naive"}
    assert "epoch 1/1 loss=" in result.stderr  # not a terminal: plain progress lines
    assert "naive" in result.stderr


def test_quiet_train_prints_nothing_on_stderr(prices_csv: Path, tmp_path: Path) -> None:
    result = run("train", prices_csv, "--out", tmp_path / "m", "--quiet", *FAST_FLAGS)
    assert result.exit_code == 0 and result.stderr == ""


def test_forecast_to_stdout_is_csv_with_dates(trained: Path) -> None:
    result = run("forecast", "--model", trained, "--output", "-")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["Date", "Close"]
    assert len(rows) == 3 and rows[0]["Date"] == "2017-11-13"


def test_forecast_to_a_file_and_as_json(trained: Path, tmp_path: Path) -> None:
    target = tmp_path / "forecast.csv"
    assert run("forecast", "-m", trained, "-o", target).exit_code == 0
    assert target.read_text().splitlines()[0] == "Date,Close"
    payload = json.loads(run("forecast", "-m", trained, "--json").stdout)
    assert [r["Date"] for r in payload["forecast"]] == ["2017-11-13", "2017-11-14", "2017-11-15"]


def test_evaluate_and_info(trained: Path) -> None:
    report = json.loads(run("evaluate", "--model", trained, "--json").stdout)
    assert report["metrics"]["naive"]["original"]["rmse"] > 0
    text = run("evaluate", "--model", trained).stdout
    assert "seasonal_naive" in text and "baseline" in text
    details = json.loads(run("info", "--model", trained, "--json").stdout)
    assert details["model"]["horizon"] == 3 and details["data"]["frequency"] == "B"
    assert "lookback 10, horizon 3" in run("info", "--model", trained).stdout


def test_quality_gate_fails_a_model_that_loses_to_the_naive_forecast(
    prices_csv: Path, tmp_path: Path
) -> None:
    # Without the window's level (no normalisation, no residual head, no linear path), one epoch
    # of four units is far worse than "repeat the last price".
    bundle = tmp_path / "weak"
    weak = ("--window-norm", "none", "--no-residual", "--no-linear-skip")
    assert run("train", prices_csv, "--out", bundle, *weak, *FAST_FLAGS).exit_code == 0
    report_dir = tmp_path / "report"
    result = run("evaluate", "--model", bundle, "--require-skill", "0", "--report-dir", report_dir)
    assert_one_line_error(result, ExitCode.QUALITY_GATE, "quality gate failed", "not above the required")
    assert "does NOT beat" in result.stdout
    assert (report_dir / "report.html").exists()  # the report explains the failure
    assert run("evaluate", "--model", bundle, "--require-skill", "-1000").exit_code == 0
    nan = run("evaluate", "--model", bundle, "--require-skill", "nan")
    assert_one_line_error(nan, ExitCode.USAGE, "--require-skill must be a finite number")


def test_backtest_command(prices_csv: Path) -> None:
    flags = ["--folds", "2", "--step", "5", *FAST_FLAGS]
    report = json.loads(run("backtest", prices_csv, *flags, "--json").stdout)
    assert report["kind"] == "backtest" and len(report["folds"]) == 2
    assert report["backtest"] == {"folds": 2, "step": 5, "window": "expanding", "refit": "each-fold"}
    text = run("backtest", prices_csv, *flags, "--refit", "never").stdout
    assert "Backtest folds" in text and "drift" in text


def test_backtest_with_too_many_folds_is_a_usage_error(prices_csv: Path) -> None:
    result = run("backtest", prices_csv, "--folds", "100", "--step", "10", *FAST_FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "fewer --folds")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--units", "-1"], "--units"),
        (["--dropout", "1.5"], "--dropout"),
        (["--horizon", "0"], "--horizon"),
        (["--val-fraction", "0.6", "--test-fraction", "0.5"], "--val-fraction"),
        (["--target", "Nope"], "--target 'Nope'"),
        (["--time-col", "when"], "--time-col"),
    ],
)
def test_bad_settings_exit_2(prices_csv: Path, tmp_path: Path, flags: list[str], fragment: str) -> None:
    assert_one_line_error(run("train", prices_csv, "--out", tmp_path / "m", *flags), ExitCode.USAGE, fragment)


def test_unknown_cell_type_is_a_usage_error(prices_csv: Path) -> None:
    assert run("train", prices_csv, "--model", "transformer").exit_code == ExitCode.USAGE


def test_bad_data_exits_3(tmp_path: Path) -> None:
    assert_one_line_error(run("train", tmp_path / "missing.csv"), ExitCode.DATA, "does not exist")
    short = tmp_path / "short.csv"
    short.write_text("date,value\n" + "".join(f"2024-01-{d:02d},{d}\n" for d in range(1, 21)))
    assert_one_line_error(run("train", short), ExitCode.DATA, "too few rows")
    # The same shortage caused by the user's own window settings is a usage error.
    assert_one_line_error(run("train", short, "--horizon", "100000"), ExitCode.USAGE, "the data has 20")
    dupes = tmp_path / "dupes.csv"
    dupes.write_text("date,value\n2024-01-01,1\n2024-01-01,2\n2024-01-02,3\n2024-01-03,4\n")
    assert_one_line_error(run("train", dupes), ExitCode.DATA, "duplicate timestamp")


def test_forecast_with_mismatched_data_exits_3(trained: Path, hourly_csv: Path) -> None:
    assert_one_line_error(
        run("forecast", "-m", trained, "--data", hourly_csv), ExitCode.DATA, "does not match"
    )


def test_missing_or_broken_bundle_exits_4(trained: Path, tmp_path: Path) -> None:
    assert_one_line_error(run("forecast", "--model", tmp_path / "nothing"), ExitCode.MODEL, "no model bundle")
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    (broken / "model.keras").write_bytes(b"not a zip")
    for command in ("forecast", "evaluate", "info"):
        assert_one_line_error(run(command, "--model", broken), ExitCode.MODEL, "checksum")


def test_debug_switch_shows_the_exception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNNCAST_DEBUG", "1")
    result = run("train", tmp_path / "missing.csv")
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "DataError"


def test_help_info_check_and_data_errors_do_not_import_tensorflow(prices_csv: Path, tmp_path: Path) -> None:
    script = f"""
import sys
from typer.testing import CliRunner
from rnncast.cli import app
runner = CliRunner()
assert runner.invoke(app, ["--help"]).exit_code == 0
assert runner.invoke(app, ["info", "--model", {str(COMMITTED_BUNDLE)!r}]).exit_code == 0
assert runner.invoke(app, ["info", {str(prices_csv)!r}]).exit_code == 0
assert runner.invoke(app, ["check", {str(prices_csv)!r}]).exit_code == 0
assert runner.invoke(app, ["train", {str(tmp_path / "missing.csv")!r}]).exit_code == 3
assert runner.invoke(app, ["train", "x.csv", "--units", "0"]).exit_code == 2
bundle = {str(COMMITTED_BUNDLE)!r}
assert runner.invoke(app, ["forecast", "-m", bundle, "--data", "missing.csv"]).exit_code == 3
assert runner.invoke(app, ["evaluate", "-m", bundle, "--data", "missing.csv"]).exit_code == 3
assert runner.invoke(app, ["history", "-m", bundle, "--data", {str(prices_csv)!r}]).exit_code == 0
job = {str(Path(__file__).resolve().parent.parent / "sample_data" / "jobs" / "nightly.toml")!r}
dry = ["run", job, "--dry-run", "--output-dir", {str(tmp_path / "job-out")!r}]
assert runner.invoke(app, dry).exit_code == 0
assert runner.invoke(app, ["check", {str(STOCKS)!r}, "--id-col", "symbol"]).exit_code == 0
assert "tensorflow" not in sys.modules, "tensorflow was imported"
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)


def test_installed_console_script_runs_end_to_end(prices_csv: Path, tmp_path: Path) -> None:
    exe = shutil.which(
        "rnncast", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    assert exe, "the rnncast console script is not installed"
    train = subprocess.run(
        [exe, "train", str(prices_csv), *FAST_FLAGS], cwd=tmp_path, capture_output=True, text=True
    )
    assert train.returncode == 0, train.stderr
    assert "Traceback" not in train.stderr and "I0000" not in train.stderr  # no TensorFlow log spam
    forecast = subprocess.run([exe, "forecast"], cwd=tmp_path, capture_output=True, text=True)
    assert forecast.returncode == 0, forecast.stderr
    assert forecast.stdout.splitlines()[0] == "Date,Close"  # not a terminal: CSV on stdout
    missing = subprocess.run(
        [exe, "forecast", "--model", "runs/none"], cwd=tmp_path, capture_output=True, text=True
    )
    assert missing.returncode == ExitCode.MODEL and missing.stderr.count("\n") == 1
    for mistyped in (["train", str(prices_csv), "--epoch", "2"], ["backtest"], ["evaluate", "--folds", "2"]):
        usage = subprocess.run([exe, *mistyped], cwd=tmp_path, capture_output=True, text=True)
        assert usage.returncode == ExitCode.USAGE, usage.stderr
        assert usage.stderr.count("\n") == 1 and usage.stderr.startswith("error: "), usage.stderr
        assert "--help" in usage.stderr
    bare = subprocess.run([exe], cwd=tmp_path, capture_output=True, text=True)
    assert "Commands" in bare.stderr and "backtest" in bare.stderr  # bare rnncast shows the help
    assert subprocess.run([exe, "--version"], capture_output=True, text=True).returncode == 0


def test_device_gpu_without_a_gpu_is_a_clear_error(prices_csv: Path, tmp_path: Path) -> None:
    from rnncast import backend

    has_gpu = bool(backend.tensorflow().config.list_physical_devices("GPU"))
    result = run("train", prices_csv, "--out", tmp_path / "m", "--device", "gpu", *FAST_FLAGS)
    if has_gpu:
        assert result.exit_code == 0
        assert json.loads((tmp_path / "m" / "metadata.json").read_text())["training"]["device"] == "gpu"
    else:
        assert_one_line_error(result, ExitCode.TRAINING, "--device gpu", "no GPU")
        assert not (tmp_path / "m").exists()  # nothing half-written


def test_out_never_replaces_something_that_is_not_a_bundle(prices_csv: Path, tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    assert_one_line_error(
        run("train", prices_csv, "--out", precious, *FAST_FLAGS), ExitCode.USAGE, "not a model bundle"
    )
    assert (precious / "thesis.txt").read_text() == "years of work"
    assert_one_line_error(run("train", prices_csv, "--out", prices_csv, *FAST_FLAGS), ExitCode.USAGE, "--out")
    assert prices_csv.is_file()


def test_out_directory_with_other_files_is_not_mistaken_for_a_bundle(
    prices_csv: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "metadata.json").write_text("{}")
    (project / "notes.txt").write_text("keep me")
    assert_one_line_error(
        run("train", prices_csv, "--out", project, *FAST_FLAGS), ExitCode.USAGE, "not a model bundle"
    )
    assert (project / "notes.txt").read_text() == "keep me"


def test_forecast_never_overwrites_its_input(trained: Path, prices_csv: Path) -> None:
    before = prices_csv.read_bytes()
    result = run("forecast", "-m", trained, "--data", prices_csv, "--output", prices_csv)
    assert_one_line_error(result, ExitCode.USAGE, "input data file")
    assert prices_csv.read_bytes() == before


def test_a_foreign_runs_latest_is_refused_before_training(
    prices_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "latest").mkdir(parents=True)
    result = run("train", prices_csv, "--out", tmp_path / "m", *FAST_FLAGS)
    assert_one_line_error(result, ExitCode.USAGE, "runs/latest")
    assert not (tmp_path / "m").exists()


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def test_diverging_training_exits_6_with_clean_stdout_and_no_bundle(
    prices_csv: Path, trained: Path, tmp_path: Path
) -> None:
    flags = ["--learning-rate", "10", "--clipnorm", "1e300", "--no-residual", "--model", "simple_rnn"]
    result = run(
        "train", prices_csv, "--out", tmp_path / "m", "--json", *flags, "--epochs", "3", "--units", "4"
    )
    assert_one_line_error(result, ExitCode.TRAINING, "diverged")
    assert result.stdout == ""
    assert not (tmp_path / "m").exists()
    # Over an earlier bundle: the earlier one survives untouched, and nothing is left beside it.
    previous = tmp_path / "previous"
    shutil.copytree(trained, previous)
    before = _tree(previous)
    result = run("train", prices_csv, "--out", previous, *flags, "--epochs", "3", "--units", "4")
    assert_one_line_error(result, ExitCode.TRAINING, "diverged")
    assert _tree(previous) == before
    # Only the lock files of the two --out paths (flock locks: held by no one now).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", ".previous.lock", "previous"]


def test_forecast_output_must_not_land_in_a_bundle_or_a_missing_directory(
    trained: Path, tmp_path: Path
) -> None:
    report_before = (trained / "report.json").read_bytes()
    assert_one_line_error(
        run("forecast", "-m", trained, "-o", trained / "report.json"), ExitCode.USAGE, "bundle"
    )
    assert (trained / "report.json").read_bytes() == report_before
    assert_one_line_error(
        run("forecast", "-m", trained, "-o", tmp_path / "nope" / "f.csv"), ExitCode.USAGE, "exist"
    )
    assert not (tmp_path / "nope").exists()


def test_forecast_timestamps_are_written_like_the_input(monthly_crlf_csv: Path, tmp_path: Path) -> None:
    """YYYY-MM in, YYYY-MM out: the forecast can be appended to the user's own file."""
    assert (
        run("train", monthly_crlf_csv, "--out", tmp_path / "m", "--epochs", "1", "--units", "4").exit_code
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(run("forecast", "-m", tmp_path / "m", "-o", "-").stdout)))
    assert [r["month"] for r in rows[:3]] == ["2015-01", "2015-02", "2015-03"]


def test_forecast_output_follows_a_symlink_and_refuses_pipes_and_devices(
    trained: Path, tmp_path: Path
) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    result = run("forecast", "--model", trained, "--output", link, "-q")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text().startswith("Date,")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_one_line_error(
        run("forecast", "--model", trained, "--output", fifo),
        ExitCode.USAGE,
        "device, pipe or socket",
        "--output -",
    )
    assert fifo.exists() and not fifo.is_file()


def test_data_from_a_pipe_or_stdin_is_refused_with_the_fix(tmp_path: Path) -> None:
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    for command in ("check", "info", "train"):
        assert_one_line_error(run(command, fifo), ExitCode.DATA, "pipe or device", "Save the data to a file")
    assert_one_line_error(run("check", "-"), ExitCode.DATA, "not from standard input")


def test_train_out_inside_an_existing_bundle_is_refused(prices_csv: Path, trained: Path) -> None:
    assert_one_line_error(
        run("train", prices_csv, "--out", trained / "sub", *FAST_FLAGS),
        ExitCode.USAGE,
        "inside the model bundle",
    )
    assert not (trained / "sub").exists()


def test_a_reader_closing_the_pipe_ends_the_run_quietly_with_141(prices_csv: Path, tmp_path: Path) -> None:
    exe = shutil.which(
        "rnncast", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    assert exe
    for command in (["info", str(prices_csv)], ["check", str(prices_csv), "--json"]):
        process = subprocess.Popen(
            [exe, *command], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # like `| head -0`: the reader is gone before anything is written
        errors = process.stderr.read().decode()
        assert process.wait() == 141, errors
        assert "Traceback" not in errors and "internal error" not in errors


def test_a_bundle_replaced_while_loading_is_refused_not_mixed(trained: Path, tmp_path: Path) -> None:
    from rnncast.bundle import attach_model, load_bundle
    from rnncast.errors import BundleError

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    bundle = load_bundle(copy, with_model=False)  # metadata and scaler of the first bundle
    model = copy / "model.keras"
    model.write_bytes(model.read_bytes() + b"\0")  # another run's model lands meanwhile
    with pytest.raises(BundleError, match="changed while it was being loaded"):
        attach_model(bundle)


def test_runs_latest_recovers_a_bundle_left_renamed_aside_by_a_crash(trained: Path, tmp_path: Path) -> None:
    from rnncast.bundle import resolve_bundle_path
    from rnncast.fileio import point_link

    bundle = tmp_path / "runs" / "m"
    shutil.copytree(trained, bundle)
    latest = tmp_path / "runs" / "latest"
    point_link(latest, bundle)
    bundle.rename(tmp_path / "runs" / ".m.old-1f261ead")  # killed between the two renames
    assert resolve_bundle_path(latest) == bundle.resolve()
    assert (bundle / "metadata.json").is_file()


def test_report_dir_dot_from_inside_an_earlier_report_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnncast.reporting import check_report_target

    report = tmp_path / "report"
    report.mkdir()
    (report / "report.json").write_text('{"report_format": 1}')
    monkeypatch.chdir(report)
    check_report_target(Path("."))
