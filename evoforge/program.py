"""Immutable records shared by every part of evoforge, and code normalisation.

Everything above this module (archive, operators, evaluation, storage, engine) talks
through these records only. They are frozen: a program, once recorded, never changes;
its lineage is kept forever even when the archive evicts it.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evoforge.kinds import RejectionKind
from evoforge.text_memo import TextMemo


class EvalStatus(StrEnum):
    """Outcome of evaluating one candidate.

    ``ok``: scored. ``failed``: the evaluator raised (traceback tail in ``reason``).
    ``timeout``: the wall-clock limit killed it. ``invalid``: metrics unusable (NaN, inf,
    non-numeric, no score). ``rejected``: never evaluated (frozen code changed, syntax
    error, duplicate, operator produced nothing).
    """

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INVALID = "invalid"
    REJECTED = "rejected"


class InsertStatus(StrEnum):
    """What an archive insert did: the one currency of reward."""

    NEW_CELL = "new_cell"
    IMPROVED = "improved"
    TIED = "tied"  # tied the occupant's score, no larger: took the cell (neutral drift)
    NOT_ADDED = "not_added"


@dataclass(frozen=True)
class EvaluationResult:
    """What the sandboxed evaluator reports about one program.

    ``score`` is the fitness (higher is better): ``combined_score`` when the evaluator
    gives it, otherwise the mean of the numeric metrics that are neither flags nor the
    archive's feature dimensions (OpenEvolve's rule). It is ``None`` unless ``status``
    is ``ok``. ``artifacts`` are text (stderr tail, evaluator feedback) kept for display
    and for prompts. ``stage`` is the last cascade stage that ran (1-based, 0 if none).
    ``rejection`` is the kind of refusal when ``status`` is ``rejected`` (never evaluated),
    else ``None``.
    """

    status: EvalStatus
    score: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    duration_s: float = 0.0
    stage: int = 0
    rejection: RejectionKind | None = None

    @property
    def evaluated(self) -> bool:
        """Whether the program ran in the sandbox: every status but ``rejected``."""
        return self.status is not EvalStatus.REJECTED


@dataclass(frozen=True)
class InsertOutcome:
    """Result of ``Archive.insert``: status, improvement over the cell's previous
    occupant (or over nothing: the score itself for a new cell), the cell and island."""

    status: InsertStatus
    improvement: float = 0.0
    cell: tuple[int, ...] = ()
    island: int = 0


@dataclass(frozen=True)
class Program:
    """One candidate and everything known about it. Immutable.

    ``id`` is unique within a run. ``seq`` is its commit order in the run database
    (0 for the seed). ``parent_id`` is ``None`` for the seed. ``features`` are the
    MAP-Elites coordinates' raw values by dimension name. ``parent_source`` says how the
    parent was chosen (a parent source such as ``elite`` or ``seed``; ``final`` for the
    simplification offered to the best before the run ends; empty for the seed).
    ``rejection`` is the kind of refusal of a child that was never evaluated. ``params``
    are the numbers the operator made the child with (``tune``'s relative ``step``), for
    operators that learn from their lineage.
    """

    id: str
    code: str
    code_hash: str
    seq: int = 0
    iteration: int = 0
    parent_id: str | None = None
    inspiration_ids: tuple[str, ...] = ()
    operator: str = "seed"
    island: int = 0
    generation: int = 0
    status: EvalStatus = EvalStatus.OK
    reason: str = ""
    score: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    features: Mapping[str, float] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    eval_time_s: float = 0.0
    created_at: float = 0.0
    parent_source: str = ""
    rejection: RejectionKind | None = None
    params: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_scored(self) -> bool:
        return self.status is EvalStatus.OK and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "iteration": self.iteration,
            "parent_id": self.parent_id,
            "inspiration_ids": list(self.inspiration_ids),
            "operator": self.operator,
            "island": self.island,
            "generation": self.generation,
            "status": self.status.value,
            "reason": self.reason,
            "rejection": None if self.rejection is None else self.rejection.value,
            "params": dict(self.params),
            "score": self.score,
            "metrics": dict(self.metrics),
            "features": dict(self.features),
            "artifacts": dict(self.artifacts),
            "eval_time_s": self.eval_time_s,
            "created_at": self.created_at,
            "parent_source": self.parent_source,
            "code_hash": self.code_hash,
            "code": self.code,
        }


def normalise_code(code: str, tree: ast.Module | None = None) -> str:
    """Canonical text of ``code``: comments, blank lines and formatting removed.

    Two programs with the same normal form behave identically, so the result cache and
    duplicate detection key on it. Code that does not parse is normalised by stripping
    trailing comments, trailing whitespace and blank lines line by line. ``tree``:
    ``ast.parse(code)`` where the caller has it (read, never changed), else None. The
    latest 4096 answers are memoised by text.
    """
    return _NORMAL_FORMS.get(code, lambda: _normal_form(code, tree))


def _normal_form(code: str, tree: ast.Module | None) -> str:
    try:
        return ast.unparse(ast.parse(code) if tree is None else tree)
    except (SyntaxError, ValueError, RecursionError):
        pass
    lines = (_COMMENT_RE.sub("", line).rstrip() for line in code.splitlines())
    return "\n".join(line for line in lines if line)


_NORMAL_FORMS: TextMemo[str] = TextMemo(4096)


_COMMENT_RE = re.compile(r"#[^'\"\n]*$")


def code_hash(code: str, tree: ast.Module | None = None) -> str:
    """SHA-256 (hex, 32 chars) of the normalised code (``tree``: see :func:`normalise_code`).

    Code a model wrote may hold a lone surrogate (a JSON ``\\ud800`` escape); it is hashed
    as it is stored (U+FFFD), never raised on.
    """
    text = normalise_code(code, tree)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates become U+FFFD, as the run database stores them
        data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:32]
