"""Recompute data/reference.json: the baselines and the limit of the sor_relaxation problem.

For every system of the sequence, count SOR sweeps for each omega of the grid
1.000, 1.005, ..., 1.995 and record: the total at omega = 1, the best fixed omega for the
whole sequence (and its total), and the per-system best grid omega (and the total of those,
the limit). Deterministic; takes about a minute per ten systems on one core. Run from
anywhere: ``python benchmarks/problems/sor_relaxation/make_reference.py [SPLIT...]`` (all
three splits when none is named; search writes data/reference.json, the others
data/reference_<split>.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import evaluator

GRID = np.round(np.arange(1.0, 2.0, 0.005), 3)


def main(splits: list[str]) -> None:
    """Write the reference file of each split."""
    for split in splits or list(evaluator.SPLITS):
        write_reference(split)


def write_reference(split: str) -> None:
    """Write the reference file of one split."""
    systems = evaluator.make_systems(split)
    table = np.array([[evaluator.sor_sweeps(s, float(w)) for w in GRID] for s in systems])
    totals = table.sum(axis=0)
    best_fixed = int(np.argmin(totals))
    per_system = table.argmin(axis=1)
    reference = {
        "grid": "1.000 to 1.995 in steps of 0.005",
        "tolerance": evaluator.TOLERANCE,
        "max_sweeps": evaluator.MAX_SWEEPS,
        "omega_one_sweeps": table[:, 0].tolist(),
        "omega_one_total_sweeps": int(table[:, 0].sum()),
        "best_fixed_omega": float(GRID[best_fixed]),
        "best_fixed_total_sweeps": int(totals[best_fixed]),
        "best_omega_per_system": [float(GRID[i]) for i in per_system],
        "best_sweeps_per_system": [int(table[k, i]) for k, i in enumerate(per_system)],
        "limit_total_sweeps": int(table.min(axis=1).sum()),
    }
    path = evaluator.reference_file(split)
    path.write_text(json.dumps(reference, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
