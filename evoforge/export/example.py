"""One exported example: its record once built, and what selection needs before that.

Selection (deduplication, the per-lineage cap, the split) reads only the fields of
:class:`Selectable`: a :class:`Candidate` carries them and the ids to build its record
from, so that an export holds the records of one batch at a time, never of every
candidate; an :class:`Example` is a candidate built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = ["Candidate", "Example", "ProgramRef", "Selectable", "Spec"]


@dataclass(frozen=True)
class ProgramRef:
    """A program an example carries: its split unit and its normalised-code hash."""

    lineage: tuple[str, str, str]  # (problem, run, lineage id)
    code_hash: str


class Selectable(Protocol):
    """What deduplication, the lineage cap and the split read of an example."""

    @property
    def programs(self) -> tuple[ProgramRef, ...]: ...

    @property
    def lineage(self) -> tuple[str, str, str]: ...

    @property
    def dedup_key(self) -> tuple[str, ...]: ...

    @property
    def priority(self) -> tuple[float, ...]: ...


@dataclass(frozen=True)
class Example:
    """``record``: the JSON object to write. ``programs``: every program whose code the
    example carries (parent first), which decide its split. ``lineage``: the unit the
    per-lineage cap counts. ``dedup_key``: normalised-code hashes that make two examples
    the same. ``priority``: higher is kept first when a cap applies. ``operator``:
    what made the example's answer (for the dataset card)."""

    record: dict[str, Any]
    programs: tuple[ProgramRef, ...]
    lineage: tuple[str, str, str]
    dedup_key: tuple[str, ...]
    priority: tuple[float, ...]
    operator: str
    problem: str


class Spec(NamedTuple):
    """Which programs an example is built from: ``parent`` and ``child`` (sft: the
    improving child; preference: the chosen one; traces: the child traced) and
    ``other`` (sft: the failed sibling of a ``failure_fix``; preference: the rejected
    sibling), with the parent's ``difficulty``."""

    parent: str
    child: str
    other: str | None = None
    difficulty: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """An example that passed every check when it was built, kept without its record:
    ``run`` (the position of its run in the export), ``spec`` (what builds it again,
    byte for byte), ``kind`` (its record's ``kind``, None where the format has none),
    ``order`` (where it goes among its run's candidates) and the fields of
    :class:`Example` but ``record``."""

    run: int
    spec: Spec
    programs: tuple[ProgramRef, ...]
    lineage: tuple[str, str, str]
    dedup_key: tuple[str, ...]
    priority: tuple[float, ...]
    operator: str
    problem: str
    kind: str | None
    order: tuple[int, int]

    @classmethod
    def of(
        cls, example: Example, run: int, spec: Spec, order: tuple[int, int] = (0, 0)
    ) -> Candidate:
        """``example`` without its record."""
        kind = example.record.get("kind")
        return cls(
            run=run,
            spec=spec,
            programs=example.programs,
            lineage=example.lineage,
            dedup_key=example.dedup_key,
            priority=example.priority,
            operator=example.operator,
            problem=example.problem,
            kind=None if kind is None else str(kind),
            order=order,
        )
