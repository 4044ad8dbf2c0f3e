"""One MAP-Elites grid: at most one elite per cell, the best score wins the cell.

With ``neutral_drift`` a newcomer that ties the occupant's score and is no larger (AST
nodes of its evolve blocks, :func:`~evoforge.archive.features.complexity`) takes the cell
too: on a plateau, where most children score exactly what their parent scored, the cell's
elite keeps moving (new literals, equivalent rewrites) instead of staying the first
program that reached the plateau, so later children start from ever new points of it; the
size condition keeps that walk from growing the programs. It applies to every insert,
children and migrants alike.

Cells are tuples of bin indices, one per feature dimension. A dimension with a fixed
``range`` clips values outside it into the edge bins. A dimension without one adapts:
it tracks the values seen and, when a value falls outside the current range, grows the
range (with a 10% margin, so re-binning happens O(log spread) times rather than at
every new extreme) and re-bins every elite. Two elites that land in one cell after a
re-bin keep only the better (earlier ``seq`` on a tie); the loser leaves the grid but is
not lost: the run database keeps every program.

The grid holds no randomness and orders everything by ``(seq, id)``, so replaying the
same inserts in the same order rebuilds the same grid.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from evoforge.archive.features import complexity
from evoforge.config import FeatureConfig
from evoforge.program import InsertOutcome, InsertStatus, Program

Cell = tuple[int, ...]

ADAPTIVE_MARGIN = 0.1
"""Fraction of the new span added beyond a new extreme when an adaptive range grows."""

_LARGEST = sys.float_info.max


def _clamped(value: float) -> float:
    """``value`` within the finite floats (an overflowed bound becomes the largest one)."""
    return min(_LARGEST, max(-_LARGEST, value))


def _raw_value(program: Program, name: str) -> float:
    value = program.features.get(name, 0.0)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def score_of(program: Program) -> float:
    """The program's score, with unscored programs ranking below everything."""
    return program.score if program.score is not None else -math.inf


def size_of(program: Program) -> float:
    """The size that decides a tie under neutral drift: the program's ``complexity``
    feature when it carries a finite one, else :func:`complexity` of its code."""
    value = program.features.get("complexity")
    if value is not None and math.isfinite(value):
        return float(value)
    return complexity(program.code)


def order_key(program: Program) -> tuple[int, str]:
    """Canonical, replay-stable order of programs: commit order, then id."""
    return (program.seq, program.id)


@dataclass
class _Axis:
    """One dimension's binning. ``low``/``high`` are None until an adaptive axis sees a value."""

    name: str
    bins: int
    low: float | None
    high: float | None
    fixed: bool

    def observe(self, value: float) -> bool:
        """Grow an adaptive range to cover ``value``; True when the binning changed."""
        if self.fixed:
            return False
        if self.low is None or self.high is None:
            self.low = self.high = value
            return True
        if value < self.low:
            self.low = _clamped(value - ADAPTIVE_MARGIN * (self.high - value))
            return True
        if value > self.high:
            self.high = _clamped(value + ADAPTIVE_MARGIN * (value - self.low))
            return True
        return False

    def index(self, value: float) -> int:
        """The bin of a finite ``value``: its position in ``[low, high]`` (clipped to the
        edge bins). Values near the largest floats, whose differences overflow, are
        placed by their halves, so no value can make the position NaN."""
        if self.low is None or self.high is None or self.high <= self.low:
            return 0
        offset, span = value - self.low, self.high - self.low
        if not (math.isfinite(offset) and math.isfinite(span)):
            offset, span = value / 2 - self.low / 2, self.high / 2 - self.low / 2
        position = offset / span
        return min(self.bins - 1, max(0, math.floor(position * self.bins)))


