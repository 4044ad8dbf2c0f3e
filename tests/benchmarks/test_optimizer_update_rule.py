"""optimizer_update_rule: the evaluator drives training, the candidate only answers ``update``.

Fast logic tests call ``evaluate_candidate`` with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score its output with the trusted ``verify``; the seed and a
hostile program also run through the real :class:`ProblemEvaluator` (two jailed processes).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.channel import CandidateError
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = (
    Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "optimizer_update_rule"
)
SEED = PROBLEM_DIR / "initial_program.py"
SEED_SCORE = 0.2434
SEED_MEAN_LOG10_GAP = -2.9757

# Looks for the evaluator from inside ``update`` (its modules, its callers' frames, its file)
# and refuses to train if it finds it; otherwise it is the seed's rule.
PROBING_PROGRAM = """
import sys

import numpy as np


def evaluator_reachable():
    if any(hasattr(module, "make_tasks") for module in list(sys.modules.values())):
        return "sys.modules"
    frame = sys._getframe()
    while frame is not None:
        if "make_tasks" in frame.f_globals:
            return "a caller's frame"
        frame = frame.f_back
    try:
        with open(@EVALUATOR@) as handle:
            handle.read()
        return "the problem directory"
    except OSError:
        return None


def update(grad, state, step):
    if step == 1:
        found = evaluator_reachable()
        if found is not None:
            raise RuntimeError("reached the evaluator through " + found)
    velocity = 0.9 * state.get("velocity", np.zeros_like(grad)) + grad
    return velocity, {"velocity": velocity}
""".replace("@EVALUATOR@", repr(str(PROBLEM_DIR / "evaluator.py")))


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_optimizer_update_rule_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@cache
def seed_output() -> dict[str, Any]:
    output: dict[str, Any] = evaluator().evaluate_candidate(LocalCandidate(SEED))
    return output


def update_program(body: str) -> LocalCandidate:
    return LocalCandidate(
        code=f"import math\nimport numpy as np\n\ndef update(grad, state, step):\n    {body}\n"
    )


def sandboxed() -> ProblemEvaluator:
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", EvaluatorConfig(timeout_s=120))


def test_problem_dir_loads_in_the_isolated_form() -> None:
    problem = load_problem(PROBLEM_DIR)
    assert problem.notices == ()
    assert sandboxed().form == "isolated"


def test_seed_is_sgd_momentum() -> None:
    metrics = evaluator().verify(seed_output())
    assert metrics["mean_log10_gap"] == pytest.approx(SEED_MEAN_LOG10_GAP, abs=1e-3)
    assert metrics["combined_score"] == pytest.approx(SEED_SCORE, abs=1e-3)
    assert metrics == evaluator().baseline_metrics()["sgd_momentum"]


def test_the_runs_step_in_lockstep_one_batch_per_step() -> None:
    ev = evaluator()
    sizes: list[int] = []

    def update_batch(calls: list[tuple[np.ndarray, Any, int]]) -> Sequence[object]:
        sizes.append(len(calls))
        assert {step for _, _, step in calls} == {len(sizes)}
        return [(np.zeros_like(grad), state) for grad, state, _ in calls]

    ev.train_all(update_batch)
    assert sizes == [len(ev.make_tasks()) * len(ev.LEARNING_RATES)] * ev.STEPS


def test_each_run_gets_back_only_its_own_state() -> None:
    # The state records the run's parameter count and the last step; a state handed to
    # the wrong run, or twice, fails the assertion in the candidate.
    candidate = update_program(
        "assert state == ({} if step == 1 else {'size': grad.size, 'step': step - 1}), state\n"
        "    return np.zeros_like(grad), {'size': grad.size, 'step': step}"
    )
    output = evaluator().evaluate_candidate(candidate)
    for task in evaluator().make_tasks():
        assert output["construction"][task.name] == [task.start.tolist()] * 8


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return grad * math.nan, state", "NaN"),
        ("return grad[:-1], state", "shape"),
        ("return grad", "pair"),
        ("return grad.astype(complex), state", "real"),
        ("return ['x'] * grad.size, state", "real"),
    ],
)
def test_bad_deltas_are_refused(body: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        evaluator().evaluate_candidate(update_program(body))


def test_a_program_without_update_is_refused() -> None:
    with pytest.raises(AttributeError, match="update"):
        evaluator().evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


def test_diverging_runs_are_dropped_not_fatal() -> None:
    ev = evaluator()
    finals = ev.train_all(ev.in_process(lambda grad, state, step: (grad * 1e3, state)))
    assert finals["quadratic"][-1] is None  # learning rate 3 blows up
    assert ev.score_runs(finals)["combined_score"] >= 0.0
    nan_runs = {t.name: [[float("nan")] * t.start.size] * 8 for t in ev.make_tasks()}
    with pytest.raises(ValueError, match="finite"):
        ev.verify({"construction": nan_runs})


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == evaluator().verify(seed_output())
    assert result.score == pytest.approx(SEED_SCORE, abs=1e-3)


def test_the_probe_finds_the_evaluator_when_it_shares_the_process() -> None:
    with pytest.raises(CandidateError, match="reached the evaluator"):
        evaluator().evaluate_candidate(LocalCandidate(code=PROBING_PROGRAM))


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_a_candidate_cannot_reach_the_evaluator_in_the_sandbox() -> None:
    result = sandboxed().evaluate(PROBING_PROGRAM)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(SEED_SCORE, abs=1e-3)
