"""Trusted evaluator for cap sets in F_3^8 built greedily from an evolved priority.

Two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's own jail; the candidate program
  runs in a separate process and is never imported here. It makes one call,
  ``candidate.priorities(8)``: the program's frozen ``priorities`` answers with the list of
  ``priority(vector, 8)`` for all 3^8 = 6561 vectors (tuples of 8 ints in {0, 1, 2}) in
  lexicographic order. Each answer must be a finite real number. The fixed greedy builder
  here then adds vectors in descending priority (ties in lexicographic order) while no
  three members of the set are collinear, and the set is returned as plain JSON data
  under ``"construction"`` (a list of vectors, each a list of 8 entries in {0, 1, 2}) with
  the metrics ``verify`` gives.
* ``verify(output)`` is the trusted check, run by evoforge in its own process: it checks
  the vectors (shape, entries, no duplicates) and that no three distinct members x, y, z
  satisfy x + y + z = 0 (mod 3), from scratch, then counts them.

Three distinct vectors of F_3^n are collinear exactly when x + y + z = 0 (mod 3), i.e. when
z = -(x + y) (mod 3). Score: the size of the cap set; ``combined_score = size / 512``
(512 is FunSearch's record for n = 8; the previous best was 496).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

N = 8
NUM_VECTORS = 3**N
BEST_KNOWN_SIZE = 512  # FunSearch (Romera-Paredes et al., Nature 2024)
PREVIOUS_BEST_SIZE = 496


@cache
def all_vectors() -> np.ndarray:
    """All 3^N vectors as rows, in lexicographic order (row i is i written in base 3)."""
    digits = np.arange(NUM_VECTORS)[:, None] // 3 ** np.arange(N - 1, -1, -1)[None, :]
    vectors = (digits % 3).astype(np.int64)
    vectors.flags.writeable = False
    return vectors


def vector_index(vectors: np.ndarray) -> np.ndarray:
    """Row indices into :func:`all_vectors` of the rows of ``vectors`` (entries in {0,1,2})."""
    return vectors @ 3 ** np.arange(N - 1, -1, -1)


def checked_priority(value: object, vector: tuple[int, ...]) -> float:
    """The candidate's priority as a finite float, or ValueError saying why not."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"priority({vector}, {N}) must return a real number, got {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"priority({vector}, {N}) returned {number}")
    return number


def greedy_cap_set(priorities: np.ndarray) -> np.ndarray:
    """Indices of the cap set the greedy builder makes from one priority per vector.

    ``blocked[v]`` is true once adding v would complete a collinear triple (or v is in the
    set); adding v blocks -(u + v) for every member u, and v itself.
    """
    vectors = all_vectors()
    order = np.argsort(-priorities, kind="stable")  # ties: lexicographic order
    blocked = np.zeros(NUM_VECTORS, dtype=bool)
    members = np.empty((NUM_VECTORS, N), dtype=np.int64)
    chosen: list[int] = []
    for index in order.tolist():
        if blocked[index]:
            continue
        vector = vectors[index]
        if chosen:
            third = (-(members[: len(chosen)] + vector)) % 3
            blocked[vector_index(third)] = True
        blocked[index] = True
        members[len(chosen)] = vector
        chosen.append(index)
    return np.asarray(chosen, dtype=np.int64)


def has_collinear_triple(vectors: np.ndarray) -> tuple[int, int, int] | None:
    """A collinear triple among distinct rows (as row numbers), or None; checked from scratch."""
    index = vector_index(vectors)
    position = np.full(NUM_VECTORS, -1, dtype=np.int64)
    position[index] = np.arange(len(index))
    for i in range(len(vectors) - 1):
        third = vector_index((-(vectors[i] + vectors[i + 1 :])) % 3)
        hit = position[third]
        if np.any(hit >= 0):
            j = i + 1 + int(np.argmax(hit >= 0))
            return i, j, int(hit[hit >= 0][0])
    return None


def verify(output: Any) -> dict[str, float]:
    """Check that ``output["construction"]`` is a cap set in F_3^8 and score it (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), list):
        raise ValueError('expected {"construction": [[x1, ..., x8], ...]}')
    rows = output["construction"]
    if not rows:
        raise ValueError("the cap set is empty")
    if not all(
        isinstance(row, list) and len(row) == N and all(type(x) is int for x in row) for row in rows
    ):
        raise ValueError(f"every vector must be a list of {N} integers")
    vectors = np.asarray(rows, dtype=np.int64)
    if np.any((vectors < 0) | (vectors > 2)):
        raise ValueError("vector entries must be 0, 1 or 2")
    if len(np.unique(vector_index(vectors))) != len(vectors):
        raise ValueError("the set contains a vector twice")
    triple = has_collinear_triple(vectors)
    if triple is not None:
        shown = [rows[k] for k in triple]
        raise ValueError(f"not a cap set: {shown} sum to 0 mod 3")
    size = len(vectors)
    return {
        "combined_score": size / BEST_KNOWN_SIZE,
        "cap_set_size": float(size),
        "gap_to_best_known": float(BEST_KNOWN_SIZE - size),
    }


def evaluate_candidate(candidate: Any) -> dict[str, Any]:
    """Build the cap set from the candidate's priorities; return its metrics and the set.

    One call for all 6561 vectors: the answers come back as one list, in the order of
    :func:`all_vectors` (lexicographic), and each is checked here.
    """
    if "priorities" not in candidate.functions:
        raise AttributeError("the program must define priorities(n) (frozen in the seed)")
    answers = candidate.priorities(N)
    if not isinstance(answers, list | tuple) or len(answers) != NUM_VECTORS:
        raise ValueError(f"priorities({N}) must return a list of {NUM_VECTORS} numbers")
    vectors = [tuple(row) for row in all_vectors().tolist()]
    scores = np.array(
        [checked_priority(value, vector) for value, vector in zip(answers, vectors, strict=True)]
    )
    chosen = greedy_cap_set(scores)
    construction = all_vectors()[chosen].tolist()
    return {**verify({"construction": construction}), "construction": construction}
