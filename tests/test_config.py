"""Config: layering, validation, one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evoforge.config import (
    Config,
    ConfigError,
    config_to_yaml,
    load_yaml_mapping,
    resolve_config,
    validate_config,
)


def test_defaults_validate() -> None:
    config = Config()
    assert config.run.iterations > 0
    assert [f.name for f in config.archive.features] == ["complexity", "behaviour"]


def test_precedence_cli_over_file_over_problem() -> None:
    config = resolve_config(
        problem_layer={"seed": 1, "run": {"iterations": 10, "workers": 3}},
        file_layer={"seed": 2, "run": {"iterations": 20}},
        cli_layer={"run": {"iterations": 30}},
    )
    assert config.seed == 2
    assert config.run.iterations == 30
    assert config.run.workers == 3


@pytest.mark.parametrize(
    ("layer", "fragment"),
    [
        ({"runn": {}}, "runn: unknown key"),
        ({"run": {"iterations": -1}}, "run.iterations"),
        ({"run": {"workers": "many"}}, "run.workers"),
        ({"archive": {"num_islands": 0}}, "archive.num_islands"),
        ({"operators": {"enabled": ["teleport"]}}, "teleport"),
        (
            {"operators": {"enabled": ["tune", "mutate", "tune"]}},
            "file: operators: enabled operators must be unique, got ['tune', 'mutate', 'tune']",
        ),
        ({"run": {"max_evaluations": 0}}, "run.max_evaluations"),
        ({"archive": {"features": [{"name": "x", "range": [2, 1]}]}}, "low < high"),
        ({"run": {"iterations": True}}, "run.iterations: expected a number, not true/false"),
        ({"run": {"max_evaluations": False}}, "run.max_evaluations: expected a number"),
        ({"evaluator": {"timeout_s": True}}, "evaluator.timeout_s: expected a number"),
        # infinity and NaN are no setting: an infinite noise answered "holdout estimate inf"
        ({"splits": {"thresholdout": {"noise": math.inf}}}, "noise: Input should be a finite"),
        ({"splits": {"thresholdout": {"threshold": math.nan}}}, "threshold: Input should be a"),
        ({"evaluator": {"timeout_s": math.inf}}, "evaluator.timeout_s: Input should be a finite"),
        # limits past what the sandbox can set: the seed failed with an OverflowError or
        # "exited with status 127" instead of the run refusing the setting
        ({"evaluator": {"timeout_s": 1e9}}, "evaluator.timeout_s: Input should be less than"),
        ({"evaluator": {"call_timeout_s": 1e9}}, "evaluator.call_timeout_s: Input should be less"),
        ({"evaluator": {"cpu_time_s": 1e300}}, "evaluator.cpu_time_s: Input should be less than"),
        ({"evaluator": {"memory_mb": 10**15}}, "evaluator.memory_mb: Input should be less than"),
        ({"evaluator": {"max_file_size_mb": 10**15}}, "evaluator.max_file_size_mb: Input should"),
        # names no variable can have: accepted, then matched nothing
        ({"evaluator": {"pass_env": [""]}}, "evaluator.pass_env: '' is not an env"),
        ({"evaluator": {"pass_env": ["A=B"]}}, "'A=B' is not an environment variable name"),
        ({"evaluator": {"pass_env": ["MY_*"]}}, "'MY_*' is not an environment variable name"),
        # an empty interpreter was taken as the default one
        ({"evaluator": {"python": ""}}, "evaluator.python: String should have at least 1"),
    ],
)
def test_bad_values_are_one_line_errors(layer: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(file_layer=layer)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith("--config file:")


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ({"run": None}, "run: is empty; give it keys (indented under it) or remove the line"),
        ({"splits": True}, "splits: must be a section of keys (indented under it), got True"),
        (
            {"archive": {"parents": 3}},
            "archive.parents: must be a section of keys (indented under it), got 3",
        ),
        ({"run": [1]}, "run: must be a section of keys (indented under it), got a list"),
    ],
)
def test_a_section_that_is_not_a_mapping_is_named_in_the_configs_words(
    layer: dict, expected: str
) -> None:
    """``run:`` with every key under it commented out is YAML's null: the error says so
    without the names of the classes behind the sections."""
    with pytest.raises(ConfigError) as info:
        resolve_config(file_layer=layer)
    assert str(info.value) == f"--config file: {expected}"


def test_booleans_stay_for_switches_and_numbers_for_numbers() -> None:
    config = resolve_config(file_layer={"run": {"simplify_best": False, "iterations": 7.0}})
    assert config.run.simplify_best is False and config.run.iterations == 7


def test_yaml_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_mapping(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_yaml_mapping(scalar)
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml_mapping(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_yaml_mapping(empty) == {}


def test_yaml_round_trip_keeps_every_key() -> None:
    import yaml

    config = resolve_config(cli_layer={"seed": 7})
    again = validate_config(yaml.safe_load(config_to_yaml(config)))
    assert again == config


def test_candidate_hidden_packages_are_import_names() -> None:
    with pytest.raises(ConfigError, match="not a top-level import name"):
        validate_config({"evaluator": {"candidate_hidden_packages": ["sklearn/datasets"]}})
    config = validate_config({"evaluator": {"candidate_hidden_packages": ["sklearn"]}})
    assert config.evaluator.candidate_hidden_packages == ["sklearn"]


def test_the_largest_sandbox_limits_are_accepted() -> None:
    config = validate_config(
        {
            "evaluator": {
                "timeout_s": 1e6,
                "call_timeout_s": 1e6,
                "cpu_time_s": 1e12,
                "memory_mb": 10**12,
                "max_file_size_mb": 10**12,
                "pass_env": ["HOME", "_X1"],
            }
        }
    )
    assert config.evaluator.timeout_s == 1e6 and config.evaluator.memory_mb == 10**12
