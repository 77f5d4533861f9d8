"""The ``rnncast`` command: parse flags, build the config, call one API function, render.

No logic lives here. Data goes to stdout; status, progress and errors go to stderr. Expected
failures print one line and exit with the documented code (see :class:`ExitCode`);
``RNNCAST_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from rnncast import __version__
from rnncast.config import TrainConfig
from rnncast.errors import ExitCode, RnncastError, UsageError

app = typer.Typer(
    name="rnncast",
    help="Forecast time series with recurrent neural networks (SimpleRNN, LSTM, GRU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    epilog="Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad data, 4 bad or missing model bundle, "
    "5 quality gate (--require-skill) failed, 6 training failed, 7 not enough memory, "
    "8 some series failed (run), 9 anomaly in the newest rows (detect --fail-on-new). "
    "RNNCAST_DEBUG=1 shows tracebacks.",
)


class _Console(Console):
    """rich's console, ending a run whose reader closed the pipe with 141 like a Unix tool
    (rich's own answer is exit 1, which rnncast documents as a bug)."""

    def on_broken_pipe(self) -> None:
        raise _reader_gone()


stdout = _Console(soft_wrap=True)
stderr = _Console(stderr=True, soft_wrap=True)
DEFAULTS = TrainConfig()
EXIT_READER_GONE = 141  # 128 + SIGPIPE
LATEST = Path("runs/latest")


class Cell(StrEnum):
    simple_rnn = "simple_rnn"
    lstm = "lstm"
    gru = "gru"


class WindowNorm(StrEnum):
    last = "last"
    mean = "mean"
    season = "season"
    none = "none"


class Loss(StrEnum):
    mse = "mse"
    mae = "mae"
    huber = "huber"


class Channels(StrEnum):
    auto = "auto"
    independent = "independent"
    mixed = "mixed"


class ScalerKind(StrEnum):
    standard = "standard"
    minmax = "minmax"


class Transform(StrEnum):
    none = "none"
    diff = "diff"
    log = "log"
    pct = "pct"


class Fill(StrEnum):
    ffill = "ffill"
    interpolate = "interpolate"
    drop = "drop"
    error = "error"


class Window(StrEnum):
    expanding = "expanding"
    sliding = "sliding"


class Refit(StrEnum):
    never = "never"
    each_fold = "each-fold"


class RetrainPolicy(StrEnum):
    ALWAYS = "always"
    IF_DATA_CHANGED = "if-data-changed"
    UPDATE = "update"


class Architecture(StrEnum):
    rnn = "rnn"
    seq2seq = "seq2seq"
    segments = "segments"


class Strategy(StrEnum):
    direct = "direct"
    recursive = "recursive"


class Optimizer(StrEnum):
    adam = "adam"
    adamw = "adamw"
    rmsprop = "rmsprop"
    sgd = "sgd"


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"
    plateau = "plateau"


class IntervalMethod(StrEnum):
    conformal = "conformal"
    mc_dropout = "mc-dropout"


class Freeze(StrEnum):
    none = "none"
    recurrent = "recurrent"


class DetectScore(StrEnum):
    zscore = "zscore"
    interval = "interval"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"


DataArgument = Annotated[
    Path,
    typer.Argument(metavar="DATA", help="CSV or Parquet file with a time column.", show_default=False),
]
ModelPath = Annotated[Path, typer.Option("--model", "-m", help="Model bundle directory.")]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", "-d", help="Data file with the training columns (default: the training file)."),
]
WaitOption = Annotated[
    float,
    typer.Option(
        min=0, help="Seconds to wait while another run writes the same output (then exit 75) [default: 0]."
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON summary to stdout.")]
QuietFlag = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]


def _version(value: bool) -> None:
    if value:
        stdout.print(f"rnncast {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Forecast time series with recurrent neural networks."""


def _training_options(
    time_col: Annotated[str | None, typer.Option(help="Time column [default: found by name].")] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="Column(s) to forecast; repeat or comma-separate "
            "[default: Adj Close, Close, or the only number]."
        ),
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COLS", help="Input-only columns; repeat or comma-separate, or 'all' numeric columns."
        ),
    ] = None,
    fill: Annotated[Fill, typer.Option(help="Missing values: ffill, interpolate, drop or error.")] = Fill(
        DEFAULTS.fill
    ),
    id_col: Annotated[
        str | None,
        typer.Option(
            help="Long file of many series (id, time, value): the id column; trains one global model."
        ),
    ] = None,
    series_columns: Annotated[
        list[str] | None,
        typer.Option(
            metavar="COLS",
            help="Wide file of many series: the columns that are each a series; trains one global model.",
        ),
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(help="Share of rows for validation.")
    ] = DEFAULTS.val_fraction,
    test_fraction: Annotated[
        float, typer.Option(help="Share of rows held out for testing (backtest: sizes the default --step).")
    ] = DEFAULTS.test_fraction,
    scaler: Annotated[ScalerKind, typer.Option(help="Scaling fitted on training rows.")] = ScalerKind(
        DEFAULTS.scaler
    ),
    transform: Annotated[
        Transform,
        typer.Option(
            help="Train on the targets' changes: differences, log returns or percentage returns; "
            "forecasts are turned back into levels."
        ),
    ] = Transform(DEFAULTS.transform),
    lookback: Annotated[int | None, typer.Option(help="Input window length [default: by frequency].")] = None,
    horizon: Annotated[int | None, typer.Option(help="Steps to forecast [default: by frequency].")] = None,
    seasonal_period: Annotated[
        int | None,
        typer.Option(help="Season m of the seasonal-naive baseline and MASE [default: by frequency]."),
    ] = None,
    model: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell(DEFAULTS.model),
    bidirectional: Annotated[bool, typer.Option(help="Wrap each recurrent layer in Bidirectional.")] = False,
    units: Annotated[int, typer.Option(help="Units per recurrent layer.")] = DEFAULTS.units,
    layers: Annotated[int, typer.Option(help="Stacked recurrent layers.")] = DEFAULTS.layers,
    dropout: Annotated[
        float, typer.Option(help="Dropout after each recurrent layer, in [0, 1).")
    ] = DEFAULTS.dropout,
    residual: Annotated[
        bool,
        typer.Option(
            help="With --window-norm none: predict the change from the last value "
            "(starts as the naive forecast)."
        ),
    ] = DEFAULTS.residual,
    window_norm: Annotated[
        WindowNorm,
        typer.Option(
            help="Subtract each channel's last value (or mean) from every input window and add it back "
            "after the head."
        ),
    ] = WindowNorm(DEFAULTS.window_norm),
    segment: Annotated[
        int | None,
        typer.Option(
            help="Rows per embedded segment read as one recurrent step; 1: one row per step "
            "[default: the season (24 hourly) when the lookback holds several, else about lookback/8]."
        ),
    ] = None,
    linear_skip: Annotated[
        bool, typer.Option(help="Add a linear map from the whole window to the horizon beside the RNN.")
    ] = DEFAULTS.linear_skip,
    trend_window: Annotated[
        int,
        typer.Option(
            min=0,
            help="Split the linear path's window into a moving-average trend of this many rows and "
            "the rest, each with its own linear map (DLinear); 0: off.",
        ),
    ] = DEFAULTS.trend_window,
    channels: Annotated[
        Channels,
        typer.Option(
            help="Several targets: one shared network per channel (independent) or one over all (mixed); "
            "auto: independent unless there are features."
        ),
    ] = Channels(DEFAULTS.channels),
    architecture: Annotated[
        Architecture,
        typer.Option(help="rnn: recurrent stack + dense head; seq2seq: encoder RNN + decoder RNN."),
    ] = Architecture(DEFAULTS.architecture),
    strategy: Annotated[
        Strategy,
        typer.Option(help="direct: every step at once; recursive: a one-step model fed its own output."),
    ] = Strategy(DEFAULTS.strategy),
    attention: Annotated[
        bool, typer.Option(help="Attention over the recurrent outputs, the last state as query.")
    ] = DEFAULTS.attention,
    layer_norm: Annotated[
        bool, typer.Option(help="Layer normalization after each recurrent layer.")
    ] = DEFAULTS.layer_norm,
    indicators: Annotated[
        str | None,
        typer.Option(
            metavar="LIST",
            help="Price features from the target, no look-ahead: returns, log_returns, sma:N, ema:N, "
            "rsi:N, volatility:N (comma-separated).",
        ),
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(metavar="BUNDLE", help="Start from this bundle's network (transfer learning)."),
    ] = None,
    freeze: Annotated[
        Freeze, typer.Option(help="With --init-from: none, or recurrent (train only the head).")
    ] = Freeze(DEFAULTS.freeze),
    optimizer: Annotated[Optimizer, typer.Option(help="Optimizer.")] = Optimizer(DEFAULTS.optimizer),
    weight_decay: Annotated[
        float | None, typer.Option(help="Decoupled weight decay [default: 1e-4 for adamw, else none].")
    ] = None,
    lr_schedule: Annotated[
        Schedule,
        typer.Option(help="constant, cosine (decay over the epochs) or plateau (halve on stalled val loss)."),
    ] = Schedule(DEFAULTS.lr_schedule),
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = DEFAULTS.learning_rate,
    batch_size: Annotated[int, typer.Option(help="Windows per batch.")] = DEFAULTS.batch_size,
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = DEFAULTS.epochs,
    patience: Annotated[
        int, typer.Option(help="Early-stopping patience in epochs (0: never stop early).")
    ] = DEFAULTS.patience,
    clipnorm: Annotated[float, typer.Option(help="Gradient clipping norm.")] = DEFAULTS.clipnorm,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed and data on CPU: same numbers).")
    ] = DEFAULTS.seed,
    loss: Annotated[Loss, typer.Option(help="What training minimises: mse, mae or huber.")] = Loss(
        DEFAULTS.loss
    ),
    ensemble: Annotated[
        int, typer.Option(help="Train N networks (seeds seed .. seed+N-1) and average their forecasts.")
    ] = DEFAULTS.ensemble,
    device: Annotated[Device, typer.Option(help="auto uses a GPU when TensorFlow sees one.")] = Device(
        DEFAULTS.device
    ),
    epoch_windows: Annotated[
        int | None,
        typer.Option(
            help="Training windows drawn at random per epoch (0: all) [default: all, at most 50,000]."
        ),
    ] = None,
    xla: Annotated[
        bool | None,
        typer.Option(
            "--xla/--no-xla",
            help="Compile training with XLA on a CPU [default: when an epoch has 4,000+ windows].",
            show_default=False,
        ),
    ] = None,
    mixed_precision: Annotated[
        bool, typer.Option(help="float16 compute with float32 weights on a GPU (ignored on a CPU).")
    ] = DEFAULTS.mixed_precision,
    intervals: Annotated[
        str | None,
        typer.Option(metavar="LEVELS", help="Prediction intervals, central levels in percent, e.g. 80,95."),
    ] = None,
    interval_method: Annotated[
        IntervalMethod,
        typer.Option(help="conformal (validation residuals per step) or mc-dropout (needs --dropout)."),
    ] = IntervalMethod(DEFAULTS.interval_method),
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="JOB.toml",
            help="TOML file of settings (these option names, e.g. units = 32); options given here win.",
        ),
    ] = None,
) -> dict[str, Any]:
    """The training options shared by ``train``, ``check`` and ``backtest``, as config fields."""
    return dict(
        time_col=time_col,
        target=tuple(target or ()),
        features=tuple(features or ()),
        fill=fill.value,
        id_col=id_col,
        series_columns=tuple(series_columns or ()),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        scaler=scaler.value,
        transform=transform.value,
        lookback=lookback,
        horizon=horizon,
        seasonal_period=seasonal_period,
        model=model.value,
        bidirectional=bidirectional,
        units=units,
        layers=layers,
        dropout=dropout,
        residual=residual,
        window_norm=window_norm.value,
        segment=segment,
        linear_skip=linear_skip,
        trend_window=trend_window,
        channels=channels.value,
        architecture=architecture.value,
        strategy=strategy.value,
        attention=attention,
        layer_norm=layer_norm,
        indicators=indicators or (),
        init_from=None if init_from is None else str(init_from),
        freeze=freeze.value,
        optimizer=optimizer.value,
        weight_decay=weight_decay,
        lr_schedule=lr_schedule.value,
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        patience=patience,
        clipnorm=clipnorm,
        seed=seed,
        ensemble=ensemble,
        loss=loss.value,
        device=device.value,
        epoch_windows=epoch_windows,
        xla=xla,
        mixed_precision=mixed_precision,
        intervals=intervals or (),
        interval_method=interval_method.value,
    )


