"""``rnncast run JOB.toml``: a cron-grade batch run over many series.

One run holds the lock of the job's output directory, then for each series decides what to
do (skip when nothing changed, train, or fine-tune), forecasts, appends the forecast to the
series' ledger, scores past forecasts against the actuals that arrived, and records what it
did. A failing series is reported and the others go on; the exit code tells which happened.

Layout of the output directory::

    .rnncast.lock            the run's lock (inside: the folder's parent may not be writable)
    state.json               per series: the fingerprint of its last successful run
    last_run.json            the summary of the last run
    <series>/model/          the bundle (replaced whole, only by a model that passed the gates)
    <series>/model.ledger.csv   every forecast published, for rnncast history
    <series>/forecast.csv    the newest forecast
    <series>/report.json     the newest run's scores: held-out test and realised
    <series>/data.csv        a series cut out of a long or wide file (what it was trained on)
    <series>/source.json     which source the directory belongs to (names survive a lost state)

Every file is written atomically; a run killed at any moment leaves the previous outputs
whole, and the next run finishes the job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rnncast import __version__
from rnncast.config import TrainConfig
from rnncast.errors import (
    DataError,
    ExitCode,
    HistoryRewrittenError,
    QualityGateError,
    RnncastError,
    UsageError,
    first_line,
)
from rnncast.fileio import (
    atomic_write_bytes,
    atomic_write_text,
    replace_directory,
    restore_interrupted_replacement,
    safe_file_name,
    sha256_file,
    to_json,
)
from rnncast.jobspec import GLOB_CHARACTERS, JobSpec, expand_sources, series_name
from rnncast.locking import exclusive

logger = logging.getLogger("rnncast")

STATE_FILE = "state.json"
SUMMARY_FILE = "last_run.json"
MODEL_DIR = "model"
CANDIDATE_DIR = "candidate"  # a freshly trained bundle waits here until it passes the gates
FORECAST_FILE = "forecast.csv"
REPORT_FILE = "report.json"
SNAPSHOT_FILE = "data.csv"
SOURCE_FILE = "source.json"  # which source a series directory belongs to
LOCK_FILE = ".rnncast.lock"
STATE_FORMAT = 1


@dataclass(frozen=True)
class Unit:
    """One thing a run trains a bundle for: a file, a series cut out of one, or a whole file
    of many series for one global model."""

    name: str
    data: Path
    label: str
    config: TrainConfig
    snapshot: bytes | None = None  # the cut-out series' CSV, written to ``data`` when it changed


@dataclass
class Outcome:
    """What happened to one unit: ``status`` is trained, updated, forecast, skipped or failed."""

    series: str
    data: str
    status: str
    reason: str
    exit_code: int = 0
    action: str | None = None
    seconds: float = 0.0
    bundle: str | None = None
    forecast_rows: int = 0
    forecast_end: str | None = None
    test: dict[str, Any] | None = None
    realised: dict[str, Any] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunOptions:
    """The command line's run switches."""

    dry_run: bool = False
    force: bool = False
    wait: float = 0.0
    log_file: Path | None = None


def run_job(
    spec: JobSpec, options: RunOptions, on_outcome: Callable[[Outcome], None] | None = None
) -> dict[str, Any]:
    """Run the job ``spec``: every series, one after another, under the output's lock.

    Returns:
        The run summary (also written to ``last_run.json`` and the log file).

    Raises:
        LockedError: another run holds the job's lock (exit 75).
        UsageError: the output directory cannot be created or locked (read-only, a file in the way).
    """
    started = time.perf_counter()
    started_at = _now()
    if options.dry_run:
        return _summarise(spec, options, started, started_at, _run_units(spec, options, on_outcome))
    try:
        try:
            spec.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, a read-only or missing mount
            raise UsageError(
                f"cannot create the output directory {str(spec.output_dir)!r} ({exc.strerror or exc})",
                "set [output] dir in the job file, or --output-dir, to a writable folder",
            ) from exc
        with exclusive(spec.output_dir, wait=options.wait, lock_file=spec.output_dir / LOCK_FILE):
            outcomes = _run_units(spec, options, on_outcome)
            # Still under the lock: a run waiting for it must not find an older summary after its own.
            return _summarise(spec, options, started, started_at, outcomes)
    except RnncastError as error:  # cron's log should show the night it did nothing, and why
        if options.log_file is not None:
            append_log(
                options.log_file,
                [
                    {
                        "event": "run",
                        "job": str(spec.path),
                        "output_dir": str(spec.output_dir),
                        "started_at": started_at,
                        "exit_code": int(error.exit_code),
                        "error": error.one_line(),
                    }
                ],
            )
        raise


