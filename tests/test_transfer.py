"""Transfer learning: ``--init-from BUNDLE`` starts from its weights, ``--freeze recurrent`` keeps
its recurrent layers fixed, and a source that cannot seed the new network is refused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rnncast
from rnncast.bundle import load_bundle
from rnncast.bundle_files import describe_bundle
from rnncast.errors import ExitCode, UsageError
from rnncast.render import info_text
from tests.conftest import FAST
from tests.test_cli import assert_one_line_error, run

SOURCE = {**FAST, "model": "gru", "layer_norm": True, "lookback": 10, "horizon": 3}


def _city(path: Path, phase: float, columns: tuple[str, ...] = ("temp",)) -> Path:
    """200 daily temperatures of a made-up city (a yearly-like cycle, noise), maybe a second column."""
    rng = np.random.default_rng(int(phase * 10))
    t = np.arange(200)
    frame = pd.DataFrame({"date": pd.date_range("2021-01-01", periods=200, freq="D").strftime("%Y-%m-%d")})
    for number, column in enumerate(columns):
        frame[column] = 15 + 8 * np.sin(t / 9 + phase + number) + rng.normal(0, 0.5, 200)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cities")


@pytest.fixture(scope="module")
def source(data: Path) -> Path:
    """A bundle trained on one city: the source every test starts from."""
    out = data / "source"
    rnncast.train(_city(data / "oslo.csv", 0.0), out=out, **SOURCE)
    return out


def _weights(bundle: Path) -> dict[str, list[np.ndarray]]:
    model = load_bundle(bundle).model
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_init_from_freezes_the_recurrent_layers_and_records_the_lineage(
    source: Path, data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = data / "bergen"
    with caplog.at_level(logging.INFO, logger="rnncast"):
        result = rnncast.train(
            _city(data / "bergen.csv", 1.5),
            out=out,
            **{**FAST, "epochs": 2},
            model="lstm",  # the source's gru is used instead, with a note
            lookback=14,  # the RNN's weights do not depend on the lookback
            init_from=str(source),
            freeze="recurrent",
        )
    assert "using the source model's --model gru (not lstm)" in caplog.text
    assert "using the source model's --layer-norm true (not false)" in caplog.text
    config = result.metadata["config"]
    assert (config["model"], config["layer_norm"], config["lookback"], config["horizon"]) == (
        "gru",
        True,
        14,
        3,
    )

    before, after = _weights(source), _weights(out)
    for frozen, trained in zip(before["gru_1"], after["gru_1"], strict=True):
        np.testing.assert_array_equal(frozen, trained)  # frozen: exactly the source's
    assert not np.allclose(before["head"][0], after["head"][0])  # the head went on learning
    assert not load_bundle(out).model.get_layer("gru_1").trainable  # and stays frozen when loaded

    source_metadata = load_bundle(source, with_model=False).metadata
    (record,) = result.metadata["lineage"]
    assert record["init_from"] == str(source.resolve()) == config["init_from"]
    assert record["source_created_at"] == source_metadata["created_at"]
    assert record["source_data_sha256"] == source_metadata["data"]["sha256"]
    assert record["source_model_sha256"] == source_metadata["files"]["model.keras"]
    assert record["source_series"] == 1 and record["frozen"] == ["gru_1"]
    assert load_bundle(out, with_model=False).metadata["lineage"] == [record]
    assert f"initialised from: {source.resolve()}" in info_text(describe_bundle(out))
    assert len(rnncast.forecast(out, ledger=False).frame) == 3


def test_a_many_series_bundle_seeds_a_single_series_model_without_freezing(data: Path) -> None:
    wide = _city(data / "coast.csv", 3.0, columns=("north", "south"))
    panel = data / "panel"
    rnncast.train(wide, out=panel, series_columns=("north", "south"), **SOURCE)
    assert load_bundle(panel, with_model=False).many_series

    out = data / "from_panel"
    result = rnncast.train(_city(data / "inland.csv", 4.0), out=out, init_from=str(panel), **FAST)
    (record,) = result.metadata["lineage"]
    assert record["source_series"] == 2 and record["frozen"] == []
    before, after = _weights(panel), _weights(out)
    assert set(before) == set(after)
    for name in before:  # started from the source's weights and trained on from there
        for start, trained in zip(before[name], after[name], strict=True):
            np.testing.assert_allclose(start, trained, atol=0.02)
    assert not all(np.array_equal(b, a) for b, a in zip(before["gru_1"], after["gru_1"], strict=True))


def _tampered(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / "report.json").write_text("{}")
    return target


def _recursive_on_paper(source: Path, target: Path) -> Path:
    """The source with a recursive strategy in its recorded settings (refused before its model
    is read, so the model need not be one)."""
    shutil.copytree(source, target)
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["config"]["strategy"] = "recursive"
    (target / "metadata.json").write_text(json.dumps(metadata))
    return target


@pytest.mark.parametrize(
    ("flags", "make_source", "code", "fragments"),
    [
        # two targets here, one in the source: the head's weights cannot fit
        (["--target", "temp,wind"], None, ExitCode.USAGE, ["layer", "shape", "in the source model"]),
        # a direct head predicts its own number of steps
        (["--horizon", "5"], None, ExitCode.USAGE, ["dense head predicts 3 steps, not --horizon 5"]),
        (["--features", "wind"], _recursive_on_paper, ExitCode.USAGE, ["do not fit this run", "recursive"]),
        ([], _tampered, ExitCode.MODEL, ["report.json", "checksum"]),
    ],
    ids=["targets", "horizon", "recursive-with-features", "damaged"],
)
def test_a_source_that_cannot_seed_the_network_is_refused(
    source: Path,
    data: Path,
    tmp_path: Path,
    flags: list[str],
    make_source: object,
    code: int,
    fragments: list[str],
) -> None:
    origin = make_source(source, tmp_path / "source") if make_source else source
    csv = _city(tmp_path / "two.csv", 2.0, columns=("temp", "wind"))
    out = tmp_path / "out"
    result = run("train", csv, "--out", out, "--epochs", "1", "--init-from", origin, *flags)
    assert_one_line_error(result, code, *fragments)
    assert not out.exists()


def test_weights_copy_across_horizons_where_they_do_not_depend_on_it() -> None:
    from rnncast.models import ModelShape, build_model
    from rnncast.transfer import copy_weights

    for options in ({"architecture": "seq2seq", "attention": True}, {"layer_norm": True}):
        # seq2seq decodes any horizon; a recursive step always predicts one (horizon 1 here).
        horizons = (3, 7) if options.get("architecture") else (1, 1)
        source = build_model(ModelShape(10, horizons[0], 2, 2), units=4, bidirectional=True, **options)
        target = build_model(ModelShape(16, horizons[1], 2, 2), units=4, bidirectional=True, **options)
        assert copy_weights(source, target, "--init-from test") == len(
            [layer for layer in target.layers if layer.weights]
        )
        for theirs, ours in zip(source.get_weights(), target.get_weights(), strict=True):
            np.testing.assert_array_equal(theirs, ours)

    direct = build_model(ModelShape(10, 3, 1, 1), units=4)
    longer = build_model(ModelShape(10, 5, 1, 1), units=4)
    with pytest.raises(UsageError, match=r"layer 'head' weight kernel has shape \(4, 3\) .* but \(4, 5\)"):
        copy_weights(direct, longer, "--init-from test")


def test_freeze_recurrent_covers_wrappers_encoders_and_decoders() -> None:
    from rnncast.models import ModelShape, build_model
    from rnncast.transfer import freeze_recurrent

    model = build_model(
        ModelShape(8, 3, 1, 1), cell="lstm", bidirectional=True, units=4, layers=2, architecture="seq2seq"
    )
    frozen = freeze_recurrent(model)
    assert frozen == ["encoder_bidirectional_1", "encoder_bidirectional_2", "decoder_lstm"]
    assert all(not model.get_layer(name).trainable_weights for name in frozen)
    assert model.get_layer("head").trainable_weights
