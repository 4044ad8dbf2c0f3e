"""The candidate's host process: what a program may count on in its own process.

A program that starts worker processes with ``multiprocessing``'s ``spawn`` or
``forkserver`` (the default on Linux from Python 3.14) sends them its functions by module
name; each worker imports the program again under that name, so the host loads it under
a name a fresh interpreter can import (its file's stem, its directory on ``sys.path``),
unless that name would shadow a module (then the program keeps the name ``candidate``).
"""

from __future__ import annotations

import pytest

from evoforge.program import EvalStatus

from .conftest import MakeEvaluator

EVALUATOR = """
def evaluate_candidate(candidate):
    return {"combined_score": float(candidate.total([1, 2, 3]))}
"""

SPAWNING_PROGRAM = """
import multiprocessing


def _square(value):
    return value * value


def total(values):
    context = multiprocessing.get_context({method!r})
    with context.Pool(1) as pool:
        # a worker that cannot import this program dies on every task: fail, do not wait
        return sum(pool.map_async(_square, values).get(timeout=15))
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("templates", [True, False], ids=["template", "fresh-process"])
def test_a_program_can_send_its_own_functions_to_spawned_workers(
    make_evaluator: MakeEvaluator, method: str, templates: bool
) -> None:
    evaluator = make_evaluator(EVALUATOR, timeout_s=40.0, template_processes=templates)
    try:
        result = evaluator.evaluate(SPAWNING_PROGRAM.format(method=method))
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, (result.reason, result.artifacts.get("stderr"))
    assert result.metrics == {"combined_score": 14.0}


NAMED_LIKE_A_MODULE = """
import random


def total(values):
    assert __name__ == "candidate", __name__
    return sum(values) + 0 * random.random()  # the real random, not this file
"""


def test_a_program_named_like_a_module_shadows_nothing(make_evaluator: MakeEvaluator) -> None:
    evaluator = make_evaluator(EVALUATOR, timeout_s=20.0, program_filename="random.py")
    try:
        result = evaluator.evaluate(NAMED_LIKE_A_MODULE)
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == {"combined_score": 6.0}


THREADED_EVALUATOR = """
from concurrent.futures import ThreadPoolExecutor


def evaluate_candidate(candidate):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda value: candidate.double(value), range(64)))
    assert answers == [2 * value for value in range(64)], answers
    return {"combined_score": float(sum(answers))}
"""

DOUBLING_PROGRAM = """
def double(value):
    return 2 * value
"""


def test_an_evaluator_may_call_the_candidate_from_several_threads(
    make_evaluator: MakeEvaluator,
) -> None:
    """Each thread's call gets its own answer: the calls take turns on the channel."""
    evaluator = make_evaluator(THREADED_EVALUATOR, timeout_s=20.0)
    try:
        result = evaluator.evaluate(DOUBLING_PROGRAM)
    finally:
        evaluator.close()
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == {"combined_score": float(2 * sum(range(64)))}
