"""Stagnation response: anneal the selection pressure of a collapsed island, restart it.

Each island's diversity is the normalised Shannon entropy of the archive cells its last
``window`` scored children landed in: 1 when every child found a different cell, 0 when
all of them fell into one (a lineage polishing itself). When the diversity has collapsed
(below ``entropy_threshold``) and the island's best child has not improved on the island's
best for ``patience`` children, the monitor answers with one action:

* ``anneal``: the island's temperature is multiplied by ``anneal_factor`` (up to
  ``max_temperature``); parent selection on the island flattens accordingly, in the
  spirit of entropy-triggered annealing of particle filters;
* ``island_restart``: an island already at the highest temperature that still stagnates,
  and does not hold the global best, starts again from the global elites (as FunSearch
  resets its weakest islands).

After an action the island gets ``patience`` more children before the next one; an
improvement resets its temperature to 1. All state is plain data (:meth:`state`), stored
with every step, so a resumed run responds exactly as the uninterrupted one.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from evoforge.config import StagnationConfig
from evoforge.json_text import sorted_json_encoder

__all__ = ["StagnationAction", "StagnationMonitor", "cell_entropy"]

ActionKind = Literal["anneal", "island_restart"]

_encode = sorted_json_encoder()


def cell_entropy(cells: Sequence[Sequence[int]], window: int) -> float:
    """Shannon entropy of the cells' distribution, divided by ``log(window)`` (the most a
    full window can hold): in [0, 1]. An empty or single-slot window has entropy 0."""
    if len(cells) < 2 or window < 2:
        return 0.0
    counts = Counter(cell if isinstance(cell, tuple) else tuple(cell) for cell in cells)
    terms = _entropy_terms(len(cells))
    entropy = -sum(terms[n] for n in counts.values())
    return entropy / math.log(window)


@functools.lru_cache(maxsize=64)
def _entropy_terms(total: int) -> tuple[float, ...]:
    """``(n / total) * log(n / total)`` for n = 0..total (0 unused): the terms of
    :func:`cell_entropy`, computed once per window length."""
    return (0.0, *((n / total) * math.log(n / total) for n in range(1, total + 1)))


@dataclass(frozen=True)
class StagnationAction:
    """What the monitor decided for ``island``, and the measurements behind it."""

    kind: ActionKind
    island: int
    entropy: float
    temperature: float
    stagnation: int

    def payload(self) -> dict[str, Any]:
        """The event's payload (the engine adds what a restart moved)."""
        return {
            "island": self.island,
            "entropy": round(self.entropy, 6),
            "temperature": self.temperature,
            "stagnation": self.stagnation,
        }


@dataclass
class _IslandWatch:
    cells: list[tuple[int, ...]] = field(default_factory=list)
    best: float | None = None
    since_best: int = 0
    since_action: int = 0
    temperature: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "cells": [list(cell) for cell in self.cells],
            "best": self.best,
            "since_best": self.since_best,
            "since_action": self.since_action,
            "temperature": self.temperature,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _IslandWatch:
        best = data.get("best")
        return cls(
            cells=[tuple(int(v) for v in cell) for cell in data.get("cells", [])],
            best=None if best is None else float(best),
            since_best=int(data.get("since_best", 0)),
            since_action=int(data.get("since_action", 0)),
            temperature=float(data.get("temperature", 1.0)),
        )


class StagnationMonitor:
    """Per-island diversity and stagnation, and the response to their collapse."""

    def __init__(self, config: StagnationConfig, num_islands: int) -> None:
        self.config = config
        self.num_islands = num_islands
        self._islands = [_IslandWatch() for _ in range(num_islands)]
        # each island's watch as JSON, until it changes (see state_json)
        self._encoded: dict[int, str] = {}

    def temperature(self, island: int) -> float:
        """The island's selection temperature (1: the usual pressure)."""
        return self._islands[island].temperature if self.config.enabled else 1.0

    def entropy(self, island: int) -> float:
        """The island's current diversity (normalised cell entropy of its recent children)."""
        return cell_entropy(self._islands[island].cells, self.config.window)

    def start(self, score: float) -> None:
        """Every island starts from the seed's score."""
        for watch in self._islands:
            watch.best = score
        self._encoded.clear()

    def observe(
        self,
        island: int,
        cell: Sequence[int] | None,
        score: float | None,
        leads: Callable[[int], bool],
    ) -> StagnationAction | None:
        """Record one child of ``island`` (``cell`` None when it reached no grid, ``score``
        None when it did not score) and return the response it triggers, if any.
        ``leads(island)`` says whether the island holds the global best (never restarted)."""
        watch = self._islands[island]
        self._encoded.pop(island, None)
        watch.since_action += 1
        if score is not None and (watch.best is None or score > watch.best):
            watch.best = score
            watch.since_best = 0
            watch.temperature = 1.0
        else:
            watch.since_best += 1
        if cell is not None and len(cell) > 0:
            watch.cells.append(tuple(int(v) for v in cell))
            del watch.cells[: -self.config.window]
        if not self.config.enabled:
            return None
        config = self.config
        if (
            len(watch.cells) < config.window
            or watch.since_best < config.patience
            or watch.since_action < config.patience
        ):
            return None  # the entropy cannot matter yet: not measured
        entropy = cell_entropy(watch.cells, config.window)
        if entropy >= config.entropy_threshold:
            return None
        if watch.temperature < config.max_temperature:
            watch.temperature = min(
                config.max_temperature, watch.temperature * config.anneal_factor
            )
            watch.since_action = 0
            return StagnationAction("anneal", island, entropy, watch.temperature, watch.since_best)
        if config.restart and self.num_islands > 1 and not leads(island):
            watch.since_action = 0
            return StagnationAction(
                "island_restart", island, entropy, watch.temperature, watch.since_best
            )
        return None

    def restarted(self, island: int, best: float | None) -> None:
        """The island was restarted: full pressure, an empty window, ``best`` its best."""
        self._islands[island] = _IslandWatch(best=best)
        self._encoded.pop(island, None)

    def state(self) -> dict[str, Any]:
        """Everything the monitor knows, as JSON-serialisable data."""
        return {"islands": [watch.to_json() for watch in self._islands]}

    def state_json(self) -> str:
        """:meth:`state` as JSON text (keys sorted): what a run stores with every step.
        Only the island observed since the last call is encoded again."""
        islands = []
        for island, watch in enumerate(self._islands):
            text = self._encoded.get(island)
            if text is None:  # to_json's value (tuples encode as the lists it makes)
                text = self._encoded[island] = _encode(
                    {
                        "best": watch.best,
                        "cells": watch.cells,
                        "since_best": watch.since_best,
                        "since_action": watch.since_action,
                        "temperature": watch.temperature,
                    }
                )
            islands.append(text)
        return f'{{"islands": [{", ".join(islands)}]}}'

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state` output (None: keep the fresh state). Raises ValueError
        when the island count differs."""
        if state is None:
            return
        islands = state.get("islands", [])
        if len(islands) != self.num_islands:
            raise ValueError(f"state has {len(islands)} islands, the run has {self.num_islands}")
        self._islands = [_IslandWatch.from_json(data) for data in islands]
        self._encoded.clear()
