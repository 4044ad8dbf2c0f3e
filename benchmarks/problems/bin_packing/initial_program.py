"""Seed program: the priority function of an online bin-packing heuristic.

The evaluator packs items one at a time, in arrival order. For each item it calls
``priority(item, bins)`` with the remaining capacities of the bins the item fits in (in
bin order; never-used bins at full capacity are among them) and puts the item into the bin
of highest priority, the first one on ties. Choosing a never-used bin opens a new bin.

The seed is *best fit* (prefer the bin the item fills most tightly) with two tuning knobs
that leave it unchanged at their seed values: a penalty for leaving a small unusable gap,
and the gap size below which the penalty applies.
"""

import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Score every feasible bin for ``item``; the highest score wins.

    ``bins`` holds the remaining capacities (all >= item); return one finite score per bin.
    """
    gap = bins - item  # what would be left in each bin
    small_gap = 0.0  # gaps in (0, small_gap) are hard to fill later ...
    gap_penalty = 1.0  # ... and cost this much extra
    return -gap - gap_penalty * ((gap > 0) & (gap < small_gap))


# EVOLVE-BLOCK-END
