"""Thresholdout: a holdout set that can answer many adaptive queries without being overfit.

The mechanism of Dwork, Feldman, Hardt, Pitassi, Reingold and Roth, "The reusable holdout:
preserving validity in adaptive data analysis" (Science 349, 2015; "Preserving statistical
validity in adaptive data analysis", STOC 2015). Each query brings two estimates of the
same quantity, one on the data the analyst searched on and one on the holdout:

* a noisy threshold ``T^ = T + Lap(2 sigma)`` is drawn at the start and again after every
  answer that came from the holdout;
* if ``|holdout - search| > T^ + Lap(4 sigma)`` the answer is ``holdout + Lap(sigma)`` and
  one unit of the budget ``B`` is spent; otherwise the answer is the search estimate itself,
  which tells the analyst nothing new about the holdout;
* once ``B`` answers have come from the holdout, the holdout is spent: every later answer is
  the search estimate (flagged ``exhausted``), as the paper's mechanism stops answering.

:class:`Thresholdout` keeps no hidden state: its noise for query ``k`` is drawn from a
generator seeded with ``(seed, k)`` and the threshold after ``j`` holdout answers from
``(seed, j)``, so the answers are reproducible from the seed and a resumed run rebuilds the
mechanism from two counts stored with its queries (:meth:`Thresholdout.resume`).

:func:`tolerance` states how far an answer may be from the holdout value itself: at most
``T + 6 sigma ln(2 / beta)`` with probability at least ``1 - beta`` per query (the two
Laplace draws of the comparison each stay within their ``ln(2 / beta)`` tail; an answer from
the holdout is off by one ``Lap(sigma)`` only).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Thresholdout", "ThresholdoutAnswer", "tolerance"]

_SALT = 0x7E5D_0D7  # keeps these draws apart from every other use of the run's seed
_QUERY = 1
_THRESHOLD = 2


@dataclass(frozen=True)
class ThresholdoutAnswer:
    """One query and its answer. ``source`` is ``search`` (the search estimate came back),
    ``holdout`` (the noisy holdout value came back; one unit of budget spent) or
    ``exhausted`` (the budget was already spent: the search estimate came back unchecked).
    ``budget_left`` is counted after this query."""

    query: int
    search: float
    holdout: float
    answer: float
    source: str
    budget_left: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Thresholdout:
    """The mechanism for one holdout split; see the module docstring."""

    def __init__(self, threshold: float, noise: float, budget: int, seed: int) -> None:
        if threshold < 0 or noise < 0 or budget < 0:
            raise ValueError("threshold, noise and budget must not be negative")
        self.threshold = float(threshold)
        self.noise = float(noise)
        self.budget = int(budget)
        self.seed = int(seed)
        self.queries = 0
        self.holdout_answers = 0

    @classmethod
    def resume(
        cls,
        threshold: float,
        noise: float,
        budget: int,
        seed: int,
        answers: list[ThresholdoutAnswer],
    ) -> Thresholdout:
        """The mechanism as it stood after ``answers`` (its earlier queries, in order)."""
        mechanism = cls(threshold, noise, budget, seed)
        mechanism.queries = len(answers)
        mechanism.holdout_answers = sum(answer.source == "holdout" for answer in answers)
        return mechanism

    @property
    def budget_left(self) -> int:
        return max(0, self.budget - self.holdout_answers)

    @property
    def exhausted(self) -> bool:
        return self.budget_left == 0

    def _laplace(self, purpose: int, index: int, scale: float, draw: int) -> float:
        if scale == 0:
            return 0.0
        rng = np.random.default_rng([_SALT, self.seed, purpose, index])
        return float(rng.laplace(0.0, scale, size=draw + 1)[draw])

    def current_threshold(self) -> float:
        """``T^``: the threshold plus the noise drawn after the last holdout answer."""
        return self.threshold + self._laplace(_THRESHOLD, self.holdout_answers, 2 * self.noise, 0)

    def query(self, search: float, holdout: float) -> ThresholdoutAnswer:
        """Answer one query: the search estimate, or the holdout value plus noise."""
        if not (math.isfinite(search) and math.isfinite(holdout)):
            raise ValueError("Thresholdout answers finite estimates only")
        index = self.queries
        self.queries += 1
        if self.exhausted:
            return ThresholdoutAnswer(index, search, holdout, search, "exhausted", 0)
        check = self._laplace(_QUERY, index, 4 * self.noise, 0)
        if abs(holdout - search) > self.current_threshold() + check:
            answer = holdout + self._laplace(_QUERY, index, self.noise, 1)
            self.holdout_answers += 1
            return ThresholdoutAnswer(index, search, holdout, answer, "holdout", self.budget_left)
        return ThresholdoutAnswer(index, search, holdout, search, "search", self.budget_left)


def tolerance(threshold: float, noise: float, beta: float = 0.05) -> float:
    """How far one answer may be from the holdout value, with probability ``1 - beta``."""
    if not 0 < beta < 1:
        raise ValueError("beta must lie in (0, 1)")
    return threshold + 6.0 * noise * math.log(2.0 / beta)
