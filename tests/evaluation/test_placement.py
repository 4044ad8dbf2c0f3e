"""Processors for the two sides of isolated evaluations: spread and spinning only while
processors are free of this evaluator's other evaluations."""

from __future__ import annotations

import os

import pytest

from evoforge.evaluation.placement import SPIN_WAIT_S, Placement, ProcessorClaims
from evoforge.program import EvalStatus

from .conftest import MakeEvaluator


def test_one_evaluation_gets_two_processors_and_spins() -> None:
    claims = ProcessorClaims([0, 1])
    placement = claims.claim()
    assert placement.judge != placement.subject
    assert {placement.judge, placement.subject} == {0, 1}
    assert placement.spin_s == SPIN_WAIT_S > 0


def test_with_no_processor_free_the_sides_share_one_and_block() -> None:
    claims = ProcessorClaims([0, 1])
    first = claims.claim()
    second = claims.claim()
    assert second.judge == second.subject
    assert second.spin_s == 0.0
    claims.release(first)
    third = claims.claim()  # the processor first gave back is free, but only that one
    assert third.judge == third.subject != second.judge
    assert third.spin_s == 0.0
    claims.release(second)
    claims.release(third)
    again = claims.claim()  # all free again: spread
    assert again.judge != again.subject and again.spin_s > 0


def test_evaluations_spread_while_free_processors_last() -> None:
    claims = ProcessorClaims([0, 1, 2, 3, 4])
    placements = [claims.claim() for _ in range(4)]
    assert [p.spin_s > 0 for p in placements] == [True, True, False, False]
    used = [cpu for p in placements[:2] for cpu in (p.judge, p.subject)]
    assert len(set(used)) == 4  # two spread evaluations share no processor
    # the third took the fifth processor alone; the fourth shares the least loaded one
    assert placements[2].judge not in used
    assert placements[3].judge == placements[3].subject


def test_one_processor_or_none() -> None:
    single = ProcessorClaims([3])
    assert single.claim() == Placement(3, 3, 0.0)
    assert single.claim() == Placement(3, 3, 0.0)
    assert ProcessorClaims([]).claim() == Placement(None, None, 0.0)


def test_by_default_the_processors_this_process_may_use() -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no processor affinity on this platform")
    assert ProcessorClaims().allowed == sorted(os.sched_getaffinity(0))


# -- in real isolated evaluations ------------------------------------------------------------

ISOLATED_EVALUATOR = """
import os


def evaluate_candidate(candidate):
    mine = sorted(os.sched_getaffinity(0))
    theirs = candidate.processors()
    total = sum(candidate.double(index) for index in range(2000))
    return {
        "combined_score": float(total == 2 * sum(range(2000))),
        "judge": float(mine[0]) if len(mine) == 1 else -1.0,
        "subject": float(theirs[0]) if len(theirs) == 1 else -1.0,
    }
"""

PROGRAM = """
import os


def processors():
    return sorted(os.sched_getaffinity(0))


def double(value):
    return 2 * value
"""


def test_an_evaluation_alone_runs_its_sides_on_two_processors(
    make_evaluator: MakeEvaluator,
) -> None:
    allowed = ProcessorClaims().allowed
    if len(allowed) < 2:
        pytest.skip("one processor here")
    evaluator = make_evaluator(ISOLATED_EVALUATOR, timeout_s=30.0)
    try:
        results = [evaluator.evaluate(PROGRAM) for _ in range(2)]
    finally:
        evaluator.close()
    for result in results:
        assert result.status is EvalStatus.OK, result.reason
        assert result.score == 1.0  # 2,000 calls answered right through spinning reads
        judge, subject = result.metrics["judge"], result.metrics["subject"]
        assert judge in allowed and subject in allowed and judge != subject
