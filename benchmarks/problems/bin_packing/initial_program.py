"""Seed program: the priority function of an online bin-packing heuristic.

The evaluator packs items one at a time, in arrival order. For each item it calls
``priority(item, bins)`` with the remaining capacities of the bins the item fits in (in
bin order; never-used bins at full capacity are among them) and puts the item into the bin
of highest priority, the first one on ties. Choosing a never-used bin opens a new bin.

The seed is *best fit* (prefer the bin the item fills most tightly) with two tuning knobs
that leave it unchanged at their seed values: a penalty for leaving a small unusable gap,
and the gap size below which the penalty applies.

The evaluator runs in another process. The adapters below the evolve block keep this
program's own copy of the bins: ``open_bins`` once, then ``place_items`` once per item
position for all the instances it packs; ``place_items`` asks ``priority``.
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


_BINS = []  # this program's copy of every instance's bins: their remaining capacities
_USED = []  # per instance: bins [0, used) are the used ones (-1 once a bin was skipped)
_CAPACITIES = []  # per instance, the capacity of a bin
_LEFT = []  # per instance, how many of its items are still to come


def open_bins(capacities, counts):
    """The evaluator's first call: instance ``k`` packs ``counts[k]`` items, one at a time,
    into ``counts[k]`` bins of capacity ``capacities[k]``, all empty at first."""
    _BINS[:] = [
        np.full(count, capacity) for capacity, count in zip(capacities, counts, strict=True)
    ]
    _USED[:] = [0] * len(counts)
    _CAPACITIES[:] = list(capacities)
    _LEFT[:] = list(counts)


def place_items(items):
    """The evaluator's call for one item position: ``items`` holds the next item of every
    instance that still has items, in instance order. Each goes into the feasible bin
    (remaining capacity >= item) of highest ``priority``, the first one on ties; the
    answer is the chosen bin of each, as an index among all of its instance's bins. The
    evaluator checks every answer against its own bins.
    """
    live = [k for k, left in enumerate(_LEFT) if left]
    if len(live) != len(items):
        raise ValueError(f"expected {len(live)} items, got {len(items)}")
    chosen = []
    for k, item in zip(live, items, strict=True):
        bins = _BINS[k]
        used = _USED[k]
        if used >= 0 and item <= _CAPACITIES[k]:  # the never-used bins all hold the item
            feasible = (bins[:used] >= item).nonzero()[0]
            offered = np.concatenate((bins[feasible], bins[used:]))
        else:
            feasible = (bins >= item).nonzero()[0]
            offered = bins[feasible]
        scores = _checked_scores(priority(item, offered), len(offered), item)
        choice = int(scores.argmax())
        if choice < len(feasible):
            index = int(feasible[choice])
        else:  # a never-used bin: the next one keeps the used bins a prefix
            index = used + choice - len(feasible)
            _USED[k] = used + 1 if index == used else -1
        bins[index] -= item
        _LEFT[k] -= 1
        chosen.append(index)
    return chosen


_isfinite = np.isfinite  # bound once: numpy's ufunc, whatever later code does to numpy


def _checked_scores(scores, count, item):
    """The priorities as a finite real vector of length ``count``, or ValueError."""
    if type(scores) is np.ndarray and scores.dtype == np.float64 and scores.shape == (count,):
        if not _isfinite(scores).all():  # the usual answer, checked fast
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
