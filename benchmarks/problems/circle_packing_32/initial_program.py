"""Seed program: 32 disjoint disks in the unit square, maximising the sum of radii.

The evolve block places the centres from a handful of numeric parameters (a middle
disk and two rings around it, each ring with a size, rotation, squareness and zigzag)
and then gives the disks radii that are feasible for those centres by construction. Every parameter
change moves the score directly, which is what the numeric ``tune`` operator needs;
structural edits (``mutate``) can change the layout rules themselves.
"""

import numpy as np

NUM_CIRCLES = 32


def pairwise_distances(centers: np.ndarray) -> np.ndarray:
    """Centre-to-centre distances, with ``inf`` on the diagonal."""
    diff = centers[:, None, :] - centers[None, :, :]
    dist = np.sqrt(np.sum(diff * diff, axis=-1))
    np.fill_diagonal(dist, np.inf)
    return dist


def wall_distances(centers: np.ndarray) -> np.ndarray:
    """Distance from each centre to the nearest side of the unit square (0 if outside)."""
    to_walls = np.minimum(centers, 1.0 - centers).min(axis=1)
    return np.maximum(to_walls, 0.0)


# EVOLVE-BLOCK-START
def place_centers() -> np.ndarray:
    """One disk in the middle, then an inner ring of 10 disks and an outer ring of the rest.

    Each ring has a size, a phase (rotation), a squareness (2.0 is a circle, larger
    values bend the ring towards a square) and a zigzag that moves every other disk
    outwards (positive) or inwards (negative).
    """
    middle_x, middle_y = 0.5, 0.5
    inner_count = 10
    ring_sizes = [0.25, 0.44]
    ring_phases = [0.2, 0.1]
    ring_squareness = [2.0, 2.0]
    ring_zigzag = [0.01, 0.01]
    centers = [(middle_x, middle_y)]
    ring_counts = [inner_count, NUM_CIRCLES - len(centers) - inner_count]
    for ring, count in enumerate(ring_counts):
        angles = ring_phases[ring] + 2.0 * np.pi * np.arange(count) / count
        cos, sin = np.cos(angles), np.sin(angles)
        size = ring_sizes[ring] + ring_zigzag[ring] * (-1.0) ** np.arange(count)
        power = 2.0 / ring_squareness[ring]
        xs = middle_x + size * np.sign(cos) * np.abs(cos) ** power
        ys = middle_y + size * np.sign(sin) * np.abs(sin) ** power
        centers.extend(zip(xs, ys, strict=True))
    return np.array(centers, dtype=float)


def compute_radii(centers: np.ndarray) -> np.ndarray:
    """Radii that are feasible for the given centres.

    Start from half the distance to the nearest neighbour (capped by the walls), then
    let each disk in turn, smallest first, grow until it touches a wall or a neighbour.
    """
    dist = pairwise_distances(centers)
    walls = wall_distances(centers)
    nearest = np.minimum.reduce(dist)  # dist is symmetric: column minima = row minima
    radii = np.minimum(walls, 0.5 * nearest)
    for _ in range(2):
        for i in np.argsort(radii):
            radii[i] = min(walls[i], float(np.min(dist[i] - radii)))
    return radii


# EVOLVE-BLOCK-END


def construct_packing() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(centers, radii)``: a (32, 2) array of centres and a (32,) array of radii.

    Centres are clipped into the square (a centre on a side gets radius 0), and the radii
    are shrunk by one part in 10^9 so that rounding in the evaluator's own distance
    computation can never turn touching disks into overlapping ones.
    """
    centers = np.clip(place_centers(), 0.0, 1.0)
    radii = compute_radii(centers) * (1.0 - 1e-9)
    return centers, radii


if __name__ == "__main__":
    _, final_radii = construct_packing()
    print(f"sum of radii: {final_radii.sum():.6f}")
