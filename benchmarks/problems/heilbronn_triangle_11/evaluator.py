"""Trusted verifier for heilbronn_triangle_11: 11 points in the unit-side equilateral
triangle, maximising the smallest area of a triangle formed by three of them.

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

The triangle is the closed set with corners (0, 0), (1, 0), (1/2, sqrt(3)/2). Every check
is **exact**: a float64 coordinate is a rational number, so containment
(``y >= 0``, ``y <= sqrt(3) x``, ``y <= sqrt(3) (1 - x)``, decided by squaring both sides
in rational arithmetic, never by a rounded ``sqrt(3)``) and the triangle areas (cross
products of ``Fraction`` coordinates) carry no rounding at all. Only the final division by
the big triangle's area ``sqrt(3)/4`` is rounded. A point outside by any amount raises
``ValueError``.

Score: ``min_area_ratio`` = smallest triangle area / (sqrt(3)/4); ``combined_score =
min_area_ratio / 0.036530`` (maximise; 1.0 is AlphaEvolve's construction; not clipped).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

NUM_POINTS = 11
BEST_KNOWN_RATIO = 0.036530  # AlphaEvolve (2025)
_THREE = Fraction(3)


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


def locate_point(x: Fraction, y: Fraction) -> tuple[bool, bool]:
    """Exactly: is (x, y) in the closed triangle, and is it on its boundary?"""
    left = x >= 0 and y * y <= _THREE * x * x  # y <= sqrt(3) x, given y >= 0
    right = x <= 1 and y * y <= _THREE * (1 - x) ** 2  # y <= sqrt(3) (1 - x)
    inside = y >= 0 and left and right
    on_boundary = inside and (y == 0 or y * y == _THREE * x * x or y * y == _THREE * (1 - x) ** 2)
    return inside, on_boundary


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` exactly and score it (trusted).

    Raises ValueError, naming the first violation, when a point is malformed or outside.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"points": [[x, y], ...]}}')
    points = real_array(output["construction"].get("points"), "points", (NUM_POINTS, 2))
    exact = [(Fraction(float(x)), Fraction(float(y))) for x, y in points]
    boundary = 0
    for index, (x, y) in enumerate(exact):
        inside, on_boundary = locate_point(x, y)
        if not inside:
            raise ValueError(f"point {index} ({float(x)!r}, {float(y)!r}) is outside the triangle")
        boundary += on_boundary

    min_twice_area = min(
        abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay))
        for (ax, ay), (bx, by), (cx, cy) in itertools.combinations(exact, 3)
    )
    # area / (sqrt(3)/4) = 2 * (twice the area) / sqrt(3); the one rounded step.
    ratio = float(2 * min_twice_area) / math.sqrt(3.0)
    i, j = np.triu_indices(NUM_POINTS, k=1)
    min_distance = float(np.min(np.hypot(*(points[i] - points[j]).T)))
    return {
        "combined_score": ratio / BEST_KNOWN_RATIO,
        "min_area_ratio": ratio,
        "boundary_points": boundary,
        "min_pair_distance": min_distance,
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_points()``; return its metrics and the construction."""
    if "construct_points" not in candidate.functions:
        raise AttributeError("the program must define construct_points()")
    construction = {"points": plain_data(candidate.construct_points())}
    return {**verify({"construction": construction}), "construction": construction}
