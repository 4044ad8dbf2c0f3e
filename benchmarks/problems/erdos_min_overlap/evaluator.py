"""Trusted verifier for erdos_min_overlap: a step function h on [0, 2] with values in
[0, 1] and integral 1, minimising the largest overlap max_k integral h(x) (1 - h(x + k)) dx.

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It calls
  ``candidate.construct_function()`` (no arguments; the step values come back by value
  through the channel) and returns them as plain JSON data under ``"construction"``
  (``{"values": [h_0, ..., h_{n-1}]}``), together with the metrics ``verify`` gives for
  them, so a malformed answer already fails here with the same reason.
* ``verify(output)`` is the trusted check. evoforge sees the top-level ``def verify``,
  drops whatever metrics ``evaluate_candidate`` reported and calls ``verify`` in its own
  process on the returned data; only ``output["construction"]`` is read.

The function: h takes the value h_i on [i w, (i + 1) w), w = 2 / n, and is 0 outside
[0, 2]; its complement g = 1 - h on [0, 2] is 0 outside [0, 2] too (this is the continuous
form of a set A of half of {1, ..., 2n} against its complement). The overlap at shift k is
``O(k) = integral h(x) g(x + k) dx``.

Why grid shifts suffice (exact maximum): for k between j w and (j + 1) w, every pair of
cells [i w, (i + 1) w) and [l w - k, (l + 1) w - k) overlaps on a length that is linear
in k (its endpoints cross only at multiples of w), so O is piecewise linear with knots at
the multiples of w and its maximum is attained at some k = j w, where
``O(j w) = w * sum_i h_i g_{i + j}``: ``w * max(np.correlate(g, h, "full"))``.

Checks: a 1-D array of 1 to 10,000 real, finite values, each in [0, 1] (zero tolerance),
not all zero. The integral is then made exactly 1 by **rescaling** (h <- h * (n / 2) /
sum(h), stated here because it changes what is scored: the scored function is the
rescaled one); if that pushes any value above 1 the construction is **rejected**
(``ValueError``), since then no function in [0, 1] has this shape with integral 1.

Score: ``max_overlap`` (minimise); ``combined_score = 0.380876 / max_overlap`` (1.0 is the
best known value; not clipped, so a new record scores above 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_STEPS = 10_000
BEST_KNOWN_OVERLAP = 0.380876  # TTT-Discover (2026); AlphaEvolve 0.380924, human 0.380927


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


def max_overlap(h: np.ndarray) -> tuple[float, int]:
    """The exact maximum of O over all shifts, and the grid shift j where it is attained."""
    width = 2.0 / h.size
    overlaps = np.correlate(1.0 - h, h, mode="full")  # index m is shift j = m - (n - 1)
    best = int(np.argmax(overlaps))
    return float(width * overlaps[best]), best - (h.size - 1)


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` and score it (trusted).

    Raises ValueError, naming the problem, when the values are malformed or out of range.
    """
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"values": [...]}}')
    values = real_vector(output["construction"].get("values"), "values", MAX_STEPS)
    outside = (values < 0.0) | (values > 1.0)
    if np.any(outside):
        index = int(np.argmax(outside))
        raise ValueError(f"value {index} is {values[index]!r}, outside [0, 1]")
    total = float(np.sum(values))
    if total < np.finfo(np.float64).tiny:
        raise ValueError("the values are all zero (the integral must be 1)")
    h = values * ((values.size / 2.0) / total)
    if np.any(h > 1.0):
        raise ValueError(
            f"rescaled to integral 1 (factor {(values.size / 2.0) / total!r}), value "
            f"{int(np.argmax(h))} becomes {float(np.max(h))!r} > 1"
        )
    overlap, shift = max_overlap(h)
    return {
        "combined_score": BEST_KNOWN_OVERLAP / overlap,
        "max_overlap": overlap,
        "num_steps": int(values.size),
        "worst_shift": shift * 2.0 / values.size,
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Call the candidate's ``construct_function()``; return its metrics and the construction."""
    if "construct_function" not in candidate.functions:
        raise AttributeError("the program must define construct_function()")
    construction = {"values": plain_data(candidate.construct_function())}
    return {**verify({"construction": construction}), "construction": construction}
