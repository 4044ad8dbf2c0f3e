"""Evaluator of the polynomial-fit problem: how well does ``predict`` match the target?

evoforge calls ``evaluate(program_path)`` in a sandboxed subprocess whose working
directory is a fresh temporary folder; this file's own folder is on ``sys.path``, so use
``Path(__file__).parent`` to find data files next to it. Return a dict of numbers;
``combined_score`` is the fitness (higher is better) and every other entry is recorded
for plots and can serve as a MAP-Elites feature. A broken or cheating candidate should
make this function raise with a clear message: evoforge records the evaluation as failed
together with the traceback.

Optionally define ``evaluate_stage1(program_path)`` too: a cheap first stage that evoforge
runs before ``evaluate`` (a cascade), skipping the full evaluation for hopeless children.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

GRID = np.linspace(-1.5, 1.5, 61)  # where the fit is measured


def target(x: np.ndarray) -> np.ndarray:
    """The curve to fit. Not a polynomial, so no cubic matches it exactly."""
    return np.sin(2.0 * x) + 0.3 * x**2


def evaluate(program_path: str) -> dict[str, float]:
    """Import the candidate, call its ``predict`` on the grid, and score the fit."""
    spec = importlib.util.spec_from_file_location("candidate_program", Path(program_path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {program_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    predicted = np.asarray(module.predict(GRID.copy()), dtype=float)
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
