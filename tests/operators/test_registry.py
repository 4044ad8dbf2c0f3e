"""build_operators: one operator per enabled name, in order."""

from __future__ import annotations

import pytest

from evoforge.config import MutateConfig, OperatorsConfig, TuneConfig
from evoforge.operators.base import Operator
from evoforge.operators.mutate import MutateOperator
from evoforge.operators.registry import build_operators
from evoforge.operators.tune import TuneOperator
from evoforge.registry import OPERATORS


def test_default_config_builds_all_builtins_in_order() -> None:
    operators = build_operators(OperatorsConfig())
    assert list(operators) == ["tune", "mutate", "crossover", "simplify"]
    assert set(OPERATORS.names("symbolic")) == set(operators)
    for name, operator in operators.items():
        assert isinstance(operator, Operator)
        assert operator.name == name


def test_enabled_order_and_settings_are_respected() -> None:
    config = OperatorsConfig(
        enabled=["simplify", "tune"],
        tune=TuneConfig(sigma=0.3, use_cma=False, max_literals=5),
        mutate=MutateConfig(max_edits=7),
    )
    operators = build_operators(config)
    assert list(operators) == ["simplify", "tune"]
    tune = operators["tune"]
    assert isinstance(tune, TuneOperator)
    assert tune.config.sigma == 0.3 and tune.config.max_literals == 5
    mutate = build_operators(OperatorsConfig(enabled=["mutate"], mutate=MutateConfig(max_edits=7)))
    assert isinstance(mutate["mutate"], MutateOperator)
    assert mutate["mutate"].config.max_edits == 7


def test_unknown_name_is_an_error() -> None:
    config = OperatorsConfig()
    config.__dict__["enabled"] = ["tune", "llm"]  # bypass validation, as a hand-built config
    with pytest.raises(ValueError, match="llm"):
        build_operators(config)
