"""Adaptive operator choice: multi-armed bandits paid from archive insert outcomes.

Every policy keeps all of its state in plain per-arm records that :meth:`Bandit.state`
returns as JSON-serialisable data; :meth:`Bandit.load_state` restores it exactly, so a
resumed run selects and learns exactly as the uninterrupted one would. Randomness comes
only from the ``rng`` passed to :meth:`Bandit.select`.

Non-stationarity (operators that help early may stop helping later):

* ``discount`` d < 1: every update first multiplies every arm's effective statistics by
  d, so an observation made ``a`` updates ago weighs d**a.
* ``window`` N: only each arm's last N rewards count (combined with ``discount`` when
  both are set). Lifetime counts in :meth:`Bandit.stats` are never discounted.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from evoforge.config import BanditConfig
from evoforge.json_text import sorted_json_encoder

_encode = sorted_json_encoder()


@dataclass
class _ArmRecord:
    """Lifetime totals plus the effective (discounted) sums the policies read.

    ``gain_sum`` is the importance-weighted reward sum EXP3 uses (0 for the others).
    With a window, the effective sums are recomputed from ``recent`` entries
    ``[update_step, reward, gain]`` and the incremental sums stay unused.
    """

    uses: int = 0
    successes: int = 0
    total_reward: float = 0.0
    count: float = 0.0
    reward_sum: float = 0.0
    gain_sum: float = 0.0
    recent: list[list[float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "uses": self.uses,
            "successes": self.successes,
            "total_reward": self.total_reward,
            "count": self.count,
            "reward_sum": self.reward_sum,
            "gain_sum": self.gain_sum,
            "recent": [
                [int(step), float(reward), float(gain)] for step, reward, gain in self.recent
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _ArmRecord:
        return cls(
            uses=int(data["uses"]),
            successes=int(data["successes"]),
            total_reward=float(data["total_reward"]),
            count=float(data["count"]),
            reward_sum=float(data["reward_sum"]),
            gain_sum=float(data["gain_sum"]),
            recent=[[int(s), float(r), float(g)] for s, r, g in data["recent"]],
        )


class Bandit(ABC):
    """A policy over named arms. Rewards are in [0, 1] (values outside are clipped).

    ``select(rng)`` names the arm to pull; ``update(arm, reward)`` records its payoff.
    Updates may arrive in any order relative to selects (evaluations run concurrently):
    ``select(rng, pending)`` is told how many pulls of each arm are still in flight
    (selected, not yet updated), which a deterministic policy needs so that a batch of
    selections made before any payoff does not repeat one arm. ``pending`` is never part
    of the state: it describes work in flight, which a resumed run does not have.
    """

    policy: ClassVar[str]

    def __init__(self, arms: Sequence[str], config: BanditConfig) -> None:
        names = list(arms)
        if not names:
            raise ValueError("a bandit needs at least one arm")
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        self.arms: tuple[str, ...] = tuple(names)
        self.config = config
        self._step = 0
        self._records = {arm: _ArmRecord() for arm in self.arms}
        # each arm's record as JSON, until it changes (see state_json)
        self._encoded: dict[str, str] = {}
        self._encoded_head: str | None = None  # the arms and the policy, as JSON
        self._sorted_arms: list[str] = []  # set with the head

    @abstractmethod
    def select(self, rng: np.random.Generator, pending: Mapping[str, int] | None = None) -> str:
        """The arm to pull next; ``pending``: pulls per arm selected but not yet updated
        (missing arms: none)."""

    def update(self, arm: str, reward: float) -> None:
        """Record ``reward`` (clipped to [0, 1]; NaN is an error) for ``arm``."""
        if arm not in self._records:
            raise KeyError(f"unknown arm {arm!r}; arms: {list(self.arms)}")
        value = float(reward)
        if math.isnan(value):
            raise ValueError(f"reward for {arm!r} is NaN")
        value = min(1.0, max(0.0, value))
        gain = self._gain(arm, value)
        self._step += 1
        self._encoded.pop(arm, None)
        record = self._records[arm]
        record.uses += 1
        record.successes += value > 0
        record.total_reward += value
        window = self.config.window
        if window is not None:
            record.recent.append([self._step, value, gain])
            del record.recent[:-window]
            return
        discount = self.config.discount
        if discount < 1.0:
            self._encoded.clear()
            for other in self._records.values():
                other.count *= discount
                other.reward_sum *= discount
                other.gain_sum *= discount
        record.count += 1.0
        record.reward_sum += value
        record.gain_sum += gain

    def add_arm(self, arm: str) -> None:
        """Add a new arm with no statistics (an archive of choices that grows)."""
        if arm in self._records:
            raise ValueError(f"arm {arm!r} exists already")
        self.arms = (*self.arms, arm)
        self._records[arm] = _ArmRecord()
        self._encoded_head = None

    def remove_arm(self, arm: str) -> None:
        """Forget ``arm`` and its statistics; the last arm cannot be removed."""
        if arm not in self._records:
            raise KeyError(f"unknown arm {arm!r}; arms: {list(self.arms)}")
        if len(self.arms) == 1:
            raise ValueError("a bandit needs at least one arm")
        self.arms = tuple(name for name in self.arms if name != arm)
        del self._records[arm]
        self._encoded.pop(arm, None)
        self._encoded_head = None

    def stats(self) -> dict[str, dict[str, Any]]:
        """Lifetime ``uses``, ``successes`` (reward > 0) and ``mean_reward`` per arm."""
        return {
            arm: {
                "uses": record.uses,
                "successes": record.successes,
                "mean_reward": record.total_reward / record.uses if record.uses else 0.0,
            }
            for arm, record in self._records.items()
        }

    def state(self) -> dict[str, Any]:
        """Everything the policy knows, as JSON-serialisable data."""
        return {
            "policy": self.policy,
            "arms": list(self.arms),
            "step": self._step,
            "records": {arm: record.to_json() for arm, record in self._records.items()},
        }

    def state_json(self) -> str:
        """:meth:`state` as JSON text (keys sorted): what a run stores with every step.
        Each arm's record is encoded again only after it changed (one arm per update
        unless a discount moves them all), so storing the state costs little per step."""
        encoded = self._encoded
        head = self._encoded_head
        if head is None:  # the arms and the policy: they change only with the arms
            head = self._encoded_head = (
                f'{{"arms": {_encode(list(self.arms))}, "policy": {_encode(self.policy)}, '
                '"records": {'
            )
            self._sorted_arms = sorted(self._records)
        records = []
        for arm in self._sorted_arms:
            text = encoded.get(arm)
            if text is None:
                text = encoded[arm] = f"{_encode(arm)}: {_encode(self._records[arm].to_json())}"
            records.append(text)
        return f'{head}{", ".join(records)}}}, "step": {int(self._step)}}}'

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` output exactly. Raises ValueError on a policy or arm mismatch."""
        if state.get("policy") != self.policy:
            raise ValueError(f"state is for policy {state.get('policy')!r}, not {self.policy!r}")
        if list(state.get("arms", [])) != list(self.arms):
            raise ValueError(f"state has arms {state.get('arms')}, bandit has {list(self.arms)}")
        self._step = int(state["step"])
        self._records = {arm: _ArmRecord.from_json(state["records"][arm]) for arm in self.arms}
        self._encoded.clear()
        self._encoded_head = None

    # ------------------------------------------------------------- helpers
    def _effective(self, arm: str) -> tuple[float, float, float]:
        """Effective (count, reward sum, gain sum) of ``arm`` under discount/window."""
        record = self._records[arm]
        if self.config.window is None:
            return record.count, record.reward_sum, record.gain_sum
        discount = self.config.discount
        count = reward_sum = gain_sum = 0.0
        for step, reward, gain in record.recent:
            weight = discount ** (self._step - step) if discount < 1.0 else 1.0
            count += weight
            reward_sum += weight * reward
            gain_sum += weight * gain
        return count, reward_sum, gain_sum

    def _gain(self, arm: str, reward: float) -> float:
        """Extra per-observation statistic a policy accumulates (EXP3's estimate)."""
        return 0.0


