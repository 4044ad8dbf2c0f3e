"""Trusted evaluator for circle packing: 26 disjoint disks in the unit square.

The candidate's ``construct_packing()`` returns centres and radii; this module checks the
construction with zero tolerance and recomputes the score itself. Nothing the candidate
says about its own score is used, and the candidate never runs in this process: it runs
in its own jailed process, and ``evaluate_candidate`` reaches it only through the channel
(``candidate.construct_packing()``, no arguments; the arrays come back by value).

Feasibility, all in float64 with no tolerance:

* exactly 26 centres (shape (26, 2)) and 26 radii (shape (26,)), real and finite;
* every radius is >= 0 and not subnormal (values that small break the arithmetic);
* containment: ``x - r >= 0``, ``x + r <= 1`` and the same for ``y``;
* disjointness: ``hypot(xi - xj, yi - yj) >= ri + rj`` for every pair.

An infeasible construction raises ``ValueError`` with the reason; the engine records the
evaluation as failed with that message.

Two halves, so that a candidate can never report its own score: ``evaluate_candidate``
runs in the evaluator's jail, checks the packing (a readable reason early) and returns it
under ``"construction"``; ``verify(output)`` is what evoforge trusts: it runs in evoforge's
own process and checks and scores that packing again from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NUM_CIRCLES = 26
BEST_KNOWN_SUM = 2.635983  # strictly feasible packing reported after AlphaEvolve
ALPHAEVOLVE_SUM = 2.635863


def _as_real_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float64 array of exactly ``shape``, or ValueError saying why not."""
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged nested lists and similar
        raise ValueError(f"{name} is not an array: {exc}") from exc
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError(f"{name} must be real, got complex values")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def verify_packing(centers: Any, radii: Any) -> dict[str, float]:
    """Check a packing with zero tolerance and return its metrics.

    Raises ValueError, naming the first violation, when the packing is infeasible.
    """
    xy = _as_real_array(centers, "centers", (NUM_CIRCLES, 2))
    r = _as_real_array(radii, "radii", (NUM_CIRCLES,))
    if np.any(r < 0.0):
        raise ValueError(f"negative radius at index {int(np.argmax(r < 0.0))}")
    tiny = np.finfo(np.float64).tiny
    if np.any((r > 0.0) & (r < tiny)):
        raise ValueError("subnormal radius (too small for reliable arithmetic)")

    x, y = xy[:, 0], xy[:, 1]
    outside = (x - r < 0.0) | (x + r > 1.0) | (y - r < 0.0) | (y + r > 1.0)
    if np.any(outside):
        index = int(np.argmax(outside))
        centre, radius = (float(x[index]), float(y[index])), float(r[index])
        raise ValueError(
            f"disk {index} (centre {centre!r}, radius {radius!r}) is not inside the unit square"
        )

    i, j = np.triu_indices(NUM_CIRCLES, k=1)
    distances = np.hypot(x[i] - x[j], y[i] - y[j])
    overlapping = distances < r[i] + r[j]
    if np.any(overlapping):
        k = int(np.argmax(overlapping))
        raise ValueError(
            f"disks {int(i[k])} and {int(j[k])} overlap: centre distance "
            f"{float(distances[k])!r} < radius sum {float(r[i[k]] + r[j[k]])!r}"
        )

    total = float(np.sum(r))
    return {
        "combined_score": total,
        "sum_radii": total,
        "target_ratio": total / BEST_KNOWN_SUM,
        "min_radius": float(np.min(r)),
        "max_radius": float(np.max(r)),
        "min_gap": float(np.min(distances - (r[i] + r[j]))),
    }


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` (centres and radii) and score it (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"centers": [...], "radii": [...]}}')
    construction = output["construction"]
    return verify_packing(construction.get("centers"), construction.get("radii"))


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_packing()``; return the packing and its metrics."""
    if "construct_packing" not in candidate.functions:
        raise AttributeError("the program must define construct_packing()")
    result = candidate.construct_packing()
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ValueError("construct_packing() must return a pair (centers, radii)")
    centers, radii = result
    metrics = verify_packing(centers, radii)  # a readable reason in the evaluator already
    construction = {
        "centers": np.asarray(centers, dtype=np.float64).tolist(),
        "radii": np.asarray(radii, dtype=np.float64).tolist(),
    }
    return {**metrics, "construction": construction}
