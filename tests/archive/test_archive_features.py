"""Feature descriptors: complexity, token diversity and the extractor's name rules."""

from __future__ import annotations

import pytest

from evoforge.archive.features import (
    FeatureExtractor,
    behaviour_metric,
    complexity,
    diversity,
    token_set,
)
from evoforge.config import FeatureConfig
from evoforge.program import Program, code_hash


def wrap(body: str) -> str:
    return (
        "import math\n\n"
        "def solve(x):\n"
        "    # EVOLVE-BLOCK-START\n"
        f"{body}"
        "    # EVOLVE-BLOCK-END\n"
        "    return y\n"
    )


def program(code: str, pid: str = "p") -> Program:
    return Program(id=pid, code=code, code_hash=code_hash(code), score=1.0)


def test_complexity_counts_only_the_evolve_blocks() -> None:
    small = wrap("    y = x\n")
    large = wrap("    y = x * 2 + math.sin(x) - 3\n")
    assert 0 < complexity(small) < complexity(large)
    # Frozen code does not count: same block, more frozen code, same complexity.
    more_frozen = "import os\nimport sys\n" + small
    assert complexity(more_frozen) == complexity(small)


def test_complexity_falls_back_to_whole_program_and_then_tokens() -> None:
    no_markers = "y = x + 1\n"
    assert complexity(no_markers) > 0
    broken = wrap("    y = = x (\n")
    assert complexity(broken) > 0  # token count of the block


def test_token_set_ignores_frozen_code() -> None:
    assert token_set(wrap("    y = x\n")) == frozenset({"y", "=", "x"})


def test_diversity_is_mean_jaccard_distance() -> None:
    code = wrap("    y = x\n")
    assert diversity(code, []) == 0.0
    assert diversity(code, [code]) == 0.0
    other = wrap("    z = 1\n")  # tokens {z, =, 1}: shares "=" with {y, =, x}
    assert diversity(code, [other]) == pytest.approx(1 - 1 / 5)
    assert diversity(code, [code, other]) == pytest.approx((1 - 1 / 5) / 2)
    assert diversity(code, [program(other)]) == pytest.approx(1 - 1 / 5)


def test_extractor_built_ins_and_metrics() -> None:
    extractor = FeatureExtractor(
        [
            FeatureConfig(name="complexity"),
            FeatureConfig(name="diversity"),
            FeatureConfig(name="score"),
            FeatureConfig(name="behaviour"),
            FeatureConfig(name="runtime"),
            FeatureConfig(name="absent"),
        ]
    )
    code = wrap("    y = x\n")
    metrics = {"combined_score": 0.7, "runtime": 3.5, "accuracy": 0.9, "zeta": 1.0}
    values = extractor.compute(code, metrics, 0.7, [program(wrap("    z = 1\n"))])
    assert values["complexity"] == complexity(code)
    assert values["diversity"] == pytest.approx(0.8)
    assert values["score"] == 0.7
    assert values["behaviour"] == 0.9  # "accuracy" sorts first, combined_score excluded
    assert values["runtime"] == 3.5
    assert values["absent"] == 0.0
    assert list(values) == list(extractor.names)


def test_behaviour_falls_back_to_score() -> None:
    assert behaviour_metric({"combined_score": 1.0}) is None
    extractor = FeatureExtractor([FeatureConfig(name="behaviour")])
    assert extractor.compute("y = 1\n", {"combined_score": 2.0}, 2.0) == {"behaviour": 2.0}


def test_non_finite_values_become_zero() -> None:
    extractor = FeatureExtractor([FeatureConfig(name="m"), FeatureConfig(name="score")])
    assert extractor.compute("y = 1\n", {"m": float("nan")}, None) == {"m": 0.0, "score": 0.0}