class Grid:
    """A MAP-Elites grid over ``features`` (higher score is better).

    Programs must be scored and carry their raw feature values in ``Program.features``
    (a missing or non-finite value counts as 0.0). ``insert`` and every query are
    O(occupied cells) at worst; a plain insert without range growth is O(1).
    """

    def __init__(self, features: Sequence[FeatureConfig], *, neutral_drift: bool = False) -> None:
        if not features:
            raise ValueError("a grid needs at least one feature dimension")
        self._axes = [
            _Axis(
                name=feature.name,
                bins=feature.bins,
                low=None if feature.range is None else float(feature.range[0]),
                high=None if feature.range is None else float(feature.range[1]),
                fixed=feature.range is not None,
            )
            for feature in features
        ]
        self._neutral_drift = neutral_drift
        self._cells: dict[Cell, Program] = {}
        self._ordered: list[tuple[Cell, Program]] | None = None  # cache of entries()
        self._version = 0

    @property
    def version(self) -> int:
        """A number that changes whenever the grid's elites or their cells change, so
        callers may keep what they derive from the grid until it does."""
        return self._version

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(axis.name for axis in self._axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Bins per dimension."""
        return tuple(axis.bins for axis in self._axes)

    @property
    def capacity(self) -> int:
        """Number of cells in the grid."""
        return math.prod(self.shape)

    def ranges(self) -> dict[str, tuple[float, float] | None]:
        """Current [low, high] of every dimension (None for an adaptive one not yet seen)."""
        return {
            axis.name: None if axis.low is None or axis.high is None else (axis.low, axis.high)
            for axis in self._axes
        }

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[Program]:
        return iter(self.elites())

    def __contains__(self, program: object) -> bool:
        if not isinstance(program, Program):
            return False
        occupant = self._cells.get(self.cell_of(program))
        return occupant is not None and occupant.id == program.id

    def get(self, cell: Cell) -> Program | None:
        """The elite of ``cell``, or None when it is empty."""
        return self._cells.get(tuple(cell))

    def cells(self) -> dict[Cell, Program]:
        """A copy of the occupied cells and their elites."""
        return dict(self._cells)

    def elites(self) -> list[Program]:
        """Every elite, in canonical ``(seq, id)`` order."""
        return [program for _, program in self.entries()]

    def entries(self) -> list[tuple[Cell, Program]]:
        """Every ``(cell, elite)`` pair, in canonical ``(seq, id)`` order of the elites."""
        if self._ordered is None:
            self._ordered = sorted(self._cells.items(), key=lambda item: order_key(item[1]))
        return list(self._ordered)

    def cell_of(self, program: Program) -> Cell:
        """The cell ``program``'s features map to under the current binning (no update)."""
        return tuple(axis.index(_raw_value(program, axis.name)) for axis in self._axes)

    def neighbours(self, cell: Cell) -> list[Cell]:
        """Cells adjacent to ``cell`` (Chebyshev distance 1, inside the grid), occupied or
        not, in lexicographic order; ``cell`` itself is excluded."""
        ranges = [
            range(max(0, index - 1), min(axis.bins, index + 2))
            for index, axis in zip(cell, self._axes, strict=True)
        ]
        centre = tuple(cell)
        return [candidate for candidate in itertools.product(*ranges) if candidate != centre]

    def insert(self, program: Program) -> InsertOutcome:
        """Offer ``program`` to its cell (see :meth:`insert_and_evict`)."""
        outcome, _ = self.insert_and_evict(program)
        return outcome

    def insert_and_evict(self, program: Program) -> tuple[InsertOutcome, list[Program]]:
        """Offer ``program`` to its cell and report what left the grid.

        Outcome: ``NEW_CELL`` (improvement = the score) when the cell was empty;
        ``IMPROVED`` (improvement = new - old score) when it beats the occupant strictly;
        with ``neutral_drift``, ``TIED`` (improvement 0) when it ties the occupant's score
        and its size (:func:`size_of`) is at most the occupant's, taking the cell;
        ``NOT_ADDED`` (improvement = new - old, <= 0) otherwise, the occupant staying. The
        second item lists the elites that left the grid: a displaced occupant and any elite
        dropped by re-binning. ``island`` is left at 0.
        Raises ValueError for an unscored program.
        """
        if program.score is None:
            raise ValueError(f"program {program.id} has no score and cannot enter a grid")
        evicted: list[Program] = []
        grew = False
        for axis in self._axes:
            grew = axis.observe(_raw_value(program, axis.name)) or grew
        if grew and self._cells:
            evicted.extend(self._rebin())
        cell = self.cell_of(program)
        occupant = self._cells.get(cell)
        if occupant is None:
            self._place(cell, program)
            return InsertOutcome(InsertStatus.NEW_CELL, program.score, cell), evicted
        gap = program.score - score_of(occupant)
        if gap > 0:
            status = InsertStatus.IMPROVED
        elif gap == 0 and self._neutral_drift and size_of(program) <= size_of(occupant):
            status = InsertStatus.TIED
        else:
            return InsertOutcome(InsertStatus.NOT_ADDED, gap, cell), evicted
        self._place(cell, program)
        evicted.append(occupant)
        return InsertOutcome(status, gap, cell), evicted

    def _place(self, cell: Cell, program: Program) -> None:
        self._cells[cell] = program
        self._ordered = None
        self._version += 1

    def _rebin(self) -> list[Program]:
        """Re-place every elite under the current binning; return those that collided."""
        dropped: list[Program] = []
        rebinned: dict[Cell, Program] = {}
        for elite in self.elites():
            cell = self.cell_of(elite)
            occupant = rebinned.get(cell)
            if occupant is None:
                rebinned[cell] = elite
            elif score_of(elite) > score_of(occupant):
                rebinned[cell] = elite
                dropped.append(occupant)
            else:
                dropped.append(elite)
        self._cells = rebinned
        self._ordered = None
        self._version += 1
        return dropped