def _summarise(
    spec: JobSpec, options: RunOptions, started: float, started_at: str, outcomes: list[Outcome]
) -> dict[str, Any]:
    """The run's summary, written to ``last_run.json`` (not by a dry run) and the log file."""
    summary = {
        "job": str(spec.path),
        "output_dir": str(spec.output_dir),
        "started_at": started_at,
        "seconds": round(time.perf_counter() - started, 3),
        "dry_run": options.dry_run,
        "policy": spec.policy,
        "rnncast": __version__,
        "counts": _counts(outcomes),
        "exit_code": int(run_exit_code(outcomes)),
        "series": [asdict(outcome) for outcome in outcomes],
    }
    if not options.dry_run:
        atomic_write_text(spec.output_dir / SUMMARY_FILE, to_json(summary))
    if options.log_file is not None:
        append_log(
            options.log_file, [{"event": "run", **{k: v for k, v in summary.items() if k != "series"}}]
        )
    return summary


def run_exit_code(outcomes: list[Outcome]) -> ExitCode:
    """0 when every series succeeded; the shared code when all failed alike; 5 when only
    quality gates failed; else 8 (partial failure)."""
    ran = [outcome for outcome in outcomes if outcome.status != "gone"]
    failed = [outcome for outcome in ran if outcome.exit_code]
    if not failed:
        return ExitCode.OK
    codes = {outcome.exit_code for outcome in failed}
    if len(failed) == len(ran) and len(codes) == 1:
        return ExitCode(codes.pop())
    if codes == {ExitCode.QUALITY_GATE}:
        return ExitCode.QUALITY_GATE
    return ExitCode.PARTIAL


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {"series": sum(1 for outcome in outcomes if outcome.status != "gone")}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    gated = sum(1 for o in outcomes if o.status != "failed" and o.exit_code == ExitCode.QUALITY_GATE)
    if gated:  # trained and forecast, yet failed a quality gate (exit 5)
        counts["quality gate failed"] = gated
    return counts


def _run_units(
    spec: JobSpec, options: RunOptions, on_outcome: Callable[[Outcome], None] | None
) -> list[Outcome]:
    state = read_state(spec.output_dir)
    if not options.dry_run:  # the output folder may be shared: only the job's own files there
        _sweep_leftovers(spec.output_dir, (STATE_FILE, SUMMARY_FILE))
    outcomes: list[Outcome] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if options.log_file is not None:
            append_log(options.log_file, [{"event": "series", "job": str(spec.path), **asdict(outcome)}])
        if on_outcome is not None:
            on_outcome(outcome)

    names_before = dict(state.get("names", {}))
    units, failures = plan_units(spec, state)
    if not options.dry_run and state["names"] != names_before:  # new series: their names are theirs now
        write_state(spec.output_dir, state)
    for failure in failures:
        report(failure)
    for unit in units:
        started = time.perf_counter()
        before = state["series"].get(unit.name)
        try:
            with _notes_once():
                outcome = run_unit(spec, unit, state, options)
        except RnncastError as error:
            text = in_job_terms(error.one_line())
            if unit.snapshot is not None and isinstance(error, DataError):
                text += f" (rows counted in {unit.data}, this series' rows cut from its file)"
            outcome = Outcome(unit.name, unit.label, "failed", text, int(error.exit_code), error=text)
        except OSError as error:  # a full disk, a permission taken away: the system's, not a bug
            code = ExitCode.RESOURCES if error.errno in (errno.ENOSPC, errno.EDQUOT) else ExitCode.USAGE
            where = f" {error.filename}" if error.filename else ""
            text = f"cannot read or write{where} ({error.strerror or error})"
            outcome = Outcome(unit.name, unit.label, "failed", text, int(code), error=text)
        except Exception as error:  # one broken series must not stop the others
            logger.debug("series %s failed", unit.name, exc_info=True)
            text = f"internal error: {first_line(error)}"
            outcome = Outcome(unit.name, unit.label, "failed", text, int(ExitCode.INTERNAL), error=text)
        outcome.seconds = round(time.perf_counter() - started, 3)
        if not options.dry_run and state["series"].get(unit.name) != before:
            write_state(spec.output_dir, state)
        report(outcome)
    running = {unit.name for unit in units} | {failure.series for failure in failures}
    for name in sorted(set(state["series"]) - running):
        # A series the data no longer holds: said once per run, never a failure (it may be gone
        # for good); its model and ledger stay where they are.
        last = state["series"][name].get("last_success", "?")
        report(Outcome(name, "", "gone", f"no longer in the job's data (last successful run {last})"))
        if not options.dry_run:  # said once: forgotten until it comes back (then it retrains)
            del state["series"][name]
            write_state(spec.output_dir, state)
    return outcomes


