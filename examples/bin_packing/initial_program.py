"""Seed program: the priority function of an online bin-packing heuristic.

The evaluator packs items one at a time, in arrival order. For each item it calls
``priority(item, bins)`` with the remaining capacities of the bins the item fits in
and puts the item into the bin with the highest priority. Unused bins (at full
capacity) are always among the candidates, so "open a new bin" is just another choice.

The seed is *best fit*: prefer the bin that the item fills most tightly.
"""

import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Score every feasible bin for ``item``; the highest score wins.

    ``bins`` holds the remaining capacities (all >= item); return one score per bin.
    """
    return -(bins - item)


# EVOLVE-BLOCK-END
