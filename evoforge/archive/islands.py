"""The archive: K islands, each a MAP-Elites grid, plus a global elite set.

Islands evolve apart and exchange their best programs by ring migration. The archive
holds no random generator and no wall-clock state: every random choice uses the ``rng``
passed in, and every ordering is by ``(seq, id)`` or by fitness, so replaying the same
inserts and migrations in the same order (what the engine does on resume) rebuilds the
same archive and, with the same generator states, the same choices.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from evoforge.archive import sampling
from evoforge.archive.features import FeatureExtractor
from evoforge.archive.map_elites import Cell, Grid, order_key
from evoforge.config import ArchiveConfig
from evoforge.program import InsertOutcome, InsertStatus, Program

InspirationPolicy = Literal["top", "diverse", "neighbours", "mixed"]

DEFAULT_REFERENCE_SIZE = 16
"""Elites an island offers as the reference set for the ``diversity`` feature."""


@dataclass(frozen=True)
class _IslandView:
    """What selection derives from one grid, kept until the grid changes (``version``):
    the elites in canonical order with their rank weights, and the distinct programs
    (by id and code hash) with their cells, in canonical order and best first."""

    version: int
    elites: list[Program]
    weights: dict[float, sampling.RankedWeights]  # by temperature, filled when asked
    distinct: list[tuple[Program, Cell]]
    ranked: list[Program]
    points: list[tuple[float, ...]]  # the distinct programs' cells, normalised (diverse)
    cell_ids: list[int]  # equal exactly where two distinct programs share a cell
    position_of_id: dict[str, int]  # in ``distinct``
    position_of_hash: dict[str, int]  # in ``distinct`` (hashes are distinct there too)


@dataclass(frozen=True)
class _Pool:
    """Inspiration candidates for one parent: programs, their cells, the same as
    normalised points and cell ids, and the programs best first."""

    programs: list[Program]
    cells: list[Cell]
    points: list[tuple[float, ...]]
    cell_ids: list[int]
    ranked: list[Program]  # may hold the parent: skip ``excluded`` when reading it
    excluded: frozenset[str]


class Archive:
    """Islands of MAP-Elites grids (higher score is better).

    ``insert`` places a scored program into one island's grid and offers it to the
    global elite set (top ``elite_size`` by score, ties to the earlier ``seq``); a
    program that later leaves every grid stays in the global set if it is good enough,
    and always stays in the run database. ``programs_by_id`` resolves any program the
    archive currently holds (in some grid or in the global set).
    """

    def __init__(self, config: ArchiveConfig, *, reference_size: int = DEFAULT_REFERENCE_SIZE):
        if reference_size < 1:
            raise ValueError("reference_size must be >= 1")
        self.config = config
        self.reference_size = reference_size
        self.feature_extractor = FeatureExtractor(config.features)
        self._grids = [
            Grid(config.features, neutral_drift=config.neutral_drift)
            for _ in range(config.num_islands)
        ]
        self._inserts = [0] * config.num_islands
        self._global: list[Program] = []  # best first, by sampling.fitness_key
        self._global_keys: list[tuple[float, int, str]] = []
        self._by_id: dict[str, Program] = {}
        self._memberships: dict[str, int] = {}
        self._views: list[_IslandView | None] = [None] * config.num_islands

    # ----------------------------------------------------------------- queries
    @property
    def num_islands(self) -> int:
        return len(self._grids)

    @property
    def programs_by_id(self) -> Mapping[str, Program]:
        """Read-only view of every program currently in a grid or in the global elites."""
        return MappingProxyType(self._by_id)

    def __len__(self) -> int:
        """Distinct programs currently held (grids and global elites together)."""
        return len(self._by_id)

    def grid(self, island: int) -> Grid:
        """The grid of ``island`` (read it; insert through the archive only)."""
        return self._grids[self._check_island(island)]

    def elites(self, island: int) -> list[Program]:
        """The elites of ``island`` in canonical ``(seq, id)`` order."""
        return self.grid(island).elites()

    def reaches(self, island: int, score: float) -> bool:
        """Whether ``island``'s grid holds a program scoring at least ``score`` (a program
        without a score holds none; a score of 0 is a score). Reads the island's selection
        view: no copy."""
        self._check_island(island)
        return any(p.score is not None and p.score >= score for p in self._view(island).elites)

    def global_elites(self) -> list[Program]:
        """The global elite set, best first."""
        return list(self._global)

    def best(self) -> Program | None:
        """The best program ever inserted (earliest on a tie), or None when empty."""
        return self._global[0] if self._global else None

    def features_reference(self, island: int) -> list[Program]:
        """Programs the ``diversity`` feature of a child of ``island`` is measured
        against: the island's best ``reference_size`` elites (the global elites while the
        island is empty), best first. Bounded, so computing diversity stays cheap."""
        pool = self.elites(island) or self._global
        return sampling.top(pool, self.reference_size)

    def compute_features(
        self,
        code: str,
        metrics: Mapping[str, float],
        score: float | None,
        island: int,
    ) -> dict[str, float]:
        """Raw feature values of a child of ``island`` (what ``Program.features`` holds)."""
        references = (
            self.features_reference(island) if self.feature_extractor.needs_references else []
        )
        return self.feature_extractor.compute(code, metrics, score, references)

    def summary(self) -> list[dict[str, Any]]:
        """Per island: ``island``, ``cells`` (occupied), ``capacity``, ``coverage``,
        ``size`` (programs offered to it, migrants included), ``best_score``, ``best_id``."""
        rows: list[dict[str, Any]] = []
        for island, grid in enumerate(self._grids):
            elites = grid.elites()
            best = sampling.best_first(elites)[0] if elites else None
            rows.append(
                {
                    "island": island,
                    "cells": len(grid),
                    "capacity": grid.capacity,
                    "coverage": len(grid) / grid.capacity,
                    "size": self._inserts[island],
                    "best_score": None if best is None else best.score,
                    "best_id": None if best is None else best.id,
                }
            )
        return rows

    # ----------------------------------------------------------------- changes
    def insert(self, program: Program, island: int) -> InsertOutcome:
        """Offer a scored ``program`` to ``island``'s grid and to the global elites.

        Returns the grid's outcome (see ``Grid.insert_and_evict``) with ``island`` set.
        Raises ValueError for an unscored program or an island out of range.
        """
        self._check_island(island)
        if program.score is None:
            raise ValueError(f"program {program.id} has no score and cannot be archived")
        outcome, evicted = self._grids[island].insert_and_evict(program)
        self._inserts[island] += 1
        if outcome.status is not InsertStatus.NOT_ADDED:
            self._hold(program)
        for gone in evicted:
            self._release(gone)
        self._offer_global(program)
        return InsertOutcome(outcome.status, outcome.improvement, outcome.cell, island)

    def migrate(self, rng: np.random.Generator) -> list[tuple[Program, int, int]]:
        """Ring migration: island i sends its best ``migration_count`` elites to (i+1) % K.

        Migrants are chosen from all islands first, then inserted in island order, so a
        program moves one step per migration. A migrant is skipped when the destination
        grid already holds the same program (same id or same code hash). Returns
        ``(program, source, destination)`` for every migrant offered to a destination,
        in order: replaying ``insert(program, destination)`` for each reproduces the
        migration exactly. ``rng`` is unused by the ring policy (kept for the contract).
        """
        del rng
        count = self.config.migration_count
        if self.num_islands < 2 or count <= 0:
            return []
        outgoing = [sampling.top(grid.elites(), count) for grid in self._grids]
        moved: list[tuple[Program, int, int]] = []
        for source, migrants in enumerate(outgoing):
            destination = (source + 1) % self.num_islands
            for migrant in migrants:
                present = self._grids[destination].elites()
                if any(p.id == migrant.id or p.code_hash == migrant.code_hash for p in present):
                    continue
                self.insert(migrant, destination)
                moved.append((migrant, source, destination))
        return moved

    def restart_island(self, island: int, programs: list[Program]) -> None:
        """Empty ``island``'s grid (its binning starts afresh) and insert ``programs`` in
        order: a stagnant island starts again from them (usually the global elites).
        Replaying the same call at the same point of the history rebuilds the same grid."""
        self._check_island(island)
        for elite in self._grids[island].elites():
            self._release(elite)
        self._grids[island] = Grid(self.config.features, neutral_drift=self.config.neutral_drift)
        self._views[island] = None  # a new grid counts its versions afresh
        for program in programs:
            self.insert(program, island)

    # ------------------------------------------------------------- selection
    def sample_parent(
        self, island: int, rng: np.random.Generator, *, temperature: float = 1.0
    ) -> Program:
        """A parent for a child of ``island``: exploit (rank-weighted elite), explore
        (uniform occupied cell) or tournament, with the configured rates normalised.
        ``temperature`` > 1 lowers the pressure of exploit and tournament (an annealed
        island). Falls back to the global elites when the island is empty; raises
        LookupError when the whole archive is empty."""
        candidates, weights = self.parent_candidates(island, temperature=temperature)
        if not candidates:
            raise LookupError("the archive is empty: insert the seed program first")
        config = self.config
        rates = (config.exploitation_rate, config.exploration_rate, config.tournament_rate)
        size = max(1, round(config.tournament_size / max(temperature, 1.0)))
        parent, _ = sampling.select_parent(
            candidates, rates, size, rng, temperature=temperature, exploit_weights=weights
        )
        return parent

    def parent_candidates(
        self, island: int, *, temperature: float = 1.0
    ) -> tuple[list[Program], sampling.RankedWeights | None]:
        """The programs a parent for a child of ``island`` is drawn from (the island's
        elites in canonical order, the global elites in that order while the island is
        empty; empty when the archive is) and, for the island's elites, their rank
        weights at ``temperature`` (None for the global elites). Both are kept until the
        grid changes: read them, never modify them."""
        view = self._view(island)
        if view.elites:
            weights = view.weights.get(temperature)
            if weights is None:
                scores = [-sampling.fitness_key(p)[0] for p in view.elites]
                weights = sampling.RankedWeights.of(sampling.rank_weights(scores, temperature))
                view.weights[temperature] = weights
            return view.elites, weights
        return sorted(self._global, key=order_key), None

    def sample_inspirations(
        self,
        parent: Program,
        island: int,
        rng: np.random.Generator,
        count: int | None = None,
        policy: InspirationPolicy | None = None,
    ) -> list[Program]:
        """Up to ``count`` other programs to show an operator beside ``parent``.

        ``top``: the island's best elites; ``diverse``: elites from distinct cells far
        from the parent's and each other; ``neighbours``: elites of the cells nearest the
        parent's (adjacent first); ``mixed``: a split of the three (top first). Candidates
        are the island's elites, topped up with global elites when the island has too few.
        Never includes the parent (by id or code hash) and never the same program twice.
        ``count`` and ``policy`` default to the configured ones.
        """
        settings = self.config.inspirations
        wanted = settings.count if count is None else count
        chosen_policy: str = settings.policy if policy is None else policy
        if wanted <= 0:
            return []
        grid = self.grid(island)
        found = self._inspiration_pool(parent, island, wanted)
        pool = found.programs
        if not pool:
            return []
        parent_cell = grid.cell_of(parent)

        def pick(name: str, exclude: set[str], how_many: int) -> list[Program]:
            if name == "top":  # the best first, as sampling.top would rank them
                best: list[Program] = []
                for program in found.ranked:
                    if len(best) >= how_many:
                        break
                    if program.id not in exclude and program.id not in found.excluded:
                        best.append(program)
                return best
            kept = [index for index, program in enumerate(pool) if program.id not in exclude]
            candidates = [pool[index] for index in kept]
            if name == "diverse":
                positions = sampling.diverse_indices(
                    [found.points[index] for index in kept],
                    [found.cell_ids[index] for index in kept],
                    sampling.normalised_point(parent_cell, grid.shape),
                    how_many,
                    rng,
                )
                return [candidates[position] for position in positions]
            candidate_cells = [found.cells[index] for index in kept]
            if name == "neighbours":
                return sampling.neighbours(candidates, candidate_cells, parent_cell, how_many, rng)
            raise ValueError(f"unknown inspiration policy {name!r}")

        if chosen_policy != "mixed":
            return pick(chosen_policy, set(), wanted)
        chosen: list[Program] = []
        quotas = sampling.mixed_quotas(wanted)
        for name, quota in zip(("top", "diverse", "neighbours"), quotas, strict=True):
            if quota:
                chosen.extend(pick(name, {program.id for program in chosen}, quota))
        if len(chosen) < wanted:  # a policy came up short: fill with the best left
            chosen.extend(pick("top", {program.id for program in chosen}, wanted - len(chosen)))
        return chosen

    # --------------------------------------------------------------- internals
    def _check_island(self, island: int) -> int:
        if not 0 <= island < len(self._grids):
            raise ValueError(f"island {island} out of range 0..{len(self._grids) - 1}")
        return island

    def _view(self, island: int) -> _IslandView:
        """The island's selection view, rebuilt only when its grid has changed."""
        grid = self._grids[island]
        view = self._views[island]
        if view is not None and view.version == grid.version:
            return view
        entries = grid.entries()
        elites = [program for _, program in entries]
        distinct: list[tuple[Program, Cell]] = []
        seen_ids: set[str] = set()
        seen_hashes: set[str] = set()
        for cell, program in entries:
            if program.id in seen_ids or program.code_hash in seen_hashes:
                continue
            seen_ids.add(program.id)
            seen_hashes.add(program.code_hash)
            distinct.append((program, cell))
        ranked = sampling.best_first([program for program, _ in distinct])
        cells = [cell for _, cell in distinct]
        view = _IslandView(
            grid.version,
            elites,
            {},
            distinct,
            ranked,
            [sampling.normalised_point(cell, grid.shape) for cell in cells],
            _cell_ids(cells),
            {program.id: index for index, (program, _) in enumerate(distinct)},
            {program.code_hash: index for index, (program, _) in enumerate(distinct)},
        )
        self._views[island] = view
        return view

    def _inspiration_pool(self, parent: Program, island: int, wanted: int) -> _Pool:
        """Distinct programs other than ``parent`` and their cells in ``island``'s grid:
        the island's elites, topped up with global elites when fewer than ``wanted``."""
        view = self._view(island)
        dropped = {
            position
            for position in (
                view.position_of_id.get(parent.id),
                view.position_of_hash.get(parent.code_hash),
            )
            if position is not None
        }
        excluded = frozenset(view.distinct[position][0].id for position in dropped)
        if dropped:
            kept = [index for index in range(len(view.distinct)) if index not in dropped]
            programs = [view.distinct[index][0] for index in kept]
            cells = [view.distinct[index][1] for index in kept]
            points = [view.points[index] for index in kept]
            cell_ids = [view.cell_ids[index] for index in kept]
        else:
            programs = [program for program, _ in view.distinct]
            cells = [cell for _, cell in view.distinct]
            points, cell_ids = view.points, view.cell_ids
        if len(programs) >= wanted:
            return _Pool(programs, cells, points, cell_ids, view.ranked, excluded)
        grid = self._grids[island]
        seen_ids = {parent.id, *(program.id for program in programs)}
        seen_hashes = {parent.code_hash, *(program.code_hash for program in programs)}
        for program in sorted(self._global, key=order_key):
            if program.id in seen_ids or program.code_hash in seen_hashes:
                continue
            seen_ids.add(program.id)
            seen_hashes.add(program.code_hash)
            programs.append(program)
            cells.append(grid.cell_of(program))
        points = [sampling.normalised_point(cell, grid.shape) for cell in cells]
        ranked = sampling.best_first(programs)
        return _Pool(programs, cells, points, _cell_ids(cells), ranked, frozenset())

    def _offer_global(self, program: Program) -> None:
        key = sampling.fitness_key(program)
        position = bisect.bisect_left(self._global_keys, key)
        if position >= self.config.elite_size:
            return  # most children: not good enough, whether held already or not
        if any(elite.id == program.id for elite in self._global):
            return
        self._global.insert(position, program)
        self._global_keys.insert(position, key)
        self._hold(program)
        if len(self._global) > self.config.elite_size:
            dropped = self._global.pop()
            self._global_keys.pop()
            self._release(dropped)

    def _hold(self, program: Program) -> None:
        self._memberships[program.id] = self._memberships.get(program.id, 0) + 1
        self._by_id[program.id] = program

    def _release(self, program: Program) -> None:
        remaining = self._memberships.get(program.id, 0) - 1
        if remaining > 0:
            self._memberships[program.id] = remaining
        else:
            self._memberships.pop(program.id, None)
            self._by_id.pop(program.id, None)


def _cell_ids(cells: list[Cell]) -> list[int]:
    """One integer per cell, equal exactly where the cells are equal."""
    numbering: dict[Cell, int] = {}
    return [numbering.setdefault(cell, len(numbering)) for cell in cells]