_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z-]*)")


def in_job_terms(message: str) -> str:
    """A message about settings, with the training flags it names spelled as the job file's
    keys (``--target`` -> ``train.target``, ``--id-col`` -> ``data.id_col``)."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}

    def key(match: re.Match[str]) -> str:
        name = match.group(1).replace("-", "_")
        if name in ("id_col", "series_columns"):
            return f"data.{name}"
        return f"train.{name}" if name in fields else match.group(0)

    return _FLAG.sub(key, message)


class _OnlyOnce(logging.Filter):
    """Drops notes already shown: train, forecast and history each read the data of a series,
    and each would repeat the same ``note:`` lines."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@contextlib.contextmanager
def _notes_once() -> Iterator[None]:
    """Show each distinct note of one series once."""
    only_once = _OnlyOnce()
    logger.addFilter(only_once)
    try:
        yield
    finally:
        logger.removeFilter(only_once)


def plan_units(spec: JobSpec, state: dict[str, Any] | None = None) -> tuple[list[Unit], list[Outcome]]:
    """The job's units, and a failed outcome for each source that could not be split and each
    ``paths`` entry that matches no file (the other entries still run).

    A series keeps the directory name it was first given (``state["names"]``, by source), so a
    new file that a glob matches later never takes over an older series' model and ledger.
    """
    names: dict[str, str] = (state if state is not None else {}).setdefault("names", {})
    base = TrainConfig(**spec.settings)
    failures: list[Outcome] = []
    sources: list[Path] = []
    for entry in spec.paths:
        try:
            found = expand_sources(dataclasses.replace(spec, paths=(entry,)))
        except RnncastError as error:
            failures.append(Outcome(entry, entry, "failed", error.one_line(), int(error.exit_code)))
            continue
        for source in found:
            # A glob such as "**/*.csv" must not pick up the job's own forecasts, snapshots and
            # ledgers as new series on the next run.
            ours = not GLOB_CHARACTERS.isdisjoint(entry) and _inside(source, spec.output_dir)
            if not ours and source not in sources:
                sources.append(source)
    # Each series directory names its source too: if state.json is lost, nobody's directory,
    # model and ledger pass to another series.
    for marker in sorted(spec.output_dir.glob(f"*/{SOURCE_FILE}")) if spec.output_dir.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            names.setdefault(
                str(json.loads(marker.read_text(encoding="utf-8"))["source"]), marker.parent.name
            )
    # A series named "state" would be fine, but one named "state.json" would be a directory
    # where the job's own files go.
    existing = (
        {p.name for p in spec.output_dir.iterdir() if p.is_dir()} if spec.output_dir.is_dir() else set()
    )
    taken: set[str] = {STATE_FILE, SUMMARY_FILE, LOCK_FILE, *names.values(), *existing}

    def name_of(key: str, fresh: Callable[[], str]) -> str:
        # Keyed by the path relative to the job file, so a job folder moved whole keeps its names.
        key = os.path.relpath(key, spec.path.parent)
        if key not in names:
            names[key] = fresh()
        return names[key]

    units: list[Unit] = []
    for source in sources:
        if spec.models == "global":
            config = base.replace(id_col=spec.id_col, series_columns=spec.series_columns)
            name = name_of(str(source), lambda source=source: series_name(source, taken))
            units.append(Unit(name, source, source.name, config))
        elif spec.id_col is None and not spec.series_columns:
            name = name_of(str(source), lambda source=source: series_name(source, taken))
            units.append(Unit(name, source, source.name, base))
        else:
            try:
                units.extend(_cut_out_series(spec, source, base, taken, name_of))
            except RnncastError as error:
                failures.append(
                    Outcome(source.name, str(source), "failed", error.one_line(), int(error.exit_code))
                )
    return units, failures


