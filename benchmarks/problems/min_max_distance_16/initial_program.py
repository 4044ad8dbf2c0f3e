"""Seed program: 16 points in the plane with the smallest possible ratio of the largest to
the smallest pairwise distance (the score uses the square of that ratio).

The evolve block places the points on a 4 x 4 patch of a lattice given by a few numeric
parameters (the spacing within a row, the spacing between rows, and how far each row is
shifted against the one below). Tuning those moves the patch between a square grid
(ratio^2 = 18) and a hexagonal one; structural edits can use any other layout. The
ratio does not change when all points are scaled, rotated or moved together.
"""

import numpy as np

NUM_POINTS = 16


# EVOLVE-BLOCK-START
def place_points() -> np.ndarray:
    """A 4 x 4 patch of the lattice spanned by (column_step, 0) and (row_shift, row_step)."""
    columns = 4
    column_step = 1.0
    row_step = 1.0
    row_shift = 0.05
    points = []
    for index in range(NUM_POINTS):
        row, column = divmod(index, columns)
        points.append((column * column_step + row * row_shift, row * row_step))
    return np.array(points, dtype=float)


# EVOLVE-BLOCK-END


def construct_points() -> np.ndarray:
    """Return the 16 points as a (16, 2) array of (x, y) coordinates."""
    return np.asarray(place_points(), dtype=float)


if __name__ == "__main__":
    print(construct_points())
