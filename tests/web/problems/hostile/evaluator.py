"""Scores the curve fit; its error messages carry markup, as a hostile candidate's might.

A fit worse than the seed's is refused with such a message, so every run of this problem
holds failed programs whose reasons a viewer must show as text (about a third of the
children are refused, by construction rather than by chance)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

GRID = np.linspace(-1.5, 1.5, 41)
MARKUP = "<img src=x onerror=\"alert('reason')\"><script>alert('reason')</script>"
SEED_RMSE = float(np.sqrt(np.mean((0.2 + GRID + 0.5 * GRID**2 - np.sin(2.0 * GRID)) ** 2)))


def evaluate(program_path: str) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("candidate_program", Path(program_path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {program_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    predicted = np.asarray(module.predict(GRID.copy()), dtype=float)
    if predicted.shape != GRID.shape or not np.all(np.isfinite(predicted)):
        raise ValueError(f"{MARKUP} unusable prediction")
    rmse = float(np.sqrt(np.mean((predicted - np.sin(2.0 * GRID)) ** 2)))
    if rmse > SEED_RMSE + 1e-12:
        raise ValueError(f"{MARKUP} worse than the seed's fit (rmse {rmse:.4g})")
    return {"combined_score": 1.0 / (1.0 + 10.0 * rmse), "rmse": rmse}
