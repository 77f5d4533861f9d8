"""``rnncast tune``: search the network and training settings, then train the best as a bundle.

Each trial fits a network exactly as ``train`` does (:func:`rnncast.fitting.fit_on_history` on
the rows before the test split) and is scored by its best validation loss, the scaled MSE on the
chronological validation split. The test split is never seen by the search: it scores only the
final bundle, beside the baselines, as every bundle is scored.

keras-tuner's oracles (random, Bayesian, grid) propose the trials. Trial "default" always runs
first: the flags as given with rnncast's defaults, so the search says honestly whether it beat
them. The search state lives beside the bundle (a bundle directory may hold only bundle files)::

    runs/tuned/               the best configuration, a normal bundle (metadata has "tuning")
    runs/tuned.trials.csv     every trial: its values, val_loss, epochs, seconds, status
    runs/tuned.tuning/
        rnncast.json          fingerprint of data, settings and space; each trial's result
        search/               keras-tuner's state: oracle.json, tuner0.json, trial_*/trial.json

Everything there is JSON or CSV, written atomically (keras-tuner's own writers are replaced):
nothing is pickled, no model is saved per trial. Rerunning the same command resumes: finished
trials are kept, and a trial cut short is run again.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnncast.bundle import check_bundle_target
from rnncast.config import TrainConfig
from rnncast.data import SeriesData
from rnncast.errors import RnncastError, TrainingError, UsageError, first_line
from rnncast.fileio import atomic_write_text, is_replaceable_link, point_link, to_json
from rnncast.fitting import fit_on_history
from rnncast.locking import exclusive
from rnncast.panel import is_many_series
from rnncast.pipeline import (
    DEFAULT_RUNS_DIR,
    LATEST_LINK,
    TrainResult,
    default_bundle_path,
    load_training_series,
    plan_training,
    train_locked,
)
from rnncast.search_space import (
    SEARCH_KINDS,
    SEARCHABLE,
    Dimension,
    SpaceContext,
    SpaceFile,
    build_space,
    grid_size,
    space_fingerprint,
)
from rnncast.training import EpochHook
from rnncast.windows import Split, fit_lookback_to_rows

logger = logging.getLogger("rnncast")

STATE_SUFFIX = ".tuning"
TABLE_SUFFIX = ".trials.csv"
STATE_FILE = "rnncast.json"
STATE_FORMAT = 1
SEARCH_PROJECT = "search"  # keras-tuner's project directory inside the state directory
DEFAULT_TRIAL = "default"
# Settings that only shape what the final bundle reports, not any trial's validation loss: a
# search may resume with them changed.
NOT_IN_FINGERPRINT = ("intervals", "interval_method", "seasonal_period", "device")


@dataclass
class TrialRecord:
    """One trial's outcome, as the trials table and the state file hold it."""

    label: str  # "default", then "1", "2", ... in the order the search started them
    values: dict[str, Any]  # the searched settings' values
    status: str  # "completed", "failed" or "same as default"
    val_loss: float | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "trial": self.label,
            "values": self.values,
            "status": self.status,
            "val_loss": self.val_loss,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "seconds": round(self.seconds, 3),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            label=str(data["trial"]),
            values=dict(data["values"]),
            status=str(data["status"]),
            val_loss=data.get("val_loss"),
            epochs=data.get("epochs"),
            best_epoch=data.get("best_epoch"),
            seconds=float(data.get("seconds", 0.0)),
            note=str(data.get("note", "")),
        )

    @property
    def completed(self) -> bool:
        """Whether it produced a validation loss."""
        return self.val_loss is not None


@dataclass(frozen=True)
class TrialEvent:
    """What the progress hook is told: a trial starts (``record`` None) or has ended."""

    label: str
    number: int  # 1 for the default trial
    total: int
    values: dict[str, Any]
    record: TrialRecord | None = None
    best_val_loss: float | None = None