def _cut_out_series(
    spec: JobSpec,
    source: Path,
    base: TrainConfig,
    taken: set[str],
    name_of: Callable[[str, Callable[[], str]], str],
) -> list[Unit]:
    """One unit per series of a long (``id_col``) or wide (``series_columns``) file, each
    trained on its own snapshot CSV (time and value columns, as read)."""
    from rnncast.panel import split_table
    from rnncast.reading import read_table

    raw, _ = read_table(source, (spec.id_col,) if spec.id_col else ())
    config = TrainConfig(id_col=spec.id_col, series_columns=spec.series_columns, time_col=base.time_col)
    tables, _, _, _ = split_table(raw, source, config)
    units = []
    for key, table in tables.items():
        if spec.series_columns:  # a wide file's column keeps its own name as the target
            table = table.set_axis([table.columns[0], key], axis=1)
        name = name_of(
            f"{source}#{key}", lambda key=key: _unique_name(safe_file_name(key, fallback="series"), taken)
        )
        snapshot = table.to_csv(index=False, lineterminator="\n").encode("utf-8")
        data = spec.output_dir / name / SNAPSHOT_FILE
        units.append(Unit(name, data, f"{source.name} series {key!r}", base, snapshot))
    return units


def _inside(path: Path, folder: Path) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def _unique_name(name: str, taken: set[str]) -> str:
    used = {existing.casefold() for existing in taken}  # as series_name: ignoring case
    candidate, number = name, 2
    while candidate.casefold() in used:
        candidate = f"{name}-{number}"
        number += 1
    taken.add(candidate)
    return candidate


def run_unit(spec: JobSpec, unit: Unit, state: dict[str, Any], options: RunOptions) -> Outcome:
    """Decide, train or update, forecast and score one unit; ``state`` is updated on success."""
    directory = spec.output_dir / unit.name
    model = directory / MODEL_DIR
    if not options.dry_run:
        directory.mkdir(parents=True, exist_ok=True)
        restore_interrupted_replacement(model)
        shutil.rmtree(directory / CANDIDATE_DIR, ignore_errors=True)  # left by a killed run
        _sweep_leftovers(directory)
        if unit.snapshot is not None:
            _write_if_changed(unit.data, unit.snapshot)
        source = next((key for key, name in state.get("names", {}).items() if name == unit.name), None)
        if source is not None:
            _write_if_changed(directory / SOURCE_FILE, json.dumps({"source": source}).encode("utf-8"))
    entry = state["series"].get(unit.name, {})
    fingerprint = data_fingerprint(unit, entry.get("fingerprint", {}).get("data"))
    action, reason = decide(spec, unit, entry, fingerprint, model, options.force)
    outcome = Outcome(unit.name, unit.label, "skipped" if action == "skip" else action, reason, action=action)
    if action == "skip" or options.dry_run:
        if options.dry_run and action != "skip":
            outcome.status = f"would {action}"
        elif not options.dry_run and entry.get("fingerprint") != fingerprint:
            # Same bytes, new mtime (a touch, a copy): remember it, or every later run hashes again.
            state["series"][unit.name] = {**entry, "fingerprint": fingerprint}
            outcome.notes.append("same data, new modification time")
        return outcome

    from rnncast import pipeline
    from rnncast.accountability import history, test_rmse_of

    # Decay is judged on the forecasts the current model published, before it is replaced.
    decay_error: QualityGateError | None = None
    if spec.max_decay is not None and model.is_dir():
        decay_error = _decay_problem(model, unit, spec.max_decay)
    updates = entry.get("updates_since_full", 0)
    if action == "update":
        from rnncast.updating import update

        try:
            with exclusive(model, wait=options.wait):  # a hand-run train or update of it goes first
                result = update(model, unit.data)
        except HistoryRewrittenError:
            action, outcome.reason = "train", f"{reason}; the history was rewritten, so a full retrain"
        else:
            outcome.status = "updated" if result.status == "updated" else "forecast"
            if result.status == "up-to-date":
                outcome.reason = f"{reason}; no new rows, the model is up to date"
            updates += 1 if result.status == "updated" else 0
    gate_error: QualityGateError | None = None
    if action == "train":
        try:
            test = _train_with_gates(spec, unit, directory, model, options.wait)
        except QualityGateError as error:
            if not (model / "metadata.json").is_file():
                raise  # no earlier model to fall back on
            # The earlier model stays, and still forecasts tonight's data: a stale forecast.csv
            # and a gap in the ledger would be worse than the model the gate kept.
            gate_error, outcome.status = error, "kept"
            outcome.reason = f"{reason}; the new model failed the gate, the previous one forecasts"
        else:
            outcome.status, outcome.test, updates = "trained", test, 0
    frame = pipeline.forecast(model, unit.data, output=directory / FORECAST_FILE).frame
    outcome.bundle = str(model)
    outcome.forecast_rows = len(frame)
    outcome.forecast_end = frame.index.max().isoformat()
    realised = history(model, unit.data)
    outcome.realised = {key: realised.get(key) for key in ("overall", "pending", "decay", "test_rmse")}
    if outcome.test is None:
        from rnncast.bundle import load_bundle

        bundle = load_bundle(model, with_model=False)
        outcome.test = _test_scores(bundle.report, test_rmse_of(bundle))
    atomic_write_text(
        directory / REPORT_FILE,
        to_json(
            {
                "series": unit.name,
                "data": unit.label,
                "written_at": _now(),
                **asdict(outcome),
                "history": realised,
            }
        ),
    )
    if gate_error is None:  # a series whose new model failed the gate is tried again next run
        state["series"][unit.name] = {
            "fingerprint": fingerprint,
            "updates_since_full": updates,
            "last_success": _now(),
            "last_status": outcome.status,
        }
    for error in (gate_error, decay_error):
        if error is not None:
            outcome.exit_code, outcome.error = int(error.exit_code), error.one_line()
            outcome.reason = f"{outcome.reason}; {error.message}"
    return outcome


