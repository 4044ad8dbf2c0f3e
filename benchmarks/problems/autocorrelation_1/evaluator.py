"""Trusted verifier for autocorrelation_1: a non-negative step function on [-1/4, 1/4]
whose autoconvolution has the smallest possible peak.

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It calls
  ``candidate.construct_function()`` (no arguments; the heights come back by value through
  the channel) and returns them as plain JSON data under ``"construction"``
  (``{"heights": [a_0, ..., a_{N-1}]}``), together with the metrics ``verify`` gives for
  them, so a malformed answer already fails here with the same reason.
* ``verify(output)`` is the trusted check. evoforge sees the top-level ``def verify``,
  drops whatever metrics ``evaluate_candidate`` reported and calls ``verify`` in its own
  process on the returned data; only ``output["construction"]`` is read.

Why the discrete formula is exact: f has N steps of width w = 1/(2N) and heights a_i, so
``integral f = w * sum(a)``, and ``f * f`` is piecewise linear with knots at multiples of
w, where it equals ``w * (a * a)_k``. Its maximum is therefore ``w * max(a * a)`` and
``max(f * f) / (integral f)^2 = 2N * max(a * a) / sum(a)^2``.

Checks: a 1-D array of 1 to 10,000 real, finite heights, all >= 0, none subnormal, not all
zero; otherwise ``ValueError``. The ratio does not depend on the scale of ``a``, so the
heights are divided by their maximum before the arithmetic (no overflow, no underflow that
matters).

Score: ``ratio`` (minimise); ``combined_score = 1.50287 / ratio`` (1.0 is the best known
value; not clipped, so a new record scores above 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_STEPS = 10_000
BEST_KNOWN_RATIO = 1.50287  # TTT-Discover (2026); ThetaEvolve 1.503133, AlphaEvolve 1.505294


def plain_data(value: Any) -> Any:
    """``value`` with numpy arrays, numpy scalars and tuples turned into JSON-ready lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


def real_vector(value: Any, name: str, max_length: int) -> np.ndarray:
    """``value`` as a finite 1-D float64 array of 1..max_length entries, or ValueError."""
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged nested lists and similar
        raise ValueError(f"{name} is not an array: {exc}") from exc
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got complex values")
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim != 1 or not 1 <= array.size <= max_length:
        raise ValueError(f"{name} must be 1-D with 1 to {max_length} entries, got {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` and score it (trusted).

    Raises ValueError, naming the problem, when the heights are malformed.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"heights": [...]}}')
    heights = real_vector(output["construction"].get("heights"), "heights", MAX_STEPS)
    if np.any(heights < 0.0):
        raise ValueError(f"negative height at index {int(np.argmax(heights < 0.0))}")
    if np.any((heights > 0.0) & (heights < np.finfo(np.float64).tiny)):
        raise ValueError("subnormal height (too small for reliable arithmetic)")
    top = float(np.max(heights))
    if top == 0.0:
        raise ValueError("all heights are zero (the integral must be positive)")
    a = heights / top
    steps = a.size
    autoconvolution = np.convolve(a, a)
    ratio = float(2 * steps * np.max(autoconvolution) / np.sum(a) ** 2)
    return {
        "combined_score": BEST_KNOWN_RATIO / ratio,
        "ratio": ratio,
        "num_steps": steps,
        "peak_position": float(np.argmax(autoconvolution) / max(2 * steps - 2, 1)),
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_function()``; return its metrics and the construction."""
    if "construct_function" not in candidate.functions:
        raise AttributeError("the program must define construct_function()")
    construction = {"heights": plain_data(candidate.construct_function())}
    return {**verify({"construction": construction}), "construction": construction}
