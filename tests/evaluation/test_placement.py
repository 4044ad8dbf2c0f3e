"""Processors for the two sides of isolated evaluations: spread and spinning only while
processors are free of this evaluator's other evaluations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from evoforge.evaluation import placement as placement_module
from evoforge.evaluation.placement import (
    SPIN_WAIT_S,
    Placement,
    ProcessorClaims,
    default_lock_dir,
)
from evoforge.program import EvalStatus

from .conftest import MakeEvaluator


def test_one_evaluation_gets_two_processors_and_spins() -> None:
    claims = ProcessorClaims([0, 1], lock_dir=None)
    placement = claims.claim()
    assert placement.judge != placement.subject
    assert {placement.judge, placement.subject} == {0, 1}
    assert placement.spin_s == SPIN_WAIT_S > 0


def test_with_no_processor_free_the_sides_share_one_and_block() -> None:
    claims = ProcessorClaims([0, 1], lock_dir=None)
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
    claims = ProcessorClaims([0, 1, 2, 3, 4], lock_dir=None)
    placements = [claims.claim() for _ in range(4)]
    assert [p.spin_s > 0 for p in placements] == [True, True, False, False]
    used = [cpu for p in placements[:2] for cpu in (p.judge, p.subject)]
    assert len(set(used)) == 4  # two spread evaluations share no processor
    # the third took the fifth processor alone; the fourth shares the least loaded one
    assert placements[2].judge not in used
    assert placements[3].judge == placements[3].subject


def test_one_processor_or_none() -> None:
    single = ProcessorClaims([3], lock_dir=None)
    assert single.claim() == Placement(3, 3, 0.0)
    assert single.claim() == Placement(3, 3, 0.0)
    assert ProcessorClaims([], lock_dir=None).claim() == Placement(None, None, 0.0)


def test_by_default_the_processors_this_process_may_use() -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no processor affinity on this platform")
    assert ProcessorClaims().allowed == sorted(os.sched_getaffinity(0))


# -- across processes: the processors' locks --------------------------------------------------


def test_processors_another_process_holds_are_not_free(tmp_path: Path) -> None:
    ours = ProcessorClaims([0, 1, 2], lock_dir=tmp_path)
    other = ProcessorClaims([0, 1, 2], lock_dir=tmp_path)  # as another process would
    first = ours.claim()
    assert first.judge != first.subject and len(first.held) == 2
    second = other.claim()  # one processor left free: both sides on it, no spinning
    assert second.judge == second.subject not in (first.judge, first.subject)
    assert second.spin_s == 0.0 and len(second.held) == 1
    third = other.claim()  # none free: its least loaded processor, shared and marked
    assert third.judge == third.subject in (first.judge, first.subject)
    assert third.spin_s == 0.0 and len(third.held) == 1
    ours.release(first)
    # the processor `third` shares is not free for `ours` now: one free, no spreading
    fourth = ours.claim()
    assert fourth.judge == fourth.subject != third.judge and fourth.spin_s == 0.0
    for claims, placement in ((ours, fourth), (other, second), (other, third)):
        claims.release(placement)
    again = other.claim()
    assert again.judge != again.subject and again.spin_s > 0
    other.release(again)


def test_a_dead_processs_processors_are_free_again(tmp_path: Path) -> None:
    child = os.fork()
    if child == 0:  # claims two processors and dies without giving them back
        ProcessorClaims([0, 1], lock_dir=tmp_path).claim()
        os._exit(0)
    os.waitpid(child, 0)
    placement = ProcessorClaims([0, 1], lock_dir=tmp_path).claim()
    assert placement.judge != placement.subject and placement.spin_s > 0


def test_an_unusable_lock_directory_leaves_the_choice_to_this_process(tmp_path: Path) -> None:
    claims = ProcessorClaims([0, 1], lock_dir=tmp_path / "missing")
    placement = claims.claim()
    assert placement.judge != placement.subject and placement.held == ()


def test_the_lock_directory_is_this_users_own() -> None:
    path = default_lock_dir()
    if path is None:
        pytest.skip("no usable temporary directory here")
    info = os.lstat(path)
    assert info.st_uid == os.getuid() and (info.st_mode & 0o077) == 0


# -- in real isolated evaluations ------------------------------------------------------------


@contextlib.contextmanager
def _every_processor_claimed_in(lock_dir: Path | None, allowed: list[int]) -> Iterator[None]:
    """Every processor of ``allowed`` held in ``lock_dir`` (by claims as another process
    makes them) until the block ends; nothing where ``lock_dir`` is ``None``."""
    other = ProcessorClaims(allowed, lock_dir=lock_dir)
    held = [other.claim() for _ in allowed]
    try:
        yield
    finally:
        for taken in held:
            other.release(taken)


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
    make_evaluator: MakeEvaluator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = ProcessorClaims(lock_dir=None).allowed
    if len(allowed) < 2:
        pytest.skip("one processor here")
    # Alone on this machine: the evaluator's locks in a directory of its own. Every other
    # evoforge process of this user (a parallel test worker's evaluations, played here by
    # a claim on every processor) locks them in the shared one, which it never reads.
    with _every_processor_claimed_in(default_lock_dir(), allowed):
        monkeypatch.setattr(placement_module, "default_lock_dir", lambda: tmp_path / "locks")
        (tmp_path / "locks").mkdir()
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