def _sweep_leftovers(directory: Path, names: tuple[str, ...] | None = None) -> None:
    """Delete the staging files and directories (``.<name>.*.tmp``, ``.<name>.old-*``) that a
    killed run left in a series directory (only those of ``names``, if given): recent ones too,
    as this run holds the job's lock.

    A bundle's and the ledger's are removed under their own lock, which ``rnncast train``,
    ``update`` and ``forecast`` take, in case one of those is writing here by hand right now.
    """
    locked = (MODEL_DIR, CANDIDATE_DIR, f"{MODEL_DIR}.ledger.csv")
    for leftover in sorted([*directory.glob(".*.tmp"), *directory.glob(".*.old-*")]):
        if leftover.name.endswith(".tmp"):
            target = leftover.name[1:-4].rpartition(".")[0]
        else:
            target = leftover.name[1:].partition(".old-")[0]
            if not (directory / target).exists():
                continue  # the only copy of an interrupted replacement: restore puts it back
        if not target or (names is not None and target not in names):
            continue
        try:
            with exclusive(directory / target) if target in locked else contextlib.nullcontext():
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
        except (OSError, RnncastError) as error:  # in use, or not ours: never fail a run over it
            logger.debug("left %s in place (%s)", leftover, error)


def _decay_problem(model: Path, unit: Unit, max_decay: float) -> QualityGateError | None:
    from rnncast.accountability import check_decay, history

    try:
        realised = history(model, unit.data)
    except RnncastError as error:
        logger.warning("%s: cannot score past forecasts (%s)", unit.name, error.one_line())
        return None
    decay = realised.get("decay")
    if not decay:
        return None
    from rnncast.accountability import Decay

    try:
        check_decay(Decay.from_dict(decay), max_decay)
    except QualityGateError as error:
        return error
    return None


def _train_with_gates(
    spec: JobSpec, unit: Unit, directory: Path, model: Path, wait: float = 0.0
) -> dict[str, Any]:
    """Train a candidate bundle; it replaces the model only if it passes ``require_skill``.

    Raises:
        QualityGateError: the candidate's held-out skill is below the gate (the old model stays).
    """
    from rnncast import pipeline
    from rnncast.evaluation import check_skill

    candidate = directory / CANDIDATE_DIR
    result = pipeline.train(unit.data, unit.config, out=candidate, link_latest=False)
    try:
        if spec.require_skill is not None:
            check_skill(result.report, spec.require_skill)
    except QualityGateError:
        shutil.rmtree(candidate, ignore_errors=True)
        raise
    try:
        # Under the model's lock: a hand-run update of it would otherwise replace this new
        # model, whose forecast is about to be published, with a fine-tuned copy of the old one.
        with exclusive(model, wait=wait):
            replace_directory(candidate, model)
    except RnncastError:
        shutil.rmtree(candidate, ignore_errors=True)
        raise
    rmse = result.report.get("metrics", {}).get("model", {}).get("original", {}).get("rmse")
    return _test_scores(result.report, rmse if len(result.metadata["model"]["targets"]) == 1 else None)


