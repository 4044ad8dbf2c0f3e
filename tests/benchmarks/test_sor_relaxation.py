"""sor_relaxation: the evaluator solves the systems, the candidate only answers ``choose_omega``.

Fast logic tests call ``evaluate_candidate`` with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score its output with the trusted ``verify``; the seed and a
program that tries to read the reference omegas also run through the real
:class:`ProblemEvaluator` (two jailed processes).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "sor_relaxation"
SEED = PROBLEM_DIR / "initial_program.py"
SEED_SWEEPS = 6252
LIMIT_SWEEPS = 539

# The reference-answer cheat: the best grid omega of each system, read from the problem's
# data; Gauss-Seidel (the seed) when the file cannot be read.
READING_PROGRAM = """
import json


def choose_omega(features, history):
    try:
        with open(@REFERENCE@) as handle:
            best = json.load(handle)["best_omega_per_system"]
    except OSError:
        return 1.0
    return best[len(history)]
""".replace("@REFERENCE@", repr(str(PROBLEM_DIR / "data" / "reference.json")))


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_sor_relaxation_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def scored(candidate: LocalCandidate) -> dict[str, float]:
    output: dict[str, Any] = evaluator().evaluate_candidate(candidate)
    metrics: dict[str, float] = evaluator().verify(output)
    return metrics


def sandboxed() -> ProblemEvaluator:
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", EvaluatorConfig(timeout_s=120))


def test_problem_dir_loads_in_the_isolated_form() -> None:
    assert load_problem(PROBLEM_DIR).notices == ()
    assert sandboxed().form == "isolated"


def test_seed_is_gauss_seidel() -> None:
    metrics = scored(LocalCandidate(SEED))
    assert metrics["total_sweeps"] == SEED_SWEEPS
    assert metrics["limit_total_sweeps"] == LIMIT_SWEEPS
    assert metrics["combined_score"] == pytest.approx(LIMIT_SWEEPS / SEED_SWEEPS)


def test_each_call_sees_the_features_and_the_history_so_far() -> None:
    # Fails inside the candidate unless the history holds the omegas it chose, in order,
    # with the evaluator's sweep counts; clearing its copy must not change the next call's.
    systems = evaluator().make_systems()
    omegas = [1.5 + 0.02 * i for i in range(len(systems))]
    sweeps = [evaluator().sor_sweeps(s, w) for s, w in zip(systems, omegas, strict=True)]
    code = """
chosen = []


def choose_omega(features, history):
    assert sorted(features) == ["contrast", "h", "mean_coefficient", "n"], features
    assert [h["omega"] for h in history] == chosen, history
    assert [h["iterations"] for h in history] == SWEEPS[: len(history)], history
    history.clear()
    chosen.append(1.5 + 0.02 * len(chosen))
    return chosen[-1]
"""
    metrics = scored(LocalCandidate(code=f"SWEEPS = {sweeps!r}\n{code}"))
    assert metrics["total_sweeps"] == sum(sweeps)
    assert metrics["mean_omega"] == pytest.approx(sum(omegas) / len(omegas))


@pytest.mark.parametrize("omega", ["2.0", "0.0", "-1.0", "float('nan')", "1j", "'1.5'", "True"])
def test_omegas_out_of_range_are_refused(omega: str) -> None:
    candidate = LocalCandidate(code=f"def choose_omega(features, history):\n    return {omega}\n")
    with pytest.raises(ValueError, match="omega"):
        evaluator().evaluate_candidate(candidate)


def test_a_program_without_choose_omega_is_refused() -> None:
    with pytest.raises(AttributeError, match="choose_omega"):
        evaluator().evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


def test_verify_checks_the_omegas() -> None:
    ev = evaluator()
    with pytest.raises(ValueError, match="expected 10"):
        ev.verify({"construction": [1.5]})
    with pytest.raises(ValueError, match="0 < omega < 2"):
        ev.verify({"construction": [1.5] * 9 + [2.5]})


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics["total_sweeps"] == SEED_SWEEPS
    assert result.score == pytest.approx(LIMIT_SWEEPS / SEED_SWEEPS)


def test_the_reference_answers_are_a_perfect_score_when_readable() -> None:
    assert scored(LocalCandidate(code=READING_PROGRAM))["combined_score"] == 1.0


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_the_reference_answers_cannot_be_read_in_the_sandbox() -> None:
    result = sandboxed().evaluate(READING_PROGRAM)
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics["total_sweeps"] == SEED_SWEEPS
