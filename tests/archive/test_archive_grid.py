"""MAP-Elites grid: insert outcomes, fixed-range clipping, adaptive re-binning."""

from __future__ import annotations

import pytest

from evoforge.archive.map_elites import Grid
from evoforge.config import FeatureConfig
from evoforge.program import InsertStatus, Program


def prog(pid: str, score: float, seq: int = 0, **features: float) -> Program:
    return Program(id=pid, code=pid, code_hash=pid, seq=seq, score=score, features=dict(features))


FIXED = [FeatureConfig(name="a", bins=10, range=(0.0, 10.0))]


def test_insert_outcomes() -> None:
    grid = Grid(FIXED)
    first = grid.insert(prog("p1", 1.0, a=2.5))
    assert first.status is InsertStatus.NEW_CELL
    assert first.improvement == 1.0
    assert first.cell == (2,)
    better = grid.insert(prog("p2", 3.0, seq=1, a=2.1))
    assert better.status is InsertStatus.IMPROVED
    assert better.improvement == 2.0
    worse = grid.insert(prog("p3", 0.5, seq=2, a=2.9))
    assert worse.status is InsertStatus.NOT_ADDED
    assert worse.improvement == -2.5
    tie = grid.insert(prog("p4", 3.0, seq=3, a=2.0))
    assert tie.status is InsertStatus.NOT_ADDED
    assert tie.improvement == 0.0
    assert len(grid) == 1
    assert grid.get((2,)) is not None and grid.get((2,)).id == "p2"  # type: ignore[union-attr]


def test_neutral_drift_lets_a_tie_no_larger_take_the_cell() -> None:
    grid = Grid(FIXED, neutral_drift=True)
    grid.insert(prog("first", 3.0, seq=0, a=2.5, complexity=20.0))
    outcome, evicted = grid.insert_and_evict(prog("same", 3.0, seq=1, a=2.1, complexity=20.0))
    assert outcome.status is InsertStatus.TIED and outcome.improvement == 0.0
    assert [p.id for p in evicted] == ["first"]
    assert grid.get((2,)).id == "same"  # type: ignore[union-attr]
    smaller = grid.insert(prog("smaller", 3.0, seq=2, a=2.2, complexity=12.0))
    assert smaller.status is InsertStatus.TIED
    larger = grid.insert(prog("larger", 3.0, seq=3, a=2.3, complexity=13.0))
    assert larger.status is InsertStatus.NOT_ADDED
    worse = grid.insert(prog("worse", 2.0, seq=4, a=2.4, complexity=1.0))
    assert worse.status is InsertStatus.NOT_ADDED
    assert grid.get((2,)).id == "smaller" and len(grid) == 1  # type: ignore[union-attr]


def test_neutral_drift_measures_the_code_when_complexity_is_no_feature() -> None:
    grid = Grid(FIXED, neutral_drift=True)
    first = Program(id="long", code="x = 1 + 2 + 3", code_hash="l", score=1.0, features={"a": 1})
    grid.insert(first)
    longer = Program(
        id="longer", code="x = 1 + 2 + 3 + 4", code_hash="L", seq=1, score=1.0, features={"a": 1}
    )
    assert grid.insert(longer).status is InsertStatus.NOT_ADDED
    short = Program(id="short", code="x = 6", code_hash="s", seq=2, score=1.0, features={"a": 1})
    assert grid.insert(short).status is InsertStatus.TIED
    assert grid.get((1,)).id == "short"  # type: ignore[union-attr]


def test_fixed_range_clips_into_edge_bins() -> None:
    grid = Grid(FIXED)
    assert grid.insert(prog("low", 1.0, a=-100.0)).cell == (0,)
    assert grid.insert(prog("high", 1.0, a=1e9)).cell == (9,)
    assert grid.insert(prog("edge", 1.0, a=10.0)).cell == (9,)
    assert grid.ranges() == {"a": (0.0, 10.0)}


def test_missing_and_non_finite_features_count_as_zero() -> None:
    grid = Grid(FIXED)
    assert grid.insert(prog("none", 1.0)).cell == (0,)
    assert grid.cell_of(prog("nan", 1.0, a=float("nan"))) == (0,)


