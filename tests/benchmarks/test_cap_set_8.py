"""cap_set_8: the evaluator builds the cap set, the candidate only answers priorities.

Fast logic tests call ``evaluate_candidate`` with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score its output with the trusted ``verify``; the seed and a
program that tries to read the problem directory also run through the real
:class:`ProblemEvaluator` (two jailed processes).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.config import load_yaml_mapping, validate_config
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "cap_set_8"
SEED = PROBLEM_DIR / "initial_program.py"
SEED_SIZE = 256
# The frozen part of the seed: the one function the evaluator calls.
FROZEN_PRIORITIES = """
import itertools


def priorities(n):
    return [priority(vector, n) for vector in itertools.product(range(3), repeat=n)]
"""


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_cap_set_8_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def with_priority(body: str) -> LocalCandidate:
    """A program whose ``priority(vector, n)`` is ``body``, plus the seed's frozen part."""
    return LocalCandidate(
        code=f"import math\n\n\ndef priority(vector, n):\n    {body}\n{FROZEN_PRIORITIES}"
    )


def scored(candidate: LocalCandidate) -> dict[str, float]:
    output: dict[str, Any] = evaluator().evaluate_candidate(candidate)
    metrics: dict[str, float] = evaluator().verify(output)
    assert metrics == {k: v for k, v in output.items() if k != "construction"}
    return metrics


def sandboxed() -> ProblemEvaluator:
    config = validate_config(load_yaml_mapping(PROBLEM_DIR / "config.yaml"), str(PROBLEM_DIR))
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", config.evaluator)


def test_problem_dir_loads_in_the_isolated_form() -> None:
    assert load_problem(PROBLEM_DIR).notices == ()
    assert sandboxed().form == "isolated"
    assert "What the candidate receives" in (PROBLEM_DIR / "README.md").read_text()


def test_cap_set_seed_size() -> None:
    candidate = LocalCandidate(SEED)
    metrics = scored(candidate)
    assert metrics["cap_set_size"] == SEED_SIZE
    assert metrics["combined_score"] == 0.5
    assert candidate.calls == 1  # all 6561 priorities in one call


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics["cap_set_size"] == SEED_SIZE
    assert result.score == 0.5


def test_priority_sees_every_vector_once_as_a_tuple_in_lexicographic_order() -> None:
    candidate = with_priority("SEEN.append((vector, n))\n    return 0.0")
    seen: list[tuple[tuple[int, ...], int]] = []
    candidate._module.SEEN = seen
    assert scored(candidate)["cap_set_size"] == SEED_SIZE  # constant: lexicographic greedy
    expected = [(vector, 8) for vector in itertools.product(range(3), repeat=8)]
    assert seen == expected
    assert all(type(x) is int for vector, _ in seen for x in vector)


def test_a_different_priority_builds_a_different_cap_set() -> None:
    metrics = scored(with_priority("return -sum(vector) + 0.5 * vector.count(1)"))
    assert metrics["cap_set_size"] > 0
    assert metrics["combined_score"] == metrics["cap_set_size"] / 512


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return math.nan", "nan"),
        ("return math.inf", "inf"),
        ("return True", "real number"),
        ("return '1.0'", "real number"),
        ("return 1j", "real number"),
    ],
)
def test_cap_set_rejects_a_bad_priority(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluator().evaluate_candidate(with_priority(body))


@pytest.mark.parametrize("answer", ["[0.0] * 6560", "'priorities'", "None"])
def test_cap_set_rejects_a_wrong_number_of_priorities(answer: str) -> None:
    candidate = LocalCandidate(code=f"def priorities(n):\n    return {answer}\n")
    with pytest.raises(ValueError, match="6561"):
        evaluator().evaluate_candidate(candidate)


def test_a_program_without_priorities_is_refused() -> None:
    candidate = LocalCandidate(code="def priority(vector, n):\n    return 0.0\n")
    with pytest.raises(AttributeError, match="priorities"):
        evaluator().evaluate_candidate(candidate)


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_the_program_cannot_read_the_problem_directory() -> None:
    spying = SEED.read_text().replace(
        "def priorities(n: int) -> list[float]:\n",
        "def priorities(n: int) -> list[float]:\n"
        f"    open({str(PROBLEM_DIR / 'evaluator.py')!r}).close()\n",
    )
    assert spying != SEED.read_text()
    assert scored(LocalCandidate(code=spying))["cap_set_size"] == SEED_SIZE  # readable here
    result = sandboxed().evaluate(spying)
    assert result.status is EvalStatus.FAILED
    assert (result.reason or "").startswith("FileNotFoundError: in the candidate")


def test_cap_set_verify_rejects_a_collinear_triple() -> None:
    ev = evaluator()
    x, y = [0] * 8, [1] + [0] * 7
    z = [(-(a + b)) % 3 for a, b in zip(x, y, strict=True)]  # [2, 0, ...]: x + y + z = 0
    with pytest.raises(ValueError, match="not a cap set"):
        ev.verify({"construction": [x, y, [0, 1] + [0] * 6, z]})
    with pytest.raises(ValueError, match="twice"):
        ev.verify({"construction": [x, x]})
    with pytest.raises(ValueError, match="0, 1 or 2"):
        ev.verify({"construction": [[3] * 8]})


def test_cap_set_greedy_builder_makes_cap_sets() -> None:
    ev = evaluator()
    chosen = ev.greedy_cap_set(np.random.default_rng(1).random(ev.NUM_VECTORS))
    vectors = ev.all_vectors()
    assert ev.has_collinear_triple(vectors[chosen]) is None
    member = np.zeros(ev.NUM_VECTORS, dtype=bool)
    member[chosen] = True
    for index in np.flatnonzero(~member)[::50]:  # greedy means maximal: no vector fits
        third = ev.vector_index((-(vectors[chosen] + vectors[index])) % 3)
        assert member[third].any()
