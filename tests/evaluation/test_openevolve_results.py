"""The result shapes OpenEvolve evaluators return, judged as OpenEvolve scores them."""

from __future__ import annotations

import pytest

from evoforge.program import EvalStatus

from .conftest import MakeEvaluator


def program(body: str) -> str:
    """A candidate whose ``run()`` returns ``body`` evaluated (an expression)."""
    return f"def run():\n    return {body}\n"


def test_artifacts_inside_the_metrics_are_artifacts(make_evaluator: MakeEvaluator) -> None:
    body = "{'combined_score': 0.5, 'correct': 2, 'artifacts': {'status': 'close', 'n': 3}}"
    result = make_evaluator().evaluate(program(body))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.5
    assert result.metrics == {"combined_score": 0.5, "correct": 2.0}
    assert result.artifacts["status"] == "close" and result.artifacts["n"] == "3"


def test_metrics_and_artifacts_side_by_side(make_evaluator: MakeEvaluator) -> None:
    body = "{'metrics': {'combined_score': 0.0, 'accuracy': 0.0}, 'artifacts': {'error': 'bad'}}"
    result = make_evaluator().evaluate(program(body))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.0
    assert result.metrics == {"combined_score": 0.0, "accuracy": 0.0}
    assert result.artifacts["error"] == "bad"


def test_text_metrics_are_kept_as_artifacts_and_are_not_fitness(
    make_evaluator: MakeEvaluator,
) -> None:
    body = "{'a': 1.0, 'b': 3, 'note': 'fast', 'missing': None, 'xs': [1, 2], 'd': {'k': 1}}"
    result = make_evaluator().evaluate(program(body))
    assert result.status is EvalStatus.OK, result.reason
    assert result.metrics == {"a": 1.0, "b": 3.0}
    assert result.score == pytest.approx(2.0)  # the mean of the numbers alone
    assert result.artifacts["metric:note"] == "fast"
    assert result.artifacts["metric:missing"] == "None"
    assert result.artifacts["metric:xs"] == "[1, 2]"
    assert result.artifacts["metric:d"] == "{'k': 1}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # numbers that cannot be scores are still invalid, text next to them or not
        ("{'combined_score': float('nan'), 'note': 'x'}", "'combined_score' is not finite"),
        ("{'a': 1.0, 'b': float('inf'), 'note': 'x'}", "'b' is not finite"),
        ("{'a': 1.0, 'big': 10**400}", "'big' is not finite"),
        # the fitness the evaluator meant is not a number: no falling back to a mean
        ("{'combined_score': 'the best', 'a': 1.0}", "'combined_score' is not a number"),
        # nothing numeric at all
        ("{'note': 'fast', 'missing': None}", "no score"),
        ("{'metrics': {'note': 'x'}, 'artifacts': {}}", "no score"),
        ("{'artifacts': {'only': 'text'}}", "no score"),
    ],
)
def test_results_without_a_usable_number_are_invalid(
    make_evaluator: MakeEvaluator, body: str, expected: str
) -> None:
    result = make_evaluator().evaluate(program(body))
    assert result.status is EvalStatus.INVALID
    assert expected in result.reason
    assert result.score is None


def test_other_keys_beside_metrics_and_artifacts_are_metrics(
    make_evaluator: MakeEvaluator,
) -> None:
    body = "{'metrics': {'a': 1.0}, 'artifacts': {}, 'combined_score': 0.25}"
    result = make_evaluator().evaluate(program(body))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.25
    assert result.metrics == {"combined_score": 0.25}
    assert result.artifacts["metric:metrics"] == "{'a': 1.0}"