def test_unscored_program_is_refused() -> None:
    grid = Grid(FIXED)
    unscored = Program(id="u", code="u", code_hash="u", features={"a": 1.0})
    with pytest.raises(ValueError, match="program u has no score"):
        grid.insert(unscored)
    assert grid.insert(prog("scored", 1.0, a=1.0)).status is InsertStatus.NEW_CELL


def test_adaptive_range_rebins_and_keeps_the_best() -> None:
    grid = Grid([FeatureConfig(name="a", bins=4)])
    grid.insert(prog("p0", 1.0, seq=0, a=0.0))
    grid.insert(prog("p1", 5.0, seq=1, a=1.0))
    grid.insert(prog("p2", 2.0, seq=2, a=2.0))
    assert len(grid) == 3
    # A far value widens the range so much that 0, 1 and 2 share one cell.
    outcome, evicted = grid.insert_and_evict(prog("far", 0.1, seq=3, a=100.0))
    assert outcome.status is InsertStatus.NEW_CELL
    assert sorted(p.id for p in evicted) == ["p0", "p2"]
    ids = {p.id for p in grid.elites()}
    assert ids == {"p1", "far"}  # the best of the collided ones survives
    low, high = grid.ranges()["a"]  # type: ignore[misc]
    assert low == 0.0 and high >= 100.0


def test_adaptive_range_grows_downwards_too() -> None:
    grid = Grid([FeatureConfig(name="a", bins=10)])
    grid.insert(prog("p0", 1.0, a=5.0))
    grid.insert(prog("p1", 1.0, seq=1, a=6.0))
    grid.insert(prog("p2", 1.0, seq=2, a=-6.0))
    low, high = grid.ranges()["a"]  # type: ignore[misc]
    assert low <= -6.0 and high >= 6.0
    assert grid.cell_of(prog("q", 0.0, a=-6.0)) == (0,)
    assert grid.cell_of(prog("q", 0.0, a=6.0))[0] >= 8


def test_rebin_tie_keeps_earlier_seq() -> None:
    grid = Grid([FeatureConfig(name="a", bins=2)])
    grid.insert(prog("late", 1.0, seq=5, a=1.0))
    grid.insert(prog("early", 1.0, seq=1, a=0.0))
    grid.insert(prog("far", 0.0, seq=6, a=1000.0))
    assert {p.id for p in grid.elites()} == {"early", "far"}


def test_neighbours_are_adjacent_cells_inside_the_grid() -> None:
    grid = Grid(
        [
            FeatureConfig(name="a", bins=3, range=(0.0, 3.0)),
            FeatureConfig(name="b", bins=3, range=(0.0, 3.0)),
        ]
    )
    assert grid.neighbours((0, 0)) == [(0, 1), (1, 0), (1, 1)]
    assert len(grid.neighbours((1, 1))) == 8
    assert grid.capacity == 9


def test_elites_in_canonical_order() -> None:
    grid = Grid(FIXED)
    for seq in (5, 1, 3):
        grid.insert(prog(f"p{seq}", 1.0, seq=seq, a=float(seq)))
    assert [p.seq for p in grid.elites()] == [1, 3, 5]
    assert prog("p3", 1.0, seq=3, a=3.0) in grid


def test_feature_values_near_the_largest_floats_never_break_the_grid() -> None:
    """A hostile evaluator result: feature values whose differences overflow. The bounds
    stay finite and every program lands in a cell (no NaN position, no exception)."""
    largest = 1.7976931348623157e308
    grid = Grid([FeatureConfig(name="a", bins=10, range=None)])
    values = [1.0, largest, -largest, 0.0, largest / 2, -largest / 3]
    for seq, value in enumerate(values):
        outcome = grid.insert(prog(f"p{seq}", float(seq), seq=seq, a=value))
        assert 0 <= outcome.cell[0] < 10
    (low, high) = grid.ranges()["a"]  # type: ignore[misc]
    assert (low, high) == (-largest, largest)
    assert grid.cell_of(prog("top", 0.0, a=largest)) == (9,)
    assert grid.cell_of(prog("bottom", 0.0, a=-largest)) == (0,)
    assert grid.cell_of(prog("middle", 0.0, a=0.0)) == (5,)
