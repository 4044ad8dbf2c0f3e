"""The evaluation backend contract: run this program under these limits, return the raw
result.

A backend only runs the sandbox (isolation, limits, secret stripping are the sandbox's,
wherever it runs). Judging, validation and the problem's trusted ``verify`` stay with the
driver (:meth:`~evoforge.evaluation.evaluator.ProblemEvaluator.judge`), so a backend, or
a remote worker behind it, can never report a score.
"""

from __future__ import annotations

import asyncio
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.raw import RawEvaluation

if TYPE_CHECKING:
    from evoforge.evaluation.evaluator import ProblemEvaluator

__all__ = ["BackendError", "EvaluationBackend", "EvaluationRequest", "evaluate_on"]


class BackendError(RuntimeError):
    """A backend cannot start (its package missing, a cluster unreachable)."""


@dataclass(frozen=True)
class EvaluationRequest:
    """One program to run. ``key`` names it for the backend's bookkeeping and logs (the
    program id it will be committed under); it carries no meaning for the result.
    ``split`` is the instance split the evaluator side scores on (None: the problem has
    none); the driver chooses it, never the candidate."""

    code: str
    key: str = ""
    split: str | None = None


class EvaluationBackend(ABC):
    """Runs the sandboxed half of evaluations, possibly elsewhere, possibly many at once.

    ``evaluate`` never raises for anything a candidate does or for a lost worker: such an
    evaluation comes back as a :class:`RawEvaluation` without a run and with the reason
    in ``error`` (after the backend's own retries). Each request is answered exactly
    once. ``slots`` is how many evaluations the backend runs at the same time at most
    (None: as many as it is given).
    """

    name: str = ""

    @classmethod
    @abstractmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> EvaluationBackend:
        """The backend for the problem whose driver-side evaluator (the judge) is
        ``evaluator``, configured by ``config``; raises :class:`BackendError` when it
        cannot start."""

    @abstractmethod
    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        """Run ``request.code`` in the sandbox and return the raw records."""

    @property
    def slots(self) -> int | None:
        return None

    def close(self) -> None:  # noqa: B027 - backends without resources need no close
        """Release workers, processes and connections."""


async def evaluate_on(
    backend: EvaluationBackend, name: str, request: EvaluationRequest
) -> RawEvaluation:
    """``backend.evaluate(request)``, held to its contract: a backend (a plugin's) that
    raises, or answers with something that is not a :class:`RawEvaluation`, costs this
    one evaluation, which comes back without a run and with an ``error`` naming the
    backend ``name`` and what it did; the run goes on. Cancellation still propagates."""
    try:
        raw = await backend.evaluate(request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        message = str(exc).strip().splitlines()
        detail = f": {message[0]}" if message else ""
        return RawEvaluation(
            run=None,
            error=f"evaluation backend {name!r} raised {type(exc).__name__}{detail}",
            error_detail="".join(traceback.format_exception(exc))[-4000:],
        )
    if not isinstance(raw, RawEvaluation):
        return RawEvaluation(
            run=None,
            error=f"evaluation backend {name!r} returned {type(raw).__name__}, not a RawEvaluation",
        )
    return raw
