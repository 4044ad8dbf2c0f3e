"""cache_eviction's seed with its prediction bonus set to each value given: the score.

Run from the repository root:

    python benchmarks/results/cache-plateau-trial/bonus_scan.py 0 0.5 1 2 4 8 16 1000

The seed's priority is ``-recency_weight * recency + bonus * predicted * cache_size``
(``recency_weight`` 1). The programs are our own, so they run in this process, scored by
the problem's ``evaluate_candidate`` on the search split (no sandbox, no ``verify``).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

PROBLEM = Path("benchmarks/problems/cache_eviction")


class InProcessCandidate:
    """What ``evaluate_candidate`` expects of a candidate, for a module run here."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.functions = {name for name, value in vars(module).items() if callable(value)}

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.module, name)(*args)


def seed_with_bonus(bonus: float) -> InProcessCandidate:
    """The seed program with ``prediction_bonus = bonus``."""
    source = (PROBLEM / "initial_program.py").read_text(encoding="utf-8")
    edited = source.replace("prediction_bonus = 0.0", f"prediction_bonus = {bonus!r}", 1)
    module = types.ModuleType("candidate")
    exec(compile(edited, "candidate.py", "exec"), module.__dict__)
    return InProcessCandidate(module)


def main() -> None:
    spec = importlib.util.spec_from_file_location("cache_evaluator", PROBLEM / "evaluator.py")
    assert spec is not None and spec.loader is not None
    evaluator = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = evaluator  # its dataclasses look their module up there
    spec.loader.exec_module(evaluator)
    for text in sys.argv[1:]:
        metrics = evaluator.evaluate_candidate(seed_with_bonus(float(text)))
        print(f"bonus {float(text):g}: combined_score {metrics['combined_score']:.6f}")


if __name__ == "__main__":
    main()
