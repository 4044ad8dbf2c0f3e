"""Trusted verifier for circle_packing_32: 32 disjoint closed disks in the unit square.

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It calls
  ``candidate.construct_packing()`` (no arguments; the packing comes back by value through
  the channel) and returns it as plain JSON data under ``"construction"``
  (``{"centers": [[x, y], ...], "radii": [...]}``), together with the metrics ``verify``
  gives for it, so a malformed answer already fails here with the same reason.
* ``verify(output)`` is the trusted check. evoforge sees the top-level ``def verify``,
  drops whatever metrics ``evaluate_candidate`` reported and calls ``verify`` in its own
  process on the returned data; only ``output["construction"]`` is read.

Feasibility, in float64 with zero tolerance: exactly 32 real, finite centres and radii;
every radius >= 0 and not subnormal; ``x - r >= 0``, ``x + r <= 1`` and the same for ``y``;
``hypot(xi - xj, yi - yj) >= ri + rj`` for every pair. An infeasible construction raises
``ValueError`` naming the first violation.

Score: ``combined_score = sum_radii / 2.939572`` (maximise; 1.0 is the best known packing;
not clipped, so a new record scores above 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NUM_CIRCLES = 32
BEST_KNOWN_SUM = 2.939572  # TTT-Discover (2026); AlphaEvolve (2025) 2.937945


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


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` with zero tolerance and score it (trusted).

    Raises ValueError, naming the first violation, when the packing is infeasible.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"centers": ..., "radii": ...}}')
    construction = output["construction"]
    xy = real_array(construction.get("centers"), "centers", (NUM_CIRCLES, 2))
    r = real_array(construction.get("radii"), "radii", (NUM_CIRCLES,))
    if np.any(r < 0.0):
        raise ValueError(f"negative radius at index {int(np.argmax(r < 0.0))}")
    if np.any((r > 0.0) & (r < np.finfo(np.float64).tiny)):
        raise ValueError("subnormal radius (too small for reliable arithmetic)")

    x, y = xy[:, 0], xy[:, 1]
    outside = (x - r < 0.0) | (x + r > 1.0) | (y - r < 0.0) | (y + r > 1.0)
    if np.any(outside):
        k = int(np.argmax(outside))
        centre, radius = (float(x[k]), float(y[k])), float(r[k])
        raise ValueError(
            f"disk {k} (centre {centre!r}, radius {radius!r}) is not inside the unit square"
        )
    i, j = np.triu_indices(NUM_CIRCLES, k=1)
    distances = np.hypot(x[i] - x[j], y[i] - y[j])
    overlapping = distances < r[i] + r[j]
    if np.any(overlapping):
        k = int(np.argmax(overlapping))
        raise ValueError(
            f"disks {int(i[k])} and {int(j[k])} overlap: centre distance {distances[k]!r} "
            f"< radius sum {r[i[k]] + r[j[k]]!r}"
        )
    total = float(np.sum(r))
    return {
        "combined_score": total / BEST_KNOWN_SUM,
        "sum_radii": total,
        "min_radius": float(np.min(r)),
        "max_radius": float(np.max(r)),
        "min_gap": float(np.min(distances - (r[i] + r[j]))),
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_packing()``; return its metrics and the construction."""
    if "construct_packing" not in candidate.functions:
        raise AttributeError("the program must define construct_packing()")
    result = candidate.construct_packing()
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ValueError("construct_packing() must return a pair (centers, radii)")
    construction = {"centers": plain_data(result[0]), "radii": plain_data(result[1])}
    return {**verify({"construction": construction}), "construction": construction}
