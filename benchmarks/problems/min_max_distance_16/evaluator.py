"""Trusted verifier for min_max_distance_16: 16 points in the plane, minimising
(largest pairwise distance / smallest pairwise distance)^2.

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It calls
  ``candidate.construct_points()`` (no arguments; the points come back by value through the
  channel) and returns them as plain JSON data under ``"construction"``
  (``{"points": [[x, y], ...]}``), together with the metrics ``verify`` gives for them, so
  a malformed answer already fails here with the same reason.
* ``verify(output)`` is the trusted check. evoforge sees the top-level ``def verify``,
  drops whatever metrics ``evaluate_candidate`` reported and calls ``verify`` in its own
  process on the returned data; only ``output["construction"]`` is read.

Checks: exactly 16 real, finite points (shape (16, 2)) with coordinates of magnitude at
most 1e6 (the ratio is scale-invariant, so this loses nothing and keeps squares far from
overflow); no two points coincide, and the smallest squared distance is a normal float64
(not subnormal), otherwise ``ValueError``.

Score: ``ratio_squared = max d^2 / min d^2`` over the 120 pairs (minimise);
``combined_score = 12.889266 / ratio_squared`` (1.0 is AlphaEvolve's construction; not
clipped, so a new record scores above 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NUM_POINTS = 16
BEST_KNOWN_RATIO_SQUARED = 12.889266  # AlphaEvolve (2025)
MAX_COORDINATE = 1e6


def plain_data(value: Any) -> Any:
    """``value`` with numpy arrays, numpy scalars and tuples turned into JSON-ready lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


def real_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a finite float64 array of exactly ``shape``, or ValueError saying why not."""
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged nested lists and similar
        raise ValueError(f"{name} is not an array: {exc}") from exc
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got complex values")
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def hull_size(points: np.ndarray) -> int:
    """Number of vertices of the convex hull (Andrew's monotone chain; a descriptor only)."""
    ordered = sorted(map(tuple, points.tolist()))

    def half(sequence: list[tuple[float, float]]) -> list[tuple[float, float]]:
        chain: list[tuple[float, float]] = []
        for p in sequence:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0.0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    return len(half(ordered)) + len(half(ordered[::-1])) - 2


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` and score it (trusted).

    Raises ValueError, naming the problem, when the points are malformed or coincide.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"points": [[x, y], ...]}}')
    points = real_array(output["construction"].get("points"), "points", (NUM_POINTS, 2))
    if np.any(np.abs(points) > MAX_COORDINATE):
        raise ValueError(f"coordinates must lie in [-{MAX_COORDINATE:g}, {MAX_COORDINATE:g}]")
    i, j = np.triu_indices(NUM_POINTS, k=1)
    difference = points[i] - points[j]
    squared = np.sum(difference * difference, axis=1)
    closest = int(np.argmin(squared))
    if squared[closest] < np.finfo(np.float64).tiny:
        raise ValueError(
            f"points {int(i[closest])} and {int(j[closest])} coincide or are too close "
            f"(squared distance {float(squared[closest])!r})"
        )
    ratio_squared = float(np.max(squared) / squared[closest])
    return {
        "combined_score": BEST_KNOWN_RATIO_SQUARED / ratio_squared,
        "ratio_squared": ratio_squared,
        "hull_points": hull_size(points),
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_points()``; return its metrics and the construction."""
    if "construct_points" not in candidate.functions:
        raise AttributeError("the program must define construct_points()")
    construction = {"points": plain_data(candidate.construct_points())}
    return {**verify({"construction": construction}), "construction": construction}