TrialHook = Callable[[TrialEvent], None]


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` produced: the best configuration's bundle and the search behind it."""

    bundle_path: Path
    metadata: dict[str, Any]
    report: dict[str, Any]
    tuning: dict[str, Any]
    trials: list[dict[str, Any]]
    retrained: bool = True


def state_dir_for(out: Path) -> Path:
    """The directory of the search state beside the bundle ``out``: ``runs/tuned.tuning``."""
    return out.with_name(out.name + STATE_SUFFIX)


def trials_table_for(out: Path) -> Path:
    """The trials table beside the bundle ``out``: ``runs/tuned.trials.csv``."""
    return out.with_name(out.name + TABLE_SUFFIX)


def tune(
    data: str | Path,
    config: TrainConfig | None = None,
    *,
    search: str = "random",
    trials: int = 20,
    max_minutes: float | None = None,
    space: SpaceFile | None = None,
    pinned: Iterable[str] = (),
    out: str | Path | None = None,
    wait: float = 0.0,
    link_latest: bool = True,
    on_trial: TrialHook | None = None,
    on_epoch: EpochHook | None = None,
    progress: Callable[[], contextlib.AbstractContextManager[EpochHook | None]] | None = None,
    **settings: Any,
) -> TuneResult:
    """Search settings for the series in ``data``, then train the best configuration at ``out``.

    Args:
        data: CSV or Parquet file.
        config: the settings every trial starts from (the default trial is exactly these);
            keyword ``settings`` override its fields.
        search: ``random``, ``bayesian`` or ``grid``.
        trials: configurations to train, the default one included.
        max_minutes: start no trial after this many minutes (a running one finishes).
        space: a parsed ``--space`` file; None searches the default space.
        pinned: settings given explicitly (flags, job file): left out of the default space.
        out: bundle directory (``runs/<data file stem>`` by default).
        wait: seconds to wait while another run writes the same bundle.
        link_latest: point ``runs/latest`` at the bundle.
        on_trial: called as each trial starts and ends.
        on_epoch: progress of the final training (trials train silently).
        progress: instead of ``on_epoch``, a context manager entered for the final training
            only, whose value is the epoch hook (a progress bar that should not sit idle
            through the trials).

    Raises:
        UsageError: bad budget or space, a state directory of another search.
        DataError, ResourceError: as ``train``.
        TrainingError: no trial produced a validation loss.
        LockedError: another run holds the bundle.
    """
    config = config or TrainConfig()
    if settings:
        config = config.replace(**settings)
    if search not in SEARCH_KINDS:
        raise UsageError(f"--search {search!r} is not supported", f"use one of: {', '.join(SEARCH_KINDS)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}", "the default trial counts as one")
    if max_minutes is not None and not (math.isfinite(max_minutes) and max_minutes > 0):
        raise UsageError(f"--max-minutes must be above 0, got {max_minutes:g}", "e.g. --max-minutes 20")
    if is_many_series(config):
        raise UsageError(
            "tune does not support --id-col / --series-columns yet",
            "tune on one representative series, then train the global model with its settings",
        )
    data_path = Path(data)
    bundle_path = Path(out) if out is not None else default_bundle_path(data_path)
    state_dir, table_path = state_dir_for(bundle_path), trials_table_for(bundle_path)
    latest = DEFAULT_RUNS_DIR / LATEST_LINK if link_latest else None
    _check_outputs(bundle_path, state_dir, table_path, latest)

    pinned = set(pinned)
    if config.init_from is not None:
        from rnncast.transfer import ARCHITECTURE_FIELDS, adopt_source_architecture

        # The pretrained weights fix the network's shape: only training settings can vary.
        config = adopt_source_architecture(config)
        pinned |= {*ARCHITECTURE_FIELDS, "lookback"}
        named = [d.name for d in (space.dimensions if space else ()) if d.name in pinned]
        if named:
            raise UsageError(
                f"{named[0]} comes from the --init-from bundle, so it cannot be searched",
                f"remove {named[0]} from {space.path.name if space else '--space'}, or drop --init-from",
            )
    series = load_training_series(data_path, config)
    default_config, split = plan_training(series, config)
    assert default_config.lookback is not None and default_config.horizon is not None
    context = SpaceContext(
        lookback=default_config.lookback,
        # The longest lookback rnncast's defaults allow this series (asking for one as long as
        # the series returns that cap).
        max_lookback=fit_lookback_to_rows(
            len(series), default_config.horizon, len(series), config.val_fraction, config.test_fraction
        ),
    )
    dimensions = build_space(space, context, pinned)
    _check_space(dimensions, space, search, trials, split, default_config)
    fingerprint = _fingerprint(series, default_config, dimensions, search)

    with exclusive(bundle_path, wait=wait):
        state = _SearchState.open(state_dir, fingerprint)
        runner = _TrialRunner(series, default_config, split, dimensions, state, table_path, on_trial, trials)
        started = time.monotonic()
        budget_spent = (
            (lambda: time.monotonic() - started >= max_minutes * 60)
            if max_minutes is not None
            else (lambda: False)
        )
        runner.run_default()
        stopped_by = _run_search(runner, search, trials, state_dir, default_config.seed, budget_spent)
        if progress is None:
            progress = functools.partial(contextlib.nullcontext, on_epoch)
        return _train_best(runner, search, trials, max_minutes, stopped_by, bundle_path, latest, progress)


def _check_outputs(bundle_path: Path, state_dir: Path, table_path: Path, latest: Path | None) -> None:
    """Everything that could refuse the outputs, checked before minutes of searching."""
    if bundle_path.name == LATEST_LINK:
        raise UsageError(
            f"a bundle cannot be named {LATEST_LINK!r} (that name is the link to the newest)",
            "choose another --out",
        )
    check_bundle_target(bundle_path)
    if state_dir.is_symlink() or (state_dir.exists() and not state_dir.is_dir()):
        raise UsageError(
            f"{state_dir} exists and is not rnncast's tuning state", "move it away, or choose another --out"
        )
    if table_path.is_symlink() or table_path.is_dir():
        raise UsageError(
            f"{table_path} exists and is not rnncast's trials table", "move it away, or choose another --out"
        )
    if latest is not None and not is_replaceable_link(latest):
        raise UsageError(
            f"{latest} exists and is not rnncast's link to the newest bundle",
            "move it away; rnncast keeps runs/latest pointing at the newest model",
        )
    try:
        bundle_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create {str(bundle_path.parent)!r} ({exc.strerror})", "choose a writable --out"
        ) from exc
    if not os.access(bundle_path.parent, os.W_OK):
        raise UsageError(f"{str(bundle_path.parent)!r} is not writable", "choose a writable --out")


def _check_space(
    dimensions: tuple[Dimension, ...],
    space: SpaceFile | None,
    search: str,
    trials: int,
    split: Split,
    default_config: TrainConfig,
) -> None:
    """Refuse a space that searches nothing or holds a lookback the series cannot fit."""
    where = space.path.name if space is not None else "the default space"
    if not any(d.searched for d in dimensions):
        raise UsageError(
            f"{where} searches nothing: every setting in it is fixed",
            "list two or more values for a setting, e.g. units = [32, 64]",
        )
    assert default_config.horizon is not None
    # Every trial trains on the same rows (the split is by rows), which must hold one window.
    longest = split.train_rows - default_config.horizon
    for dim in dimensions:
        if dim.name != "lookback":
            continue
        ends = dim.values if dim.kind in ("choice", "fixed") else (int(dim.low or 1), int(dim.high or 1))
        too_long = [lookback for lookback in ends if lookback > longest]
        if too_long:
            raise UsageError(
                f"{where}: lookback {too_long[0]} does not fit the data ({split.train_rows} training rows "
                f"hold a lookback of at most {longest} with horizon {default_config.horizon})",
                f"list lookbacks of at most {longest}",
            )
    if search == "grid":
        size = grid_size(d for d in dimensions if d.searched)
        if size > trials - 1:
            logger.warning(
                "the grid holds %d configurations, and --trials %d runs the default and %d of them, in "
                "order: list fewer values in --space to cover it",
                size,
                trials,
                trials - 1,
            )


def _fingerprint(
    series: SeriesData, config: TrainConfig, dimensions: tuple[Dimension, ...], search: str
) -> dict[str, str]:
    """What a resumed search must share with the stopped one for its losses to compare."""
    settings = {k: v for k, v in config.to_dict().items() if k not in NOT_IN_FINGERPRINT}
    return {
        "data": str(series.fingerprint.get("sha256")),
        "settings": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16],
        "space": space_fingerprint(dimensions),
        "search": search,
    }


FINGERPRINT_WORDS = {
    "data": ("other data", "the same data file"),
    "settings": ("other settings", "the same flags"),
    "space": ("another search space", "the same --space"),
    "search": ("another --search", "the same --search"),
}


@dataclass
class _SearchState:
    """``rnncast.json`` in the state directory: the fingerprint and every trial's record."""

    directory: Path
    fingerprint: dict[str, str]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # keras-tuner id -> record

    @classmethod
    def open(cls, directory: Path, fingerprint: dict[str, str]) -> _SearchState:
        """The state of the search in ``directory`` (a new one if it has none).

        Raises:
            UsageError: it holds a search of other data, settings, space or kind, or is not
                rnncast's.
        """
        path = directory / STATE_FILE
        hint = f"use a new --out, or delete {directory} to start the search over"
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                old = dict(saved["fingerprint"])
                records = dict(saved["records"])
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
                raise UsageError(f"{path} is damaged ({first_line(exc)})", hint) from exc
            differs = [key for key in FINGERPRINT_WORDS if old.get(key) != fingerprint[key]]
            if differs:
                what, same = FINGERPRINT_WORDS[differs[0]]
                raise UsageError(
                    f"{directory} holds a search with {what}, which cannot be resumed here "
                    f"(resuming needs {same})",
                    hint,
                )
            return cls(directory, fingerprint, records)
        if directory.is_dir() and any(directory.iterdir()):
            raise UsageError(f"{directory} is not an rnncast tuning state (it has no {STATE_FILE})", hint)
        state = cls(directory, fingerprint)
        state.save()
        return state

    def save(self) -> None:
        """Write the state atomically."""
        payload = {"format": STATE_FORMAT, "fingerprint": self.fingerprint, "records": self.records}
        atomic_write_text(self.directory / STATE_FILE, to_json(payload))


class _SearchBug(Exception):
    """An invariant of the search broke: reported as rnncast's bug, not as a failed trial."""


class _TrialRunner:
    """Runs one configuration as a trial, keeps its record, and rewrites the trials table."""

    def __init__(
        self,
        series: SeriesData,
        default_config: TrainConfig,
        split: Split,
        dimensions: tuple[Dimension, ...],
        state: _SearchState,
        table_path: Path,
        on_trial: TrialHook | None,
        total: int,
    ) -> None:
        self.series = series
        self.default_config = default_config
        self.split = split
        self.dimensions = dimensions
        self.searched = tuple(d for d in dimensions if d.searched)
        # Fixed entries of the space apply to every searched trial, not to the default one.
        fixed = {d.name: d.values[0] for d in dimensions if not d.searched}
        self.trial_base = default_config.replace(**fixed) if fixed else default_config
        self.state = state
        self.table_path = table_path
        self.on_trial = on_trial
        self.total = total
        # Only the rows before the test split are ever handed to a trial. The split is by rows
        # (test and validation rows depend on the row count and the horizon only), so every
        # lookback is scored on the same validation rows and the losses compare; a longer
        # lookback only reaches further back into the training rows for its inputs.
        self.history = series.frame.to_numpy()[: split.train_rows + split.val_rows]
        self.trials_run_now = 0

    @property
    def default_record(self) -> TrialRecord | None:
        saved = self.state.records.get(DEFAULT_TRIAL)
        return TrialRecord.from_dict(saved) if saved is not None else None

    def records(self) -> list[TrialRecord]:
        """Every finished trial: the default first, then in the order they started."""
        ordered = sorted(
            self.state.records, key=lambda k: (k != DEFAULT_TRIAL, int(k) if k.isdigit() else -1)
        )
        return [TrialRecord.from_dict(self.state.records[key]) for key in ordered]

    def best(self) -> TrialRecord | None:
        """The trial with the lowest validation loss; the default wins a tie (it came first)."""
        done = [r for r in self.records() if r.completed and r.status != "same as default"]
        return min(done, key=lambda r: r.val_loss) if done else None  # type: ignore[arg-type, return-value]

    def config_of(self, record: TrialRecord) -> TrainConfig:
        """The full settings a record was trained with."""
        if record.label == DEFAULT_TRIAL:
            return self.default_config
        return self.trial_base.replace(**record.values)

    def run_default(self) -> None:
        """Trial "default": the flags as given, with rnncast's defaults; runs once per search."""
        if DEFAULT_TRIAL in self.state.records:
            return
        values = {d.name: getattr(self.default_config, d.name) for d in self.searched}
        self._run(DEFAULT_TRIAL, DEFAULT_TRIAL, values, self.default_config)

    def run_search_trial(self, trial_id: str, values: dict[str, Any]) -> TrialRecord:
        """A trial the oracle proposed (keras-tuner's id ``trial_id``)."""
        dimensions = {d.name: d for d in self.searched}
        values = {name: _normalised(dimensions[name], value) for name, value in values.items()}
        label = str(int(trial_id) + 1)
        try:
            config = self.trial_base.replace(**values)
        except RnncastError as error:  # e.g. mc-dropout intervals with dropout 0
            record = TrialRecord(label, values, "failed", note=error.one_line())
            self._save(trial_id, record)
            return record
        default = self.default_record
        if config == self.default_config and default is not None:
            # Same seed, same settings, same data: the same network. Its result is reused.
            record = replace(default, label=label, values=values, status="same as default", seconds=0.0)
            self._notify(label, values, None)
            self._save(trial_id, record)
            self._notify(label, values, record)
            return record
        return self._run(trial_id, label, values, config)

    def _run(self, key: str, label: str, values: dict[str, Any], config: TrainConfig) -> TrialRecord:
        self._notify(label, values, None)
        started = time.perf_counter()
        try:
            config, split = plan_training(self.series, config)
            if (split.train_rows, split.val_rows) != (self.split.train_rows, self.split.val_rows):
                raise _SearchBug(f"trial {label} would be scored on other validation rows")
            fitted = fit_on_history(
                self.history, self.series.columns, len(self.series.targets), split.val_rows, config
            )
        except RnncastError as error:  # diverged, too long a lookback for the data, ...
            record = TrialRecord(
                label, values, "failed", seconds=time.perf_counter() - started, note=error.one_line()
            )
        except _SearchBug:
            raise
        except Exception as error:  # a configuration TensorFlow cannot run (e.g. out of GPU memory)
            note = f"{type(error).__name__}: {first_line(error)}"
            record = TrialRecord(label, values, "failed", seconds=time.perf_counter() - started, note=note)
        else:
            summary = fitted.summary
            record = TrialRecord(
                label,
                values,
                "completed",
                val_loss=float(summary.best_val_loss),
                epochs=summary.epochs_run,
                best_epoch=summary.best_epoch,
                seconds=time.perf_counter() - started,
            )
        self.trials_run_now += 1
        self._save(key, record)
        self._notify(label, values, record)
        return record

    def _save(self, key: str, record: TrialRecord) -> None:
        self.state.records[key] = record.to_dict()
        self.state.save()
        write_trials_table(self.table_path, self.records(), [d.name for d in self.searched])

    def _notify(self, label: str, values: dict[str, Any], record: TrialRecord | None) -> None:
        if self.on_trial is None:
            return
        best = self.best()
        number = 1 if label == DEFAULT_TRIAL else int(label) + 1
        self.on_trial(
            TrialEvent(label, number, self.total, values, record, best.val_loss if best is not None else None)
        )


def _normalised(dim: Dimension, value: Any) -> Any:
    """A value from keras-tuner as the setting takes it: Python types, and a sample of a float
    range rounded to 4 significant digits (``0.1 * 3`` is 0.3, a learning rate 0.002562), so
    the trials table shows settings one can type; a listed choice is kept exactly."""
    kind = SEARCHABLE[dim.name].kind
    if kind is bool:
        return bool(value)
    if kind is int:
        return int(value)
    if kind is float:
        return float(f"{float(value):.4g}") if dim.kind == "float" else float(value)
    return str(value)


def write_trials_table(path: Path, records: list[TrialRecord], names: list[str]) -> None:
    """``<out>.trials.csv``: one row per trial (the default first), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *names, "val_loss", "epochs", "best_epoch", "seconds", "status", "note"])
    for record in records:
        writer.writerow(
            [
                record.label,
                *(_cell(record.values.get(name)) for name in names),
                "" if record.val_loss is None else repr(record.val_loss),
                "" if record.epochs is None else record.epochs,
                "" if record.best_epoch is None else record.best_epoch,
                f"{record.seconds:.3f}",
                record.status,
                record.note,
            ]
        )
    atomic_write_text(path, buffer.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SHORT_HEADERS = {
    "bidirectional": "bidir",
    "learning_rate": "lr",
    "batch_size": "batch",
    "attention": "attn",
    "layer_norm": "norm",
    "optimizer": "optim",
    "architecture": "arch",
    "lr_schedule": "schedule",
    "weight_decay": "decay",
}
STOPPED_BY = {
    "trials": "--trials reached",
    "time budget": "--max-minutes spent",
    "space exhausted": "every configuration of the space tried",
}


class _BudgetSpent(Exception):
    """Raised before a new trial starts once --max-minutes is spent; ends keras-tuner's loop."""


def _run_search(
    runner: _TrialRunner,
    search: str,
    trials: int,
    state_dir: Path,
    seed: int,
    budget_spent: Callable[[], bool],
) -> str:
    """Let keras-tuner's oracle propose trials until ``trials`` ran (the default included), the
    space is exhausted or the budget is spent. Returns why it stopped."""
    if budget_spent():
        return "time budget"
    if trials <= 1:
        return "trials"
    hyperparameters = _hyperparameters(runner.searched, runner.default_config)
    classes = _keras_tuner_classes()
    # keras-tuner treats seed 0 as "pick one at random"; any other fixed number keeps it repeatable.
    oracle_seed = seed % (2**31 - 2) + 1
    oracle_options = {
        "objective": classes.objective("val_loss", direction="min"),
        "max_trials": trials - 1,  # the default trial is rnncast's, not the oracle's
        "hyperparameters": hyperparameters,
        "allow_new_entries": False,
        "tune_new_entries": False,
        # A failed trial (diverged, does not fit) is recorded and the search goes on; keras-tuner
        # would otherwise stop on a run of failures and refuse to resume past them.
        "max_consecutive_failed_trials": 10**9,
    }
    if search == "bayesian":
        searched = len(runner.searched)
        # keras-tuner's 3 random points per dimension leave a short search all random.
        oracle_options["num_initial_points"] = max(2, min(3 * searched, (trials - 1) // 3))
    oracle = classes.oracles[search](seed=oracle_seed, **oracle_options)
    with _quiet_stdout():
        tuner = classes.tuner(
            runner=runner,
            budget_spent=budget_spent,
            oracle=oracle,
            directory=str(state_dir),
            project_name=SEARCH_PROJECT,
        )
        try:
            tuner.search()
        except _BudgetSpent:
            return "time budget"
    trials_started = len(tuner.oracle.trials)
    return "trials" if trials_started >= trials - 1 else "space exhausted"


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """keras-tuner prints its progress with print(): keep stdout for rnncast's own output
    (``--json`` must stay parseable). Its debug switch, on by default, would also print the
    traceback of every failed trial on stderr; rnncast reports a failure as one line."""
    from keras_tuner.src import config as kt_config

    debug = kt_config.DEBUG
    kt_config.DEBUG = False
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # keras-tuner 1.4 calls threading.currentThread(), deprecated since Python 3.10.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="keras_tuner")
            yield
    finally:
        kt_config.DEBUG = debug


def _hyperparameters(dimensions: tuple[Dimension, ...], default_config: TrainConfig) -> Any:
    """keras-tuner's HyperParameters for the searched dimensions. Each starts at the default
    trial's value where the space holds it (the grid's first configuration is then the default
    one, which the runner does not train twice)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for dim in dimensions:
        value = getattr(default_config, dim.name)
        default = value if dim.contains(value) else None
        sampling = "log" if dim.log else "linear"
        if dim.kind == "choice" and all(isinstance(v, bool) for v in dim.values):  # [false, true]
            hp.Boolean(dim.name, default=bool(default) if default is not None else False)
        elif dim.kind == "choice":
            hp.Choice(dim.name, list(dim.values), default=default)
        elif dim.kind == "int":
            step = int(dim.step) if dim.step is not None else None
            hp.Int(
                dim.name, int(dim.low or 0), int(dim.high or 0), step=step, sampling=sampling, default=default
            )
        else:
            hp.Float(
                dim.name,
                float(dim.low or 0),
                float(dim.high or 0),
                step=dim.step,
                sampling=sampling,
                default=default,
            )
    return hp


@dataclass(frozen=True)
class _Classes:
    tuner: type
    oracles: dict[str, type]
    objective: type


@functools.cache
def _keras_tuner_classes() -> _Classes:
    """keras-tuner's tuner and oracles, made to write their JSON state atomically, to train
    with rnncast, and (Bayesian) to model the losses with NumPy.

    Defined on first use: importing keras-tuner imports TensorFlow.
    """
    import keras_tuner as kt
    from keras_tuner.engine.base_tuner import BaseTuner
    from keras_tuner.oracles import BayesianOptimizationOracle, GridSearchOracle, RandomSearchOracle

    class AtomicState:
        """keras-tuner writes its state files in place; a run killed mid-write would leave one
        truncated, and the next run could not resume. These write them atomically, as JSON."""

        def save(self) -> None:
            atomic_write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

        def _save_trial(self, trial: Any) -> None:
            atomic_write_text(
                os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"), json.dumps(trial.get_state())
            )

    class RandomOracle(AtomicState, RandomSearchOracle):
        pass

    class GridOracle(AtomicState, GridSearchOracle):
        pass

    class BayesianOracle(AtomicState, BayesianOptimizationOracle):
        """keras-tuner's Bayesian optimisation with its Gaussian process in NumPy.

        keras-tuner fits scikit-learn's process and maximises the acquisition with SciPy, two
        large dependencies; here the same Matern-5/2 process is fitted in NumPy and the
        acquisition (the lower confidence bound of the loss) is minimised over random candidates.
        """

        def __init__(self, *, num_initial_points: int | None = None, **options: Any) -> None:
            # BayesianOptimizationOracle.__init__ refuses to run without scikit-learn and SciPy.
            kt.Oracle.__init__(self, max_retries_per_trial=0, **options)
            self.num_initial_points = num_initial_points
            self.alpha = 1e-4
            self.beta = 2.6
            self._random_state = np.random.RandomState(self.seed)
            self.gpr = self._make_gpr()

        def _make_gpr(self) -> GaussianProcess:
            return GaussianProcess(self.alpha)

        def populate_space(self, trial_id: str) -> dict[str, Any]:
            completed = [t for t in self.trials.values() if t.status == "COMPLETED"]
            dimensions = len(self._nonfixed_space())
            initial = self.num_initial_points or max(3 * dimensions, 3)
            if len(completed) < initial:
                return self._random_populate_space()
            x, y = self._vectorize_trials()
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
            candidates = self._random_state.uniform(0, 1, size=(2048, x.shape[1]))
            mean, std = self.gpr.predict(candidates, return_std=True)
            for index in np.argsort(mean - self.beta * std)[:64]:
                values = self._vector_to_values(candidates[index])
                if not self._duplicate(values):
                    return {"status": "RUNNING", "values": values}
            return self._random_populate_space()  # the model points only at tried settings

    class RnncastTuner(BaseTuner):
        """Runs each trial with rnncast's own fitting; saves no model."""

        def __init__(self, *, runner: _TrialRunner, budget_spent: Callable[[], bool], **options: Any) -> None:
            self.runner = runner
            self.budget_spent = budget_spent
            super().__init__(**options)

        def pre_create_trial(self) -> None:
            if self.budget_spent():
                raise _BudgetSpent

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            record = self.runner.run_search_trial(trial.trial_id, dict(trial.hyperparameters.values))
            if not record.completed:
                raise kt.errors.FailedTrialError(record.note or "the trial failed")
            return {"val_loss": float(record.val_loss)}  # type: ignore[arg-type]

        def save(self) -> None:
            self.oracle.save()
            atomic_write_text(self._get_tuner_fname(), json.dumps(self.get_state()))

    return _Classes(
        tuner=RnncastTuner,
        oracles={"random": RandomOracle, "grid": GridOracle, "bayesian": BayesianOracle},
        objective=kt.Objective,
    )


class GaussianProcess:
    """A Gaussian process regressor with a Matern-5/2 kernel, enough for Bayesian search over
    a few dozen trials: the targets are standardised, and the length scale is the one of a
    small set that maximises the marginal likelihood."""

    LENGTH_SCALES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)

    def __init__(self, alpha: float = 1e-4) -> None:
        self.alpha = alpha
        self._x: np.ndarray | None = None

    @staticmethod
    def _kernel(a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
        distance = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0)) / length
        root5 = math.sqrt(5.0) * distance
        return (1.0 + root5 + root5**2 / 3.0) * np.exp(-root5)

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """Condition on the points ``x`` (n x d) with losses ``y`` (n)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        self._mean = float(y.mean())
        self._scale = float(y.std()) or 1.0
        target = (y - self._mean) / self._scale
        best = None
        for length in self.LENGTH_SCALES:
            gram = self._kernel(x, x, length) + self.alpha * np.eye(len(x))
            try:
                lower = np.linalg.cholesky(gram)
            except np.linalg.LinAlgError:
                continue
            weights = np.linalg.solve(lower.T, np.linalg.solve(lower, target))
            likelihood = -0.5 * target @ weights - np.log(np.diag(lower)).sum()
            if best is None or likelihood > best[0]:
                best = (likelihood, length, lower, weights)
        if best is None:  # points repeated so often the matrix is singular: fall back to the prior
            self._x = None
            return self
        _, self._length, self._lower, self._weights = best
        self._x = x
        return self

    def predict(self, x: np.ndarray, return_std: bool = False) -> Any:
        """Mean (and standard deviation) of the loss at the points ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:  # unfitted: the prior
            mean, std = np.zeros(len(x)), np.ones(len(x))
        else:
            cross = self._kernel(x, self._x, self._length)
            mean = cross @ self._weights * self._scale + self._mean
            solved = np.linalg.solve(self._lower, cross.T)
            std = np.sqrt(np.maximum(1.0 - (solved**2).sum(0), 1e-12)) * self._scale
        return (mean, std) if return_std else mean


def _train_best(
    runner: _TrialRunner,
    search: str,
    trials: int,
    max_minutes: float | None,
    stopped_by: str,
    bundle_path: Path,
    latest: Path | None,
    progress: Callable[[], contextlib.AbstractContextManager[EpochHook | None]],
) -> TuneResult:
    """Train the best trial's configuration as the bundle, with the search in its metadata."""
    records = runner.records()
    best = runner.best()
    if best is None:
        notes = [r.note for r in records if r.note]
        raise TrainingError(
            f"none of the {len(records)} trials produced a validation loss"
            + (f" (the first: {notes[0]})" if notes else ""),
            "lower the --learning-rate range or check the data",
        )
    default = runner.default_record
    split, series = runner.split, runner.series
    test_start = split.train_rows + split.val_rows
    section = {
        "search": search,
        "objective": "best validation loss (scaled MSE); the test split is never used by the search",
        "validation": {
            "first": series.index[split.train_rows].isoformat(),
            "last": series.index[test_start - 1].isoformat(),
            "rows": split.val_rows,
            "test_start": series.index[test_start].isoformat(),
        },
        "budget": {"trials": trials, "max_minutes": max_minutes},
        "stopped_by": stopped_by,
        "trials_run": len(records),
        "trials_completed": sum(r.completed for r in records),
        "trials_run_now": runner.trials_run_now,
        "space": {d.name: d.to_dict() for d in runner.dimensions},
        "searched": [d.name for d in runner.searched],
        "best_trial": best.label,
        "best_values": best.values,
        "default_val_loss": default.val_loss if default is not None else None,
        "best_val_loss": best.val_loss,
        "beat_default": best.label != DEFAULT_TRIAL,
        "trials_table": str(runner.table_path),
        "state_dir": str(runner.state.directory),
        "fingerprint": runner.state.fingerprint,
    }
    trials_out = [r.to_dict() for r in records]
    # The bundle carries the whole trials table, so its report (evaluate --report-dir) and
    # `info` can show the search without the state directory beside it.
    section["trials"] = trials_out
    config, split = plan_training(series, runner.config_of(best))
    done = _already_trained(bundle_path, section, config)
    if done is not None:
        logger.warning(
            "%s already holds trial %s trained on this search: kept as it is", bundle_path, best.label
        )
        section = {**done.metadata["tuning"], "trials_run_now": 0}
        if latest is not None:
            with contextlib.suppress(OSError):  # as train: a read-only cwd costs only the shortcut
                point_link(latest, bundle_path)
        return TuneResult(bundle_path, done.metadata, done.report, section, trials_out, retrained=False)
    section["trained_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with progress() as on_epoch:
        result: TrainResult = train_locked(
            series, config, split, bundle_path, latest, on_epoch, extra_metadata={"tuning": section}
        )
    return TuneResult(result.bundle_path, result.metadata, result.report, section, trials_out)


def _already_trained(bundle_path: Path, section: dict[str, Any], config: TrainConfig) -> TrainResult | None:
    """The bundle at ``bundle_path`` if it already is this search's best trial trained after the
    same trials (rerunning a finished search then costs no training)."""
    from rnncast.bundle_files import read_bundle_files

    if not bundle_path.is_dir():
        return None
    try:
        files = read_bundle_files(bundle_path)
    except RnncastError:
        return None
    saved = files.metadata.get("tuning")
    if not isinstance(saved, dict):
        return None
    same = all(saved.get(k) == section[k] for k in ("fingerprint", "best_trial", "trials_run", "search"))
    if not same or files.metadata.get("config") != config.to_dict():
        return None
    return TrainResult(bundle_path, files.metadata, files.report)


def top_trials(trials: list[dict[str, Any]], count: int = 5) -> list[dict[str, Any]]:
    """The ``count`` best completed trials by validation loss, and the default trial if it is
    not among them (every summary shows what the search is measured against)."""
    done = sorted(
        (t for t in trials if t["val_loss"] is not None and t["status"] != "same as default"),
        key=lambda t: t["val_loss"],
    )
    top = done[:count]
    default = next((t for t in trials if t["trial"] == DEFAULT_TRIAL), None)
    if default is not None and default not in top:
        top.append(default)
    return top


def summary_renderables(result: TuneResult) -> list[Any]:
    """The rich output of ``rnncast tune``: top trials, the best configuration, the test verdict."""
    from rich.table import Table
    from rich.text import Text

    from rnncast.render import intervals_table, metric_notes, metrics_table, verdict_line

    tuning = result.tuning
    names, searched = list(tuning["space"]), tuning["searched"]
    heading = Text(
        f"{tuning['search'].capitalize()} search, {tuning['trials_run']} trials "
        f"({STOPPED_BY[tuning['stopped_by']]}); validation loss in scaled MSE, best first:"
    )
    table = Table()  # the heading is a line of its own: a title would wrap to a narrow table
    rows = [
        [
            f"{trial['trial']}{' *' if trial['trial'] == tuning['best_trial'] else ''}",
            *(_cell(trial["values"].get(n)) for n in searched),
            f"{trial['val_loss']:.5g}" if trial["val_loss"] is not None else trial["status"],
            str(trial["epochs"] or ""),
            f"{trial['seconds']:.1f}",
        ]
        for trial in top_trials(result.trials)
    ]
    for index, column in enumerate(("trial", *searched, "val_loss", "epochs", "seconds")):
        # Short headers keep a dozen settings on one line, and no value is ever cut short.
        table.add_column(
            SHORT_HEADERS.get(column, column),
            justify="left" if index == 0 else "right",
            no_wrap=True,
            min_width=max(len(row[index]) for row in rows),
        )
    for row in rows:
        table.add_row(*row)
    lines: list[Any] = [heading, table]
    best, default = tuning["best_val_loss"], tuning["default_val_loss"]
    if not tuning["beat_default"]:
        lines.append(Text(f"no trial beat the default configuration (val loss {best:.5g})"))
    elif default is not None:
        lower = (1 - best / default) * 100 if default > 0 else 0.0
        lines.append(
            Text(
                f"trial {tuning['best_trial']} beat the default: val loss {best:.5g} vs "
                f"{default:.5g} ({lower:.1f}% lower)"
            )
        )
    else:
        lines.append(
            Text(f"best: trial {tuning['best_trial']}, val loss {best:.5g} (the default trial failed)")
        )
    config = result.metadata["config"]
    lines.append(Text("best configuration: " + ", ".join(f"{n}={_cell(config[n])}" for n in names)))
    lines.append(metrics_table(result.report, title=f"{result.bundle_path} on the held-out test windows"))
    if (intervals := intervals_table(result.report)) is not None:
        lines.append(intervals)
    lines.extend(Text(note, style="dim") for note in metric_notes(result.report))
    lines.append(Text(verdict_line(result.report)))
    return lines


def trial_line(event: TrialEvent) -> str:
    """One progress line: a trial's settings as it starts, its loss (or failure) as it ends."""
    head = f"trial {event.label} ({event.number}/{event.total})"
    record = event.record
    if record is None:
        values = ", ".join(f"{name}={_cell(value)}" for name, value in event.values.items())
        return f"{head}: {values} ..."
    if not record.completed:
        return f"{head} failed: {record.note}"
    if record.status == "same as default":
        return f"{head}: the default trial's settings, val loss {record.val_loss:.5g} (not trained again)"
    best = f" (best so far {event.best_val_loss:.5g})" if event.best_val_loss is not None else ""
    return (
        f"{head}: val loss {record.val_loss:.5g} after {record.epochs} epochs in {record.seconds:.1f}s{best}"
    )
