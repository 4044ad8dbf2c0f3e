"""The ``local`` backend: the sandbox on this machine, one thread per evaluation in flight.

Each evaluation's sandboxed processes are started from a worker thread (the sandbox
blocks while it waits on them), so the driver's event loop stays free for ask and tell.
"""

from __future__ import annotations

import asyncio

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.backends.base import EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation

__all__ = ["LocalBackend"]


class LocalBackend(EvaluationBackend):
    """Runs evaluations with a :class:`ProblemEvaluator` of this process."""

    name = "local"

    def __init__(self, evaluator: ProblemEvaluator) -> None:
        self.evaluator = evaluator

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> LocalBackend:
        """Evaluations run by the driver's own evaluator (its sandbox half)."""
        return cls(evaluator)

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        return await asyncio.to_thread(self.evaluator.run_raw, request.code, request.split)

    def close(self) -> None:
        """Nothing of its own: the evaluator is the driver's and closed with it."""
