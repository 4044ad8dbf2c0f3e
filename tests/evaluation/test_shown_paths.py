"""What an evaluation records does not depend on where the problem or the sandbox lie.

Tracebacks and warnings name the evaluator's file (in the run's copy of the problem) and
the candidate's (in its side's working directory). Two runs of one problem lie in two run
directories, and a side without a template process works in a fresh temporary directory,
so a recorded result names them ``/problem`` and ``/sandbox`` instead: otherwise the same
run in another directory would show a language model other text, and take another path.
Real problem directories, real sandboxed processes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.shown_paths import SHOWN_PROBLEM_DIR, SHOWN_WORKDIR
from evoforge.program import EvalStatus, EvaluationResult

# Warns in both processes, then fails or scores as the candidate's answer says.
EVALUATOR = """
import warnings
from pathlib import Path


def evaluate_candidate(candidate):
    warnings.warn("the evaluator warns")
    mode = candidate.mode()
    if mode == "missing":
        (Path(__file__).parent / "missing.json").read_text()
    if mode == "raise":
        raise ValueError("the evaluator raises")
    return {"combined_score": 1.0}
"""

PROGRAM = """
import warnings


def mode():
    warnings.warn("the candidate warns")
    return {mode!r}
"""

SETTINGS = {
    "templates": {},
    "no templates": {"template_processes": False},
    "no jail": {"isolate_filesystem": False},
}


def _evaluate(root: Path, mode: str, settings: dict[str, Any]) -> EvaluationResult:
    problem = root / "problem"
    problem.mkdir(parents=True, exist_ok=True)
    (problem / "evaluator.py").write_text(textwrap.dedent(EVALUATOR))
    evaluator = ProblemEvaluator(
        problem / "evaluator.py", EvaluatorConfig(timeout_s=10.0, **settings)
    )
    try:
        return evaluator.evaluate(PROGRAM.format(mode=mode))
    finally:
        evaluator.close()


def _text(result: EvaluationResult) -> str:
    return "\n".join([result.reason, *result.artifacts.values()])


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=list(SETTINGS))
@pytest.mark.parametrize("mode", ["score", "raise", "missing"])
def test_a_result_is_recorded_alike_wherever_the_problem_lies(
    tmp_path: Path, settings: dict[str, Any], mode: str
) -> None:
    here = _evaluate(tmp_path / "one", mode, settings)
    there = _evaluate(tmp_path / "elsewhere" / "deeper", mode, settings)
    assert here.status is (EvalStatus.OK if mode == "score" else EvalStatus.FAILED)
    assert (here.reason, dict(here.artifacts)) == (there.reason, dict(there.artifacts))
    text = _text(here)
    assert str(tmp_path) not in text and "evoforge-sandbox-" not in text
    assert f"{SHOWN_PROBLEM_DIR}/evaluator.py" in text  # the evaluator's warning
    assert f"{SHOWN_WORKDIR}/program.py" in text  # the candidate's warning
    if mode == "missing":
        assert f"'{SHOWN_PROBLEM_DIR}/missing.json'" in here.reason


def test_a_path_that_only_begins_like_the_problem_directory_is_kept(tmp_path: Path) -> None:
    """``RUN/problem2`` is another directory than ``RUN/problem``."""
    sibling = tmp_path / "one" / "problem2"
    evaluator = EVALUATOR.replace(
        'warnings.warn("the evaluator warns")',
        f'warnings.warn("see " + {str(sibling)!r} + " and " + str(Path(__file__).parent))',
    )
    problem = tmp_path / "one" / "problem"
    problem.mkdir(parents=True)
    (problem / "evaluator.py").write_text(textwrap.dedent(evaluator))
    judge = ProblemEvaluator(problem / "evaluator.py", EvaluatorConfig(timeout_s=10.0))
    try:
        result = judge.evaluate(PROGRAM.format(mode="score"))
    finally:
        judge.close()
    assert f"see {sibling} and {SHOWN_PROBLEM_DIR}\n" in result.artifacts["evaluator_stderr"]
