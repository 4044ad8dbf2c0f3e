"""The ``local`` backend: the sandbox on this machine, one thread per evaluation in flight.

Each evaluation's sandboxed processes are started from a worker thread (the sandbox
blocks while it waits on them), so the driver's event loop stays free for ask and tell.
The threads are the backend's own, as many as evaluations are in flight (up to
:data:`MAX_THREADS`, the most ``run.workers`` allows): asyncio's default pool would cap a
run at a few more evaluations than the machine has processors, whatever ``run.workers``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.backends.base import EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation

__all__ = ["MAX_THREADS", "LocalBackend"]

MAX_THREADS = 256


class LocalBackend(EvaluationBackend):
    """Runs evaluations with a :class:`ProblemEvaluator` of this process."""

    name = "local"

    def __init__(self, evaluator: ProblemEvaluator) -> None:
        self.evaluator = evaluator
        # threads start on demand and stay for reuse; idle ones cost a stack each
        self._threads = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="evoforge-eval")

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> LocalBackend:
        """Evaluations run by the driver's own evaluator (its sandbox half)."""
        return cls(evaluator)

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, self.evaluator.run_raw, request.code, request.split
        )

    def close(self) -> None:
        """End the threads; the evaluator is the driver's and closed with it."""
        self._threads.shutdown(wait=False, cancel_futures=True)
