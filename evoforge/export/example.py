"""One exported example before it is written: its record and what selection needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Example", "ProgramRef"]


@dataclass(frozen=True)
class ProgramRef:
    """A program an example carries: its split unit and its normalised-code hash."""

    lineage: tuple[str, str, str]  # (problem, run, lineage id)
    code_hash: str


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
