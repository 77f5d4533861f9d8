"""Refusing a command's inputs before the data stack loads.

A mistyped path, a file that is not CSV or a misspelled column should cost a blink, not the half
second pandas takes to import (or the seconds of TensorFlow). These checks run first and raise
exactly what the full validation (:mod:`rnncast.reading`, :mod:`rnncast.data`,
:mod:`rnncast.panel`, :mod:`rnncast.bundle`) raises for the same input. Whatever needs the
values (cells that are not numbers, timestamps, gaps, the default target) is left to it, so
passing here proves nothing; where the header alone cannot tell what the table's columns will
be, nothing is checked.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from rnncast.bundle import check_bundle_target
from rnncast.bundle_files import read_bundle_files, training_data_path
from rnncast.columns import find_column, time_column_by_name
from rnncast.config import TrainConfig
from rnncast.errors import DataError
from rnncast.fileio import data_file_problem
from rnncast.reading import HEAD_BYTES, decode_head, sniff_layout
from rnncast.resources import check_file_fits_in_memory

PARQUET_SUFFIXES = (".parquet", ".pq")
# Line breaks as pandas counts lines (str.splitlines also breaks at form feeds and others).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def check_data_file(path: Path, config: TrainConfig | None = None) -> None:
    """Refuse a data file that reading would refuse from its path or its first bytes (missing,
    a directory, empty, compressed, binary, a web page, ...) and, given ``config``, a column it
    names that the header line lacks.

    Raises:
        DataError: the file cannot be read as data.
        UsageError: ``config`` names a column the file does not have.
        ResourceError: the file is too big to load.
    """
    path = Path(path)
    check_file_fits_in_memory(path)
    problem = data_file_problem(path)
    if problem is not None:
        raise DataError(*problem)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return  # only pyarrow can tell a Parquet file's columns
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return  # reading reports it, as it always has
    _, text = decode_head(path, head, complete=len(head) < HEAD_BYTES)
    names = header_names(text) if config is not None else None
    if config is not None and names is not None:
        check_named_columns(names, config)


def header_names(text: str) -> list[str] | None:
    """The column names of the table read from CSV ``text`` (a file's head), from its header
    line; None where the header alone cannot tell them: one column, blank, repeated or
    ``Unnamed: N`` names (which reading renames or drops), yfinance's three-row header, a
    quoted name running over lines, or a first line that may hold values rather than names."""
    layout = sniff_layout(text)
    lines = _LINE_BREAK.split(text)
    header = lines[layout.skip] if layout.skip < len(lines) else ""
    if not header.strip() or header.count('"') % 2:
        return None
    fields = next(csv.reader([header], delimiter=layout.delimiter, skipinitialspace=True), [])
    names = [name.strip() for name in fields]
    if len(names) < 2 or not all(names) or len(set(names)) < len(names):
        return None
    if names[0].lower() == "price" or any(name.startswith("Unnamed: ") for name in names):
        return None
    return names if any(_surely_a_name(name) for name in names) else None


def _surely_a_name(text: str) -> bool:
    """Whether ``text`` cannot be read as a number or a date (so a header holding it is one):
    two letters at least, and no float once everything but letters, digits and ``._+-`` goes."""
    if len(re.findall(r"[A-Za-z]", text)) < 2:
        return False
    try:
        float(re.sub(r"[^A-Za-z0-9._+-]", "", text))
    except ValueError:
        return True
    return False  # nan, inf, infinity


def check_named_columns(names: list[str], config: TrainConfig) -> None:
    """Refuse a column ``config`` names that ``names`` (a header) lacks, in the order and words
    of the full validation: :mod:`rnncast.panel` for many series, :mod:`rnncast.data` for one.

    Raises:
        UsageError: a named column is missing.
    """
    if config.id_col is not None:
        find_column(names, config.id_col, "--id-col")
        return  # the other columns are checked per series, once the file is split by id
    if config.time_col:
        time_col = find_column(names, config.time_col, "--time-col")
    else:
        time_col = time_column_by_name(names)
    if time_col is None:
        return  # found from the values, if at all
    if config.series_columns:
        for name in config.series_columns:
            find_column(names, name, "--series-columns")
        return
    if any(name.strip().lower() == time_col.strip().lower() for name in (*config.target, *config.features)):
        return  # "... is the time column": the full validation says so in its own words
    values = [name for name in names if name != time_col]
    targets = [find_column(values, name, "--target") for name in config.target]
    if not targets or len(set(targets)) < len(targets):
        return  # the default target needs the values; a repeated one is refused first
    if [name.lower() for name in config.features] != ["all"]:
        for name in config.features:
            find_column(values, name, "--features")


def check_bundle_data(model: Path, data: Path | None) -> None:
    """Refuse what ``forecast`` and ``evaluate`` would refuse before loading anything heavy: a
    missing or damaged bundle, then a data file (by default its training file) that cannot be
    read. A model of many series reads its data its own way: only the bundle is checked.

    Raises:
        BundleError: the bundle is missing or damaged.
        DataError: the data file is missing or cannot be read.
    """
    files = read_bundle_files(model)
    if files.series_scalers is None:
        check_data_file(training_data_path(files.metadata, data))


def check_update_inputs(model: Path, data: Path | None, out: Path | None) -> None:
    """Refuse what ``update`` would refuse before loading anything heavy, in its order: the
    bundle, the output directory, then the data file.

    Raises:
        BundleError, UsageError, DataError: as :func:`rnncast.updating.update` would.
    """
    files = read_bundle_files(model)
    check_bundle_target(out if out is not None else files.directory)
    path = training_data_path(files.metadata, data)
    if files.series_scalers is None:
        check_data_file(path)
