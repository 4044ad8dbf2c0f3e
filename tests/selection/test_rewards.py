"""Rewards from insert outcomes: ordering, range and scale-freedom."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evoforge.program import InsertOutcome, InsertStatus
from evoforge.selection.rewards import FLOOR, reward_from_outcome


def reward(
    status: InsertStatus | None, child: float, parent: float, best: float, gain: float = 0.0
) -> float:
    outcome = None if status is None else InsertOutcome(status, gain)
    return reward_from_outcome(
        outcome, child_score=child, parent_score=parent, best_score_before=best
    )


def test_failures_and_not_added_earn_nothing() -> None:
    assert reward(None, 5.0, 1.0, 10.0) == 0.0
    assert (
        reward_from_outcome(
            InsertOutcome(InsertStatus.NEW_CELL),
            child_score=None,
            parent_score=1.0,
            best_score_before=2.0,
        )
        == 0.0
    )
    assert reward(InsertStatus.NOT_ADDED, 0.9, 1.0, 10.0, gain=-0.1) == 0.0
    # a tie that took its cell moved the search but gained nothing, even above its parent
    assert reward(InsertStatus.TIED, 1.5, 1.0, 10.0) == 0.0


def test_new_cells_earn_a_base_and_improvements_earn_their_gain() -> None:
    flat_new_cell = reward(InsertStatus.NEW_CELL, 1.0, 1.0, 10.0, gain=1.0)
    better_new_cell = reward(InsertStatus.NEW_CELL, 1.1, 1.0, 10.0, gain=1.1)
    tiny_improvement = reward(InsertStatus.IMPROVED, 1.0, 1.0, 10.0, gain=1e-9)
    small_improvement = reward(InsertStatus.IMPROVED, 1.0, 1.0, 10.0, gain=0.001)
    one_percent = reward(InsertStatus.IMPROVED, 1.0, 1.0, 10.0, gain=0.01)
    big_improvement = reward(InsertStatus.IMPROVED, 1.0, 1.0, 10.0, gain=0.5)
    assert flat_new_cell == 0.5
    assert 0.5 < better_new_cell < 1.0
    assert tiny_improvement == FLOOR > 0.0  # it changed the archive: still a success
    assert FLOOR < small_improvement < 0.1 < big_improvement < 1.0
    assert one_percent == pytest.approx(0.5)
    assert reward(InsertStatus.NEW_CELL, 0.0, 0.0, float("nan"), gain=0.0) == 0.5
    first = reward_from_outcome(
        InsertOutcome(InsertStatus.NEW_CELL, 1.0),
        child_score=1.0,
        parent_score=None,
        best_score_before=None,
    )
    assert first == 1.0


def test_a_new_best_earns_more_the_more_it_gains_over_the_best() -> None:
    """A polishing step that edges past the best is worth little more than the cell
    improvement it is; a jump well past the best approaches the full reward."""
    as_cell = reward(InsertStatus.IMPROVED, 10.0 - 1e-6, 9.99, 10.0, gain=0.001)
    edging_past = reward(InsertStatus.IMPROVED, 10.0 + 1e-6, 9.99, 10.0, gain=0.001)
    jump = reward(InsertStatus.IMPROVED, 11.0, 9.99, 10.0, gain=0.001)
    huge_jump = reward(InsertStatus.IMPROVED, 100.0, 9.99, 10.0, gain=0.001)
    assert as_cell < edging_past < as_cell + 0.01
    assert edging_past < jump < huge_jump < 1.0
    assert jump > 0.9
    new_cell_best = reward(InsertStatus.NEW_CELL, 10.0 + 1e-6, 9.99, 10.0, gain=10.0)
    assert new_cell_best >= reward(InsertStatus.NEW_CELL, 10.0 - 1e-6, 9.99, 10.0, gain=10.0)


def test_new_cell_worse_than_parent_gets_the_base() -> None:
    assert reward(InsertStatus.NEW_CELL, 0.5, 1.0, 10.0, gain=0.5) == 0.5


def test_scale_free() -> None:
    small = reward(InsertStatus.IMPROVED, 1.0, 1.0, 100.0, gain=0.05)
    large = reward(InsertStatus.IMPROVED, 1e6, 1e6, 1e8, gain=5e4)
    negative = reward(InsertStatus.IMPROVED, -1e6, -1e6, 1e8, gain=5e4)
    assert small == pytest.approx(large) == pytest.approx(negative)


@given(
    status=st.sampled_from([None, *InsertStatus]),
    child=st.floats(allow_nan=True, allow_infinity=True),
    parent=st.floats(allow_nan=True, allow_infinity=True),
    best=st.floats(allow_nan=True, allow_infinity=True),
    gain=st.floats(allow_nan=True, allow_infinity=True),
)
def test_always_in_unit_interval(
    status: InsertStatus | None, child: float, parent: float, best: float, gain: float
) -> None:
    value = reward(status, child, parent, best, gain)
    assert 0.0 <= value <= 1.0
