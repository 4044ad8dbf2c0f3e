"""Seed program: choose the relaxation factor omega of SOR for each system of a sequence.

The evaluator solves a sequence of 2-D diffusion systems by red-black SOR. Before each
system it calls ``choose_omega(features, history)`` and solves with the omega returned
(it must satisfy 0 < omega < 2). ``features`` describes the coming system:

- ``n``: grid points per side (the system has n * n unknowns); ``h``: 1 / n;
- ``contrast``: largest / smallest diffusion coefficient; ``mean_coefficient``: their mean.

``history`` lists the systems solved so far, oldest first, as dicts with ``features``,
``omega`` and ``iterations`` (SOR sweeps to converge; 2000 means it did not). Fewer total
sweeps is better.

The seed is Gauss-Seidel (omega = 1), plus a knob that lengthens the step on finer grids
(0 in the seed): SOR's best omega grows towards 2 as the grid is refined.
"""


# EVOLVE-BLOCK-START
def choose_omega(features: dict, history: list) -> float:
    """The relaxation factor for the coming system (0 < omega < 2)."""
    base = 1.0
    per_grid_point = 0.0  # added omega per grid point per side
    return base + per_grid_point * features["n"]


# EVOLVE-BLOCK-END
