"""Arms added to and removed from a bandit while it learns (a growing archive of choices)."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.config import BanditConfig
from evoforge.selection.bandits import make_bandit


@pytest.mark.parametrize("policy", ["ucb1", "thompson", "exp3"])
def test_added_arm_is_chosen_and_removed_arm_is_forgotten(policy: str) -> None:
    bandit = make_bandit(["a", "b"], BanditConfig(policy=policy))
    rng = np.random.default_rng(0)
    for _ in range(20):
        bandit.update(bandit.select(rng), 0.2)
    bandit.add_arm("c")
    assert bandit.arms == ("a", "b", "c")
    chosen = {bandit.select(np.random.default_rng(seed)) for seed in range(40)}
    assert "c" in chosen
    bandit.update("c", 1.0)
    bandit.remove_arm("a")
    assert bandit.arms == ("b", "c") and set(bandit.stats()) == {"b", "c"}
    assert {bandit.select(np.random.default_rng(seed)) for seed in range(20)} <= {"b", "c"}
    restored = make_bandit(["b", "c"], BanditConfig(policy=policy))
    restored.load_state(bandit.state())
    assert restored.state() == bandit.state()
    with pytest.raises(ValueError, match="exists"):
        bandit.add_arm("b")
    with pytest.raises(KeyError):
        bandit.remove_arm("a")
    bandit.remove_arm("b")
    with pytest.raises(ValueError, match="at least one arm"):
        bandit.remove_arm("c")
