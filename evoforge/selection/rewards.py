"""Turning an archive insert outcome into a bandit reward in [0, 1].

The insert outcome is the one currency of reward (DESIGN.md): an operator is paid for
what its child did to the archive, not for its raw score, so scores on any scale give
comparable rewards.

============================  ==============================================
child                          reward
============================  ==============================================
failed / rejected (None)       0
NOT_ADDED                      0
TIED                           0
NEW_CELL                       0.5 + 0.5 * squash(child - parent)
IMPROVED                       squash(improvement over the cell), >= FLOOR
first program of the run       1.0
new global best                the above, r, raised to r + (1 - r) * squash(gain)
============================  ==============================================

``squash(delta) = rel / (rel + KNEE)`` with ``rel = delta / (|reference| + EPSILON)``,
the reference being the parent's score (or, for a new best, the best before it):
scale-free, 0 for no gain, 0.5 at a 1% relative gain, approaching but never reaching 1.

Rewards follow the size of the gain. Filling a new cell is worth half the full reward
whatever its score (diversity is what the grid is for), but improving a cell or the best
pays only as much as it gained: an operator whose children make many tiny improvements
(a fine step of ``tune`` on a smooth problem) must not look as good as one that makes a
few large ones, or the bandit spends the budget polishing one solution.

NOT_ADDED earns nothing, even when the child beat its parent: the cell already held
something at least as good, so the archive learnt nothing. TIED (a child that took its
cell on an equal score, see :mod:`evoforge.archive.map_elites`) earns nothing either: it
moved the search across a plateau but gained nothing. Every child that raised the
archive's scores or filled a cell earns more than 0 (at least ``FLOOR``), so
``successes`` (reward > 0) means "added something to the archive".
"""

from __future__ import annotations

import math

from evoforge.program import InsertOutcome, InsertStatus

EPSILON = 1e-9
"""Added to |parent_score| so that a zero parent score still gives a finite scale."""

KNEE = 0.01
"""Relative gain that earns half of the improvement bonus."""

NEW_CELL_BASE = 0.5
"""Reward for filling a new cell, before the improvement bonus."""

FLOOR = 1e-3
"""Least reward for a child that changed the archive (a cell improved by a tiny gain)."""


def squash(delta: float, reference: float) -> float:
    """Relative gain ``delta / (|reference| + EPSILON)`` mapped into [0, 1)."""
    if not math.isfinite(delta) or delta <= 0:
        return 0.0
    scale = abs(reference) if math.isfinite(reference) else 0.0
    relative = delta / (scale + EPSILON)
    if math.isinf(relative):
        return 1.0 - 1e-12
    return relative / (relative + KNEE)


def reward_from_outcome(
    outcome: InsertOutcome | None,
    *,
    child_score: float | None,
    parent_score: float | None,
    best_score_before: float | None,
) -> float:
    """The reward in [0, 1] for a child whose insert had ``outcome`` (None: not inserted).

    ``best_score_before`` is the archive's best score before this insert (None when the
    archive was empty, in which case an added child is the new best). ``parent_score``
    None (no scored parent) counts as 0 for scaling.
    """
    if outcome is None or child_score is None or not math.isfinite(child_score):
        return 0.0
    if outcome.status in (InsertStatus.NOT_ADDED, InsertStatus.TIED):
        return 0.0
    if best_score_before is None:
        return 1.0
    parent = parent_score if parent_score is not None else 0.0
    if outcome.status is InsertStatus.IMPROVED:
        reward = squash(outcome.improvement, parent)
    else:
        reward = NEW_CELL_BASE + (1.0 - NEW_CELL_BASE) * squash(child_score - parent, parent)
    if child_score > best_score_before:
        reward += (1.0 - reward) * squash(child_score - best_score_before, best_score_before)
    return min(1.0, max(FLOOR, reward))
