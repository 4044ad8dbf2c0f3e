"""Seed program: 11 points in the unit-side equilateral triangle, spread out so that the
smallest triangle formed by any three of them is as large as possible.

The triangle has corners (0, 0), (1, 0) and (1/2, sqrt(3)/2); points on its sides count
as inside. The evolve block places the points on an ellipse inside the triangle from a
few numeric parameters (centre, radii, rotation): no three points on an ellipse are
collinear, so every parameter moves the score, which is what the numeric ``tune``
operator needs. Structural edits can replace the layout altogether.
"""

import numpy as np

NUM_POINTS = 11


# EVOLVE-BLOCK-START
def place_points() -> np.ndarray:
    """Points evenly spaced in angle on an ellipse near the triangle's incircle.

    The incircle has centre (1/2, sqrt(3)/6) and radius sqrt(3)/6 (about 0.2887); the
    ellipse stays a little inside it so that every point is strictly in the triangle.
    """
    centre_x, centre_y = 0.5, 0.2887
    radius_x, radius_y = 0.27, 0.27
    phase = 0.3
    angles = phase + 2.0 * np.pi * np.arange(NUM_POINTS) / NUM_POINTS
    xs = centre_x + radius_x * np.cos(angles)
    ys = centre_y + radius_y * np.sin(angles)
    return np.column_stack([xs, ys])


# EVOLVE-BLOCK-END


def construct_points() -> np.ndarray:
    """Return the 11 points as an (11, 2) array of (x, y) coordinates."""
    return np.asarray(place_points(), dtype=float)


if __name__ == "__main__":
    print(construct_points())