def _test_scores(report: dict[str, Any], rmse: float | None) -> dict[str, Any]:
    """The held-out verdict in a few numbers for the summary line."""
    best = report.get("best_baseline")
    units = report.get("verdict_units", "original")
    metrics = report.get("metrics", {})
    return {
        "rmse": rmse,
        "units": units,
        "model_rmse": metrics.get("model", {}).get(units, {}).get("rmse"),
        "best_baseline": best,
        "best_baseline_rmse": metrics.get(best, {}).get(units, {}).get("rmse") if best else None,
        "skill": report.get("skill_vs_best_baseline"),
    }


def decide(
    spec: JobSpec, unit: Unit, entry: dict[str, Any], fingerprint: dict[str, Any], model: Path, force: bool
) -> tuple[str, str]:
    """What to do with a unit, and why: ``skip``, ``train`` or ``update``."""
    previous = entry.get("fingerprint")
    has_model = (model / "metadata.json").is_file()
    if not has_model:
        return "train", "no model yet"
    unchanged = (
        previous is not None and previous.get("data", {}).get("sha256") == fingerprint["data"]["sha256"]
    )
    same_job = previous is not None and previous.get("job") == fingerprint["job"]
    if unchanged and same_job and not force and spec.policy != "always":
        return "skip", f"unchanged since the last successful run ({entry.get('last_success', '?')})"
    why = "forced (--force)" if force else "retrain policy 'always'" if spec.policy == "always" else ""
    if not why and previous is None:  # state.json lost, or a run killed before its first success
        why = "no record of its last successful run in state.json"
    if not why:
        why = "the job's settings changed" if not same_job else "the data changed"
    if spec.policy != "update" or not same_job:
        return "train", why
    done = entry.get("updates_since_full", 0)
    if spec.full_every and done >= spec.full_every:
        return "train", f"{why}; a full retrain after {done} updates (full_every = {spec.full_every})"
    return "update", why


def data_fingerprint(unit: Unit, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Size, modification time and SHA-256 of the unit's data; the hash is reused when size
    and time are as last time (hashing gigabytes nightly for nothing is what cron users hate)."""
    if unit.snapshot is not None:  # a cut-out series: what counts is its rows, not the file's
        import hashlib

        data = {
            "size": len(unit.snapshot),
            "mtime_ns": None,
            "sha256": hashlib.sha256(unit.snapshot).hexdigest(),
        }
    elif not unit.data.is_file():
        raise DataError(f"{unit.data} does not exist or is not a file", "check the job's [data] paths")
    else:
        stat = unit.data.stat()
        same = (
            previous and previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns
        )
        digest = previous["sha256"] if same else sha256_file(unit.data)
        data = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    return {"data": data, "job": spec_fingerprint_of(unit)}


def spec_fingerprint_of(unit: Unit) -> str:
    """The settings that decide a unit's model (a changed setting means a full retrain)."""
    import hashlib

    return hashlib.sha256(json.dumps(unit.config.to_dict(), sort_keys=True).encode()).hexdigest()


def _write_if_changed(path: Path, content: bytes) -> None:
    """Write a snapshot only when it differs, so an unchanged series keeps its mtime."""
    try:
        if path.read_bytes() == content:
            return
    except OSError:
        pass
    atomic_write_bytes(path, content)


def read_state(output_dir: Path) -> dict[str, Any]:
    """The job's state (an empty one when missing or unreadable: everything reruns)."""
    try:
        state = json.loads((output_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"format": STATE_FORMAT, "series": {}}
    if not isinstance(state, dict) or not isinstance(state.get("series"), dict):
        return {"format": STATE_FORMAT, "series": {}}
    if not isinstance(state.get("names"), dict):
        state["names"] = {}
    return state


def write_state(output_dir: Path, state: dict[str, Any]) -> None:
    """Write the state atomically (after each series, so a killed run keeps what it did)."""
    atomic_write_text(output_dir / STATE_FILE, to_json(state))


def append_log(path: Path, records: list[dict[str, Any]]) -> None:
    """Append JSON lines to ``path`` in one write (lines from concurrent runs never mix)."""
    payload = "".join(json.dumps({"time": _now(), **record}, default=str) + "\n" for record in records)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, payload.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:  # a full disk or a moved log must not fail the forecasts themselves
        logger.warning("could not append to --log-file %s (%s)", path, exc.strerror)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
