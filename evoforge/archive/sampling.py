"""Selection rules: small pure functions of (candidates, rng) used by the archive.

Nothing here keeps state. Candidates arrive in a canonical order (the archive passes
them sorted by ``(seq, id)``), every random draw comes from the ``rng`` argument, and
ties are broken by that order, so equal inputs and equal generator states give equal
choices. Higher score is better; weights are rank-based, so negative or wildly scaled
scores need no special care.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from evoforge.program import Program

Cell = tuple[int, ...]


class ParentMode(StrEnum):
    """How a parent was chosen."""

    EXPLOIT = "exploit"
    EXPLORE = "explore"
    TOURNAMENT = "tournament"


def fitness_key(program: Program) -> tuple[float, int, str]:
    """Sort key, best first: higher score, then earlier ``seq``, then id."""
    score = program.score if program.score is not None else -math.inf
    return (-score, program.seq, program.id)


def best_first(candidates: Sequence[Program]) -> list[Program]:
    """``candidates`` sorted best first (see :func:`fitness_key`)."""
    return sorted(candidates, key=fitness_key)


def rank_weights(scores: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Selection probabilities proportional to ``(1 / (1 + rank)) ** (1 / temperature)``,
    rank 0 the best: temperature 1 is the usual pressure, higher flattens it towards
    uniform (annealing a collapsed island).

    Competition ranking: equal scores share the better rank, so equal programs are
    equally likely. Depends only on the order of the scores, never their scale or sign.
    """
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        return values
    ordered = np.sort(values)[::-1]
    # rank = number of strictly better scores
    ranks = np.searchsorted(-ordered, -values, side="left")
    weights = (1.0 / (1.0 + ranks)) ** (1.0 / max(temperature, 1e-9))
    return np.asarray(weights / weights.sum())


_SMALL_DRAW = 64
"""Up to this many candidates, :func:`weighted_index` works on Python floats (numpy's
per-call overhead outweighs its speed on so few)."""


def weighted_index(rng: np.random.Generator, probabilities: np.ndarray) -> int:
    """An index drawn with ``probabilities`` (non-negative, summing to 1): exactly
    ``int(rng.choice(len(probabilities), p=probabilities))``, the same draw from the same
    generator state, without ``choice``'s checks of ``p`` (the callers build it).

    Like ``choice``: the running sum of the probabilities (left to right), divided by
    its last value, searched (right side) for one uniform draw in [0, 1).
    """
    return bisect.bisect_right(cumulative_weights(probabilities), rng.random())


def cumulative_weights(probabilities: np.ndarray) -> list[float]:
    """What :func:`weighted_index` searches: the running sum of ``probabilities`` divided
    by its last value, as ``choice`` computes it (numpy's ``cumsum`` above
    ``_SMALL_DRAW`` values, the same additions in Python below)."""
    if len(probabilities) <= _SMALL_DRAW:
        cumulative = list(itertools.accumulate(probabilities.tolist()))
        last = cumulative[-1]
        return [value / last for value in cumulative]
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    values: list[float] = cdf.tolist()
    return values


@dataclass(frozen=True)
class RankedWeights:
    """Candidates' rank weights at one temperature (:func:`rank_weights`) and their
    :func:`cumulative_weights`: computed once, drawn from by :func:`exploit` as often
    as wanted (the same draws as from the weights alone)."""

    weights: np.ndarray
    cumulative: list[float]

    @classmethod
    def of(cls, weights: np.ndarray) -> RankedWeights:
        return cls(weights, cumulative_weights(weights))


def choose_mode(rates: tuple[float, float, float], rng: np.random.Generator) -> ParentMode:
    """Draw exploit / explore / tournament with probabilities ``rates`` (normalised)."""
    weights = np.asarray(rates, dtype=float)
    total = weights.sum()
    if not total > 0:
        raise ValueError(f"selection rates must sum to > 0, got {rates}")
    draw = rng.random() * total
    cumulative = np.cumsum(weights)
    index = min(int(np.searchsorted(cumulative, draw, side="right")), 2)
    while weights[index] <= 0:  # a draw on a zero-width boundary: move to a real mode
        index -= 1
    return (ParentMode.EXPLOIT, ParentMode.EXPLORE, ParentMode.TOURNAMENT)[index]


def exploit(
    candidates: Sequence[Program],
    rng: np.random.Generator,
    temperature: float = 1.0,
    weights: np.ndarray | RankedWeights | None = None,
) -> Program:
    """A rank-weighted pick (see :func:`rank_weights`): better programs more often.
    ``weights``: the candidates' rank weights at this temperature, when already computed."""
    if isinstance(weights, RankedWeights):
        return candidates[bisect.bisect_right(weights.cumulative, rng.random())]
    if weights is None:
        scores = [-fitness_key(program)[0] for program in candidates]
        weights = rank_weights(scores, temperature)
    return candidates[weighted_index(rng, weights)]


