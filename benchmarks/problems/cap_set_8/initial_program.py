"""Seed program: the priority function of a greedy cap-set builder in F_3^8.

The evaluator calls the frozen ``priorities(n)`` once, which asks ``priority(vector, n)``
for each of the 3^n vectors (a tuple of n entries in {0, 1, 2}, in lexicographic order);
the evaluator then adds vectors in descending priority, skipping any vector that would
complete three collinear points (x + y + z = 0 mod 3). Ties go in lexicographic order.

The seed rewards vectors with many zero entries, with a small weight on the entry sum; it
is a simple, sensible start (FunSearch's own seed returned a constant).
"""

import itertools


# EVOLVE-BLOCK-START
def priority(vector: tuple[int, ...], n: int) -> float:
    """How early ``vector`` should be tried; higher goes first."""
    zeros = sum(1 for entry in vector if entry == 0)
    twos = sum(1 for entry in vector if entry == 2)
    zero_weight = 1.0
    two_weight = -0.1
    return zero_weight * zeros / n + two_weight * twos / n


# EVOLVE-BLOCK-END


def priorities(n: int) -> list[float]:
    """``priority`` of every vector of F_3^n, in lexicographic order (one call, one answer)."""
    return [priority(vector, n) for vector in itertools.product(range(3), repeat=n)]
