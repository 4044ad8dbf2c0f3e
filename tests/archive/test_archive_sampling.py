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