def explore(candidates: Sequence[Program], rng: np.random.Generator) -> Program:
    """A uniform pick: every occupied cell equally likely."""
    return candidates[int(rng.integers(len(candidates)))]


def tournament(candidates: Sequence[Program], size: int, rng: np.random.Generator) -> Program:
    """The best of ``size`` distinct candidates drawn uniformly (all of them if fewer)."""
    drawn = rng.choice(len(candidates), size=min(size, len(candidates)), replace=False)
    return min((candidates[int(index)] for index in drawn), key=fitness_key)


def select_parent(
    candidates: Sequence[Program],
    rates: tuple[float, float, float],
    tournament_size: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    exploit_weights: np.ndarray | RankedWeights | None = None,
) -> tuple[Program, ParentMode]:
    """Choose a mode with ``rates`` (exploit, explore, tournament), then a parent by it
    (``temperature``: see :func:`rank_weights`). ``exploit_weights``: the candidates'
    rank weights at this temperature, when already computed.

    Raises ValueError when there are no candidates.
    """
    if not candidates:
        raise ValueError("no candidates to select a parent from")
    mode = choose_mode(rates, rng)
    if mode is ParentMode.EXPLOIT:
        return exploit(candidates, rng, temperature, exploit_weights), mode
    if mode is ParentMode.EXPLORE:
        return explore(candidates, rng), mode
    return tournament(candidates, tournament_size, rng), mode


def top(candidates: Sequence[Program], count: int) -> list[Program]:
    """The ``count`` best candidates, best first."""
    return heapq.nsmallest(max(0, count), candidates, key=fitness_key)


def _normalised(cells: Sequence[Cell], shape: Sequence[int]) -> np.ndarray:
    scale = np.asarray([max(1, bins - 1) for bins in shape], dtype=float)
    return np.asarray(cells, dtype=float).reshape(len(cells), len(shape)) / scale


def diverse(
    candidates: Sequence[Program],
    cells: Sequence[Cell],
    parent_cell: Cell,
    shape: Sequence[int],
    count: int,
    rng: np.random.Generator,
) -> list[Program]:
    """Up to ``count`` candidates from distinct cells far from the parent and each other.

    k-means++ style: each pick is drawn with probability proportional to its distance
    (Euclidean, each dimension scaled to [0, 1]) from the nearest of the parent's cell
    and the cells already picked; uniform among the rest if all distances are 0.
    ``cells[i]`` is the cell of ``candidates[i]``.
    """
    if count <= 0 or not candidates:
        return []
    numbering: dict[Cell, int] = {}
    cell_ids = np.array([numbering.setdefault(tuple(cell), len(numbering)) for cell in cells])
    origin = _normalised([parent_cell], shape)[0]
    picks = diverse_positions(_normalised(cells, shape), cell_ids, origin, count, rng)
    return [candidates[index] for index in picks]


def normalised_cells(cells: Sequence[Cell], shape: Sequence[int]) -> np.ndarray:
    """Cells as points with every dimension scaled to [0, 1] (one row per cell)."""
    return _normalised(cells, shape)


