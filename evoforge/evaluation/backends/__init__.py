"""Evaluation backends: where the sandboxed half of an evaluation runs.

A backend gets an :class:`EvaluationRequest` (the code, and which program it is for) and
returns a :class:`~evoforge.evaluation.raw.RawEvaluation`; the driver judges it. Built-in
backends are registered in :mod:`evoforge.registry` (``local``, ``ray``).
"""

from evoforge.evaluation.backends.base import BackendError, EvaluationBackend, EvaluationRequest

__all__ = ["BackendError", "EvaluationBackend", "EvaluationRequest"]
