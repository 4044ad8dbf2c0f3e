"""Which children become examples: difficulty quotas, preference pairs, lineage caps.

The rules are those of :class:`~evoforge.export.options.ExportOptions`; this module only
applies them to a parent's children: index entries (:class:`~evoforge.export.index.Node`,
no code) when an export selects, or whole :class:`~evoforge.program.Program` records;
nothing here reads more than ids, statuses, scores, commit order and code equality.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from evoforge.export.example import Selectable
from evoforge.export.index import Node, code_digest
from evoforge.export.options import ExportOptions
from evoforge.program import EvalStatus, Program

Record = Program | Node
"""A program as selection reads it: whole, or its index entry."""
S = TypeVar("S", bound=Selectable)
R = TypeVar("R", Program, Node)

__all__ = [
    "FAILED_STATUSES",
    "beats",
    "cap_per_lineage",
    "difficulty",
    "improves",
    "improving_children",
    "quota",
    "rejected_siblings",
    "required_margin",
    "same_code",
]

#: statuses of children that were evaluated and broke (their error is feedback)
FAILED_STATUSES = frozenset({EvalStatus.FAILED, EvalStatus.TIMEOUT, EvalStatus.INVALID})


def same_code(first: Record, second: Record) -> bool:
    """Whether the two programs' code is the same text (index entries compare digests)."""
    if isinstance(first, Program) and isinstance(second, Program):
        return first.code == second.code
    first_key = first.digest if isinstance(first, Node) else code_digest(first.code)
    second_key = second.digest if isinstance(second, Node) else code_digest(second.code)
    return first_key == second_key


def improves(child: Record, parent: Record) -> bool:
    """Both scored and the child strictly higher."""
    return (
        child.is_scored
        and parent.is_scored
        and float(child.score or 0.0) > float(parent.score or 0.0)
    )


def difficulty(parent: Record, children: Sequence[Record]) -> float:
    """Smoothed share of the parent's evaluated children that did not improve it."""
    evaluated = [child for child in children if child.status is not EvalStatus.REJECTED]
    improved = sum(1 for child in evaluated if improves(child, parent))
    return 1.0 - (improved + 1) / (len(evaluated) + 2)


def quota(hardness: float, options: ExportOptions) -> int | None:
    """How many improving children a parent of this difficulty keeps (None: all)."""
    if options.difficulty == "off":
        return None
    if options.difficulty == "uniform":
        return options.per_parent
    return max(1, math.ceil(options.per_parent * hardness - 1e-9))


def improving_children(parent: R, children: Sequence[R], options: ExportOptions) -> list[R]:
    """The parent's improving children within its quota, largest improvement first."""
    improving = [child for child in children if improves(child, parent)]
    improving.sort(key=lambda child: (-float(child.score or 0.0), child.seq))
    limit = quota(difficulty(parent, children), options)
    return improving if limit is None else improving[:limit]


def required_margin(parent: Record, options: ExportOptions) -> float:
    """The score gap a chosen child needs over a scored rejected one (beyond zero)."""
    return options.margin * abs(float(parent.score or 0.0))


def beats(chosen: Record, rejected: Record, parent: Record, options: ExportOptions) -> bool:
    """Whether ``chosen`` wins a preference pair against ``rejected`` by the margin; a
    failed child loses to any scored one."""
    if not chosen.is_scored:
        return False
    if rejected.status in FAILED_STATUSES:
        return True
    if not rejected.is_scored:
        return False
    gap = float(chosen.score or 0.0) - float(rejected.score or 0.0)
    return gap > 0.0 and gap > required_margin(parent, options)


def rejected_siblings(
    chosen: R,
    parent: R,
    siblings: Sequence[R],
    options: ExportOptions,
    offset: int = 0,
) -> list[R]:
    """Up to ``rejected_per_chosen`` siblings that ``chosen`` beats: failed ones and the
    best-scoring losers taken in turn (``offset`` rotates both lists, so the chosen
    children of one parent meet different rejected ones)."""
    failed = [
        child
        for child in siblings
        if child.status in FAILED_STATUSES and not same_code(child, parent)
    ]
    losers = sorted(
        (
            child
            for child in siblings
            if child.id != chosen.id
            and child.is_scored
            and not same_code(child, parent)
            and beats(chosen, child, parent, options)
        ),
        key=lambda child: (-float(child.score or 0.0), child.seq),
    )
    failed = _rotate(failed, offset)
    losers = _rotate(losers, offset)
    picked: list[R] = []
    while (failed or losers) and len(picked) < options.rejected_per_chosen:
        if failed:
            picked.append(failed.pop(0))
        if losers and len(picked) < options.rejected_per_chosen:
            picked.append(losers.pop(0))
    return picked


def _rotate(items: list[R], offset: int) -> list[R]:
    if not items:
        return items
    shift = offset % len(items)
    return items[shift:] + items[:shift]


def cap_per_lineage(examples: Sequence[S], cap: int) -> tuple[list[S], int]:
    """At most ``cap`` examples per lineage (0: no cap), the highest priority kept;
    returns the kept examples in their original order and how many were dropped."""
    if cap <= 0:
        return list(examples), 0
    ranked = sorted(range(len(examples)), key=lambda i: tuple(-x for x in examples[i].priority))
    taken: Counter[tuple[str, str, str]] = Counter()
    keep: set[int] = set()
    for index in ranked:
        lineage = examples[index].lineage
        if taken[lineage] < cap:
            taken[lineage] += 1
            keep.add(index)
    kept = [example for index, example in enumerate(examples) if index in keep]
    return kept, len(examples) - len(kept)