def diverse_positions(
    points: np.ndarray,
    cell_ids: np.ndarray,
    origin: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> list[int]:
    """:func:`diverse` on prepared arrays: ``points`` (normalised cells, one row per
    candidate), ``cell_ids`` (equal exactly for candidates in one cell) and the parent's
    normalised cell; returns the positions picked, in order."""
    size = len(points)
    if count <= 0 or size == 0:
        return []
    nearest = _distances(points, origin)
    available = np.ones(size, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < count and available.any():
        weights = np.where(available, nearest, 0.0)
        total = weights.sum()
        if total <= 0:
            weights = available.astype(float)
            total = weights.sum()
        pick = weighted_index(rng, weights / total)
        chosen.append(pick)
        if len(chosen) == count:
            break  # what the next pick would need is not computed
        available &= cell_ids != cell_ids[pick]  # the pick and every other in its cell
        nearest = np.minimum(nearest, _distances(points, points[pick]))
    return chosen


def normalised_point(cell: Cell, shape: Sequence[int]) -> tuple[float, ...]:
    """One cell as :func:`normalised_cells` scales it (the same values), as a tuple."""
    return tuple(
        float(bin_) / float(max(1, bins - 1)) for bin_, bins in zip(cell, shape, strict=True)
    )


_SMALL_DIMENSIONS = 8
"""Below this many dimensions numpy adds a point's coordinates one after the other, as
plain Python does (from 8 on it may pair them up)."""


def diverse_indices(
    points: Sequence[tuple[float, ...]],
    cell_ids: Sequence[int],
    origin: tuple[float, ...],
    count: int,
    rng: np.random.Generator,
) -> list[int]:
    """:func:`diverse_positions` on plain lists (``points``: normalised cells, one tuple
    per candidate): the same picks from the same generator state, the same generator
    state after. Up to ``_SMALL_DRAW`` candidates of few dimensions it runs in plain
    Python, whose floating-point steps are numpy's (the sums in numpy's order), because
    numpy's per-call cost outweighs its speed on so few; larger pools go to numpy."""
    size = len(points)
    if count <= 0 or size == 0:
        return []
    if size > _SMALL_DRAW or len(origin) >= _SMALL_DIMENSIONS:
        return diverse_positions(
            np.asarray(points, dtype=float).reshape(size, len(origin)),
            np.asarray(cell_ids, dtype=int),
            np.asarray(origin, dtype=float),
            count,
            rng,
        )
    nearest = [_distance(point, origin) for point in points]
    available = [True] * size
    chosen: list[int] = []
    while len(chosen) < count and any(available):
        weights = [d if free else 0.0 for d, free in zip(nearest, available, strict=True)]
        total = numpy_sum(weights)
        if total <= 0:
            weights = [1.0 if free else 0.0 for free in available]
            total = numpy_sum(weights)
        cumulative = list(itertools.accumulate([weight / total for weight in weights]))
        last = cumulative[-1]
        pick = bisect.bisect_right([value / last for value in cumulative], rng.random())
        chosen.append(pick)
        if len(chosen) == count:
            break  # what the next pick would need is not computed
        taken, reference = cell_ids[pick], points[pick]
        available = [free and i != taken for free, i in zip(available, cell_ids, strict=True)]
        nearest = [
            min(d, _distance(point, reference)) for d, point in zip(nearest, points, strict=True)
        ]
    return chosen


def _distance(point: tuple[float, ...], origin: tuple[float, ...]) -> float:
    """:func:`_distances` for one point of fewer than ``_SMALL_DIMENSIONS`` dimensions:
    the squares added one after the other from 0, as numpy does there."""
    total = 0.0
    for a, b in zip(point, origin, strict=True):
        offset = a - b
        total += offset * offset
    return math.sqrt(total)


def numpy_sum(values: Sequence[float]) -> float:
    """``float(np.sum(values))`` for a float64 vector, to the last bit: numpy starts from
    0 and adds pairwise (blocks of 8 partial sums up to 128 values, halves above)."""
    return 0.0 + _pairwise_sum(values, 0, len(values))


def _pairwise_sum(values: Sequence[float], start: int, count: int) -> float:
    if count < 8:
        total = 0.0
        for index in range(start, start + count):
            total += values[index]
        return total
    if count <= 128:
        partial = list(values[start : start + 8])
        index = 8
        whole = count - count % 8
        while index < whole:
            for lane in range(8):
                partial[lane] += values[start + index + lane]
            index += 8
        total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
            (partial[4] + partial[5]) + (partial[6] + partial[7])
        )
        for rest in range(start + index, start + count):
            total += values[rest]
        return total
    half = count // 2
    half -= half % 8
    return _pairwise_sum(values, start, half) + _pairwise_sum(values, start + half, count - half)


def _distances(points: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row of ``points`` from ``origin``: the same values as
    ``np.linalg.norm(points - origin, axis=1)``, which computes exactly this."""
    offsets = points - origin
    return np.sqrt(np.add.reduce(offsets * offsets, axis=1))


def neighbours(
    candidates: Sequence[Program],
    cells: Sequence[Cell],
    parent_cell: Cell,
    count: int,
    rng: np.random.Generator,
) -> list[Program]:
    """Up to ``count`` candidates from the cells nearest the parent's.

    Nearest by Chebyshev distance in bins (adjacent cells are at 1; the occupant of the
    parent's own cell, when it is not the parent, at 0); ties in random order, so the
    ring of adjacent cells is used first and farther rings only fill up.
    """
    if count <= 0 or not candidates:
        return []
    points = np.asarray(cells, dtype=float).reshape(len(cells), len(parent_cell))
    distance = np.max(np.abs(points - np.asarray(parent_cell, dtype=float)), axis=1)
    tiebreak = rng.permutation(len(candidates))
    order = np.lexsort((tiebreak, distance))
    return [candidates[int(index)] for index in order[:count]]


def mixed_quotas(count: int) -> tuple[int, int, int]:
    """How ``mixed`` splits ``count`` between top, diverse and neighbours (top first)."""
    base, extra = divmod(max(0, count), 3)
    return (base + (extra > 0), base + (extra > 1), base)
