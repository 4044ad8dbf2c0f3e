"""Scores the curve fit; its error messages carry markup, as a hostile candidate's might."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

GRID = np.linspace(-1.5, 1.5, 41)
MARKUP = "<img src=x onerror=\"alert('reason')\"><script>alert('reason')</script>"


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
    return {"combined_score": 1.0 / (1.0 + 10.0 * rmse), "rmse": rmse}
