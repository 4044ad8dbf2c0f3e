"""The best min_max_distance_16 score that tuning the seed's literals can reach.

The seed of ``benchmarks/problems/min_max_distance_16`` places the 16 points on a patch of
the lattice spanned by ``(column_step, 0)`` and ``(row_shift, row_step)``, ``columns``
points per row. Tuning moves only those numbers, so every program ``tune`` can make from
the seed is such a patch. This script minimises the squared max/min distance ratio over
the three float literals from many random starts (Nelder-Mead), for 3 to 6 columns, and
prints the least ratio found and its normalised score (12.889266 / ratio^2).

    python benchmarks/lattice_limit.py [--starts 300]

With 300 starts per column count the least ratio^2 is 18.0 (the 4 x 4 square grid,
score 0.7161): the score every engine of the suite stops at on this problem. Going past
it takes a layout outside the family, such as rows of 3, 4, 5 and 4 points of a
triangular lattice (ratio^2 16, score 0.8056).

The script then tries one edit of the seed that leaves the family: each row shifted by
``(row % k) * row_shift`` instead of ``row * row_shift`` (4 columns, k = 2 and 3), the same
three literals minimised. With k = 3 the least ratio^2 is 17 (score 0.7582): rows
shifted by 0, 1, 2 and 0 steps of a third of the column spacing. ``mutate`` writes ``%``
only by swapping an operator already in the program (the expressions it makes use
``+ - * /``), so from the seed that program takes a wrap (``row + c``), a swap (``+`` to
``%``) and a modulus tuned to about 3 together with ``row_shift``: the first two change
nothing, and no engine went past 0.7161 in 500 evaluations.

One swap alone leaves the family too: ``row * row_shift`` with its ``*`` swapped for ``%``
shifts row ``r`` by ``r % row_shift``, and with ``row_shift`` at 3/7 (shifts 0, 1/7, 2/7,
0) and both steps tuned to match it also reaches ratio^2 17. The script shows how narrow
that is: with ``row_shift`` fixed and the two steps minimised, it scores above the grid
only from less than 0.015 below 3/7 up to 3/7, and just above 3/7 it is the grid again;
with both steps left at the square grid's 1, ``row_shift`` at 3/7 only ties the grid
and a little below 3/7 falls under it. So the swap pays only where ``row_shift`` and both
steps land in that window together, and four of the five winners of
``suite-evoforge-d6b0d1b-500`` no longer multiply by ``row_shift`` at all.

Last, it frees the 32 coordinates: from the square grid moved by Gaussian noise of
scale 0.001, SLSQP minimises the ratio directly (largest squared distance at most t,
every squared distance at least 1, minimise t). The grid is no local minimum there:
some of these starts reach the best known ratio^2 of 12.889 (score 1.0). A program that
carried such an optimiser would reach it; the symbolic operators cannot write one, and
within the seed's own structure every change small enough to tune keeps the grid.

Nor would tuning all 32 coordinates, were the evolve block to list them as literals: a
search that sees only the score, as ``tune`` does, is the script's last part. CMA-ES
(the ``cma`` package, the sampler ``tune`` uses) starts at the square grid with step
0.05 and a budget of evaluations; it prints the least ratio^2 of each of ``--cma-seeds``
runs at 400 evaluations (about what a 500-evaluation run gives ``tune``) and at 5,000.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

NUM_POINTS = 16
BEST_KNOWN_RATIO_SQUARED = 12.889266


def ratio_squared(
    literals: np.ndarray, columns: int, shift_period: int = 0, modulus_swap: bool = False
) -> float:
    """(max / min pairwise distance)^2 of the seed's patch for ``literals`` =
    (column_step, row_step, row_shift); a huge value when two points coincide. With
    ``shift_period`` k > 0, row ``r`` is shifted by ``(r % k) * row_shift`` (the edit that
    leaves the family); with ``modulus_swap``, by ``r % row_shift`` (the seed's
    ``row * row_shift`` with its ``*`` swapped for ``%``)."""
    column_step, row_step, row_shift = (float(v) for v in literals)
    rows, cols = np.divmod(np.arange(NUM_POINTS), columns)
    if modulus_swap:
        if row_shift == 0.0:
            return 1e18  # ZeroDivisionError in the program
        offsets = np.mod(rows.astype(float), row_shift)
    else:
        offsets = (rows % shift_period if shift_period else rows) * row_shift
    points = np.stack([cols * column_step + offsets, rows * row_step], axis=1)
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    pairs = squared[np.triu_indices(NUM_POINTS, 1)]
    smallest = float(pairs.min())
    return 1e18 if smallest <= 1e-12 else float(pairs.max()) / smallest


def least_ratio(
    columns: int,
    starts: int,
    rng: np.random.Generator,
    shift_period: int = 0,
    modulus_swap: bool = False,
) -> float:
    """The least ratio^2 found from ``starts`` random starting points."""
    best = np.inf
    for _ in range(starts):
        start = rng.uniform(-2.0, 2.0, size=3)
        start[:2] = np.abs(start[:2]) + 0.1
        result = minimize(
            ratio_squared,
            start,
            args=(columns, shift_period, modulus_swap),
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
        )
        best = min(best, float(result.fun))
    return best


def least_ratio_at_modulus(row_shift: float, rng: np.random.Generator, starts: int = 20) -> float:
    """The least ratio^2 of the ``r % row_shift`` program with ``row_shift`` fixed and the
    two steps minimised from ``starts`` random starts near ``row_shift``."""
    best = np.inf
    for _ in range(starts):
        start = row_shift * rng.uniform(0.7, 1.3, size=2)
        result = minimize(
            lambda steps: ratio_squared(np.append(steps, row_shift), 4, modulus_swap=True),
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-12, "fatol": 1e-12, "maxiter": 4000},
        )
        best = min(best, float(result.fun))
    return best


WINNERS = Path(__file__).resolve().parent / "results" / "suite-evoforge-d6b0d1b-500" / "runs.jsonl"


def winners_with_row_shift(records: Path = WINNERS) -> tuple[int, int]:
    """How many of the symbolic runs' best min_max_distance_16 programs in ``records``
    still multiply by ``row_shift`` in their evolve block, and how many there are."""
    with_product = total = 0
    for line in records.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        if run["problem"] != "min_max_distance_16" or run["engine"] != "evoforge":
            continue
        code = run["best_code"]
        block = code[code.index("EVOLVE-BLOCK-START") : code.index("EVOLVE-BLOCK-END")]
        total += 1
        with_product += "* row_shift" in block or "row_shift *" in block
    return with_product, total


def free_points_from_grid(noise: float, rng: np.random.Generator) -> float:
    """The least ratio^2 SLSQP finds over all 32 coordinates, starting from the 4 x 4
    square grid moved by Gaussian noise of scale ``noise``."""
    rows, columns = np.divmod(np.arange(NUM_POINTS), 4)
    grid = np.stack([columns, rows], axis=1).astype(float)
    upper = np.triu_indices(NUM_POINTS, 1)

    def squared(flat: np.ndarray) -> np.ndarray:
        points = flat.reshape(NUM_POINTS, 2)
        return ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)[upper]

    start = (grid + rng.normal(0.0, noise, grid.shape)).ravel()
    pairs = squared(start)
    x0 = np.append(start, pairs.max() / pairs.min())
    constraints = [
        {"type": "ineq", "fun": lambda x: x[-1] - squared(x[:-1])},
        {"type": "ineq", "fun": lambda x: squared(x[:-1]) - 1.0},
    ]
    result = minimize(
        lambda x: x[-1],
        x0,
        method="SLSQP",
        constraints=constraints,
        options={"maxiter": 500, "ftol": 1e-12},
    )
    final = squared(result.x[:-1])
    return float(final.max() / final.min())


def score_only_search(evaluations: int, seed: int, step: float = 0.05) -> float:
    """The least ratio^2 CMA-ES finds over the 32 coordinates in ``evaluations``
    evaluations of the ratio alone, from the 4 x 4 square grid with step ``step``."""
    import cma

    rows, columns = np.divmod(np.arange(NUM_POINTS), 4)
    grid = np.stack([columns, rows], axis=1).astype(float).ravel()
    upper = np.triu_indices(NUM_POINTS, 1)

    def ratio(flat: np.ndarray) -> float:
        points = np.asarray(flat).reshape(NUM_POINTS, 2)
        pairs = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)[upper]
        return float(pairs.max() / max(float(pairs.min()), 1e-12))

    options = {"seed": seed, "maxfevals": evaluations, "verbose": -9}
    strategy = cma.CMAEvolutionStrategy(grid, step, options)
    strategy.optimize(ratio)
    return float(strategy.result.fbest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=300, help="random starts per column count")
    parser.add_argument(
        "--free-starts", type=int, default=10, help="starts of the free-coordinate search"
    )
    parser.add_argument(
        "--cma-seeds", type=int, default=3, help="runs of the score-only search per budget"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for columns in range(3, 7):
        ratio = least_ratio(columns, args.starts, rng)
        score = BEST_KNOWN_RATIO_SQUARED / ratio
        print(f"columns {columns}: least ratio^2 {ratio:.6f}, score {score:.4f}")
    for period in (2, 3):
        ratio = least_ratio(4, args.starts, rng, shift_period=period)
        score = BEST_KNOWN_RATIO_SQUARED / ratio
        print(
            f"columns 4, rows shifted by (row % {period}) * row_shift: least ratio^2 "
            f"{ratio:.6f}, score {score:.4f}"
        )
    ratio = least_ratio(4, args.starts, rng, modulus_swap=True)
    print(
        f"columns 4, rows shifted by row % row_shift (the seed's * swapped for %): least "
        f"ratio^2 {ratio:.6f}, score {BEST_KNOWN_RATIO_SQUARED / ratio:.4f}"
    )
    for below in (0.0, 0.001, 0.01, 0.015, 0.02, -0.001):
        ratio = least_ratio_at_modulus(3 / 7 - below, rng)
        where = f"3/7 - {below:g}" if below >= 0 else f"3/7 + {-below:g}"
        print(
            f"  row_shift {where}, both steps minimised: least ratio^2 {ratio:.6f}, "
            f"score {BEST_KNOWN_RATIO_SQUARED / ratio:.4f}"
        )
    for below in (0.0, 0.005):
        ratio = ratio_squared(np.array([1.0, 1.0, 3 / 7 - below]), 4, modulus_swap=True)
        print(
            f"  row_shift 3/7 - {below:g}, both steps 1 (the square grid's): ratio^2 "
            f"{ratio:.6f}, score {BEST_KNOWN_RATIO_SQUARED / ratio:.4f}"
        )
    kept, total = winners_with_row_shift()
    print(
        f"  winners of suite-evoforge-d6b0d1b-500 still multiplying by row_shift: {kept} of {total}"
    )
    free = sorted(free_points_from_grid(0.001, rng) for _ in range(args.free_starts))
    print(
        f"free coordinates from the grid (noise 0.001), SLSQP, {args.free_starts} starts: "
        f"least ratio^2 {free[0]:.6f}, score {BEST_KNOWN_RATIO_SQUARED / free[0]:.4f}; "
        f"median ratio^2 {float(np.median(free)):.6f}"
    )
    for evaluations in (400, 5000):
        found = [score_only_search(evaluations, seed + 1) for seed in range(args.cma_seeds)]
        shown = ", ".join(f"{value:.3f}" for value in found)
        print(
            f"free coordinates from the grid, CMA-ES on the score alone, {evaluations} "
            f"evaluations, {args.cma_seeds} runs: least ratio^2 {shown}"
        )


if __name__ == "__main__":
    main()
