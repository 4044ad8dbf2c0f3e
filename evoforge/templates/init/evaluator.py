"""Evaluator of the polynomial-fit problem: how well does ``predict`` match the target?

evoforge calls ``evaluate_candidate(candidate)`` in a sandboxed process whose working
directory is a fresh temporary folder; this file's own folder is on ``sys.path``, so use
``Path(__file__).parent`` to find data files next to it. The candidate program runs in a
separate sandboxed process that cannot see this folder: call its top-level functions
through ``candidate`` (``candidate.predict(x)``; ``candidate.batch("predict", [(x1,),
(x2,)])`` makes many independent calls in one round trip). Arguments and results travel
by value: numbers, strings, lists, tuples, dicts and numeric numpy arrays.

Return a dict of numbers; ``combined_score`` is the fitness (higher is better) and every
other entry is recorded for plots and can serve as a MAP-Elites feature. A broken or
cheating candidate should make this function raise with a clear message: evoforge records
the evaluation as failed together with the traceback. An exception raised inside the
candidate arrives here as an ``Exception`` carrying the candidate's traceback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRID = np.linspace(-1.5, 1.5, 61)  # where the fit is measured


def target(x: np.ndarray) -> np.ndarray:
    """The curve to fit. Not a polynomial, so no cubic matches it exactly."""
    return np.sin(2.0 * x) + 0.3 * x**2


def evaluate_candidate(candidate: Any) -> dict[str, float]:
    """Call the candidate's ``predict`` on the grid and score the fit."""
    predicted = np.asarray(candidate.predict(GRID), dtype=float)  # a copy travels, by value
    if predicted.shape != GRID.shape:
        raise ValueError(f"predict must return shape {GRID.shape}, got {predicted.shape}")
    if not np.all(np.isfinite(predicted)):
        raise ValueError("predict returned NaN or infinite values")

    rmse = float(np.sqrt(np.mean((predicted - target(GRID)) ** 2)))
    return {
        "combined_score": 1.0 / (1.0 + 10.0 * rmse),  # 1.0 is a perfect fit
        "rmse": rmse,
        "max_abs_error": float(np.max(np.abs(predicted - target(GRID)))),
    }
