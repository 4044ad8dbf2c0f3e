"""Parent sources on a crafted archive: what each source picks, and that the parent-source
bandit, paid from insert outcomes, moves towards the source whose children pay."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.archive.islands import Archive
from evoforge.archive.parents import pick_parent
from evoforge.config import PARENT_SOURCES, ArchiveConfig, BanditConfig, FeatureConfig
from evoforge.program import Program
from evoforge.selection.bandits import make_bandit
from evoforge.selection.rewards import reward_from_outcome

FEATURES = [
    FeatureConfig(name="a", bins=10, range=(0.0, 10.0)),
    FeatureConfig(name="b", bins=10, range=(0.0, 10.0)),
]


def prog(pid: str, score: float, seq: int, a: float, b: float) -> Program:
    return Program(
        id=pid, code=f"x = {pid!r}", code_hash=pid, seq=seq, score=score, features={"a": a, "b": b}
    )


def crafted() -> tuple[Archive, Program]:
    """Two islands: island 0 holds the seed (score 0) and 20 better programs; island 1
    holds three programs, the best of the run among them."""
    archive = Archive(
        ArchiveConfig.model_validate({"num_islands": 2, "features": FEATURES, "elite_size": 8})
    )
    seed = prog("seed", 0.0, 0, 9.5, 9.5)
    archive.insert(seed, 0)
    for k in range(20):
        archive.insert(prog(f"a{k}", 1.0 + k, 1 + k, float(k % 5), float(k // 5)), 0)
    for k in range(3):
        archive.insert(prog(f"b{k}", 50.0 + k, 30 + k, 5.0 + k, 5.0), 1)
    return archive, seed


def test_each_source_picks_what_it_promises() -> None:
    archive, seed = crafted()
    rng = np.random.default_rng(0)
    assert pick_parent(archive, "seed", 0, seed, rng).parent.id == "seed"
    assert pick_parent(archive, "best", 0, seed, rng).parent.id == "b2"  # the global best
    pair = pick_parent(archive, "pair", 0, seed, rng, inspirations=2)
    assert pair.parent.id.startswith(("a", "seed"))
    assert pair.inspirations is not None
    assert [p.id for p in pair.inspirations] == ["b2", "b1"]  # the other island's best
    # a seed without a score falls back to an elite
    unscored = Program(id="seed", code="x = 1", code_hash="s")
    assert pick_parent(archive, "seed", 1, unscored, rng).parent.id.startswith("b")
    with pytest.raises(ValueError, match="unknown parent source"):
        pick_parent(archive, "nowhere", 0, seed, rng)


def test_temperature_flattens_elite_selection() -> None:
    archive, seed = crafted()
    draws = 3000

    def share_of_top(temperature: float) -> float:
        rng = np.random.default_rng(1)
        picks = [
            pick_parent(archive, "elite", 0, seed, rng, temperature=temperature).parent.id
            for _ in range(draws)
        ]
        return picks.count("a19") / draws

    hot, cold = share_of_top(8.0), share_of_top(1.0)
    assert cold > 2 * hot  # the best elite loses most of its advantage when annealed
    assert hot == pytest.approx(1 / 21, abs=0.03)  # close to uniform over 21 elites


def test_the_bandit_moves_towards_the_source_that_pays() -> None:
    """Only children of the seed improve on it (a problem whose good region is the
    seed's); the reward is what the archive says, exactly as for operators."""
    archive, seed = crafted()
    bandit = make_bandit(list(PARENT_SOURCES), BanditConfig())
    rng = np.random.default_rng(3)
    uses = dict.fromkeys(PARENT_SOURCES, 0)
    best_score = 52.0
    for step in range(400):
        source = bandit.select(rng)
        uses[source] += 1
        parent = pick_parent(archive, source, 0, seed, rng).parent
        if parent.id == "seed":  # a fresh one-edit variant of the seed: somewhere new
            score = 60.0 + float(rng.random())
            a, b = rng.uniform(0.0, 10.0, size=2)
        else:  # everything else only breaks its parent: a worse program in its cell
            score = (parent.score or 0.0) - 100.0
            a, b = parent.features["a"], parent.features["b"]
        outcome = archive.insert(prog(f"c{step}", score, 100 + step, a, b), 0)
        reward = reward_from_outcome(
            outcome, child_score=score, parent_score=parent.score, best_score_before=best_score
        )
        best_score = max(best_score, score)
        bandit.update(source, reward)
    assert max(uses, key=uses.__getitem__) == "seed"
    assert uses["seed"] > 0.5 * sum(uses.values())
    assert bandit.stats()["seed"]["mean_reward"] > max(
        stats["mean_reward"] for arm, stats in bandit.stats().items() if arm != "seed"
    )