class UCB1(Bandit):
    """UCB1: each arm once in order, then argmax of mean + c * sqrt(2 ln N / n).

    N and n are effective counts (discounted or windowed). Deterministic: ties go to the
    earlier arm and ``rng`` is not used.

    Pulls in flight (``pending``) count as pulls whose payoff is not known yet: they add
    to their arm's n and to N, so a batch of selections spreads over the arms the index
    ranks close instead of repeating the first. An arm that has no effective payoff yet
    (never paid, or all of it decayed away) but is in flight is ranked optimistically,
    with the highest mean a reward can have (1): an arm whose first results take long
    (a slow evaluation) is not starved by arms whose pulls come back at once (children
    refused before evaluation). An arm neither paid nor in flight is tried first, in order.
    """

    policy = "ucb1"

    def select(self, rng: np.random.Generator, pending: Mapping[str, int] | None = None) -> str:
        waiting = pending or {}
        records = self._records
        for arm in self.arms:
            if records[arm].uses == 0 and not waiting.get(arm, 0):
                return arm
        effective = [self._effective(arm) for arm in self.arms]
        in_flight = [float(waiting.get(arm, 0)) for arm in self.arms]
        for arm, (count, _, _), flying in zip(self.arms, effective, in_flight, strict=True):
            if count <= 0.0 and not flying:
                return arm  # everything it taught us has decayed away: ask again
        total = sum(count for count, _, _ in effective) + sum(in_flight)
        log_total = math.log(max(total, 1.0))
        best_arm, best_value = self.arms[0], -math.inf
        for arm, (count, reward_sum, _), flying in zip(
            self.arms, effective, in_flight, strict=True
        ):
            mean = reward_sum / count if count > 0.0 else 1.0  # in flight, nothing known yet
            value = mean + self.config.exploration * math.sqrt(2.0 * log_total / (count + flying))
            if value > best_value:
                best_arm, best_value = arm, value
        return best_arm


