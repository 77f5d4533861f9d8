"""Job files of ``rnncast run JOB.toml``: every section read and checked, paths relative to the
job file, command-line overrides, a fingerprint of the job, and data sources expanded."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncast.errors import DataError, UsageError
from rnncast.jobspec import (
    MODEL_LAYOUTS,
    RETRAIN_POLICIES,
    JobSpec,
    expand_sources,
    read_job_spec,
    series_name,
)

FULL_JOB = """\
# jobs/nightly.toml
[data]
paths = ["../data/msft_daily.csv", "prices/*.csv"]
id_col = "symbol"
models = "per-series"

[train]
model = "gru"
epochs = 20
batch-size = 16
dropout = 0
target = "Close"

[output]
dir = "nightly"

[retrain]
policy = "update"
full_every = 3

[quality]
require_skill = -0.25
max_decay = 0.5
"""

PRICES = "Date,symbol,Close\n2024-01-02,MSFT,370.87\n2024-01-03,MSFT,370.60\n"


def _job(folder: Path, text: str, name: str = "nightly.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / name
    job.write_text(text, encoding="utf-8")
    return job


def _usage_error(job: Path, overrides: dict | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        read_job_spec(job, overrides)
    line = caught.value.one_line()
    assert "\n" not in line
    return line


def test_a_full_job_is_read_with_paths_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(tmp_path / "jobs", FULL_JOB)
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # cron starts jobs in $HOME, not next to the job file

    spec = read_job_spec(Path("..") / "jobs" / "nightly.toml")

    assert spec == JobSpec(
        path=job.resolve(),
        paths=("../data/msft_daily.csv", "prices/*.csv"),
        id_col="symbol",
        series_columns=(),
        models="per-series",
        settings={"model": "gru", "epochs": 20, "batch_size": 16, "dropout": 0.0, "target": "Close"},
        output_dir=(tmp_path / "jobs" / "nightly").resolve(),
        policy="update",
        full_every=3,
        require_skill=-0.25,
        max_decay=0.5,
        fingerprint=spec.fingerprint,
    )
    assert len(spec.fingerprint) == 64 and int(spec.fingerprint, 16) >= 0
    assert isinstance(spec.settings["dropout"], float)  # TOML 0 is the float setting 0.0


def test_only_data_paths_is_required_and_the_rest_has_defaults(tmp_path: Path) -> None:
    job = _job(tmp_path / "jobs", '[data]\npaths = "prices.csv"\n', name="weekly.toml")
    spec = read_job_spec(job)
    assert spec.paths == ("prices.csv",)
    assert (spec.id_col, spec.series_columns, spec.models) == (None, (), "per-series")
    assert spec.settings == {}
    assert spec.output_dir == (tmp_path / "jobs" / "runs" / "weekly").resolve()
    assert (spec.policy, spec.full_every) == ("if-data-changed", 7)
    assert (spec.require_skill, spec.max_decay) == (None, None)
    assert spec.policy in RETRAIN_POLICIES and spec.models in MODEL_LAYOUTS


def test_kebab_case_keys_a_wide_layout_and_a_global_model(tmp_path: Path) -> None:
    job = _job(
        tmp_path / "jobs",
        '[data]\npaths = "wide.csv"\nseries-columns = ["A", "B,C"]\nmodels = "global"\n'
        '[retrain]\npolicy = "if-data-changed"\nfull-every = 0\n',
    )
    spec = read_job_spec(job)
    assert spec.series_columns == ("A", "B", "C")
    assert (spec.models, spec.policy, spec.full_every) == ("global", "if-data-changed", 0)


def test_command_line_overrides_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job(tmp_path / "jobs", FULL_JOB)
    monkeypatch.chdir(tmp_path)
    spec = read_job_spec(
        job,
        {
            "settings": {"epochs": 5, "units": 8, "lookback": None, "learning_rate": 1},
            "output_dir": Path("out"),  # a flag: relative to the working directory
            "policy": "always",
            "require_skill": 0.1,
            "max_decay": None,  # not given: the file's value stays
        },
    )
    assert spec.settings["epochs"] == 5 and spec.settings["units"] == 8
    assert spec.settings["learning_rate"] == 1.0 and isinstance(spec.settings["learning_rate"], float)
    assert spec.settings["model"] == "gru" and "lookback" not in spec.settings  # not overridden
    assert spec.output_dir == (tmp_path / "out").resolve()
    assert (spec.policy, spec.require_skill, spec.max_decay) == ("always", 0.1, 0.5)
    assert read_job_spec(job, {"policy": None, "settings": {}}) == read_job_spec(job)


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (
            {"policy": "sometimes"},
            ['--policy "sometimes" is not supported', "always, if-data-changed, update"],
        ),
        ({"require_skill": 1.0}, ["--require-skill 1.0 is out of range", "[-10, 1)"]),
        ({"max_decay": float("nan")}, ["--max-decay nan is out of range", "above 0"]),
        ({"settings": {"units": 0}}, ["--units must be at least 1, got 0"]),
        ({"settings": {"id_col": "symbol"}}, ["--id-col cannot be given with a job file", "[data]"]),
    ],
)
def test_bad_overrides_name_the_flag(tmp_path: Path, overrides: dict, fragments: list[str]) -> None:
    line = _usage_error(_job(tmp_path / "jobs", FULL_JOB), overrides)
    assert line.startswith("--"), line  # the user typed a flag, not a key of the file
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            '[data]\npaths = "p.csv"\n[retrain]\npolicy = "sometimes"\n',
            [
                'nightly.toml: retrain.policy = "sometimes" is not supported',
                "always, if-data-changed, update",
            ],
        ),
        (
            '[data]\npaths = "p.csv"\n[retrian]\npolicy = "always"\n',
            [
                "nightly.toml: unknown section [retrian]",
                "Did you mean 'retrain'",
                "[data], [train], [output]",
            ],
        ),
        (
            '[data]\npaths = "p.csv"\n[retrain]\nfull_evry = 3\n',
            [
                "nightly.toml: unknown key retrain.full_evry",
                "Did you mean 'full_every'",
                "policy, full_every",
            ],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nepoch = 3\n',
            ["nightly.toml: unknown key train.epoch", "Did you mean 'epochs'", "batch_size"],
        ),
        (
            'epochs = 3\n[data]\npaths = "p.csv"\n',
            ["nightly.toml: epochs = 3 is outside any section", "under [train]"],
        ),
        (
            'data = "p.csv"\n',
            ['nightly.toml: data = "p.csv" is not a section', "[data] header"],
        ),
        (
            "[data]\npaths = 5\n",
            ["nightly.toml: data.paths = 5 has the wrong type", "a non-empty list of them"],
        ),
        (
            "[data]\npaths = []\n",
            ["nightly.toml: data.paths = [] names no file", "a non-empty list"],
        ),
        (
            '[data]\npaths = ["a.csv", 3]\n',
            ['nightly.toml: data.paths = ["a.csv", 3] has the wrong type', "in quotes"],
        ),
        (
            '[train]\nmodel = "gru"\n',
            ["nightly.toml has no [data] section", 'paths = ["prices.csv"]'],
        ),
        (
            '[data]\nid_col = "symbol"\n',
            ["nightly.toml: [data] has no paths", "a glob or a list of them"],
        ),
        (
            '[data]\npaths = "p.csv"\nid_col = "symbol"\nseries_columns = ["A", "B"]\n',
            ['data.id_col = "symbol" and data.series_columns = ["A", "B"] cannot be combined', "not both"],
        ),
        (
            '[data]\npaths = "p.csv"\nmodels = "global"\n',
            ['nightly.toml: data.models = "global" needs data.id_col or data.series_columns', "per-series"],
        ),
        (
            '[data]\npaths = "prices/*.csv"\nid_col = "symbol"\nmodels = "global"\n',
            ['data.paths = ["prices/*.csv"] can name several', "exactly one file"],
        ),
        (
            '[data]\npaths = "p.csv"\nmodels = "pooled"\n',
            ['nightly.toml: data.models = "pooled" is not supported', "per-series, global"],
        ),
        (
            '[data]\npaths = "p.csv"\nid_col = 3\n',
            ["nightly.toml: data.id_col = 3 is not a column name", '"symbol"'],
        ),
        (
            '[data]\npaths = "p.csv"\nseries_columns = ["A", "A"]\n',
            ['data.series_columns = ["A", "A"] names a column twice', "once"],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nid_col = "symbol"\n',
            ['nightly.toml: train.id_col = "symbol" belongs in [data]', "Move id_col to the [data] section"],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nseries-columns = ["A"]\n',
            ["nightly.toml: train.series_columns", "belongs in [data]"],
        ),
        (
            '[data]\npaths = "p.csv"\nseries_columns = ["A"]\n[train]\ntarget = "A"\n',
            [
                'data.series_columns makes each named column a series; train.target = "A" does not apply',
                "Remove target",
            ],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nunits = "many"\n',
            ['nightly.toml: train.units = "many" has the wrong type', "Write units as a whole number"],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nunits = 0\n',
            ["nightly.toml: train.units = 0 must be at least 1"],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nmodel = "transformer"\n',
            [
                'nightly.toml: train.model = "transformer" is not supported. Use one of',
                "simple_rnn, lstm, gru",
            ],
        ),
        (
            '[data]\npaths = "p.csv"\n[train]\nbatch-size = 4\nbatch_size = 8\n',
            ["nightly.toml: train.batch_size is set twice", "Keep one"],
        ),
        (
            '[data]\npaths = "p.csv"\nid-col = "a"\nid_col = "b"\n',
            ["nightly.toml: data.id_col is set twice"],
        ),
        (
            '[data]\npaths = "p.csv"\n[retrain]\nfull_every = -1\n',
            ["nightly.toml: retrain.full_every = -1 must be at least 0", "0 (never)"],
        ),
        (
            '[data]\npaths = "p.csv"\n[retrain]\nfull_every = 2.5\n',
            ["nightly.toml: retrain.full_every = 2.5 has the wrong type", "a whole number >= 0"],
        ),
        (
            '[data]\npaths = "p.csv"\n[retrain]\nfull_every = true\n',
            ["nightly.toml: retrain.full_every = true has the wrong type"],
        ),
        (
            '[data]\npaths = "p.csv"\n[quality]\nrequire_skill = "high"\n',
            ['nightly.toml: quality.require_skill = "high" has the wrong type', "[-10, 1)"],
        ),
        (
            '[data]\npaths = "p.csv"\n[quality]\nrequire_skill = 1\n',
            ["nightly.toml: quality.require_skill = 1 is out of range", "[-10, 1)"],
        ),
        (
            '[data]\npaths = "p.csv"\n[quality]\nrequire_skill = -11\n',
            ["quality.require_skill = -11 is out of range"],
        ),
        (
            '[data]\npaths = "p.csv"\n[quality]\nmax_decay = 0\n',
            ["nightly.toml: quality.max_decay = 0 is out of range", "above 0"],
        ),
        (
            '[data]\npaths = "p.csv"\n[quality]\nmax_decay = inf\n',
            ["nightly.toml: quality.max_decay = inf is out of range"],
        ),
        (
            '[data]\npaths = "p.csv"\n[output]\ndir = ""\n',
            ['nightly.toml: output.dir = "" is not a folder name', '"nightly"'],
        ),
        (
            '[data]\npaths = "p.csv"\n[output]\nfolder = "x"\n',
            ["nightly.toml: unknown key output.folder", "keys of [output]: dir"],
        ),
    ],
)
def test_bad_job_files_name_the_file_the_key_the_value_and_what_is_accepted(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    line = _usage_error(_job(tmp_path / "jobs", text))
    for fragment in fragments:
        assert fragment in line, line


def test_unreadable_job_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    assert "does not exist" in _usage_error(tmp_path / "none.toml")
    assert "is a directory" in _usage_error(tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('[data]\npaths = "donn\xe9es.csv"\n'.encode("latin-1"))
    assert "cannot be read" in (line := _usage_error(latin1)) and "UTF-8" in line
    broken = _job(tmp_path, "[data\npaths = 1\n", name="broken.toml")
    assert "broken.toml is not valid TOML" in _usage_error(broken)


def test_a_job_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    job = tmp_path / "windows.toml"
    job.write_bytes('\ufeff[data]\npaths = "prices.csv"\n'.encode())
    assert read_job_spec(job).paths == ("prices.csv",)


def test_the_fingerprint_follows_the_results_not_the_output_folder(tmp_path: Path) -> None:
    base = read_job_spec(_job(tmp_path / "jobs", FULL_JOB)).fingerprint
    assert read_job_spec(_job(tmp_path / "copy", FULL_JOB)).fingerprint == base  # same job elsewhere

    moved = FULL_JOB.replace('dir = "nightly"', 'dir = "elsewhere"')
    assert read_job_spec(_job(tmp_path / "moved", moved)).fingerprint == base
    assert read_job_spec(_job(tmp_path / "jobs", FULL_JOB), {"output_dir": tmp_path}).fingerprint == base
    respelled = FULL_JOB.replace("batch-size = 16", "batch_size = 16").replace('"Close"', '["Close"]')
    assert read_job_spec(_job(tmp_path / "respelled", respelled)).fingerprint == base

    changed = [
        FULL_JOB.replace("epochs = 20", "epochs = 21"),
        FULL_JOB.replace('"prices/*.csv"', '"prices/*.txt"'),
        FULL_JOB.replace("full_every = 3", "full_every = 4"),
        FULL_JOB.replace("max_decay = 0.5", "max_decay = 0.25"),
        FULL_JOB.replace('id_col = "symbol"', 'id_col = "ticker"'),
    ]
    for index, text in enumerate(changed):
        assert read_job_spec(_job(tmp_path / f"changed{index}", text)).fingerprint != base, text
    assert read_job_spec(_job(tmp_path / "jobs", FULL_JOB), {"settings": {"epochs": 3}}).fingerprint != base


def test_expand_sources_keeps_the_listed_order_sorts_globs_and_drops_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path.resolve()  # compared with the resolved job folder
    prices = tmp_path / "jobs" / "prices"
    prices.mkdir(parents=True)
    for name in ("nvda.csv", "aapl.csv", "msft.csv"):
        (prices / name).write_text(PRICES)
    (prices / "archive.csv").mkdir()  # a folder whose name matches is not a data file
    (prices / "notes.txt").write_text("not data\n")
    shared = tmp_path / "shared" / "index.csv"
    shared.parent.mkdir()
    shared.write_text(PRICES)
    job = _job(
        tmp_path / "jobs",
        "[data]\n"
        f'paths = ["prices/msft.csv", "prices/*.csv", "missing.csv", "{shared}", "../shared/index.csv"]\n',
    )
    monkeypatch.chdir(tmp_path / "shared")  # relative entries still follow the job file

    sources = expand_sources(read_job_spec(job))

    assert sources == [
        prices / "msft.csv",  # listed first, so not again from the glob
        prices / "aapl.csv",
        prices / "nvda.csv",
        tmp_path / "jobs" / "missing.csv",  # kept: the run reports it as a failed series
        shared,  # an absolute path, and its relative spelling dropped as a duplicate
    ]


def test_expand_sources_expands_the_home_folder_and_recursive_globs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path.resolve()  # compared with the resolved job folder
    home = tmp_path / "home"
    (home / "data" / "2024").mkdir(parents=True)
    (home / "data" / "2024" / "q1.csv").write_text(PRICES)
    (home / "data" / "top.csv").write_text(PRICES)
    monkeypatch.setenv("HOME", str(home))
    job = _job(tmp_path / "jobs", '[data]\npaths = ["~/data/**/*.csv", "~/plain.csv"]\n')
    assert expand_sources(read_job_spec(job)) == [
        home / "data" / "2024" / "q1.csv",
        home / "data" / "top.csv",
        home / "plain.csv",
    ]


def test_a_glob_that_matches_nothing_is_a_data_error_naming_the_pattern_and_folder(tmp_path: Path) -> None:
    (tmp_path / "jobs" / "prices").mkdir(parents=True)
    (tmp_path / "jobs" / "prices" / "msft.txt").write_text(PRICES)
    job = _job(tmp_path / "jobs", '[data]\npaths = ["prices/*.csv"]\n')
    with pytest.raises(DataError) as caught:
        expand_sources(read_job_spec(job))
    line = caught.value.one_line()
    assert "'prices/*.csv' matches no file" in line
    assert str((tmp_path / "jobs").resolve()) in line
    assert "Check the pattern" in line


def test_a_glob_character_in_the_job_folder_name_is_not_a_pattern(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()  # compared with the resolved job folder
    folder = tmp_path / "jobs [nightly]"
    (folder / "prices").mkdir(parents=True)
    (folder / "prices" / "msft.csv").write_text(PRICES)
    job = _job(folder, '[data]\npaths = "prices/*.csv"\n')
    assert expand_sources(read_job_spec(job)) == [folder / "prices" / "msft.csv"]


def test_series_names_are_safe_and_distinct() -> None:
    taken: set[str] = set()
    assert series_name(Path("/data/a/prices.csv"), taken) == "prices"
    assert series_name(Path("/data/b/prices.csv"), taken) == "b_prices"
    assert series_name(Path("/other/b/prices.csv"), taken) == "b_prices-2"
    assert series_name(Path("/more/b/prices.csv"), taken) == "b_prices-3"
    assert series_name(Path("/data/c/Prices.csv"), taken) == "c_Prices"  # case-insensitive file systems
    assert series_name(Path("/data/my prices (2024).csv"), taken) == "my_prices__2024_"
    assert series_name(Path("/data/../evil.csv"), taken) == "evil"
    assert taken == {"prices", "b_prices", "b_prices-2", "b_prices-3", "c_Prices", "my_prices__2024_", "evil"}
