"""``rnncast run JOB.toml``: cron-grade batch runs over real series.

Two jobs are trained once per module and copied by the tests that change them: two slices of
the real MSFT daily prices as separate files (a glob), and two symbols of the real monthly
stock prices in one long file (``id_col``). Concurrency and crash safety use real processes.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from rnncast.batch import plan_units
from rnncast.bundle import load_bundle
from rnncast.cli import app
from rnncast.errors import ExitCode
from rnncast.jobspec import expand_sources, read_job_spec
from rnncast.ledger import read_ledger

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TRAIN = "[train]\nepochs = 1\nunits = 4\nlookback = 12\nhorizon = 3\nbatch_size = 32\npatience = 0\n"
FILES_JOB = f'[data]\npaths = ["data/*.csv"]\n\n{TRAIN}\n[output]\ndir = "out"\n'
PANEL_JOB = (
    f'[data]\npaths = ["stocks.csv"]\nid_col = "symbol"\n\n{TRAIN}\n[output]\ndir = "out"\n\n'
    '[retrain]\npolicy = "update"\nfull_every = 1\n'
)
MSFT_DAILY = pd.read_csv(SAMPLE_DATA / "msft_daily.csv", usecols=["Date", "Close"])
SLICES = {"a": (0, 300), "b": (600, 900)}  # rows of msft_daily.csv, one file each
STOCK_LINES = (SAMPLE_DATA / "stocks_monthly.csv").read_text().splitlines()
LOCK_OWNER = Path("out") / ".rnncast.lock.owner"  # written while a run holds the job's lock


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, ["run", *(str(a) for a in args)])


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "rnncast", "run", *(str(a) for a in args)]


def assert_one_line_error(result: Any, code: int, *fragments: str) -> str:
    """The exit code, and one last ``error:`` line on stderr holding ``fragments``."""
    returncode = getattr(result, "exit_code", getattr(result, "returncode", None))
    assert returncode == code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


def summary_of(result: Any) -> dict[str, Any]:
    assert result.exit_code in (0, 5, 8, 3), (result.stdout, result.stderr)
    return json.loads(result.stdout)  # one JSON document and nothing else, or this raises


def statuses(summary: dict[str, Any]) -> dict[str, str]:
    return {item["series"]: item["status"] for item in summary["series"]}


def reasons(summary: dict[str, Any]) -> dict[str, str]:
    return {item["series"]: item["reason"] for item in summary["series"]}


def write_rows(path: Path, frame: pd.DataFrame) -> None:
    path.write_text(frame.to_csv(index=False, lineterminator="\n"))


def append_rows(path: Path, frame: pd.DataFrame) -> None:
    with path.open("a") as handle:
        handle.write(frame.to_csv(index=False, header=False, lineterminator="\n"))


def stock_rows(symbol: str) -> list[str]:
    return [line for line in STOCK_LINES[1:] if line.startswith(f"{symbol},")]


def write_stocks(path: Path, *rows: list[str]) -> None:
    path.write_text("\n".join([STOCK_LINES[0], *(line for part in rows for line in part)]) + "\n")


def files_of(root: Path, *, skip_locks: bool = False) -> dict[str, tuple[int, int, str]]:
    """Every file under ``root``: size, modification time and SHA-256."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (skip_locks and ".lock" in path.name):
            stat = path.stat()
            found[str(path.relative_to(root))] = (
                stat.st_size,
                stat.st_mtime_ns,
                hashlib.sha256(path.read_bytes()).hexdigest(),
            )
    return found


def leftovers(out: Path) -> list[str]:
    """Staging files and directories, retired copies and candidates anywhere in a job's output."""
    return sorted(
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.name.endswith(".tmp") or ".old-" in path.name or path.name == "candidate"
    )


def read_state_entry(out: Path, series: str) -> dict[str, Any]:
    return json.loads((out / "state.json").read_text())["series"][series]


def copy_job(job: dict[str, Any], tmp_path: Path) -> Path:
    """A private copy of a trained job (data, job file, outputs; times kept)."""
    root = tmp_path / "job"
    shutil.copytree(job["root"], root, symlinks=True)
    return root


def _trained_twice(root: Path, text: str) -> dict[str, Any]:
    job = root / "job.toml"
    job.write_text(text)
    first = run(job, "--json")
    assert first.exit_code == 0, first.output
    after_first = files_of(root / "out", skip_locks=True)
    second = run(job, "--json")
    assert second.exit_code == 0, second.output
    return {
        "root": root,
        "first": summary_of(first),
        "second": summary_of(second),
        "after_first": after_first,
        "after_second": files_of(root / "out", skip_locks=True),
    }


