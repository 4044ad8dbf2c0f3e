"""Badly built parts for the tests of how plugin bugs are reported: each fails in one way.

Nothing here registers itself; a test registers the part it needs and forgets it after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.backends.base import EvaluationRequest
from evoforge.evaluation.backends.local import LocalBackend
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation
from evoforge.operators.base import Operator, Proposal, ProposalContext
from evoforge.program import Program


class RaisingOperator(Operator):
    """Raises on every parent."""

    name = "faulty"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        raise ZeroDivisionError("the operator divided by zero")


class IntCodeOperator(Operator):
    """Answers with a number for code."""

    name = "faulty"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        return Proposal(code=12345, operator=self.name)  # type: ignore[arg-type]


class TextOperator(Operator):
    """Answers with the child's text instead of a Proposal."""

    name = "faulty"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        return context.parent.code + "\n# changed\n"  # type: ignore[return-value]


class StallingOperator(Operator):
    """Never answers (a request to a service that hangs)."""

    name = "faulty"

    async def propose(self, context: ProposalContext) -> Proposal | None:
        await asyncio.Event().wait()
        return None


class NeedsArgumentOperator(Operator):
    """Its constructor takes an argument its ``from_settings`` does not give."""

    name = "faulty"

    def __init__(self, required: int) -> None:
        self.required = required

    async def propose(self, context: ProposalContext) -> Proposal | None:
        return None


class UnreachableBackend(LocalBackend):
    """Cannot start, and says so with an error of its own kind."""

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> LocalBackend:
        raise ConnectionError("cannot reach the cluster")


class RaisingBackend(LocalBackend):
    """Raises on every evaluation."""

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        raise ConnectionError("lost the cluster")


class SilentBackend(LocalBackend):
    """Answers every evaluation with None."""

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        return None  # type: ignore[return-value]


def fragile_feature(
    code: str, metrics: Mapping[str, float], score: float | None, references: Sequence[Program]
) -> float:
    """Fails on every program."""
    raise ValueError("cannot measure this program")
