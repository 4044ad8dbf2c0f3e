"""Where a child's parent comes from: one pick per parent source.

The engine's parent-source bandit names a source (see ``ParentsConfig``); this module
turns the name into a parent, and for ``pair`` into the inspirations shown beside it.
Every pick is a pure function of the archive, the seed program, the island's temperature
and the ``rng`` passed in, so replaying a run's history reproduces its choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evoforge.archive import sampling
from evoforge.archive.islands import Archive
from evoforge.program import Program

__all__ = ["ParentPick", "pick_parent"]


@dataclass(frozen=True)
class ParentPick:
    """A parent, and the inspirations its source insists on (None: the archive's usual
    inspiration policy chooses them)."""

    parent: Program
    inspirations: tuple[Program, ...] | None = None


def pick_parent(
    archive: Archive,
    source: str,
    island: int,
    seed: Program | None,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    inspirations: int = 2,
) -> ParentPick:
    """The parent ``source`` gives for a child of ``island``.

    ``temperature`` (>= 1) lowers the selection pressure of ``elite`` and ``tournament``
    (flatter rank weights, smaller tournaments). ``seed`` falls back to ``elite`` when the
    seed has no score; ``pair`` picks an ``elite`` parent and up to ``inspirations``
    global elites held by no other cell of the island (the other islands' best), so that
    crossover mixes lineages that grew apart. Raises LookupError when the archive is
    empty and ValueError for an unknown source.
    """
    candidates, weights = archive.parent_candidates(island, temperature=temperature)
    if not candidates:
        raise LookupError("the archive is empty: insert the seed program first")
    config = archive.config
    if source == "seed" and seed is not None and seed.score is not None:
        return ParentPick(seed)
    if source in ("seed", "elite"):
        return ParentPick(sampling.exploit(candidates, rng, temperature, weights))
    if source == "explore":
        return ParentPick(sampling.explore(candidates, rng))
    if source == "tournament":
        size = max(1, round(config.tournament_size / max(temperature, 1.0)))
        return ParentPick(sampling.tournament(candidates, size, rng))
    if source == "best":
        best = archive.best()
        return ParentPick(best if best is not None else sampling.best_first(candidates)[0])
    if source == "pair":
        parent = sampling.exploit(candidates, rng, temperature, weights)
        return ParentPick(parent, _foreign_elites(archive, island, parent, inspirations))
    raise ValueError(f"unknown parent source {source!r}")


def _foreign_elites(
    archive: Archive, island: int, parent: Program, count: int
) -> tuple[Program, ...] | None:
    """Up to ``count`` global elites (best first) that ``island``'s grid does not hold and
    whose code differs from the parent's; None when there are none (one island, or every
    global elite lives on this island), so the usual inspirations are used instead."""
    if count <= 0:
        return None
    here = {program.code_hash for program in archive.elites(island)}
    here.add(parent.code_hash)
    foreign: list[Program] = []
    for program in archive.global_elites():
        if program.code_hash in here:
            continue
        here.add(program.code_hash)
        foreign.append(program)
        if len(foreign) == count:
            break
    return tuple(foreign) if foreign else None