class ThompsonSampling(Bandit):
    """Thompson sampling with a Beta(1 + S, 1 + n - S) posterior per arm, where S is the
    effective sum of (fractional) rewards and n the effective count; one Beta draw per
    arm in arm order, the largest wins (earlier arm on a tie)."""

    policy = "thompson"

    def select(self, rng: np.random.Generator, pending: Mapping[str, int] | None = None) -> str:
        """One posterior draw per arm (``pending`` is not needed: the draws spread a batch
        of selections by themselves)."""
        draws = []
        for arm in self.arms:
            count, reward_sum, _ = self._effective(arm)
            alpha = 1.0 + reward_sum
            beta = 1.0 + max(0.0, count - reward_sum)
            draws.append(float(rng.beta(alpha, beta)))
        return self.arms[int(np.argmax(draws))]


class EXP3(Bandit):
    """EXP3 for adversarial payoffs: p = (1 - gamma) softmax(gamma G / K) + gamma / K.

    G is each arm's (effective) sum of importance-weighted rewards r / p(arm), with
    p(arm) taken from the state at update time (with concurrent evaluations the state
    may have moved since the select; the estimate stays unbiased enough in practice).
    """

    policy = "exp3"

    def probabilities(self) -> np.ndarray:
        """Current selection probabilities, in arm order."""
        gamma = self.config.exp3_gamma
        k = len(self.arms)
        gains = np.asarray([self._effective(arm)[2] for arm in self.arms], dtype=float)
        logits = gamma * gains / k
        weights = np.exp(logits - logits.max())
        mixed = (1.0 - gamma) * weights / weights.sum() + gamma / k
        return np.asarray(mixed / mixed.sum())

    def select(self, rng: np.random.Generator, pending: Mapping[str, int] | None = None) -> str:
        """A draw from :meth:`probabilities` (``pending`` is not needed: a batch of
        selections is a batch of independent draws)."""
        return self.arms[int(rng.choice(len(self.arms), p=self.probabilities()))]

    def _gain(self, arm: str, reward: float) -> float:
        return reward / float(self.probabilities()[self.arms.index(arm)])


_POLICIES: dict[str, type[Bandit]] = {
    UCB1.policy: UCB1,
    ThompsonSampling.policy: ThompsonSampling,
    EXP3.policy: EXP3,
}


def make_bandit(arms: Sequence[str], config: BanditConfig) -> Bandit:
    """The bandit ``config.policy`` names, over ``arms``."""
    return _POLICIES[config.policy](arms, config)
