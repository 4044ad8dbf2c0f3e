"""data_selection: the candidate scores the training split; the evaluator keeps, trains, tests.

Fast logic tests call ``evaluate_candidate`` with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score its output with the trusted ``verify``; the seed and a
program that tries to use the evaluator's helpers also run through the real
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

from evoforge.config import EvaluatorConfig, load_yaml_mapping, validate_config
from evoforge.evaluation.channel import CandidateError
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "data_selection"
SEED = PROBLEM_DIR / "initial_program.py"
SEED_SCORE = 0.4493
SEED_TEST_ACCURACY = 0.9332

# The helper cheat: import the evaluator and choose the kept half by test accuracy. This
# probe only checks whether the helpers can be reached (it refuses to answer if so) and
# otherwise scores like the seed.
PROBING_PROGRAM = """
import importlib.util

import numpy as np


def helpers_reachable():
    try:
        spec = importlib.util.spec_from_file_location("evaluator", @EVALUATOR@)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except OSError:
        return False
    return callable(getattr(module, "test_accuracy", None))


def score(examples, early_model_outputs):
    if helpers_reachable():
        raise RuntimeError("reached the evaluator's test_accuracy")
    one_hot = np.eye(examples["num_classes"])[examples["labels"]]
    error_norm = np.linalg.norm(early_model_outputs - one_hot, axis=1)
    return -np.abs(error_norm - 1.5)
""".replace("@EVALUATOR@", repr(str(PROBLEM_DIR / "evaluator.py")))


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_data_selection_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def scored(candidate: LocalCandidate) -> dict[str, float]:
    output: dict[str, Any] = evaluator().evaluate_candidate(candidate)
    metrics: dict[str, float] = evaluator().verify(output)
    return metrics


def score_program(body: str) -> LocalCandidate:
    return LocalCandidate(
        code=f"import numpy as np\n\ndef score(examples, early_model_outputs):\n    {body}\n"
    )


def sandboxed() -> ProblemEvaluator:
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", EvaluatorConfig(timeout_s=120))


def test_problem_dir_loads_in_the_isolated_form() -> None:
    assert load_problem(PROBLEM_DIR).notices == ()
    assert sandboxed().form == "isolated"


def test_seed_is_error_norm() -> None:
    metrics = scored(LocalCandidate(SEED))
    assert metrics["test_accuracy"] == pytest.approx(SEED_TEST_ACCURACY, abs=5e-4)
    assert metrics["random_half_accuracy"] == pytest.approx(0.9196, abs=5e-4)
    assert metrics["full_data_accuracy"] == pytest.approx(0.9499, abs=5e-4)
    assert metrics["combined_score"] == pytest.approx(SEED_SCORE, abs=2e-3)


def test_the_candidate_gets_the_training_split_and_nothing_else() -> None:
    # The checks run inside the candidate: only the documented keys, shapes and types. A
    # constant score keeps the first half (ties go to the lower index).
    candidate = score_program(
        "assert sorted(examples) == ['features', 'labels', 'num_classes'], sorted(examples)\n"
        "    assert examples['features'].shape == (300, 64)\n"
        "    assert examples['features'].dtype == np.float64\n"
        "    assert examples['labels'].shape == (300,)\n"
        "    assert examples['labels'].dtype == np.int64\n"
        "    assert examples['num_classes'] == 10\n"
        "    assert early_model_outputs.shape == (300, 10)\n"
        "    assert np.allclose(early_model_outputs.sum(axis=1), 1.0)\n"
        "    return np.zeros(300)"
    )
    output = evaluator().evaluate_candidate(candidate)
    assert output == {"construction": list(range(150))}
    assert evaluator().verify(output)["test_accuracy"] == pytest.approx(0.9198, abs=5e-4)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("return np.full(len(early_model_outputs), np.nan)", "NaN"),
        ("return np.zeros(10)", "shape"),
        ("return early_model_outputs", "shape"),
        ("return ['a'] * 300", "real"),
        ("return np.zeros(300, dtype=complex)", "real"),
    ],
)
def test_bad_scores_are_refused(body: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        evaluator().evaluate_candidate(score_program(body))


def test_a_program_without_score_is_refused() -> None:
    with pytest.raises(AttributeError, match="score"):
        evaluator().evaluate_candidate(LocalCandidate(code="def other():\n    return 1\n"))


def test_verify_checks_the_indices() -> None:
    ev = evaluator()
    with pytest.raises(ValueError, match="twice"):
        ev.verify({"construction": [0] * ev.KEEP})
    with pytest.raises(ValueError, match="exactly"):
        ev.verify({"construction": list(range(ev.KEEP + 1))})
    with pytest.raises(ValueError, match="must lie in"):
        ev.verify({"construction": [*range(ev.KEEP - 1), ev.TRAIN_SIZE]})


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text())
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == scored(LocalCandidate(SEED))
    assert result.score == pytest.approx(SEED_SCORE, abs=2e-3)


def test_the_probe_finds_the_helpers_when_it_shares_the_filesystem() -> None:
    with pytest.raises(CandidateError, match="reached the evaluator"):
        evaluator().evaluate_candidate(LocalCandidate(code=PROBING_PROGRAM))


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_the_helpers_cannot_be_reached_in_the_sandbox() -> None:
    result = sandboxed().evaluate(PROBING_PROGRAM)
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == pytest.approx(SEED_SCORE, abs=2e-3)


_SKLEARN = importlib.util.find_spec("sklearn")
_DIGITS_FILES = [
    str(Path(location) / "datasets" / "data" / "digits.csv.gz")
    for location in (_SKLEARN.submodule_search_locations or [] if _SKLEARN else [])
]
READING_THE_DIGITS = f"""
import numpy as np


def score(examples, early_model_outputs):
    import os

    files = [path for path in {_DIGITS_FILES!r} if os.path.exists(path)]
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        load_digits = None
    if files or load_digits is not None:
        raise RuntimeError(f"reached the digits: files {{files}}, loader {{load_digits}}")
    return np.zeros(len(early_model_outputs))
"""


def configured(template_processes: bool) -> ProblemEvaluator:
    """The sandboxed evaluator with the problem's own evaluator settings."""
    config = validate_config(load_yaml_mapping(PROBLEM_DIR / "config.yaml"), str(PROBLEM_DIR))
    settings = config.evaluator.model_copy(update={"template_processes": template_processes})
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", settings)


@pytest.mark.skipif(
    filesystem_isolation() != "mountns" or not _DIGITS_FILES,
    reason="no filesystem jail on this machine, or no scikit-learn",
)
@pytest.mark.parametrize("template_processes", [True, False])
def test_the_candidate_cannot_read_the_digits_scikit_learn_ships(template_processes: bool) -> None:
    """scikit-learn ships the whole data set, test split included: a candidate that read
    it could choose by the test accuracy itself. The problem's config hides the package
    from the candidate's jail (``evaluator.candidate_hidden_packages``)."""
    evaluator_ = configured(template_processes)
    try:
        result = evaluator_.evaluate(READING_THE_DIGITS, "search")
    finally:
        evaluator_.close()
    assert result.status is EvalStatus.OK, result.reason


@pytest.mark.skipif(
    filesystem_isolation() != "mountns" or not _DIGITS_FILES,
    reason="no filesystem jail on this machine, or no scikit-learn",
)
def test_without_the_setting_the_candidate_would_read_them() -> None:
    """What the setting closes: with the defaults the package is there to read."""
    result = sandboxed().evaluate(READING_THE_DIGITS, "search")
    assert result.status is EvalStatus.FAILED
    assert "reached the digits" in result.reason
