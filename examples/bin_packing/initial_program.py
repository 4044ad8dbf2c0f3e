"""Seed program: the priority function of an online bin-packing heuristic.

The evaluator packs items one at a time, in arrival order. For each item it calls
``priority(item, bins)`` with the remaining capacities of the bins the item fits in
and puts the item into the bin with the highest priority. Unused bins (at full
capacity) are always among the candidates, so "open a new bin" is just another choice.

The seed is *best fit*: prefer the bin that the item fills most tightly.

The evaluator runs in another process and calls ``choose_bins`` (below the evolve block)
once per item position for all the instances it packs; ``choose_bins`` asks ``priority``.
"""

import numpy as np


# EVOLVE-BLOCK-START
def priority(item: float, bins: np.ndarray) -> np.ndarray:
    """Score every feasible bin for ``item``; the highest score wins.

    ``bins`` holds the remaining capacities (all >= item); return one score per bin.
    """
    return -(bins - item)


# EVOLVE-BLOCK-END


def choose_bins(items, counts, values, unused, capacities):
    """The evaluator's call for one item position of every instance still being packed.

    Instance ``k`` packs the item ``items[k]``; its feasible bins, in bin order, are the
    next ``counts[k]`` remaining capacities of ``values`` followed by ``unused[k]``
    never-used bins at full capacity ``capacities[k]``. The answer is, per instance, the
    index among its feasible bins of the one of highest priority (the first on ties).
    """
    chosen = []
    start = 0
    rows = zip(items.tolist(), counts.tolist(), unused.tolist(), capacities.tolist(), strict=True)
    for item, count, spare, capacity in rows:
        bins = np.concatenate((values[start : start + count], np.full(spare, capacity)))
        start += count
        scores = _checked_scores(priority(item, bins), len(bins), item)
        chosen.append(int(scores.argmax()))
    return chosen


def _checked_scores(scores, count, item):
    """The priorities as a finite real vector of length ``count``, or ValueError."""
    if type(scores) is np.ndarray and scores.dtype == np.float64 and scores.shape == (count,):
        if not np.all(np.isfinite(scores)):  # the usual answer, checked fast
            raise ValueError(f"priority({item!r}, bins) returned NaN or infinite values")
        return scores
    array = np.asarray(scores)
    if array.shape != (count,):
        raise ValueError(
            f"priority({item!r}, bins) must return shape ({count},), got {array.shape}"
        )
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"priority must return numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError("priority must return real numbers, got complex values")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"priority({item!r}, bins) returned NaN or infinite values")
    return array
