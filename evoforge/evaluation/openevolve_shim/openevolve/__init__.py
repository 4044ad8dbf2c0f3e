"""Minimal stand-in for the ``openevolve`` package (see ``openevolve_shim``)."""

from .evaluation_result import EvaluationResult

__all__ = ["EvaluationResult"]
