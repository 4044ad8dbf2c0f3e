"""Seed program: the priority function of an online bin-packing heuristic.

The evaluator packs items one at a time, in arrival order. For each item it calls
``priority(item, bins)`` with the remaining capacities of the bins the item fits in (in
bin order; never-used bins at full capacity are among them) and puts the item into the bin
of highest priority, the first one on ties. Choosing a never-used bin opens a new bin.

The seed is *best fit* (prefer the bin the item fills most tightly) with two tuning knobs
that leave it unchanged at their seed values: a penalty for leaving a small unusable gap,
and the gap size below which the penalty applies.

The evaluator runs in another process and calls ``choose_bins`` (below the evolve block)
once per item position for all the instances it packs; ``choose_bins`` asks ``priority``.
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
    try:
        array = np.asarray(scores)
    except Exception as exc:  # ragged sequences and the like
        raise ValueError(f"priority must return an array of numbers: {exc}") from exc
    if array.shape != (count,):
        raise ValueError(
            f"priority({item!r}, bins) must return shape ({count},), got {array.shape}"
        )
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"priority must return real numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise ValueError("priority must return real numbers, got complex values")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"priority({item!r}, bins) returned NaN or infinite values")
    return array
