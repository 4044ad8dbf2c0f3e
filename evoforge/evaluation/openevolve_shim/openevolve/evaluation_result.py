"""Stand-in for ``openevolve.evaluation_result``: the result an evaluator may return.

Mirrors the public surface of OpenEvolve's class that evaluators use: ``metrics`` and
``artifacts`` fields, ``to_dict``/``from_dict`` and the artifact helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationResult:
    """Metrics (name -> number) and artifacts (name -> text or bytes) of one evaluation."""

    metrics: dict[str, float]
    artifacts: dict[str, str | bytes] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, float]) -> EvaluationResult:
        """Wrap a plain metrics dict (the older evaluator return type)."""
        return cls(metrics=dict(metrics))

    def to_dict(self) -> dict[str, float]:
        """The metrics alone, as older callers expect."""
        return dict(self.metrics)

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list[str]:
        return list(self.artifacts)

    def get_artifact_size(self, key: str) -> int:
        value: Any = self.artifacts.get(key)
        if value is None:
            return 0
        if isinstance(value, bytes):
            return len(value)
        return len(str(value).encode("utf-8"))

    def get_total_artifact_size(self) -> int:
        return sum(self.get_artifact_size(key) for key in self.artifacts)
