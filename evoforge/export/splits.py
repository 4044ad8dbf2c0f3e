"""Deduplication and the train/validation split, by lineage and problem, never by row.

The unit of the split is a lineage of one run of one problem (the descendants of one
child of the seed). Lineages that share a normalised program (the same seed across runs
of one problem, a duplicate child recorded in another lineage) are merged first, so a
normalised program belongs to exactly one group. Groups go to one side as a whole; the
seed's group always trains. An example whose programs fall in groups on both sides is
dropped rather than let a program cross the split.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Generic, TypeVar

from evoforge.export.example import Selectable

__all__ = ["Splits", "assign_splits", "deduplicate"]

Lineage = tuple[str, str, str]
E = TypeVar("E", bound=Selectable)


def deduplicate(examples: Sequence[E]) -> tuple[list[E], int]:
    """The first example of each ``dedup_key``; returns kept examples and the count dropped."""
    seen: set[tuple[str, ...]] = set()
    kept: list[E] = []
    for example in examples:
        if example.dedup_key in seen:
            continue
        seen.add(example.dedup_key)
        kept.append(example)
    return kept, len(examples) - len(kept)


class _Groups:
    """Union-find over lineages."""

    def __init__(self) -> None:
        self._parent: dict[Lineage, Lineage] = {}

    def find(self, item: Lineage) -> Lineage:
        self._parent.setdefault(item, item)
        root = item
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[item] != root:
            self._parent[item], item = root, self._parent[item]
        return root

    def union(self, first: Lineage, second: Lineage) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self._parent[max(a, b)] = min(a, b)


class Splits(Generic[E]):
    """The examples of each split and how many straddled it."""

    def __init__(self, train: list[E], validation: list[E], dropped: int) -> None:
        self.train = train
        self.validation = validation
        self.dropped = dropped


def assign_splits(
    examples: Sequence[E],
    validation_share: float,
    seed: int,
    seed_lineages: set[Lineage],
) -> Splits[E]:
    """Hold out whole groups of lineages for validation, aiming at ``validation_share``
    of the examples (counting those that lie wholly inside a group); ``seed_lineages``
    (each run's seed) always train. When no group fits the aim, the smallest non-pinned
    one is held out if it holds at most half of the examples; otherwise (a run too small
    to split by lineage: one lineage holds most of it) validation stays empty rather
    than take the training set."""
    groups = _Groups()
    by_hash: dict[str, Lineage] = {}
    for example in examples:
        for program in example.programs:
            groups.find(program.lineage)
            first = by_hash.setdefault(program.code_hash, program.lineage)
            groups.union(first, program.lineage)
    pinned = {groups.find(lineage) for lineage in seed_lineages}
    sizes: Counter[Lineage] = Counter()  # examples lying wholly inside one group
    for example in examples:
        inside = {groups.find(lineage) for lineage in _lineages_of(example)}
        if len(inside) == 1:
            sizes[inside.pop()] += 1
    target = validation_share * len(examples)
    held_out: set[Lineage] = set()
    if target > 0:
        candidates = sorted(
            (group for group in sizes if group not in pinned),
            key=lambda group: hashlib.sha256(f"{seed}|{group}".encode()).hexdigest(),
        )
        total = 0
        for group in candidates:
            if total + sizes[group] <= target:
                held_out.add(group)
                total += sizes[group]
        if not held_out and candidates and len(examples) > 1:
            smallest = min(candidates, key=lambda group: (sizes[group], str(group)))
            if 2 * sizes[smallest] <= len(examples):
                held_out.add(smallest)
    train: list[E] = []
    validation: list[E] = []
    dropped = 0
    for example in examples:
        sides = {groups.find(lineage) in held_out for lineage in _lineages_of(example)}
        if len(sides) > 1:
            dropped += 1
        elif True in sides:
            validation.append(example)
        else:
            train.append(example)
    return Splits(train, validation, dropped)


def _lineages_of(example: Selectable) -> set[Lineage]:
    return {example.lineage, *(program.lineage for program in example.programs)}
