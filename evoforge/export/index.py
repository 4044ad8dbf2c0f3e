"""A run's compact index: what selection reads of each program, without its code.

Selecting examples needs a program's id, parent, status, score, operator, commit order,
normalised-code hash and whether its code equals another's; never the code, prompts,
metrics or artifacts. :func:`read_index` reads those fields one row at a time and keeps
a 16-byte digest of each code in its place, so the index of a run of 50,000 programs
takes a few tens of megabytes whatever the size of its programs; the code itself is
fetched later for the few programs an example is built from.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from evoforge.program import EvalStatus

__all__ = ["Node", "RunIndex", "code_digest", "read_index"]

Outline = tuple[int, str, "str | None", str, "float | None", str, str, str]
"""``(seq, id, parent_id, status, score, operator, code_hash, code)``: one program row."""


def code_digest(code: str) -> bytes:
    """A 16-byte digest of ``code`` exactly as it is (not normalised): equal for equal
    code, and (short of a BLAKE2 collision) different for any other."""
    return hashlib.blake2b(code.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Node(NamedTuple):
    """One program as selection sees it. ``digest``: :func:`code_digest` of its code,
    compared where selection asks whether two programs have the same code."""

    id: str
    seq: int
    parent_id: str | None
    status: EvalStatus
    score: float | None
    operator: str
    code_hash: str
    digest: bytes

    @property
    def is_scored(self) -> bool:
        """As :attr:`evoforge.program.Program.is_scored`: ok and with a score."""
        return self.status is EvalStatus.OK and self.score is not None


@dataclass(frozen=True)
class RunIndex:
    """Every program of a run as a :class:`Node`. ``nodes``: by id, in commit order.
    ``seed``: the first program committed. ``children``: parent id -> its children in
    commit order, parents in the order their first child was committed (the seed's own
    record is no child, whatever its parent). ``lineage``: program id -> the seed's child
    it descends from (the seed: itself; a program whose parent is unknown starts its
    own)."""

    nodes: dict[str, Node]
    seed: Node
    children: dict[str, list[Node]]
    lineage: dict[str, str]


def read_index(outlines: Iterable[Outline], codes: Callable[[Iterator[str]], None]) -> RunIndex:
    """The index of the programs ``outlines`` yields (in commit order; at least one).
    ``codes`` is handed an iterator of each program's code, which it must read to its
    end (the rows are read as it does so): the one place an export sees every code,
    e.g. to learn which lines programs hold; no code is kept here."""
    nodes: dict[str, Node] = {}
    statuses = {status.value: status for status in EvalStatus}
    operators: dict[str, str] = {}

    def rows() -> Iterator[str]:
        for seq, program_id, parent_id, status, score, operator, digest, code in outlines:
            parent = nodes.get(parent_id) if parent_id is not None else None
            nodes[program_id] = Node(
                program_id,
                int(seq),
                parent.id if parent is not None else parent_id,  # one copy of the id text
                statuses[status],
                None if score is None else float(score),
                operators.setdefault(operator, operator),
                digest,
                code_digest(code),
            )
            yield code

    codes(rows())
    if not nodes:
        raise ValueError("a run index needs at least one program")
    seed = next(iter(nodes.values()))
    children: dict[str, list[Node]] = defaultdict(list)
    for node in nodes.values():
        if node is not seed and node.parent_id is not None:
            children[node.parent_id].append(node)
    return RunIndex(nodes, seed, dict(children), _lineages(nodes, seed))


def _lineages(nodes: dict[str, Node], seed: Node) -> dict[str, str]:
    lineage: dict[str, str] = {seed.id: seed.id}
    for program_id in nodes:
        chain: list[str] = []
        current = program_id
        while current not in lineage:
            parent_id = nodes[current].parent_id
            if parent_id is None or parent_id == seed.id or parent_id not in nodes:
                lineage[current] = current
                break
            chain.append(current)
            current = parent_id
        for descendant in chain:
            lineage[descendant] = lineage[current]
    return lineage
