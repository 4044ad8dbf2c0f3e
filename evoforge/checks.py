"""Checks before evaluation: refuse a child, unevaluated, for a reason of a known kind.

The engine runs its checks in order on every proposal and stops at the first refusal; a
refused child is committed with status ``rejected``, its :class:`~evoforge.kinds.
RejectionKind` and a reason a person can read, and costs no evaluation. A check is one
small class; :func:`default_checks` builds the list a run gets from its configuration.
A caller may pass its own list to :class:`~evoforge.engine.Engine`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from evoforge.blocks import frozen_violation
from evoforge.config import Config
from evoforge.kinds import RejectionKind
from evoforge.novelty import EmbeddingNoveltyIndex, NoveltyIndex
from evoforge.operators.base import Proposal
from evoforge.program import EvalStatus, EvaluationResult, Program, code_hash
from evoforge.registry import OPERATORS
from evoforge.static_check import new_name_problems

__all__ = [
    "Check",
    "DuplicateCheck",
    "FrozenCodeCheck",
    "NearDuplicateCheck",
    "Rejection",
    "SyntaxCheck",
    "UndefinedNameCheck",
    "default_checks",
]


@dataclass(frozen=True)
class Rejection:
    """Why a child must not be evaluated: its kind and a reason a person can read."""

    kind: RejectionKind
    reason: str

    def result(self) -> EvaluationResult:
        """The result to :meth:`~evoforge.engine.Engine.tell` for the refused child."""
        return EvaluationResult(EvalStatus.REJECTED, reason=self.reason, rejection=self.kind)


class Check:
    """One check. ``check`` returns a :class:`Rejection` or ``None``; it must not raise.

    ``observe`` sees every committed child (and the seed); ``evaluation_started`` and
    ``evaluation_finished`` bracket an evaluation in flight. All three are optional.
    """

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        raise NotImplementedError

    def observe(self, program: Program) -> None:
        """A program was committed (``program.status`` says whether it was evaluated)."""

    def evaluation_started(self, code: str) -> None:
        """``code`` passed every check and is being evaluated now."""

    def evaluation_finished(self, code: str) -> None:
        """The evaluation of ``code`` ended (whatever its result)."""


class SyntaxCheck(Check):
    """The child must parse."""

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        facts = proposal.facts  # computed where the child was made (evoforge.facts)
        if facts is not None:
            if facts.syntax_error is None:
                return None
            return Rejection(RejectionKind.SYNTAX, facts.syntax_error)
        try:
            ast.parse(proposal.code)
        except SyntaxError as exc:
            return Rejection(RejectionKind.SYNTAX, f"syntax error at line {exc.lineno}: {exc.msg}")
        except (ValueError, RecursionError) as exc:
            return Rejection(RejectionKind.SYNTAX, f"unparsable code: {exc}")
        return None


class FrozenCodeCheck(Check):
    """The child keeps every line outside the evolve blocks of ``initial_code``."""

    def __init__(self, initial_code: str) -> None:
        self.initial_code = initial_code

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        facts = proposal.facts
        if facts is not None and facts.syntax_error is None:
            violation = facts.frozen_violation
        else:
            violation = frozen_violation(self.initial_code, proposal.code)
        return None if violation is None else Rejection(RejectionKind.FROZEN_CODE, violation)


class UndefinedNameCheck(Check):
    """The child uses no name it never defines where its parent does not (pyflakes)."""

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        facts = proposal.facts
        if facts is not None and facts.names_checked:
            undefined = list(facts.undefined_names)
        else:
            undefined = new_name_problems(parent.code, proposal.code)
        if not undefined:
            return None
        return Rejection(RejectionKind.UNDEFINED_NAME, f"static check: {', '.join(undefined)}")


class DuplicateCheck(Check):
    """The child's normalised code was neither evaluated (``evaluated(digest)``, the run
    database) nor is being evaluated now."""

    def __init__(self, evaluated: Callable[[str], bool]) -> None:
        self._evaluated = evaluated
        self._in_flight: dict[str, int] = {}
        # the digest of each code checked last, so that bracketing its evaluation costs
        # no parse (the hash comes with the child's facts); at most the codes in flight
        self._digests: dict[str, str] = {}

    def _digest(self, code: str) -> str:
        digest = self._digests.get(code)
        return code_hash(code) if digest is None else digest

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        facts = proposal.facts
        digest = code_hash(proposal.code) if facts is None else facts.code_hash
        if digest in self._in_flight or self._evaluated(digest):
            return Rejection(RejectionKind.DUPLICATE, "duplicate of a program already evaluated")
        if len(self._digests) > 4 * (len(self._in_flight) + 1):
            in_flight = set(self._in_flight)
            self._digests = {c: d for c, d in self._digests.items() if d in in_flight}
        self._digests[proposal.code] = digest
        return None

    def evaluation_started(self, code: str) -> None:
        digest = self._digest(code)
        self._in_flight[digest] = self._in_flight.get(digest, 0) + 1

    def evaluation_finished(self, code: str) -> None:
        digest = self._digest(code)
        left = self._in_flight.get(digest, 0) - 1
        if left > 0:
            self._in_flight[digest] = left
        else:
            self._in_flight.pop(digest, None)
            self._digests.pop(code, None)


class NearDuplicateCheck(Check):
    """The child's evolve blocks are no near copy of an evaluated program's (the index:
    MinHash or embeddings). The engine that owns the index adds evaluated programs to it.

    ``every_operator``: check every child, not only those of language-model operators.
    """

    def __init__(
        self, index: NoveltyIndex | EmbeddingNoveltyIndex, *, every_operator: bool = False
    ) -> None:
        self.index = index
        self.every_operator = every_operator

    def check(self, parent: Program, proposal: Proposal, operator: str) -> Rejection | None:
        if not self.every_operator and not OPERATORS.has(operator, "llm"):
            return None
        signature = None if proposal.facts is None else proposal.facts.signature
        if isinstance(self.index, NoveltyIndex) and signature is not None:
            found = self.index.near_duplicate(proposal.code, signature)
        else:
            found = self.index.near_duplicate(proposal.code)
        return None if found is None else Rejection(RejectionKind.NEAR_DUPLICATE, found)


def default_checks(
    config: Config,
    initial_code: str,
    evaluated: Callable[[str], bool],
    novelty: NoveltyIndex | EmbeddingNoveltyIndex | None = None,
) -> list[Check]:
    """The checks a run gets: syntax, frozen code, undefined names (``evaluator.
    static_check``), duplicates, near duplicates in ``novelty`` (the run's index, when
    ``novelty.near_duplicates`` is on)."""
    checks: list[Check] = [SyntaxCheck(), FrozenCodeCheck(initial_code)]
    if config.evaluator.static_check:
        checks.append(UndefinedNameCheck())
    checks.append(DuplicateCheck(evaluated))
    if novelty is not None:
        checks.append(NearDuplicateCheck(novelty, every_operator=config.novelty.operators == "all"))
    return checks
