"""Trusted evaluator for function minimisation: score a search algorithm by where it ends.

The candidate's ``search_algorithm(iterations, bounds)`` runs once per fixed seed (the
evaluator seeds ``random`` and ``numpy.random`` before each run, so a score is
deterministic). Each run may call ``evaluate_function`` at most ``ITERATIONS`` times:
the evaluator swaps in a counting copy of the objective and rejects a run that goes over
budget. The returned point must be finite and inside the bounds; its value is recomputed
here, never taken from the candidate.

Per run, with ``gap = f(x, y) - f*`` and ``distance`` to the global minimiser:
``value_score = 1 / (1 + 10 * gap)``, ``distance_score = 1 / (1 + distance)``, and the
run succeeds when ``distance <= SUCCESS_RADIUS``. ``combined_score`` = 0.5 * mean value
score + 0.3 * mean distance score + 0.2 * success rate, in [0, 1]; 1 is every run
landing exactly on the global minimum.
"""

from __future__ import annotations

import importlib.util
import math
import random
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

BOUNDS = (-5.0, 5.0)
ITERATIONS = 1000
SEEDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
SUCCESS_RADIUS = 0.05
# Global minimum in BOUNDS (dense grid search then pattern-search refinement; the next
# best local minimum is -0.993311 near (0.230, -1.305), a deliberate trap).
GLOBAL_MIN_X = -0.8572185058593749
GLOBAL_MIN_Y = 0.304605472564697
GLOBAL_MIN_VALUE = -1.0301085648971087


def objective(x: float, y: float) -> float:
    """The trusted copy of the objective (the same formula as the program's frozen code)."""
    return float(
        0.05 * (x * x + y * y)
        + math.sin(3.0 * x + 1.0) * math.cos(2.0 * y - 0.5)
        + 0.3 * math.sin(x * y)
    )


class BudgetExceeded(RuntimeError):
    """The search called the objective more often than its budget allows."""


class CountingObjective:
    """The objective as handed to the candidate: counts calls and enforces the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.calls = 0

    def __call__(self, x: float, y: float) -> float:
        self.calls += 1
        if self.calls > self.budget:
            raise BudgetExceeded(f"evaluate_function called more than {self.budget} times")
        return objective(float(x), float(y))


def load_candidate(program_path: str | Path) -> ModuleType:
    """Import the candidate file as a fresh module (not registered in ``sys.modules``)."""
    path = Path(program_path)
    spec = importlib.util.spec_from_file_location("candidate_program", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import candidate program {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _returned_point(result: object) -> tuple[float, float]:
    """The (x, y) of the candidate's result, checked to be finite, real and in bounds."""
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise ValueError("search_algorithm must return a tuple (x, y, value)")
    point = []
    for name, raw in zip(("x", "y"), result[:2], strict=True):
        if isinstance(raw, bool) or not isinstance(raw, int | float | np.integer | np.floating):
            raise ValueError(f"{name} must be a real number, got {type(raw).__name__}")
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(f"{name} is not finite: {value!r}")
        if not BOUNDS[0] <= value <= BOUNDS[1]:
            raise ValueError(f"{name} = {value!r} lies outside the bounds {BOUNDS}")
        point.append(value)
    return point[0], point[1]


def run_once(module: ModuleType, seed: int) -> tuple[float, float, int]:
    """One seeded run: ``(value gap, distance to the minimiser, objective calls used)``."""
    search: Callable[..., object] | None = getattr(module, "search_algorithm", None)
    if not callable(search):
        raise AttributeError("the program must define search_algorithm(iterations, bounds)")
    counter = CountingObjective(ITERATIONS)
    module.__dict__["evaluate_function"] = counter  # looked up by name at call time
    random.seed(seed)
    np.random.seed(seed)
    x, y = _returned_point(search(ITERATIONS, BOUNDS))
    gap = max(objective(x, y) - GLOBAL_MIN_VALUE, 0.0)
    distance = math.hypot(x - GLOBAL_MIN_X, y - GLOBAL_MIN_Y)
    return gap, distance, counter.calls


def score_runs(module: ModuleType, seeds: tuple[int, ...]) -> dict[str, float]:
    """Run the search once per seed and combine the runs into the metrics."""
    runs = np.array([run_once(module, seed) for seed in seeds], dtype=float)
    gaps, distances, calls = runs[:, 0], runs[:, 1], runs[:, 2]
    value_score = float(np.mean(1.0 / (1.0 + 10.0 * gaps)))
    distance_score = float(np.mean(1.0 / (1.0 + distances)))
    success_rate = float(np.mean(distances <= SUCCESS_RADIUS))
    return {
        "combined_score": 0.5 * value_score + 0.3 * distance_score + 0.2 * success_rate,
        "value_score": value_score,
        "distance_score": distance_score,
        "success_rate": success_rate,
        "mean_value_gap": float(np.mean(gaps)),
        "mean_distance": float(np.mean(distances)),
        "mean_calls": float(np.mean(calls)),
    }


def evaluate_stage1(program_path: str) -> dict[str, float]:
    """Cheap cascade stage: a single seeded run."""
    return score_runs(load_candidate(program_path), SEEDS[:1])


def evaluate(program_path: str) -> dict[str, float]:
    """Run the search with every fixed seed and score closeness and reliability."""
    return score_runs(load_candidate(program_path), SEEDS)
