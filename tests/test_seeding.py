"""Seeded generators: the same draws as numpy's ``default_rng`` with the same integers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from evoforge.seeding import (
    IterationSeeds,
    PresetWords,
    Reseeded,
    pcg64_state,
    seed_words,
    seeded_generator,
)

_CASES = [
    (0, 0, 0),
    (0, 1, 0),
    (0, 1234, 1),
    (7, 99_999, 4),
    (2**32 - 1, 2**32 - 1, 2**32 - 1),
    (2**32, 5, 2),  # a seed of two words
    (2**64 + 3, 2**40, 1),
    (1, 2, 3, 4, 5, 6),  # more words than the pool holds
    (5,),
    (),
]


@pytest.mark.parametrize("entropy", _CASES)
def test_the_state_is_numpys(entropy: tuple[int, ...]) -> None:
    expected = np.random.PCG64(list(entropy)).state["state"]
    assert pcg64_state(entropy) == (expected["state"], expected["inc"])


def test_many_random_seeds_give_numpys_state() -> None:
    draw = np.random.default_rng(12345)
    for _ in range(500):
        entropy = tuple(int(v) for v in draw.integers(0, 2**40, size=int(draw.integers(1, 7))))
        expected = np.random.PCG64(list(entropy)).state["state"]
        assert pcg64_state(entropy) == (expected["state"], expected["inc"]), entropy


def test_a_reseeded_generator_draws_what_default_rng_draws() -> None:
    reseeded = Reseeded()
    for entropy in [(0, 17, 0), (3, 18, 1), (0, 17, 0)]:
        rng = reseeded.seeded(entropy)
        reference = np.random.default_rng(list(entropy))
        assert rng.random(5).tolist() == reference.random(5).tolist()
        assert rng.integers(1000, size=7).tolist() == reference.integers(1000, size=7).tolist()
        assert rng.random() == reference.random()
        assert rng.integers(2**40) == reference.integers(2**40)  # 32-bit buffers included
        assert (
            rng.choice(40, 3, replace=False).tolist()
            == reference.choice(40, 3, replace=False).tolist()
        )
        assert rng.standard_normal(3).tolist() == reference.standard_normal(3).tolist()
        # a half-used 32-bit buffer from this seed must not leak into the next one
        rng.integers(10, dtype=np.uint32)


def test_negative_seeds_are_refused_as_numpy_refuses_them() -> None:
    with pytest.raises(ValueError):
        np.random.default_rng([-1, 0])
    with pytest.raises(ValueError):
        pcg64_state((-1, 0))


def test_a_seeded_generator_is_default_rngs_and_survives_pickling() -> None:
    for entropy in [(0, 17, 1), (9, 2**33, 3), (1, 2, 3, 4, 5)]:
        ours = seeded_generator(entropy)
        assert ours.random(4).tolist() == np.random.default_rng(list(entropy)).random(4).tolist()
        copied = pickle.loads(pickle.dumps(seeded_generator(entropy)))
        reference = np.random.default_rng(list(entropy))
        assert copied.integers(10**6, size=5).tolist() == reference.integers(10**6, size=5).tolist()
        assert copied.random() == reference.random()


def test_a_seeded_generator_spawns_the_children_default_rng_would() -> None:
    """An operator may ``spawn`` its generator (numpy's way to split a stream): the
    children, and the children of a second spawn, draw what ``default_rng``'s would."""
    for entropy in [(0, 17, 1), (5, 2**40, 2)]:
        ours = seeded_generator(entropy)
        reference = np.random.default_rng(list(entropy))
        for _ in range(2):
            mine = [child.random(3).tolist() for child in ours.spawn(2)]
            theirs = [child.random(3).tolist() for child in reference.spawn(2)]
            assert mine == theirs
        assert ours.random() == reference.random()  # spawning left the parent's draws alone


def test_preset_words_answer_other_requests_as_a_seed_sequence_would() -> None:
    preset = PresetWords((3, 4, 5))
    real = np.random.SeedSequence([3, 4, 5])
    assert (
        preset.generate_state(4, np.uint64).tolist() == real.generate_state(4, np.uint64).tolist()
    )
    assert preset.generate_state(8).tolist() == real.generate_state(8).tolist()
    assert seed_words((3, 4, 5)) == [int(w) for w in real.generate_state(4, np.uint64)]


@pytest.mark.parametrize("seed", [0, 11, 2**32 - 1, 2**40])
def test_iteration_seeds_give_each_iterations_words_in_any_order(seed: int) -> None:
    seeds = IterationSeeds(seed)
    order = [*range(1, 300), 5, 1000, 999, 1, 2**32 - 5, 2**32 + 3]
    for iteration in order:
        for purpose in (0, 1, 4):
            assert seeds.words(iteration, purpose) == seed_words((seed, iteration, purpose))
    rng = seeded_generator((seed, 77, 1), seeds.words(77, 1))
    assert rng.random(3).tolist() == np.random.default_rng([seed, 77, 1]).random(3).tolist()
