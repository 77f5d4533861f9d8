from __future__ import annotations

import pytest

from rnncast.config import TrainConfig
from rnncast.errors import ExitCode, UsageError


def test_defaults_are_valid_and_round_trip_through_a_dict() -> None:
    config = TrainConfig(target="Close,Open", features=["Volume"])
    assert config.target == ("Close", "Open")
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("settings", "flag"),
    [
        ({"units": -4}, "--units"),
        ({"horizon": 0}, "--horizon"),
        ({"dropout": 1.0}, "--dropout"),
        ({"val_fraction": 0.5, "test_fraction": 0.45}, "--val-fraction"),
        ({"model": "transformer"}, "--model"),
        ({"learning_rate": 0.0}, "--learning-rate"),
        ({"epochs": 2.5}, "--epochs"),
    ],
)
def test_bad_values_name_the_flag(settings: dict, flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        TrainConfig(**settings)
    assert flag in caught.value.one_line()
    assert caught.value.exit_code == ExitCode.USAGE


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown setting"):
        TrainConfig.from_dict({"unitz": 3})
