"""Splits scored task by task: a fresh candidate for each task, verify gets every output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from evoforge.evaluation.split_tasks import MAX_TASKS
from evoforge.problem import ProblemError, load_problem
from evoforge.program import EvalStatus
from tests.evaluation.conftest import MakeEvaluator

# Three holdout tasks, one search task. Each task asks the candidate for its ``seen``,
# and verify scores the mean of what came back, keeping each task's answer as a metric.
TASK_EVALUATOR = """
TASKS = {"search": 1, "holdout": 3}

def split_tasks(split):
    return TASKS[split]

def evaluate_candidate(candidate, split="search", task=0):
    return {"task": task, "seen": candidate.seen(task)}

def verify(output, split="search"):
    if not isinstance(output, list):
        return {"combined_score": float(output["seen"]), "unsplit": 1.0}
    metrics = {f"task{index}_seen": float(item["seen"]) for index, item in enumerate(output)}
    metrics["tasks_in_order"] = float([item["task"] for item in output] == list(range(len(output))))
    metrics["combined_score"] = sum(item["seen"] for item in output) / len(output)
    return metrics
"""

# A candidate that remembers every task it was shown: with one process for the whole split
# it would answer 1, 2, 3; a fresh process for each task answers 1 every time.
REMEMBERING = """
SEEN = []

def seen(task):
    SEEN.append(task)
    return len(SEEN)
"""


def test_each_task_gets_a_fresh_candidate_and_verify_gets_every_output_in_order(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = make_evaluator(TASK_EVALUATOR)
    result = evaluator.evaluate(REMEMBERING, split="holdout")
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics["task0_seen"] == result.metrics["task1_seen"] == 1.0
    assert result.metrics["task2_seen"] == 1.0
    assert result.metrics["tasks_in_order"] == 1.0
    assert result.score == 1.0
    assert evaluator.evaluations == 1  # one evaluation, however many tasks
    search = evaluator.evaluate(REMEMBERING, split="search")
    assert search.status is EvalStatus.OK and search.metrics["task0_seen"] == 1.0


def test_without_a_split_the_problem_is_called_as_one_without_tasks(
    make_evaluator: MakeEvaluator,
) -> None:
    result = make_evaluator(TASK_EVALUATOR).evaluate(REMEMBERING)
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics["unsplit"] == 1.0


def test_the_first_failing_task_fails_the_evaluation_and_the_rest_are_not_run(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = make_evaluator(TASK_EVALUATOR)
    failing = "def seen(task):\n    if task == 1:\n        raise ValueError('no task 1')\n"
    failing += "    return 1\n"
    raw = evaluator.run_raw(failing, split="holdout")
    assert len(raw.tasks) == 2  # task 2 never started
    result = evaluator.judge(raw, split="holdout")
    assert result.status is EvalStatus.FAILED
    assert result.reason.startswith("task 1 of the holdout split (3 tasks): ValueError")
    assert "no task 1" in result.reason


def test_a_worker_that_ran_fewer_tasks_than_the_split_has_gets_no_score(
    make_evaluator: MakeEvaluator,
) -> None:
    evaluator = make_evaluator(TASK_EVALUATOR)
    raw = evaluator.run_raw(REMEMBERING, split="holdout")
    assert len(raw.tasks) == 3
    short = type(raw)(run=raw.tasks[1][0], candidate=raw.tasks[1][1], tasks=raw.tasks[:2])
    result = evaluator.judge(short, split="holdout")
    assert result.status is EvalStatus.FAILED
    assert result.reason == "2 of the holdout split's 3 tasks were run"


@pytest.mark.parametrize("answer", ["0", "True", "'3'", "2.0", str(MAX_TASKS + 1)])
def test_a_task_count_that_is_no_whole_number_in_range_fails_naming_it(
    make_evaluator: MakeEvaluator, answer: str
) -> None:
    source = TASK_EVALUATOR.replace("return TASKS[split]", f"return {answer}")
    result = make_evaluator(source).evaluate(REMEMBERING, split="holdout")
    assert result.status is EvalStatus.FAILED
    assert f"split_tasks('holdout') returned {answer}" in result.reason
    assert f"from 1 to {MAX_TASKS}" in result.reason


def test_split_tasks_needs_the_isolated_form_and_verify(make_evaluator: MakeEvaluator) -> None:
    without_verify = TASK_EVALUATOR.split("def verify")[0]
    with pytest.raises(ValueError, match="defines split_tasks but not both"):
        make_evaluator(without_verify)


@pytest.mark.parametrize("missing", ["verify", "evaluate_candidate"])
def test_a_problem_with_split_tasks_but_without_its_functions_is_refused_in_one_line(
    tmp_path: Path, missing: str
) -> None:
    source = textwrap.dedent(TASK_EVALUATOR).replace(f"def {missing}(", f"def unused_{missing}(")
    if missing == "evaluate_candidate":
        source += "\ndef evaluate(program_path):\n    return {}\n"
    (tmp_path / "evaluator.py").write_text(source)
    (tmp_path / "initial_program.py").write_text(
        "# EVOLVE-BLOCK-START\n" + REMEMBERING + "# EVOLVE-BLOCK-END\n"
    )
    with pytest.raises(ProblemError) as caught:
        load_problem(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"defines split_tasks but no {missing}" in message
