"""Instant start-up: help, info and refused inputs load no TensorFlow, and no pandas either.

Each command runs in-process (as tests/test_cli.py runs them) inside one fresh interpreter, so
``sys.modules`` starts clean; after each one the script notes which heavy libraries are loaded.
The refusals must be word for word what the full validation says, which the test asks of it
directly.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.config import TrainConfig
from rnncast.data import load_series
from rnncast.errors import RnncastError
from rnncast.jobfile import read_job_file
from rnncast.jobspec import read_job_spec
from tests.conftest import FAST, SAMPLE_DATA

HEAVY = ("pandas", "tensorflow", "keras")
SCRIPT = f"""
import json, sys
from typer.testing import CliRunner
from rnncast.cli import app

runner = CliRunner()
results = []
for args in json.loads(sys.argv[1]):
    result = runner.invoke(app, args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    loaded = [name for name in {HEAVY!r} if name in sys.modules]
    results.append({{"code": result.exit_code, "error": errors[-1] if errors else None,
                    "stdout": result.stdout, "loaded": loaded}})
print(json.dumps(results))
"""


def run_fresh(commands: list[list[str]], cwd: Path) -> list[dict[str, Any]]:
    """Run the CLI ``commands`` in order in one new interpreter; what each returned and loaded."""
    args = [[str(a) for a in command] for command in commands]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    """The error line the CLI prints for what ``call`` (the full validation) raises."""
    with pytest.raises(RnncastError) as caught:
        call(*args, **kwargs)
    return f"error: {caught.value.one_line()}"


@pytest.fixture(scope="module")
def bundle(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained once for this module (lookback 10, horizon 3)."""
    out = tmp_path_factory.mktemp("runs") / "prices"
    rnncast.train(prices_csv, out=out, lookback=10, horizon=3, link_latest=False, **FAST)
    return out


@pytest.fixture(scope="module")
def files(prices_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs every refusal below needs: a working directory whose runs/latest is the bundle
    (made by the test), a gzip file named .csv, a directory, a broken job file."""
    root = tmp_path_factory.mktemp("startup")
    made = {"cwd": root, "gz": root / "prices.csv.gz.csv", "dir": root / "folder", "toml": root / "job.toml"}
    made["gz"].write_bytes(gzip.compress(prices_csv.read_bytes()))
    made["dir"].mkdir()
    made["toml"].write_text("[train\nunits = 3\n")
    return made


def test_help_info_and_refusals_load_neither_tensorflow_nor_pandas(
    bundle: Path, prices_csv: Path, files: dict[str, Path]
) -> None:
    (files["cwd"] / "runs").mkdir()
    (files["cwd"] / "runs" / "latest").symlink_to(bundle)
    missing = files["cwd"] / "missing.csv"
    stocks = SAMPLE_DATA / "stocks_monthly.csv"
    refused = [  # the command, and what the full validation raises for the same input
        (["train", missing], refusal(load_series, missing)),
        (["train", files["dir"]], refusal(load_series, files["dir"])),
        (["check", files["gz"]], refusal(load_series, files["gz"])),
        (["train", prices_csv, "--units", "0"], refusal(TrainConfig, units=0)),
        (["train", prices_csv, "--target", "Nope"], refusal(load_series, prices_csv, target=("Nope",))),
        (["check", prices_csv, "--time-col", "When"], refusal(load_series, prices_csv, time_col="When")),
        (
            ["backtest", prices_csv, "--target", "close", "--features", "Open,Nope"],
            refusal(load_series, prices_csv, target=("close",), features=("Open", "Nope")),
        ),
        (["train", stocks, "--id-col", "ticker"], refusal(rnncast.check, stocks, id_col="ticker")),
        (["train", prices_csv, "--config", files["toml"]], refusal(read_job_file, files["toml"])),
        (["run", files["toml"]], refusal(read_job_spec, files["toml"], {})),
        (["forecast", "-m", files["dir"] / "nothing"], refusal(load_bundle, files["dir"] / "nothing")),
        (["forecast", "-m", bundle, "--data", missing], refusal(load_series, missing)),
        (["evaluate", "-m", bundle, "--data", files["gz"]], refusal(load_series, files["gz"])),
        (["update", "-m", bundle, "--data", missing], refusal(load_series, missing)),
        (["info", missing], refusal(load_series, missing)),
        (["info", files["gz"]], refusal(load_series, files["gz"])),
    ]
    fast = [["--help"], ["info", bundle], ["info"], ["info", "--json"], *(c for c, _ in refused)]
    results = run_fresh([*fast, ["info", prices_csv]], files["cwd"])

    for command, result in zip(fast, results, strict=False):
        assert result["loaded"] == [], f"{command} loaded {result['loaded']}"
    helped, info, latest, as_json, *refusals, sketch = results
    assert helped["code"] == 0 and "Usage" in helped["stdout"]
    assert info["code"] == 0 and "lookback 10, horizon 3" in info["stdout"]
    assert latest["stdout"] == info["stdout"]  # no argument: runs/latest
    assert json.loads(as_json["stdout"])["path"] == str(bundle.resolve())
    for (command, expected), result in zip(refused, refusals, strict=True):
        assert result["error"] is not None and result["code"] != 0, (command, result)
        assert result["error"] == expected, command
    codes = [result["code"] for result in refusals]
    assert codes == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 4, 3, 3, 3, 3, 3]
    # A data file's sketch parses its ends with pandas, but still loads no TensorFlow.
    assert sketch["code"] == 0 and "rnncast check" in sketch["stdout"]
    assert sketch["loaded"] == ["pandas"]


def test_a_header_that_cannot_tell_the_columns_is_left_to_the_full_validation(tmp_path: Path) -> None:
    # yfinance's three-row header: the columns are only known once the file is read.
    data = tmp_path / "yf.csv"
    rows = [f"2024-01-{day:02d},{day}.5,{day}" for day in range(1, 29)]
    data.write_text("Price,Close,Volume\nTicker,MSFT,MSFT\nDate,,\n" + "\n".join(rows) + "\n")
    (result,) = run_fresh([["check", data, "--target", "Nope"]], tmp_path)
    assert result["error"] == refusal(load_series, data, target=("Nope",))
    assert "pandas" in result["loaded"] and "tensorflow" not in result["loaded"]
