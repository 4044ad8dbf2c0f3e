"""Seed program: a non-negative step function on [-1/4, 1/4] whose autoconvolution has a
small peak relative to the square of its integral.

The function has N equal steps of heights a_0 .. a_{N-1}; the score is
2N * max(a * a) / (sum a)^2 with ``a * a`` the discrete autoconvolution
(``np.convolve(a, a)``), smaller is better. The evolve block lists 20 heights as plain
numbers, all equal (the constant function scores exactly 2). Every height is a literal the
numeric ``tune`` operator can move; note that a function symmetric about 0 can never beat
2 (its middle autoconvolution value is the sum of squares), so improvements must break
the symmetry. Programs may also compute many more steps (up to 10,000), for example by
running an optimiser here.
"""

import numpy as np


# EVOLVE-BLOCK-START
def step_heights() -> list[float]:
    """Heights of the equal steps, left to right (any positive scale: only shape counts)."""
    return [
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
    ]  # fmt: skip


# EVOLVE-BLOCK-END


def construct_function() -> np.ndarray:
    """Return the step heights as a 1-D float array; negative heights are raised to 0."""
    return np.maximum(np.asarray(step_heights(), dtype=float), 0.0)


if __name__ == "__main__":
    heights = construct_function()
    peak = np.max(np.convolve(heights, heights))
    print(f"ratio: {2 * len(heights) * peak / np.sum(heights) ** 2:.6f}")
