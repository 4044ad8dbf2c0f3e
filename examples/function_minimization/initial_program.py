"""Seed program: a search algorithm for the minimum of a fixed multimodal 2-D function.

``search_algorithm(iterations, bounds)`` may call ``evaluate_function(x, y)`` at most
``iterations`` times and returns its best point as ``(x, y, value)``. The evaluator runs
it through the frozen ``run_search`` with several fixed random seeds and scores how close
the returned point is to the global minimum; it recomputes the value itself, so only the
point matters.

The seed mixes uniform random samples with Gaussian steps around the best point so far;
its numeric knobs (how often to explore, how far to step, how fast steps shrink) are the
obvious first thing to tune, and its structure is the next.
"""

import math
import random

import numpy as np

_budget = {"calls": 0, "limit": 0}


def evaluate_function(x: float, y: float) -> float:
    """The objective (a tilted landscape of ripples with about 40 local minima in the box).

    Each call counts against the run's budget; one call too many raises RuntimeError.
    """
    _budget["calls"] += 1
    if _budget["calls"] > _budget["limit"]:
        raise RuntimeError(f"evaluate_function called more than {_budget['limit']} times")
    x, y = float(x), float(y)
    return float(
        0.05 * (x * x + y * y)
        + math.sin(3.0 * x + 1.0) * math.cos(2.0 * y - 0.5)
        + 0.3 * math.sin(x * y)
    )


# EVOLVE-BLOCK-START
def search_algorithm(
    iterations: int = 1000, bounds: tuple[float, float] = (-5.0, 5.0)
) -> tuple[float, float, float]:
    """Random search with occasional local steps around the best point found so far."""
    low, high = bounds
    best_x = np.random.uniform(low, high)
    best_y = np.random.uniform(low, high)
    best_value = evaluate_function(best_x, best_y)
    explore_probability = 0.5
    step = 0.3 * (high - low)
    step_decay = 0.999
    for _ in range(iterations - 1):
        if np.random.random() < explore_probability:
            x = np.random.uniform(low, high)
            y = np.random.uniform(low, high)
        else:
            x = np.clip(best_x + np.random.normal(0.0, step), low, high)
            y = np.clip(best_y + np.random.normal(0.0, step), low, high)
        value = evaluate_function(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
        step *= step_decay
    return best_x, best_y, best_value


# EVOLVE-BLOCK-END


def run_search(
    seed: int, iterations: int, bounds: tuple[float, float]
) -> tuple[tuple[float, float, float], int]:
    """One run as the evaluator asks for it: seed ``random`` and ``numpy.random`` with
    ``seed``, give the search a budget of ``iterations`` objective calls, and return what
    it returned together with the calls it made."""
    random.seed(seed)
    np.random.seed(seed)
    _budget["calls"], _budget["limit"] = 0, iterations
    return search_algorithm(iterations, bounds), _budget["calls"]
