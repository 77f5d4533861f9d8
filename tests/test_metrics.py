"""Every metric against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnncast import metrics

ACTUAL = np.array([2.0, 4.0, 0.0, 5.0])
PREDICTED = np.array([3.0, 2.0, 1.0, 5.0])  # errors -1, 2, -1, 0


def test_squared_and_absolute_errors() -> None:
    assert metrics.mse(ACTUAL, PREDICTED) == pytest.approx((1 + 4 + 1 + 0) / 4)
    assert metrics.rmse(ACTUAL, PREDICTED) == pytest.approx(math.sqrt(1.5))
    assert metrics.mae(ACTUAL, PREDICTED) == pytest.approx((1 + 2 + 1 + 0) / 4)


def test_mape_skips_zero_actuals_and_counts_them() -> None:
    # |e|/|y| over y != 0: 1/2, 2/4, 0/5
    assert metrics.mape(ACTUAL, PREDICTED) == pytest.approx(100 * (0.5 + 0.5 + 0.0) / 3)
    assert metrics.zero_actuals(ACTUAL) == 1
    assert math.isnan(metrics.mape(np.zeros(3), np.ones(3)))


def test_smape_follows_the_m4_definition() -> None:
    # 200|e|/(|y|+|ŷ|): 200/5, 400/6, 200/1, 0
    expected = (200 / 5 + 400 / 6 + 200 / 1 + 0) / 4
    assert metrics.smape(ACTUAL, PREDICTED) == pytest.approx(expected)
    # both zero: a perfect forecast, not a division by zero
    assert metrics.smape(np.zeros(2), np.zeros(2)) == 0.0


def test_mase_divides_by_the_in_sample_seasonal_naive_mae() -> None:
    history = np.array([[1.0], [3.0], [2.0], [6.0], [4.0]])
    # period 2: |2-1|, |6-3|, |4-2| -> mean 2
    scale = metrics.seasonal_naive_mae(history, 2)
    assert scale.tolist() == [2.0]
    assert metrics.mase(ACTUAL[:, None], PREDICTED[:, None], scale) == pytest.approx(1.0 / 2)
    # period 1 is the plain naive MAE: |2|, |1|, |4|, |2| -> 9/4
    assert metrics.seasonal_naive_mae(history, 1).tolist() == [2.25]


def test_mase_is_undefined_for_a_constant_or_too_short_history() -> None:
    assert math.isnan(metrics.mase(ACTUAL, PREDICTED, np.array(0.0)))
    assert np.isnan(metrics.seasonal_naive_mae(np.ones((3, 1)), 5)).all()


def test_skill_compares_rmse_with_a_baseline() -> None:
    assert metrics.skill(1.0, 2.0) == pytest.approx(0.5)
    assert metrics.skill(3.0, 2.0) == pytest.approx(-0.5)
    assert math.isnan(metrics.skill(1.0, 0.0))


def test_axis_gives_one_value_per_remaining_position() -> None:
    actual = np.zeros((2, 3, 2))  # windows x steps x targets
    predicted = np.zeros((2, 3, 2))
    predicted[:, 1, 0] = 2.0  # step 2 of target 0 is off by 2 in both windows
    per_step = metrics.mse(actual, predicted, axis=(0, 2))
    per_target = metrics.mae(actual, predicted, axis=(0, 1))
    assert per_step.tolist() == [0.0, 2.0, 0.0]  # (4 + 0) / 2 at step 2
    assert per_target.tolist() == pytest.approx([2 / 3, 0.0])