@pytest.fixture(scope="module")
def files_job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two slices of the MSFT daily closes, data/a.csv and data/b.csv, trained then skipped."""
    root = tmp_path_factory.mktemp("files_job")
    (root / "data").mkdir()
    for name, (start, stop) in SLICES.items():
        write_rows(root / "data" / f"{name}.csv", MSFT_DAILY.iloc[start:stop])
    return _trained_twice(root, FILES_JOB)


@pytest.fixture(scope="module")
def panel_job(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """MSFT and IBM of the monthly stock prices (their last two months held back), in one long
    file with one row per symbol and month; policy update, a full retrain after every update."""
    root = tmp_path_factory.mktemp("panel_job")
    write_stocks(root / "stocks.csv", stock_rows("MSFT")[:-2], stock_rows("IBM")[:-2])
    return _trained_twice(root, PANEL_JOB)


# --- skip when nothing changed --------------------------------------------------------------------


@pytest.mark.parametrize("which", ["files_job", "panel_job"])
def test_a_second_run_of_an_unchanged_job_skips_everything(which: str, request: Any) -> None:
    job = request.getfixturevalue(which)
    first, second = job["first"], job["second"]
    assert first["exit_code"] == 0 and first["counts"] == {"series": 2, "trained": 2}
    assert set(reasons(first).values()) == {"no model yet"}
    assert second["exit_code"] == 0 and second["counts"] == {"series": 2, "skipped": 2}
    assert all(r.startswith("unchanged since the last successful run") for r in reasons(second).values())
    # Nothing was trained, forecast or rewritten: bundles, ledgers and the state keep their times.
    before, after = job["after_first"], job["after_second"]
    assert {k: v for k, v in after.items() if k != "last_run.json"} == {
        k: v for k, v in before.items() if k != "last_run.json"
    }
    out = job["root"] / "out"
    for series in statuses(first):
        assert (out / series / "model" / "metadata.json").is_file()
        assert len(pd.read_csv(out / series / "forecast.csv")) == 3
        assert len(read_ledger(out / series / "model.ledger.csv")) == 3
        report = json.loads((out / series / "report.json").read_text())
        assert report["status"] == "trained" and report["test"]["model_rmse"] > 0
    assert json.loads((out / "last_run.json").read_text()) == second
    assert leftovers(out) == []


def test_touched_files_skip_appended_rows_rerun_and_the_log_keeps_every_run(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    root = copy_job(files_job, tmp_path)
    job, log = root / "job.toml", tmp_path / "logs" / "nightly.jsonl"
    log.parent.mkdir()
    b = root / "data" / "b.csv"
    touched = b.stat().st_mtime_ns + 5_000_000_000
    os.utime(b, ns=(touched, touched))  # a new time, the same bytes
    append_rows(root / "data" / "a.csv", MSFT_DAILY.iloc[300:301])  # the next real trading day

    first = summary_of(run(job, "--json", "--log-file", log))
    assert first["exit_code"] == 0 and first["counts"] == {"series": 2, "trained": 1, "skipped": 1}
    assert statuses(first) == {"a": "trained", "b": "skipped"}
    assert reasons(first)["a"] == "the data changed"
    assert first["series"][0]["forecast_end"].startswith("2011-03-")  # after the new last day
    state = json.loads((root / "out" / "state.json").read_text())
    assert state["series"]["b"]["fingerprint"]["data"]["mtime_ns"] == touched  # no rehash next time

    second = summary_of(run(job, "--json", "--log-file", log))
    assert second["counts"] == {"series": 2, "skipped": 2}

    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["series", "series", "run"] * 2
    assert [r["status"] for r in records if r["event"] == "series"] == ["trained"] + ["skipped"] * 3
    runs = [r for r in records if r["event"] == "run"]
    assert [r["counts"] for r in runs] == [first["counts"], second["counts"]]
    assert all(r["exit_code"] == 0 and r["job"] == str(job) for r in runs)


def test_a_dry_run_changes_nothing_and_says_what_would_run(files_job: dict[str, Any], tmp_path: Path) -> None:
    root = copy_job(files_job, tmp_path)
    append_rows(root / "data" / "a.csv", MSFT_DAILY.iloc[300:302])
    before = files_of(root)
    result = run(root / "job.toml", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "a: would train · the data changed" in result.stderr
    assert "b: skipped · unchanged since the last successful run" in result.stderr
    assert "dry run of" in result.stderr
    quiet = run(root / "job.toml", "--dry-run", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == quiet.stderr == ""
    assert files_of(root) == before  # not even a lock file

    fresh = tmp_path / "fresh"
    result = run(root / "job.toml", "--dry-run", "--output-dir", fresh, "--json")
    assert statuses(summary_of(result)) == {"a": "would train", "b": "would train"}
    assert set(reasons(summary_of(result)).values()) == {"no model yet"}
    assert not fresh.exists()


# --- two runs at once, and runs killed -----------------------------------------------------------


def _wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_run_exits_75_at_once_or_waits_for_the_first(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    root = copy_job(files_job, tmp_path)
    job, log = root / "job.toml", tmp_path / "runs.jsonl"
    cwd = tmp_path / "cron-home"  # cron starts in $HOME: nothing may land there
    cwd.mkdir()
    trained_at = {
        s: load_bundle(root / "out" / s / "model", with_model=False).metadata["created_at"] for s in "ab"
    }
    pipe = subprocess.PIPE
    holder = subprocess.Popen(
        command(job, "--force", "--json", "--log-file", log), cwd=cwd, stdout=pipe, stderr=pipe, text=True
    )
    waiter = None
    try:
        _wait_until(lambda: (root / LOCK_OWNER).exists() or holder.poll() is not None, 120)
        assert holder.poll() is None, holder.communicate()
        started = time.monotonic()
        locked = subprocess.run(
            command(job, "--log-file", log), cwd=cwd, capture_output=True, text=True, timeout=120
        )
        seconds = time.monotonic() - started
        assert holder.poll() is None  # still running: the 75 was the lock's doing
        waiter = subprocess.Popen(
            command(job, "--wait", "300", "--json", "--log-file", log),
            cwd=cwd,
            stdout=pipe,
            stderr=pipe,
            text=True,
        )
        held_out, held_err = holder.communicate(timeout=300)
        waited_out, waited_err = waiter.communicate(timeout=300)
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    line = assert_one_line_error(locked, ExitCode.LOCKED, "another rnncast run (pid", "--wait SECONDS")
    assert str(root / "out") in line
    assert locked.stdout == "" and seconds < 15  # at once: no TensorFlow, no training
    assert holder.returncode == 0, held_err
    held = json.loads(held_out)  # exactly one JSON document on stdout, even with TensorFlow loaded
    assert statuses(held) == {"a": "trained", "b": "trained"}  # --force: nothing had changed
    assert set(reasons(held).values()) == {"forced (--force)"}
    for series, before in trained_at.items():
        assert load_bundle(root / "out" / series / "model", with_model=False).metadata["created_at"] > before
    assert waiter.returncode == 0, waited_err
    assert statuses(json.loads(waited_out)) == {"a": "skipped", "b": "skipped"}
    # The log shows the locked attempt, then the first run whole, then the one that waited.
    records = [json.loads(line) for line in log.read_text().splitlines()]
    refused = [r for r in records if r["exit_code"] == ExitCode.LOCKED]
    assert len(refused) == 1 and refused[0]["event"] == "run" and "another rnncast run" in refused[0]["error"]
    done = [r for r in records if r["exit_code"] == 0]
    assert [r["event"] for r in done] == ["series", "series", "run"] * 2
    assert done[2]["counts"] == held["counts"] and records.index(refused[0]) < records.index(done[2])
    assert list(cwd.iterdir()) == []


def _stage_of_a(out: Path, forecast_time: int) -> int:
    """How far a run of the files job got with series a: 0 nothing seen yet, 1 writing the
    candidate bundle, 2 candidate complete or replacing the model, 3 forecast written."""
    if (out / "a" / "forecast.csv").stat().st_mtime_ns != forecast_time:
        return 3
    replacing = [*(out / "a").glob(".model.old-*"), *(out / "a").glob(".model.*.tmp")]
    if (out / "a" / "candidate").exists() or replacing:
        return 2
    return 1 if any((out / "a").glob(".candidate.*.tmp")) else 0


# Where to kill a run of the files job (a.csv has a new row; --force retrains b after it): at a
# stage of a (a later stage fires too, so an instant missed between two polls still ends in a
# kill), or at a random moment after a series' training began (it holds its candidate's lock).
KILL_POINTS = {
    "while a trains": ("a/.candidate.lock.owner", None),
    "while the candidate bundle is written": ("stage", 1),
    "while the candidate replaces the model": ("stage", 2),
    "while the forecast, ledger, report and state are written": ("stage", 3),
    "while b trains": ("b/.candidate.lock.owner", None),
}


def _kill_run(root: Path, point: str, delay: float) -> int:
    """Start a run of the job in ``root`` and SIGKILL it at ``point``; its exit status."""
    out = root / "out"
    forecast_time = (out / "a" / "forecast.csv").stat().st_mtime_ns
    kind, stage = KILL_POINTS[point]
    process = subprocess.Popen(
        command(root / "job.toml", "--force"),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    since = None  # when the series' training began
    try:
        while process.poll() is None:
            if kind == "stage":
                fire = _stage_of_a(out, forecast_time) >= stage
            else:
                if since is None and (out / kind).exists():
                    since = time.monotonic()
                fire = since is not None and time.monotonic() - since >= delay
            if fire:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode


def _check_whole(out: Path, *, with_model: bool = True) -> None:
    """What a killed run must leave: loadable bundles, a parseable ledger of whole forecasts,
    and a valid state."""
    state = json.loads((out / "state.json").read_text())
    assert set(state["series"]) == {"a", "b"}
    for series in ("a", "b"):
        bundle = load_bundle(out / series / "model", with_model=with_model)
        assert bundle.model is not None or not with_model
        ledger = read_ledger(out / series / "model.ledger.csv")
        assert len(ledger) >= 3 and ledger["forecast"].notna().all()
        # Each forecast was appended whole: steps 1..3 for every origin of every model.
        steps = ledger.groupby(["origin", "model"])["step"].apply(sorted)
        assert all(value == [1, 2, 3] for value in steps), steps


def test_runs_killed_at_any_moment_leave_whole_outputs_and_the_next_run_finishes(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    rng = random.Random()
    roots = {}
    for number, point in enumerate(KILL_POINTS):
        roots[point] = copy_job(files_job, tmp_path / f"kill-{number}")
        append_rows(roots[point] / "data" / "a.csv", MSFT_DAILY.iloc[300:301])
    delays = {"while a trains": rng.uniform(0.0, 3.0), "while b trains": rng.uniform(0.0, 3.0)}
    with concurrent.futures.ThreadPoolExecutor(len(roots)) as pool:  # the TensorFlow imports overlap
        futures = {
            point: pool.submit(_kill_run, roots[point], point, delays.get(point, 0)) for point in roots
        }
        codes = {point: future.result() for point, future in futures.items()}
    killed = [point for point, code in codes.items() if code == -signal.SIGKILL]
    assert len(killed) >= len(codes) - 1, (codes, delays)  # b's training may end before its delay

    for point, root in roots.items():
        out = root / "out"
        _check_whole(out)
        result = run(root / "job.toml")  # no --wait: the dead run's lock blocks nothing
        assert result.exit_code == 0, (point, delays.get(point), result.output)
        assert (out / ".rnncast.lock").exists()
        assert leftovers(out) == [], (point, delays.get(point))
        _check_whole(out, with_model=False)
        # The job is done: a's model was trained on the new row, and forecasts after it.
        bundle = load_bundle(out / "a" / "model", with_model=False)
        assert bundle.metadata["data"]["last_timestamp"].startswith("2011-03-14"), point
        assert pd.read_csv(out / "a" / "forecast.csv")["Date"].iloc[0] == "2011-03-15"
        size = (root / "data" / "a.csv").stat().st_size
        assert read_state_entry(out, "a")["fingerprint"]["data"]["size"] == size


# --- failures ------------------------------------------------------------------------------------


def test_one_bad_file_fails_alone_with_exit_8_and_all_bad_fail_with_their_code(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    root = copy_job(files_job, tmp_path)
    bad = MSFT_DAILY.iloc[900:1100].astype({"Close": object})
    bad.iloc[50, 1] = "see note"
    write_rows(root / "data" / "c_bad.csv", bad)  # the glob now matches two new files
    write_rows(root / "data" / "d.csv", MSFT_DAILY.iloc[1200:1500])
    job = root / "job.toml"
    paths = '["data/*.csv", "data/missing.csv", "later/*.csv"]'  # later/ is empty tonight
    job.write_text(FILES_JOB.replace('["data/*.csv"]', paths))

    result = run(job, "--json")
    assert result.exit_code == ExitCode.PARTIAL, result.output
    summary = summary_of(result)
    assert summary["exit_code"] == 8
    assert summary["counts"] == {"series": 6, "failed": 3, "skipped": 2, "trained": 1}
    assert statuses(summary) == {
        "later/*.csv": "failed",
        "a": "skipped",  # a new paths list is no reason to retrain
        "b": "skipped",
        "c_bad": "failed",
        "d": "trained",
        "missing": "failed",
    }
    failed = {item["series"]: item for item in summary["series"] if item["status"] == "failed"}
    assert failed["c_bad"]["exit_code"] == 3 and "not numbers" in failed["c_bad"]["reason"]
    assert "'see note'" in failed["c_bad"]["reason"]
    assert failed["missing"]["exit_code"] == 3 and "does not exist" in failed["missing"]["reason"]
    assert "matches no file" in failed["later/*.csv"]["reason"]
    for item in failed.values():
        assert "\n" not in item["reason"]
        assert f"{item['series']}: failed · exit 3: {item['reason']}" in result.stderr
    assert (root / "out" / "d" / "forecast.csv").is_file()
    assert not (root / "out" / "c_bad" / "model").exists()
    assert "Traceback" not in result.output

    job.write_text(FILES_JOB.replace('["data/*.csv"]', '["data/c_bad.csv", "data/missing.csv"]'))
    result = run(job, "--json")
    assert result.exit_code == ExitCode.DATA, result.output
    # a, b and d left the job: said once ("gone"), not failures, and not counted as series
    assert summary_of(result)["counts"] == {"series": 2, "failed": 2, "gone": 3}
    assert run(job, "--json").exit_code == ExitCode.DATA
    assert summary_of(run(job, "--json"))["counts"] == {"series": 2, "failed": 2}


def test_a_candidate_below_require_skill_leaves_the_previous_model_untouched(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    root = copy_job(files_job, tmp_path)
    job = root / "job.toml"
    # The job file changed between runs: one file now, and another number of units.
    job.write_text(FILES_JOB.replace("data/*.csv", "data/a.csv").replace("units = 4", "units = 5"))
    dry = run(job, "--dry-run")
    assert "a: would train · the job's settings changed" in dry.stderr, dry.output
    before = files_of(root / "out" / "a", skip_locks=True)
    state_before = read_state_entry(root / "out", "a")

    result = run(job, "--require-skill", "0.99", "--json")
    assert result.exit_code == ExitCode.QUALITY_GATE, result.output
    summary = summary_of(result)
    # The previous model is kept and forecasts tonight's data (b left the job: "gone").
    assert summary["exit_code"] == 5 and statuses(summary) == {"a": "kept", "b": "gone"}
    assert summary["series"][0]["exit_code"] == 5
    assert "0.99" in summary["series"][0]["reason"]
    after = files_of(root / "out" / "a", skip_locks=True)
    report = after.pop("report.json")
    assert report != before.pop("report.json")  # this run's report, saying what happened
    # Model, forecast (same data, same model: same bytes, written again) and ledger unchanged.
    assert {name: (size, digest) for name, (size, _, digest) in after.items()} == {
        name: (size, digest) for name, (size, _, digest) in before.items()
    }
    assert after["model/model.keras"] == before["model/model.keras"]  # not even touched
    assert read_state_entry(root / "out", "a") == state_before  # tried again next run
    assert leftovers(root / "out") == []
    load_bundle(root / "out" / "a" / "model", with_model=True)


def test_invalid_job_files_exit_2_naming_the_key(tmp_path: Path) -> None:
    job = tmp_path / "nightly.toml"
    job.write_text(FILES_JOB.replace("epochs = 1", "epoch = 1"))
    assert_one_line_error(run(job), ExitCode.USAGE, "nightly.toml", "train.epoch", "'epochs'")
    job.write_text(FILES_JOB + '\n[retrain]\npolicy = "weekly"\n')
    assert_one_line_error(run(job), ExitCode.USAGE, 'retrain.policy = "weekly"', "if-data-changed")
    assert not (tmp_path / "out").exists()


def test_an_output_directory_that_cannot_be_made_is_one_usage_error(
    files_job: dict[str, Any], tmp_path: Path
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder\n")
    job = files_job["root"] / "job.toml"
    for target in (in_the_way, in_the_way / "out"):
        result = run(job, "--output-dir", target)
        assert_one_line_error(result, ExitCode.USAGE, "cannot create the output directory", str(target))


# --- policy update --------------------------------------------------------------------------------


def test_update_fine_tunes_on_new_rows_and_retrains_after_full_every(
    panel_job: dict[str, Any], tmp_path: Path
) -> None:
    root = copy_job(panel_job, tmp_path)
    job, stocks, out = root / "job.toml", root / "stocks.csv", root / "out"
    msft, ibm = stock_rows("MSFT"), stock_rows("IBM")
    # MSFT gains its next real month; IBM loses five (its history is no longer what was trained).
    write_stocks(stocks, msft[:-1], ibm[:-7])
    summary = summary_of(run(job, "--json"))
    assert summary["exit_code"] == 0
    assert statuses(summary) == {"MSFT": "updated", "IBM": "trained"}
    assert "history was rewritten" in reasons(summary)["IBM"]
    new_last = pd.Timestamp(msft[-2].split(",")[1])
    first = pd.Timestamp(pd.read_csv(out / "MSFT" / "forecast.csv")["date"].iloc[0])
    assert first == new_last + pd.offsets.MonthBegin(1)
    lineage = load_bundle(out / "MSFT" / "model", with_model=False).metadata["lineage"]
    assert len(lineage) == 1 and lineage[0]["rows_added"] == 1
    assert read_state_entry(out, "MSFT")["updates_since_full"] == 1

    write_stocks(stocks, msft, ibm[:-7])  # one more month: full_every = 1 update was reached
    summary = summary_of(run(job, "--json"))
    assert statuses(summary) == {"MSFT": "trained", "IBM": "skipped"}
    assert "a full retrain after 1 updates" in reasons(summary)["MSFT"]
    assert read_state_entry(out, "MSFT")["updates_since_full"] == 0
    metadata = load_bundle(out / "MSFT" / "model", with_model=False).metadata
    assert "lineage" not in metadata or metadata["lineage"] == []
    first = pd.Timestamp(pd.read_csv(out / "MSFT" / "forecast.csv")["date"].iloc[0])
    assert first == pd.Timestamp(msft[-1].split(",")[1]) + pd.offsets.MonthBegin(1)
    assert len(read_ledger(out / "MSFT" / "model.ledger.csv")) == 9  # three forecasts kept


# --- job files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["nightly.toml", "global.toml"])
def test_the_sample_jobs_parse_and_their_data_exists(name: str) -> None:
    spec = read_job_spec(SAMPLE_DATA / "jobs" / name)
    sources = expand_sources(spec)
    assert sources == [SAMPLE_DATA / "stocks_monthly.csv"]
    assert spec.id_col == "symbol" and spec.settings["lookback"] == 12
    assert spec.output_dir.parent.name == "runs"


def test_a_glob_never_takes_the_jobs_own_outputs_or_names_for_series(tmp_path: Path) -> None:
    for stem in ("state.json", "last_run.json", "out/a/forecast", "out/a/model/history"):
        (tmp_path / stem).parent.mkdir(parents=True, exist_ok=True)
        write_rows(tmp_path / f"{stem}.csv", MSFT_DAILY.iloc[:100])
    job = tmp_path / "job.toml"
    job.write_text(FILES_JOB.replace('["data/*.csv"]', '["**/*.csv"]'))
    units, failures = plan_units(read_job_spec(job))
    assert failures == []
    assert [unit.data.name for unit in units] == ["last_run.json.csv", "state.json.csv"]
    assert {unit.name for unit in units}.isdisjoint({"state.json", "last_run.json"})


def test_a_failing_series_is_told_in_the_job_file_terms_and_the_series_own_file(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    (tmp_path / "stocks.csv").write_text(
        "\n".join(STOCK_LINES).replace("IBM,Jun 1 2003,", "IBM,Jun 1 2003,n.a.x")
    )
    job.write_text(PANEL_JOB.replace("[train]", '[train]\ntarget = "price"'))
    summary = summary_of(run(job, "--json", "--dry-run"))  # the dry run reads no training data
    assert set(statuses(summary).values()) == {"would train"}
    job.write_text(PANEL_JOB.replace("[train]", '[train]\ntarget = "prce"'))
    result = run(job, "--json")
    assert result.exit_code == ExitCode.USAGE
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == ExitCode.USAGE and set(statuses(summary).values()) == {"failed"}
    assert all(
        reason.startswith("train.target 'prce' is not a column") for reason in reasons(summary).values()
    )
    job.write_text(PANEL_JOB)
    summary = summary_of(run(job, "--json"))
    assert summary["exit_code"] == ExitCode.PARTIAL and statuses(summary)["IBM"] == "failed"
    assert "'n.a.x75.42'" in reasons(summary)["IBM"] and "IBM/data.csv" in reasons(summary)["IBM"]
