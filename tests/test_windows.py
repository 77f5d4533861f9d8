from __future__ import annotations

import numpy as np
import pytest

from rnncast.errors import DataError
from rnncast.windows import (
    Scaler,
    chronological_split,
    fit_lookback_to_rows,
    input_windows,
    target_windows,
    window_dataset,
)


def test_split_is_chronological_and_every_part_has_windows() -> None:
    split = chronological_split(100, lookback=10, horizon=3, val_fraction=0.15, test_fraction=0.15)
    assert (split.train_rows, split.val_rows, split.test_rows) == (70, 15, 15)
    train, val, test = split.starts("train"), split.starts("val"), split.starts("test")
    assert train[0] == 10 and train[-1] + 3 <= 70  # targets stay inside the training rows
    assert val[0] == 70 and val[-1] + 3 <= 85
    assert test[0] == 85 and test[-1] + 3 == 100


def test_too_few_rows_is_a_data_error_that_says_how_many_are_needed() -> None:
    with pytest.raises(DataError, match="too few rows") as caught:
        chronological_split(30, lookback=24, horizon=6, val_fraction=0.15, test_fraction=0.15)
    assert "--lookback" in caught.value.one_line()


def test_windows_hold_exactly_the_rows_before_and_after_the_start() -> None:
    values = np.arange(12.0).reshape(6, 2)  # row r = [2r, 2r + 1]
    starts = np.array([2, 3])
    inputs = input_windows(values, starts, lookback=2)
    targets = target_windows(values[:, :1], starts, horizon=2)
    assert inputs.shape == (2, 2, 2)
    assert inputs[0].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert inputs[1].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    assert targets[:, :, 0].tolist() == [[4.0, 6.0], [6.0, 8.0]]


def test_tf_dataset_yields_the_same_windows_as_numpy() -> None:
    values = np.random.default_rng(0).normal(size=(40, 3))
    starts = np.arange(5, 36)
    batches = list(window_dataset(values, values[:, :1], starts, lookback=5, horizon=4, batch_size=8))
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_allclose(x, input_windows(values, starts, 5), rtol=1e-6)
    np.testing.assert_allclose(y, target_windows(values[:, :1], starts, 4), rtol=1e-6)


def test_scaler_sees_only_the_rows_it_is_given_and_round_trips() -> None:
    train = np.array([[1.0, 10.0], [3.0, 10.0]])
    scaler = Scaler.fit("standard", ("a", "b"), train)
    assert scaler.offset.tolist() == [2.0, 10.0]
    assert scaler.scale.tolist() == [1.0, 1.0]  # constant column b: scale 1, no division by zero
    later = np.array([[100.0, 50.0]])
    np.testing.assert_allclose(scaler.inverse(scaler.transform(later), ("a", "b")), later)
    restored = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_allclose(restored.transform(later), scaler.transform(later))


def test_minmax_maps_training_range_to_unit_interval() -> None:
    scaler = Scaler.fit("minmax", ("a",), np.array([[2.0], [6.0], [4.0]]))
    assert scaler.transform(np.array([[2.0], [6.0]]))[:, 0].tolist() == [0.0, 1.0]


def test_default_lookback_shrinks_for_short_series_only() -> None:
    assert fit_lookback_to_rows(60, 5, 2000, 0.15, 0.15) == 60
    short = fit_lookback_to_rows(60, 5, 120, 0.15, 0.15)
    assert 5 <= short < 60
    split = chronological_split(120, short, 5, 0.15, 0.15)
    assert len(split.starts("train")) >= split.train_rows // 2
