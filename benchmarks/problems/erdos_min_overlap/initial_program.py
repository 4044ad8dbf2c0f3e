"""Seed program: Erdős's minimum overlap problem as a step function.

Find h on [0, 2] with values in [0, 1] and integral 1 that makes the largest overlap
max_k integral h(x) (1 - h(x + k)) dx as small as possible (1 - h is the complement on
[0, 2] and zero outside). h is a step function with n equal steps; the evolve block lists
20 step values as plain numbers, all equal (the constant 1/2 scores exactly 1/2). Every
value is a literal the numeric ``tune`` operator can move; programs may also compute many
more steps (up to 10,000), for example by running an optimiser here. Frozen code scales
the profile so that its integral is 1 with every value in [0, 1).
"""

import numpy as np

SAFETY_CAP = 1.0 - 1e-9  # keeps values below 1 even after the verifier's own rescaling


# EVOLVE-BLOCK-START
def step_profile() -> list[float]:
    """Relative step values, left to right; frozen code fixes the overall level."""
    return [
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
        0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
    ]  # fmt: skip


# EVOLVE-BLOCK-END


def fit_to_unit_integral(profile: np.ndarray) -> np.ndarray:
    """``min(s * profile, SAFETY_CAP)`` with the scale s chosen so the integral is 1.

    The integral of a step function with n steps on [0, 2] is (2 / n) * sum(values); the
    capped sum grows with s, so bisection finds s.
    """
    profile = np.maximum(np.nan_to_num(profile, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    target = profile.size / 2.0
    if not np.any(profile > 0.0):
        return np.full(profile.size, 0.5)
    low, high = 0.0, 1.0
    while np.sum(np.minimum(high * profile, SAFETY_CAP)) < target:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if np.sum(np.minimum(middle * profile, SAFETY_CAP)) < target:
            low = middle
        else:
            high = middle
    return np.minimum(high * profile, SAFETY_CAP)


def construct_function() -> np.ndarray:
    """Return the step values of h (a 1-D array, values in [0, 1), integral 1)."""
    return fit_to_unit_integral(np.asarray(step_profile(), dtype=float))


if __name__ == "__main__":
    h = construct_function()
    overlap = np.max(np.correlate(1.0 - h, h, mode="full")) * 2.0 / h.size
    print(f"max overlap: {overlap:.6f}")
