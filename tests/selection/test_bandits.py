"""Bandits: learning the better arm, exact state round trips, non-stationarity, stats."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.config import BanditConfig
from evoforge.selection.bandits import EXP3, UCB1, Bandit, ThompsonSampling, make_bandit

POLICIES = ["ucb1", "thompson", "exp3"]


def bandit(policy: str, arms: list[str] | None = None, **settings_: Any) -> Bandit:
    return make_bandit(
        arms or ["good", "bad"], BanditConfig.model_validate({"policy": policy, **settings_})
    )


def run(b: Bandit, means: dict[str, float], pulls: int, rng: np.random.Generator) -> list[str]:
    chosen = []
    for _ in range(pulls):
        arm = b.select(rng)
        b.update(arm, float(rng.random() < means[arm]))
        chosen.append(arm)
    return chosen


def test_make_bandit_picks_the_policy() -> None:
    assert isinstance(bandit("ucb1"), UCB1)
    assert isinstance(bandit("thompson"), ThompsonSampling)
    assert isinstance(bandit("exp3"), EXP3)
    with pytest.raises(ValueError):
        make_bandit([], BanditConfig())
    with pytest.raises(ValueError):
        make_bandit(["a", "a"], BanditConfig())


@pytest.mark.parametrize("policy", POLICIES)
def test_concentrates_on_the_better_arm(policy: str) -> None:
    b = bandit(policy, exploration=0.5)
    chosen = run(b, {"good": 0.7, "bad": 0.3}, 600, np.random.default_rng(1))
    assert chosen[-200:].count("good") > 140


def test_ucb1_tries_every_arm_once_in_order() -> None:
    b = bandit("ucb1", arms=["a", "b", "c"])
    rng = np.random.default_rng(0)
    order = []
    for _ in range(3):
        arm = b.select(rng)
        order.append(arm)
        b.update(arm, 0.0)
    assert order == ["a", "b", "c"]


def select_batch(b: Bandit, size: int, pending: dict[str, int] | None = None) -> list[str]:
    """``size`` selections made before any payoff, each counted in flight for the next."""
    in_flight = dict(pending or {})
    rng = np.random.default_rng(0)
    chosen = []
    for _ in range(size):
        arm = b.select(rng, in_flight)
        in_flight[arm] = in_flight.get(arm, 0) + 1
        chosen.append(arm)
    return chosen


def test_ucb1_spreads_a_first_batch_over_the_arms_in_flight() -> None:
    """Asked for 5 pulls before any payoff, UCB1 tries each of 3 arms once, in order, then
    the least in flight; without the pulls in flight it would repeat the first arm."""
    b = bandit("ucb1", arms=["a", "b", "c"])
    assert select_batch(b, 5) == ["a", "b", "c", "a", "b"]
    assert [b.select(np.random.default_rng(0)) for _ in range(3)] == ["a", "a", "a"]


def test_ucb1_gives_an_unpaid_arm_its_first_try_before_repeating_a_paid_one() -> None:
    b = bandit("ucb1", arms=["a", "b", "c"])
    b.update("a", 1.0)  # a paid, b in flight, c never tried
    assert b.select(np.random.default_rng(0), {"b": 1}) == "c"


def test_ucb1_does_not_starve_an_arm_whose_first_pull_is_still_in_flight() -> None:
    """Pulls of a and b come back at once with nothing (children refused before
    evaluation); c's first pull is still being evaluated. c is ranked with the best mean a
    reward can have, so the next selections go to c, not round and round a and b."""
    b = bandit("ucb1", arms=["a", "b", "c"])
    for _ in range(4):
        b.update("a", 0.0)
        b.update("b", 0.0)
    assert select_batch(b, 3, {"c": 1}) == ["c", "c", "c"]
    # its bonus shrinks with every pull in flight: far enough, the others get their turn
    assert "a" in select_batch(b, 60, {"c": 1})


def test_ucb1_counts_pulls_in_flight_against_an_arms_bonus() -> None:
    """Two arms with the same record: the one with pulls in flight loses its tie, and a
    batch alternates between them instead of piling onto the first."""
    b = bandit("ucb1", arms=["a", "b"])
    for arm in ("a", "b", "a", "b"):
        b.update(arm, 0.5)
    rng = np.random.default_rng(0)
    assert b.select(rng) == "a"
    assert b.select(rng, {"a": 1}) == "b"
    assert select_batch(b, 6) == ["a", "b", "a", "b", "a", "b"]
    # a much better arm still wins with a pull of its own in flight
    for _ in range(20):
        b.update("a", 1.0)
        b.update("b", 0.0)
    assert b.select(rng, {"a": 1}) == "a"


@pytest.mark.parametrize("policy", ["thompson", "exp3"])
def test_randomised_policies_accept_pulls_in_flight(policy: str) -> None:
    """Their draws spread a batch by themselves: pending leaves the choice unchanged."""
    b = bandit(policy, arms=["a", "b", "c"])
    b.update("b", 1.0)
    with_pending = b.select(np.random.default_rng(3), {"a": 4, "b": 2})
    assert with_pending == b.select(np.random.default_rng(3))


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize(
    "settings_", [{}, {"discount": 0.9}, {"window": 5}, {"discount": 0.95, "window": 7}]
)
@settings(max_examples=15, deadline=None)
@given(
    updates=st.lists(
        st.tuples(st.integers(0, 2), st.floats(0.0, 1.0, allow_nan=False)), max_size=40
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_state_round_trip_is_exact(
    policy: str, settings_: dict[str, Any], updates: list[tuple[int, float]], seed: int
) -> None:
    arms = ["x", "y", "z"]
    original = bandit(policy, arms, **settings_)
    for index, reward in updates:
        original.update(arms[index], reward)
    state = original.state()
    restored = bandit(policy, arms, **settings_)
    restored.load_state(json.loads(json.dumps(state)))
    assert restored.state() == state
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    for step in range(20):
        arm_a, arm_b = original.select(rng_a), restored.select(rng_b)
        assert arm_a == arm_b
        reward = (step * 0.37) % 1.0
        original.update(arm_a, reward)
        restored.update(arm_b, reward)
    assert original.state() == restored.state()
    assert original.stats() == restored.stats()


def test_load_state_rejects_mismatches() -> None:
    state = bandit("ucb1").state()
    with pytest.raises(ValueError):
        bandit("exp3").load_state(state)
    with pytest.raises(ValueError):
        bandit("ucb1", arms=["good", "other"]).load_state(state)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("settings_", [{"discount": 0.97}, {"window": 30}])
def test_non_stationary_settings_adapt_after_a_switch(
    policy: str, settings_: dict[str, Any]
) -> None:
    rng = np.random.default_rng(2)
    b = bandit(policy, exploration=0.5, **settings_)
    run(b, {"good": 0.9, "bad": 0.1}, 400, rng)
    chosen = run(b, {"good": 0.1, "bad": 0.9}, 400, rng)
    assert chosen[-150:].count("bad") > 100


def test_forgetting_adapts_faster_than_a_stationary_policy() -> None:
    # The contrast that makes the test above meaningful: count the pulls of the new best
    # arm in the first 100 pulls after the switch, stationary vs discounted.
    def early_bad_pulls(**settings_: Any) -> int:
        rng = np.random.default_rng(0)
        b = bandit("thompson", **settings_)
        run(b, {"good": 0.9, "bad": 0.1}, 400, rng)
        return run(b, {"good": 0.1, "bad": 0.9}, 100, rng).count("bad")

    assert early_bad_pulls(discount=0.97) > early_bad_pulls() + 40
    assert early_bad_pulls(window=30) > early_bad_pulls() + 40


def test_stats_count_uses_successes_and_mean() -> None:
    b = bandit("ucb1", arms=["a", "b"], discount=0.5, window=2)
    for reward in (0.0, 0.5, 1.0):
        b.update("a", reward)
    b.update("b", 0.0)
    stats = b.stats()
    assert stats["a"] == {"uses": 3, "successes": 2, "mean_reward": pytest.approx(0.5)}
    assert stats["b"] == {"uses": 1, "successes": 0, "mean_reward": 0.0}


def test_update_validates_arm_and_reward() -> None:
    b = bandit("ucb1")
    with pytest.raises(KeyError):
        b.update("nope", 1.0)
    with pytest.raises(ValueError):
        b.update("good", float("nan"))
    b.update("good", 7.0)  # clipped
    assert b.stats()["good"]["mean_reward"] == 1.0


def test_exp3_probabilities_are_a_distribution_with_floor() -> None:
    b = bandit("exp3", arms=["a", "b", "c"], exp3_gamma=0.3)
    for _ in range(200):
        b.update("a", 1.0)
    assert isinstance(b, EXP3)
    probabilities = b.probabilities()
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities.min() >= 0.3 / 3 - 1e-12
    assert probabilities[0] == probabilities.max()


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("extra", [{}, {"discount": 0.9}, {"window": 3}])
def test_state_json_is_the_state_encoded_after_every_change(
    policy: str, extra: dict[str, Any]
) -> None:
    """The per-arm encodings it keeps are dropped whenever an arm's record changes:
    updates (with and without a discount or window), arms added and removed, a load."""
    b = bandit(policy, ["a", "b", "c"], **extra)
    rng = np.random.default_rng(3)
    assert json.loads(b.state_json()) == b.state()
    for step in range(40):
        arm = b.select(rng)
        b.update(arm, float(rng.random()))
        assert json.loads(b.state_json()) == b.state()
        if step == 10:
            b.add_arm("d")
        if step == 20:
            b.remove_arm("a")
        assert json.loads(b.state_json()) == b.state()
    other = bandit(policy, list(b.arms), **extra)
    assert json.loads(other.state_json()) == other.state()  # encoded before the load
    other.load_state(json.loads(b.state_json()))
    assert json.loads(other.state_json()) == b.state()
