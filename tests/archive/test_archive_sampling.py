"""Pure selection rules."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.archive import sampling
from evoforge.archive.sampling import ParentMode
from evoforge.program import Program


def prog(pid: str, score: float, seq: int = 0) -> Program:
    return Program(id=pid, code=pid, code_hash=pid, seq=seq, score=score)


def test_rank_weights_are_scale_free_and_share_ties() -> None:
    weights = sampling.rank_weights([3.0, 1.0, 3.0, -5.0])
    assert weights[0] == weights[2] > weights[1] > weights[3]
    assert weights.sum() == pytest.approx(1.0)
    scaled = sampling.rank_weights([3e9, 1e9, 3e9, -5e9])
    assert np.allclose(weights, scaled)


def test_choose_mode_rates_empirically() -> None:
    rng = np.random.default_rng(0)
    draws = [sampling.choose_mode((3.0, 1.0, 1.0), rng) for _ in range(10_000)]
    assert draws.count(ParentMode.EXPLOIT) / 10_000 == pytest.approx(0.6, abs=0.02)
    assert draws.count(ParentMode.EXPLORE) / 10_000 == pytest.approx(0.2, abs=0.02)
    assert draws.count(ParentMode.TOURNAMENT) / 10_000 == pytest.approx(0.2, abs=0.02)
    only = {sampling.choose_mode((0.0, 0.0, 1.0), rng) for _ in range(100)}
    assert only == {ParentMode.TOURNAMENT}


def test_select_parent_modes_and_determinism() -> None:
    candidates = [prog(f"p{k}", float(k), k) for k in range(20)]
    rates = (0.6, 0.2, 0.2)
    first = [
        sampling.select_parent(candidates, rates, 3, np.random.default_rng(s)) for s in range(50)
    ]
    again = [
        sampling.select_parent(candidates, rates, 3, np.random.default_rng(s)) for s in range(50)
    ]
    assert first == again
    with pytest.raises(ValueError):
        sampling.select_parent([], rates, 3, np.random.default_rng(0))


def test_tournament_prefers_better_and_uses_all_when_few() -> None:
    candidates = [prog("a", 1.0), prog("b", 2.0)]
    rng = np.random.default_rng(0)
    assert {sampling.tournament(candidates, 5, rng).id for _ in range(20)} == {"b"}
    many = [prog(f"p{k}", float(k), k) for k in range(30)]
    wins = [sampling.tournament(many, 3, rng).score or 0.0 for _ in range(2000)]
    # expected max of 3 distinct uniform draws from 0..29 is about 22
    assert np.mean(wins) == pytest.approx(21.75, abs=1.0)


def test_mixed_quotas() -> None:
    assert sampling.mixed_quotas(0) == (0, 0, 0)
    assert sampling.mixed_quotas(1) == (1, 0, 0)
    assert sampling.mixed_quotas(2) == (1, 1, 0)
    assert sampling.mixed_quotas(7) == (3, 2, 2)


@pytest.mark.parametrize("size", [1, 2, 9, 64, 65, 300])
def test_weighted_index_draws_what_choice_draws(size: int) -> None:
    """The same index as ``rng.choice(n, p=...)`` from the same generator state, and the
    generator left in the same state (runs stay identical to runs that used choice)."""
    maker = np.random.default_rng(size)
    for trial in range(200):
        weights = maker.random(size) * (maker.random(size) > 0.4)
        if weights.sum() == 0:
            weights[trial % size] = 1.0
        probabilities = weights / weights.sum()
        ours, theirs = np.random.default_rng([size, trial]), np.random.default_rng([size, trial])
        for _ in range(3):
            assert sampling.weighted_index(ours, probabilities) == int(
                theirs.choice(size, p=probabilities)
            )
        assert ours.random() == theirs.random()


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 128, 129, 300, 1000])
def test_numpy_sum_adds_in_numpys_order(size: int) -> None:
    maker = np.random.default_rng(size)
    for _ in range(100):
        values = maker.random(size) * 10.0 ** maker.uniform(-6, 6, size=size)
        assert sampling.numpy_sum(values.tolist()) == float(values.sum())


@pytest.mark.parametrize("size", [1, 2, 5, 16, 64, 65, 200])
@pytest.mark.parametrize("dimensions", [1, 2, 3, 8])
def test_diverse_indices_pick_what_diverse_positions_picks(size: int, dimensions: int) -> None:
    """The plain-Python picks are numpy's, from the same generator state, and leave the
    generator in the same state (a run is the same whichever computed them)."""
    maker = np.random.default_rng([size, dimensions])
    shape = [int(maker.integers(1, 9)) for _ in range(dimensions)]
    for trial in range(60):
        cells = [tuple(int(maker.integers(b)) for b in shape) for _ in range(size)]
        numbering: dict[tuple[int, ...], int] = {}
        cell_ids = [numbering.setdefault(cell, len(numbering)) for cell in cells]
        parent = tuple(int(maker.integers(b)) for b in shape)
        if trial % 5 == 0:  # every candidate in the parent's cell: all distances 0
            cells = [parent] * size
            cell_ids = [0] * size
        points = [sampling.normalised_point(cell, shape) for cell in cells]
        origin = sampling.normalised_point(parent, shape)
        assert np.array_equal(np.asarray(points), sampling.normalised_cells(cells, shape))
        count = 1 + trial % 4
        ours, theirs = np.random.default_rng([trial, 1]), np.random.default_rng([trial, 1])
        expected = sampling.diverse_positions(
            sampling.normalised_cells(cells, shape),
            np.asarray(cell_ids),
            sampling.normalised_cells([parent], shape)[0],
            count,
            theirs,
        )
        assert sampling.diverse_indices(points, cell_ids, origin, count, ours) == expected
        assert ours.random() == theirs.random()