@dataclass(frozen=True)
class TrainingOptions:
    """The shared training options as given: their values, which of them the command line set
    (a job file's value yields only to those), and the job file."""

    values: dict[str, Any]
    explicit: frozenset[str]
    job_file: Path | None

    def config(self) -> TrainConfig:
        """The validated config: defaults, then the job file, then the command line's options."""
        settings = _training_options(**self.values)
        if self.job_file is not None:
            from rnncast.jobfile import read_job_file

            from_file = read_job_file(self.job_file)
            settings.update({k: v for k, v in from_file.items() if k not in self.explicit})
        return TrainConfig(**settings)


def _with_training_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` every option of :func:`_training_options`, passed on as ``training``
    (:class:`TrainingOptions`), so ``train``, ``check`` and ``backtest`` share one definition
    of names, help and defaults."""
    shared = inspect.signature(_training_options, eval_str=True).parameters
    own = [
        p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "training"
    ]
    head = [p for p in own if p.default is inspect.Parameter.empty]  # arguments come first
    tail = [p for p in own if p.default is not inspect.Parameter.empty]
    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

    @functools.wraps(command)
    def run(ctx: typer.Context, **values: Any) -> None:
        given = {name: values.pop(name) for name in shared}
        job_file = given.pop("config_file")
        explicit = frozenset(
            name
            for name in given
            if (source := ctx.get_parameter_source(name)) is not None and source.name != "DEFAULT"
        )
        command(**values, training=TrainingOptions(given, explicit, job_file))

    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*head, *shared.values(), *tail, context]
    )
    annotations = {k: v for k, v in command.__annotations__.items() if k != "training"}
    training_annotations = {k: v for k, v in _training_options.__annotations__.items() if k != "return"}
    run.__annotations__ = {**annotations, **training_annotations, "ctx": typer.Context}
    return run


@app.command()
@_with_training_options
def train(
    data: DataArgument,
    training: TrainingOptions,
    out: Annotated[
        Path | None, typer.Option(help="Bundle directory [default: runs/<data file stem>].")
    ] = None,
    wait: WaitOption = 0.0,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Train a model on DATA and save a bundle (runs/<name>/, linked from runs/latest)."""
    with _reported_errors(quiet):
        config = training.config()
        from rnncast.preflight import check_data_file

        check_data_file(data, config)  # a typo costs a blink, not the import of pandas
        from rnncast import pipeline
        from rnncast.render import intervals_table, metric_notes, metrics_table, to_json, verdict_line

        _status(quiet, f"training on {data} ...")
        with _epoch_progress(quiet) as on_epoch:
            result = pipeline.train(data, config, out=out, on_epoch=on_epoch, wait=wait)
        if not quiet:
            stderr.print(metrics_table(result.report))
            if (table := intervals_table(result.report)) is not None:
                stderr.print(table)
            for note in metric_notes(result.report):
                stderr.print(Text(note, style="dim"))
            stderr.print(Text(verdict_line(result.report)))
            training_summary = result.metadata["training"]
            stderr.print(
                Text(
                    f"saved {result.bundle_path} ({training_summary['epochs_run']} epochs, "
                    f"best {training_summary['best_epoch']}, {training_summary['seconds']:.1f}s "
                    f"on {training_summary['device']}); next: rnncast forecast --model {result.bundle_path}"
                )
            )
        if json_output:
            summary = {
                "bundle": str(result.bundle_path),
                "training": result.metadata["training"],
                "config": result.metadata["config"],
                "report": result.report,
            }
            stdout.out(to_json(summary), highlight=False)


@app.command()
def forecast(
    model: ModelPath = LATEST,
    data: DataOption = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the forecast CSV here ('-' for stdout).")
    ] = None,
    ledger: Annotated[
        bool,
        typer.Option(
            help="Append the forecast to the model's ledger (<bundle>.ledger.csv) for rnncast history."
        ),
    ] = True,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Forecast the steps after the newest row, with real future timestamps."""
    with _reported_errors(quiet):
        from rnncast.preflight import check_bundle_data

        check_bundle_data(model, data)
        from rnncast import pipeline
        from rnncast.render import forecast_records, forecast_table, to_json
        from rnncast.report import forecast_csv

        to_file = output if output not in (None, "-") else None
        result = pipeline.forecast(model, data, output=to_file, ledger=ledger)
        title = f"Forecast from {result.bundle_path} after {result.data_path.name}"
        if json_output:
            payload = {
                "model": str(result.bundle_path),
                "data": str(result.data_path),
                "forecast": forecast_records(result.frame, result.time_format),
            }
            stdout.out(to_json(payload), highlight=False)
        elif output == "-" or (output is None and not stdout.is_terminal):
            sys.stdout.write(forecast_csv(result.frame, result.time_format))
            sys.stdout.flush()
            if output == "-" and stderr.is_terminal and not quiet:
                stderr.print(forecast_table(result.frame, title, result.time_format))
        elif output is None:
            stdout.print(forecast_table(result.frame, title, result.time_format))
        if to_file is not None and not quiet:
            if stderr.is_terminal:
                stderr.print(forecast_table(result.frame, title, result.time_format))
            _status(quiet, f"wrote {output} ({len(result.frame)} rows)")


ReportDirOption = Annotated[
    Path | None,
    typer.Option(help="Write report.json, report.md, report.html, forecasts.csv and PNG plots here."),
]
RequireSkillOption = Annotated[
    float | None,
    typer.Option(
        help="Exit 5 unless the model's skill against the best baseline (1 - RMSE ratio) is above this; "
        "0: must beat every baseline."
    ),
]


@app.command()
def evaluate(
    model: ModelPath = LATEST,
    data: DataOption = None,
    report_dir: ReportDirOption = None,
    require_skill: RequireSkillOption = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Held-out metrics of the model beside the naive, seasonal-naive, drift and mean baselines."""
    with _reported_errors(quiet):
        from rnncast.preflight import check_bundle_data

        check_bundle_data(model, data)
        from rnncast import pipeline
        from rnncast.evaluation import check_required_skill

        check_required_skill(require_skill)
        report = pipeline.evaluate(model, data, report_dir=report_dir)
        _show_report(report, f"{report['model_path']} on {Path(report['data_path']).name}", json_output)
        _finish_report(report, report_dir, require_skill, quiet)


@app.command()
@_with_training_options
def backtest(
    data: DataArgument,
    training: TrainingOptions,
    folds: Annotated[int, typer.Option(help="Number of rolling-origin folds.")] = 5,
    step: Annotated[
        int | None,
        typer.Option(help="Forecast origins per fold [default: the last --test-fraction of rows / --folds]."),
    ] = None,
    window: Annotated[
        Window, typer.Option(help="Training rows per fold: all earlier rows, or a fixed-length window.")
    ] = Window.expanding,
    refit: Annotated[
        Refit, typer.Option(help="Retrain for every fold, or train once and slide the origin.")
    ] = Refit.each_fold,
    report_dir: ReportDirOption = None,
    require_skill: RequireSkillOption = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Rolling-origin backtest: per fold, fit on the rows before its origin, forecast, score."""
    with _reported_errors(quiet):
        config = training.config()
        from rnncast.preflight import check_data_file

        # Many series are refused by backtest itself, before it reads the file.
        check_data_file(data, config if config.id_col is None and not config.series_columns else None)
        from rnncast import pipeline
        from rnncast.evaluation import check_required_skill

        check_required_skill(require_skill)

        def announce(number: int, total: int, what: str) -> None:
            _status(quiet, f"fold {number}/{total}: {what} ...")

        with _epoch_progress(quiet) as on_epoch:
            report = pipeline.backtest(
                data,
                config,
                folds=folds,
                step=step,
                window=window.value,
                refit=refit.value,
                report_dir=report_dir,
                on_fold=announce,
                on_epoch=on_epoch,
            )
        if not json_output:
            from rnncast.render import folds_table

            stdout.print(folds_table(report))
        _show_report(
            report,
            f"Backtest of {report['model_description']} on {Path(report['data_path']).name}",
            json_output,
        )
        _finish_report(report, report_dir, require_skill, quiet)


def _show_report(report: dict[str, Any], title: str, json_output: bool) -> None:
    from rnncast.render import intervals_table, metric_notes, metrics_table, to_json, verdict_line

    if json_output:
        stdout.out(to_json(report), highlight=False)
        return
    stdout.print(metrics_table(report, title=title))
    if (table := intervals_table(report)) is not None:
        stdout.print(table)
    for note in metric_notes(report):
        stdout.print(Text(note, style="dim"))
    stdout.print(Text(verdict_line(report)))


def _finish_report(
    report: dict[str, Any], report_dir: Path | None, require_skill: float | None, quiet: bool
) -> None:
    if report_dir is not None:
        _status(quiet, f"wrote {report_dir}/report.html, report.md, report.json, forecasts.csv and plots")
    if require_skill is not None:
        from rnncast.evaluation import check_skill

        check_skill(report, require_skill)


@app.command()
def update(
    model: ModelPath = LATEST,
    data: Annotated[
        Path | None,
        typer.Option("--data", "-d", help="The newest data (default: the training file as it is now)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the updated bundle here [default: replace --model].")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=10_000, help="Fine-tuning epochs.")] = 5,
    refit_scaler: Annotated[
        bool, typer.Option("--refit-scaler", help="Refit the scaler on every row (default: keep it).")
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option("--retrain", help="If the old rows changed, train from scratch instead of refusing."),
    ] = False,
    wait: WaitOption = 0.0,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Fine-tune a bundle on the rows added since it was trained (refuses rewritten history)."""
    with _reported_errors(quiet):
        from rnncast.locking import exclusive
        from rnncast.preflight import check_update_inputs
        from rnncast.render import to_json

        target = out if out is not None else model
        with exclusive(_real_path(target), wait=wait), _epoch_progress(quiet) as on_epoch:
            check_update_inputs(model, data, out)  # under the lock: another run may be replacing it
            from rnncast.updating import update as run_update

            result = run_update(
                model,
                data,
                out=out,
                epochs=epochs,
                refit_scaler=refit_scaler,
                retrain=retrain,
                on_epoch=on_epoch,
            )
        if result.status == "up-to-date":
            last = result.metadata["data"]["last_timestamp"]
            _status(quiet, f"{result.bundle_path} is up to date: no rows after {last}")
        elif result.status == "retrained":
            _status(quiet, f"retrained {result.bundle_path} from scratch on {result.rows_added} rows")
        else:
            _status(
                quiet,
                f"updated {result.bundle_path}: {result.rows_added} new row(s) up to "
                f"{result.metadata['data']['last_timestamp']}, {epochs} epoch(s) in {result.seconds:.1f}s",
            )
        if json_output:
            payload = {
                "status": result.status,
                "bundle": str(result.bundle_path),
                "rows_added": result.rows_added,
                "data": result.metadata["data"],
                "lineage": result.metadata.get("lineage", []),
            }
            stdout.out(to_json(payload), highlight=False)


def _real_path(path: Path) -> Path:
    """``path`` with a ``runs/latest`` link followed, so the lock guards the real bundle."""
    return path.resolve() if path.is_symlink() else path


@app.command(name="run")
@_with_training_options
def run_job(
    job: Annotated[
        Path,
        typer.Argument(
            metavar="JOB.toml", help="The job file: data, [train] settings, output, retrain policy."
        ),
    ],
    training: TrainingOptions,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would run for each series, and why; change nothing.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Run every series even when nothing changed.")
    ] = False,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="Override [output].dir of the job file.")
    ] = None,
    policy: Annotated[
        RetrainPolicy | None,
        typer.Option(help="Override [retrain].policy: always, if-data-changed or update."),
    ] = None,
    require_skill: RequireSkillOption = None,
    max_decay: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Fail a series (exit 5) when the realised RMSE of its latest forecasts exceeds its held-out "
            "test RMSE by more than this fraction (0.5: 50%).",
        ),
    ] = None,
    wait: WaitOption = 0.0,
    log_file: Annotated[
        Path | None,
        typer.Option("--log-file", help="Append one JSON line per series and per run to this file."),
    ] = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Run a batch job (for cron): skip what is unchanged, train or update, forecast, keep score.

    Exit 0: every series succeeded or was unchanged; 8: some failed; 5: a quality gate failed;
    75: another run of this job holds its lock.
    """
    with _reported_errors(quiet):
        from rnncast.jobspec import read_job_spec

        if training.job_file is not None:
            raise UsageError(
                "--config does not apply to rnncast run", "put the settings in the job's [train] section"
            )
        # Options given on the command line override the job's [train] section.
        given = _training_options(**training.values)
        settings = {name: value for name, value in given.items() if name in training.explicit}
        overrides = {
            "settings": settings,
            "output_dir": output_dir,
            "policy": policy.value if policy is not None else None,
            "require_skill": require_skill,
            "max_decay": max_decay,
        }
        try:
            spec = read_job_spec(job, overrides)
        except RnncastError as error:  # a broken job file must show in the cron log too
            if log_file is not None:
                from rnncast.batch import append_log

                append_log(
                    log_file,
                    [
                        {
                            "event": "run",
                            "job": str(job),
                            "exit_code": int(error.exit_code),
                            "error": error.one_line(),
                        }
                    ],
                )
            raise
        # Only a sound job file loads the batch machinery (pandas and the rest).
        from rnncast.batch import RunOptions
        from rnncast.batch import run_job as run_batch
        from rnncast.render import outcome_line, run_summary_line, to_json

        options = RunOptions(dry_run=dry_run, force=force, wait=wait, log_file=log_file)

        def show(outcome: Any) -> None:
            # --quiet keeps stderr to errors: a failing series still gets its line (cron mails
            # output, so a silent failure would go unnoticed).
            if not quiet or outcome.exit_code:
                stderr.print(Text(outcome_line(outcome)), soft_wrap=True)

        summary = run_batch(spec, options, on_outcome=show)
        if not quiet:
            stderr.print(Text(run_summary_line(summary)), soft_wrap=True)
        if json_output:
            stdout.out(to_json(summary), highlight=False)
        if summary["exit_code"]:
            raise typer.Exit(summary["exit_code"])


@app.command()
def detect(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Write every scored row here (CSV, with its score and flag).",
            show_default=False,
        ),
    ],
    model: ModelPath = LATEST,
    data: DataOption = None,
    score: Annotated[
        DetectScore,
        typer.Option(
            help="zscore: robust z-score of the forecast error; interval: the error over the half-width "
            "of the bundle's widest conformal interval (needs a model trained with --intervals).",
        ),
    ] = DetectScore.zscore,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Flag rows whose score is beyond this (> 0) [default: 4 for zscore, 1 for interval].",
            show_default=False,
        ),
    ] = None,
    step: Annotated[
        int,
        typer.Option(help="Score each row against the forecast made this many steps earlier (1..horizon)."),
    ] = 1,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write the plot of actual vs expected here [default: beside --output, as .png]."),
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Write no plot.")] = False,
    fail_on_new: Annotated[
        bool,
        typer.Option(
            "--fail-on-new", help="Exit 9 when one of the newest --recent rows is an anomaly (for cron)."
        ),
    ] = False,
    recent: Annotated[int, typer.Option(help="How many of the newest rows --fail-on-new checks.")] = 1,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Flag anomalies: rows far from the model's forecast of them (robust z-score of the error, or
    the error against the model's prediction interval)."""
    with _reported_errors(quiet):
        from rnncast.detection import DEFAULT_THRESHOLDS, check_settings

        threshold = DEFAULT_THRESHOLDS[score.value] if threshold is None else threshold
        check_settings(threshold, step, recent, score.value)  # a typo costs a blink, not the import of pandas
        from rnncast.preflight import check_bundle_data

        check_bundle_data(model, data)
        from rnncast.detection import check_new_anomalies, summary_text
        from rnncast.detection import detect as run_detect
        from rnncast.render import to_json

        result = run_detect(
            model,
            data,
            output,
            threshold=threshold,
            step=step,
            plot=plot,
            draw_plot=not no_plot,
            recent=recent,
            score=score.value,
        )
        if json_output:
            stdout.out(to_json(result.summary), highlight=False)
        elif not quiet:
            stdout.out(summary_text(result.summary), highlight=False)
        written = f"{result.output} and {result.plot}" if result.plot is not None else str(result.output)
        _status(quiet, f"wrote {written}")
        if fail_on_new:
            check_new_anomalies(result.summary)


@app.command()
def history(
    model: ModelPath = LATEST,
    data: DataOption = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """How past forecasts (the model's ledger) compare with the actual values that arrived since."""
    with _reported_errors(quiet):
        from rnncast.accountability import history as realised_history
        from rnncast.render import history_text, to_json

        result = realised_history(model, data)
        if json_output:
            stdout.out(to_json(result), highlight=False)
        elif not quiet:
            stdout.print(history_text(result))


@app.command()
@_with_training_options
def check(
    data: DataArgument,
    training: TrainingOptions,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Validate DATA and the settings exactly as train would, without training (no TensorFlow)."""
    with _reported_errors(quiet):
        config = training.config()
        from rnncast.preflight import check_data_file

        check_data_file(data, config)
        from rnncast import pipeline
        from rnncast.render import check_text, to_json

        summary = pipeline.check(data, config)
        if json_output:
            stdout.out(to_json(summary), highlight=False)
        elif not quiet:
            stdout.out(check_text(summary), highlight=False)


class Search(StrEnum):
    random = "random"
    bayesian = "bayesian"
    grid = "grid"


@app.command()
@_with_training_options
def tune(
    data: DataArgument,
    training: TrainingOptions,
    trials: Annotated[
        int, typer.Option(min=1, help="Configurations to train, the default one (these flags) included.")
    ] = 20,
    search: Annotated[
        Search, typer.Option(help="random, bayesian (a Gaussian process over the losses so far) or grid.")
    ] = Search.random,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            help="Start no trial after this many minutes; a running one finishes [default: no limit]."
        ),
    ] = None,
    space: Annotated[
        Path | None,
        typer.Option(
            metavar="SPACE.toml",
            help="Search space, one key per setting: units = [32, 64], learning_rate = {min = 1e-4, "
            'max = 1e-2, log = true}, model = "gru" (fixed). Replaces the default space unless it sets '
            "default_space = true.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Bundle of the best configuration [default: runs/<data file stem>]; the search "
            "state goes beside it (<out>.tuning/, <out>.trials.csv)."
        ),
    ] = None,
    wait: WaitOption = 0.0,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Search network and training settings on the validation split; train the best as a bundle.

    Trial "default" (these flags with rnncast's defaults) runs first, so the search shows whether
    it beat it. A flag given here fixes its setting. Rerun the same command to resume a search.
    """
    with _reported_errors(quiet):
        config = training.config()
        from rnncast.search_space import read_space_file

        space_file = read_space_file(space) if space is not None else None  # before pandas loads
        from rnncast.preflight import check_data_file

        check_data_file(data, config)
        pinned = set(training.explicit)
        if training.job_file is not None:
            from rnncast.jobfile import read_job_file

            pinned |= set(read_job_file(training.job_file))
        from rnncast.render import to_json
        from rnncast.tuning import summary_renderables, trial_line
        from rnncast.tuning import tune as run_tune

        budget = f", {max_minutes:g} minutes" if max_minutes is not None else ""
        _status(quiet, f"tuning on {data}: {search.value} search, up to {trials} trials{budget} ...")
        result = run_tune(
            data,
            config,
            search=search.value,
            trials=trials,
            max_minutes=max_minutes,
            space=space_file,
            pinned=pinned,
            out=out,
            wait=wait,
            on_trial=None if quiet else lambda event: stderr.print(Text(trial_line(event))),
            progress=lambda: _epoch_progress(quiet),
        )
        if json_output:
            payload = {
                "bundle": str(result.bundle_path),
                "tuning": result.tuning,
                "trials": result.trials,
                "config": result.metadata["config"],
                "report": result.report,
            }
            stdout.out(to_json(payload), highlight=False)
        else:
            for renderable in summary_renderables(result):
                stdout.print(renderable)
        _status(
            quiet,
            f"saved {result.bundle_path} (trials: {result.tuning['trials_table']}); "
            f"next: rnncast forecast --model {result.bundle_path}",
        )


@app.command()
def info(
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="[PATH]",
            help="A model bundle directory, or a data file to sketch from its first and last bytes.",
            show_default=False,
        ),
    ] = None,
    model: ModelPath = LATEST,
    json_output: JsonFlag = False,
) -> None:
    """What a bundle or a data file is. Loads no TensorFlow; reads only the ends of a data file."""
    with _reported_errors(False):
        # Neither path loads pandas for a bundle, nor for a file it refuses at a glance.
        from rnncast.bundle_files import describe_bundle
        from rnncast.fileio import follow_link
        from rnncast.render import info_text, sketch_text, to_json
        from rnncast.sniffing import sketch_data_file

        if path is not None and not follow_link(path).is_dir():
            details = sketch_data_file(path)
            text = sketch_text
        else:
            details = describe_bundle(path if path is not None else model)
            text = info_text
        stdout.out(to_json(details) if json_output else text(details), highlight=False)


@app.command()
def doctor(
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="Check this bundle's network [default: the network the default settings build].",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Versions, devices, thread settings, and whether the network can use the GPU's cuDNN kernels."""
    with _reported_errors(False):
        from rnncast.doctor import diagnose, doctor_text
        from rnncast.render import to_json

        findings = diagnose(model)
        stdout.out(to_json(findings) if json_output else doctor_text(findings), highlight=False)


@contextlib.contextmanager
def _reported_errors(quiet: bool) -> Iterator[None]:
    """Turn expected failures into one stderr line and their exit code."""
    for console in (stdout, stderr):
        if not console.is_terminal:
            console.width = 160  # logs and files: no 80-column squeeze of the tables
    _route_notes(quiet)
    debug = os.environ.get("RNNCAST_DEBUG", "") not in ("", "0")
    try:
        yield
    except RnncastError as error:
        if debug:
            raise
        stderr.print(Text("error: ", style="bold red") + Text(error.one_line()))
        raise typer.Exit(int(error.exit_code)) from None
    except KeyboardInterrupt:
        stderr.print(Text("interrupted"))
        raise typer.Exit(130) from None
    except BrokenPipeError:
        raise _reader_gone() from None
    except typer.Exit:
        raise
    except Exception as error:  # a bug: still one line unless debugging
        if debug:
            raise
        stderr.print(
            Text("internal error: ", style="bold red")
            + Text(
                f"{type(error).__name__}: {error} (run with RNNCAST_DEBUG=1 for the traceback and report it)"
            )
        )
        raise typer.Exit(int(ExitCode.INTERNAL)) from None


def _route_notes(quiet: bool) -> None:
    """Show the library's notes (``rnncast`` logger warnings) on stderr."""

    class _RichHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stderr.print(Text("note: ", style="yellow") + Text(record.getMessage()))

    logger = logging.getLogger("rnncast")
    # A NullHandler, not none: with no handler Python's last-resort handler would print anyway.
    logger.handlers = [logging.NullHandler() if quiet else _RichHandler(level=logging.INFO)]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _status(quiet: bool, message: str) -> None:
    if not quiet:
        stderr.print(Text(message))


@contextlib.contextmanager
def _epoch_progress(quiet: bool) -> Iterator[Any]:
    """Per-epoch progress: a rich bar on a terminal, plain lines otherwise."""
    if quiet:
        yield None
        return
    if not stderr.is_terminal:

        def plain(epoch: int, epochs: int, logs: dict[str, float]) -> None:
            losses = " ".join(f"{k}={v:.5g}" for k, v in logs.items())
            stderr.print(Text(f"epoch {epoch}/{epochs} {losses}"))

        yield plain
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("epochs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task("", total=None)

        def bar(epoch: int, epochs: int, logs: dict[str, float]) -> None:
            losses = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
            progress.update(task, completed=epoch, total=epochs, description=losses)

        yield bar


def _reader_gone() -> typer.Exit:
    """The reader closed the pipe (``rnncast forecast | head -1``): stop quietly with 141, the
    status of a process ended by SIGPIPE, as Unix tools do; stdout goes to /dev/null so the
    interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return typer.Exit(EXIT_READER_GONE)


def main() -> None:
    """Console-script entry point: runs the app, and prints a mistyped command line (unknown
    option, missing argument, bad choice) as one ``error:`` line with exit code 2, like every
    other rnncast error, instead of the framework's three-line usage block."""
    for stream in (sys.stdout, sys.stderr):
        # A non-UTF-8 terminal shows "\u20ac" for a character it cannot print, not a crash.
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        result = app(standalone_mode=False)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.exit(_reader_gone().exit_code)
    except SystemExit as stop:
        # Click answers a closed pipe itself (exit 1, stdout wrapped to swallow the last flush).
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            sys.exit(_reader_gone().exit_code)
        raise stop from None
    except Exception as error:
        message = getattr(error, "format_message", None)
        if not callable(message) or not isinstance(getattr(error, "exit_code", None), int):
            raise
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `rnncast`: the help, as before
            sys.stderr.write(message() + "\n")
            sys.exit(error.exit_code)
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "rnncast"
        line = f"{message().rstrip('.')}. See '{command} --help'."
        stderr.print(Text("error: ", style="bold red") + Text(line))
        sys.exit(error.exit_code)
    # The work is done and written: a Ctrl-C during TensorFlow's slow shutdown must not turn
    # a finished run into "interrupted".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
