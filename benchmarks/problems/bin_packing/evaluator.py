"""Trusted evaluator for FunSearch-style online bin packing (OR3 and Weibull 5k).

The isolated form, in two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's sandbox; the candidate runs in
  a process of its own and is reached only through ``candidate`` (plain values, by copy).
  The fixed online loop lives here; the candidate only supplies ``priority(item, bins)``.
  It returns the packings it produced as plain JSON data under ``"construction"`` (for
  each data set and instance, the bin index of every item, in arrival order), together
  with the metrics ``verify`` gives for them.
* ``verify(output)`` is the trusted check: evoforge calls it in its own process on the
  returned data. It checks every packing (one bin index per item, no bin over capacity,
  exact integer arithmetic) and counts the bins itself.

The loop is FunSearch's: one bin per item is allocated up front at full capacity; for each
item, in arrival order, the feasible bins are those whose remaining capacity is at least
the item, in index order; the item goes into the feasible bin of highest priority (the
first one on ties). An unused bin is always feasible, so choosing it opens a new bin. The
instances are independent, so they are packed in lockstep: the k-th items of every
instance still packing go to the candidate in one round trip; each instance sees exactly
the calls, and gets exactly the packing, of packing it alone. The seed's adapters
(``open_bins`` and ``place_items``) keep the program's own copy of the bins, so a round
trip carries only the new items and the chosen bins, each checked here against this side's
bins (:func:`pack_with_mirror`); older programs are served by :func:`pack_with_adapter`
or :func:`pack_with_batches`, which pack the same.

Score per data set: ``excess_percent = 100 * (mean bins used - mean L1 bound) / mean L1
bound`` with the L1 bound ``ceil(sum(items) / capacity)`` per instance (FunSearch's
measure). Normalised per data set: ``min(1, funsearch_excess / excess)`` (1 at or beyond
FunSearch's evolved heuristic; best fit 0.579 on OR3, 0.171 on Weibull 5k);
``combined_score`` is the mean of the two.

Instance splits (``split=``, chosen by evoforge on the trusted side): ``search`` is the
published OR3 and Weibull 5k sets (the single set this problem was scored on before
splits, so its figures stay comparable), ``holdout`` and ``test`` are fresh draws from the
same recipes written by ``make_splits.py`` (20 + 5 and 40 + 10 instances). The candidate
is never told which split it is packing (it may guess: test has 50 instances, the
others 25), and never sees a split's score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
DATASETS = ("or3", "weibull5k")
SPLITS = ("search", "holdout", "test")
# Reference excess over the L1 bound, percent (FunSearch, Romera-Paredes et al. 2024).
BEST_FIT_EXCESS = {"or3": 5.37, "weibull5k": 3.98}
FUNSEARCH_EXCESS = {"or3": 3.11, "weibull5k": 0.68}

Instance = tuple[str, int, np.ndarray]  # (name, capacity, integer item sizes)
ADAPTER = "choose_bins"  # the program's per-item-position entry point, when it has one
# the entry points of a program that keeps its own copy of the bins (the seed's since the
# copy was introduced; a program with them is packed by pack_with_mirror)
OPEN_BINS, PLACE_ITEMS = "open_bins", "place_items"


def dataset_file(name: str, split: str) -> Path:
    """The file of data set ``name`` in ``split`` (search: the published set)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return DATA_DIR / (f"{name}.json" if split == "search" else f"{name}_{split}.json")


@cache
def load_dataset(name: str, split: str = "search") -> tuple[Instance, ...]:
    """The instances of one data set in one split as ``(name, capacity, items)``."""
    data = json.loads(dataset_file(name, split).read_text(encoding="utf-8"))
    return tuple(
        (key, int(spec["capacity"]), np.asarray(spec["items"], dtype=np.int64))
        for key, spec in data["instances"].items()
    )


def checked_scores(scores: object, count: int, item: float) -> np.ndarray:
    """The candidate's priorities as a finite real vector of length ``count``, or ValueError."""
    if type(scores) is np.ndarray and scores.dtype == np.float64 and scores.shape == (count,):
        if not np.isfinite(scores).all():  # the usual answer, checked fast
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


def pack_all(candidate: Any, instances: Sequence[tuple[int, np.ndarray]]) -> list[list[int]]:
    """Pack every ``(capacity, items)`` instance online; return the bin of each item.

    The instances are stepped in lockstep, one round trip per item position: through the
    program's ``open_bins`` and ``place_items`` when it has both (:func:`pack_with_mirror`),
    else its ``choose_bins`` adapter when it has one (:func:`pack_with_adapter`), else by
    a batch of ``priority`` calls (:func:`pack_with_batches`). All three give each
    instance exactly the packing it would get alone.
    """
    functions = candidate.functions
    if OPEN_BINS in functions and PLACE_ITEMS in functions:
        return pack_with_mirror(candidate, instances)
    if ADAPTER in functions:
        return pack_with_adapter(candidate, instances)
    return pack_with_batches(candidate, instances)


def pack_with_mirror(
    candidate: Any, instances: Sequence[tuple[int, np.ndarray]]
) -> list[list[int]]:
    """:func:`pack_all` with the program keeping its own copy of the bins.

    One call of ``open_bins(capacities, counts)`` first: per instance (in order) its bin
    capacity (a float) and its number of items, which is also its number of bins (what
    the first call of the other paths shows as well). Then one call of
    ``place_items(items)`` per item position: ``items`` holds the item (a float) of every
    instance that still has items, in instance order, and the answer must be a list with,
    per such instance, the index of the bin the item goes into. Every index is checked
    here against this side's own bins: an ``int`` naming a bin whose remaining capacity
    holds the item. The program's copy decides nothing here: a program whose copy is
    wrong only packs worse, or fails.
    """
    remaining = [[float(capacity)] * len(items) for capacity, items in instances]
    sizes: list[list[float]] = [items.astype(float).tolist() for _, items in instances]
    counts = [len(items) for items in sizes]
    assignments: list[list[int]] = [[] for _ in instances]
    candidate.call(OPEN_BINS, [float(capacity) for capacity, _ in instances], counts)
    live = [index for index, count in enumerate(counts) if count]
    ends = set(counts)  # the positions at which an instance runs out of items
    position = 0
    while live:
        items_now = [sizes[index][position] for index in live]
        answer = candidate.call(PLACE_ITEMS, items_now)
        if type(answer) is not list or len(answer) != len(live):
            raise ValueError(f"{PLACE_ITEMS} must return {len(live)} bin indices, one per instance")
        for index, item, chosen in zip(live, items_now, answer, strict=True):
            bins = remaining[index]
            if type(chosen) is not int or not 0 <= chosen < counts[index] or bins[chosen] < item:
                raise ValueError(
                    f"{PLACE_ITEMS} must return the index of a bin that holds the item "
                    f"{item:g} (of {len(bins)} bins), got {chosen!r}"
                )
            bins[chosen] -= item
            assignments[index].append(chosen)
        position += 1
        if position in ends:
            live = [index for index in live if position < counts[index]]
    return assignments


def pack_with_batches(
    candidate: Any, instances: Sequence[tuple[int, np.ndarray]]
) -> list[list[int]]:
    """:func:`pack_all` by one ``candidate.batch("priority", ...)`` per item position.

    The batch holds the call of every instance that still has items, in instance order;
    each answer is checked here on its own (:func:`checked_scores`); a candidate's
    exception propagates.
    """
    remaining = [np.full(len(items), float(capacity)) for capacity, items in instances]
    assignments = [np.empty(len(items), dtype=np.int64) for _, items in instances]
    sizes = [items.tolist() for _, items in instances]
    for position in range(max((len(items) for items in sizes), default=0)):
        live = [index for index, items in enumerate(sizes) if position < len(items)]
        feasibles: list[np.ndarray] = []
        calls: list[tuple[float, np.ndarray]] = []
        for index in live:
            item = float(sizes[index][position])
            feasible = (remaining[index] >= item).nonzero()[0]
            feasibles.append(feasible)
            # a copy: the candidate never holds the real bins
            calls.append((item, remaining[index][feasible]))
        answers = candidate.batch("priority", calls)
        for index, feasible, (item, _), answer in zip(live, feasibles, calls, answers, strict=True):
            scores = checked_scores(answer, len(feasible), item)
            chosen = int(feasible[scores.argmax()])
            remaining[index][chosen] -= item
            assignments[index][position] = chosen
    return [assignment.tolist() for assignment in assignments]


def pack_with_adapter(
    candidate: Any, instances: Sequence[tuple[int, np.ndarray]]
) -> list[list[int]]:
    """:func:`pack_all` by one call of the program's ``choose_bins`` per item position.

    The call gets, for every instance that still has items (in instance order), the item,
    and the feasible bins in a compact form: the remaining capacities of the feasible bins
    already used (``counts`` of them, concatenated in ``values``) and the number of
    never-used bins that follow them (``unused``, at full ``capacities``). While an
    instance's used bins are exactly its first bins this is its whole feasible array, in
    bin order; once a program skips a never-used bin, that instance's feasible bins are
    all sent as values (``unused`` 0). The answer must be, per instance, an integer index
    into its feasible bins; the chosen bin must hold the item.
    """
    remaining = [np.full(len(items), float(capacity)) for capacity, items in instances]
    assignments = [np.empty(len(items), dtype=np.int64) for _, items in instances]
    sizes = [items.tolist() for _, items in instances]
    capacity_of = [float(capacity) for capacity, _ in instances]
    used = [0] * len(instances)  # bins [0, used) are the used ones, while in order
    in_order = [True] * len(instances)
    for position in range(max((len(items) for items in sizes), default=0)):
        live = [index for index, items in enumerate(sizes) if position < len(items)]
        items_now: list[float] = []
        feasibles: list[np.ndarray] = []
        chunks: list[np.ndarray] = []
        unused: list[int] = []
        for index in live:
            item = float(sizes[index][position])
            bins = remaining[index]
            if in_order[index]:
                feasible = (bins[: used[index]] >= item).nonzero()[0]
                unused.append(len(bins) - used[index])
            else:
                feasible = (bins >= item).nonzero()[0]
                unused.append(0)
            items_now.append(item)
            feasibles.append(feasible)
            chunks.append(bins[feasible])
        answer = candidate.call(
            ADAPTER,
            np.array(items_now),
            np.array([len(feasible) for feasible in feasibles], dtype=np.int64),
            np.concatenate(chunks) if chunks else np.empty(0),
            np.array(unused, dtype=np.int64),
            np.array([capacity_of[index] for index in live]),
        )
        if not isinstance(answer, list | tuple) or len(answer) != len(live):
            raise ValueError(f"{ADAPTER} must return {len(live)} bin indices, one per instance")
        for index, item, feasible, spare, choice in zip(
            live, items_now, feasibles, unused, answer, strict=True
        ):
            if type(choice) is not int or not 0 <= choice < len(feasible) + spare:
                raise ValueError(
                    f"{ADAPTER} must return an index into the {len(feasible) + spare} "
                    f"feasible bins, got {choice!r}"
                )
            if choice < len(feasible):
                chosen = int(feasible[choice])
            else:
                chosen = used[index] + choice - len(feasible)
                if choice == len(feasible):
                    used[index] += 1
                else:
                    in_order[index] = False
            remaining[index][chosen] -= item
            assignments[index][position] = chosen
    return [assignment.tolist() for assignment in assignments]


def l1_bound(capacity: int, items: np.ndarray) -> int:
    """The L1 lower bound on the number of bins: ``ceil(sum(items) / capacity)``."""
    return -(-int(items.sum()) // capacity)


def bins_used(assignment: Any, capacity: int, items: np.ndarray, where: str) -> int:
    """Check one packing exactly and return its number of non-empty bins, or ValueError."""
    if not isinstance(assignment, list) or len(assignment) != len(items):
        raise ValueError(f"{where}: expected a list of {len(items)} bin indices")
    if not all(type(index) is int for index in assignment):
        raise ValueError(f"{where}: bin indices must be integers")
    bins = np.asarray(assignment, dtype=np.int64)
    if bins.min() < 0 or bins.max() >= len(items):
        raise ValueError(f"{where}: bin index out of range [0, {len(items)})")
    loads = np.bincount(bins, weights=items, minlength=len(items)).astype(np.int64)
    if np.any(loads > capacity):
        worst = int(np.argmax(loads))
        raise ValueError(f"{where}: bin {worst} holds {loads[worst]} > capacity {capacity}")
    return int(np.count_nonzero(np.bincount(bins)))


def dataset_metrics(name: str, packings: Any, split: str = "search") -> dict[str, float]:
    """Verify every packing of one data set and return its metrics (keys prefixed by name)."""
    instances = load_dataset(name, split)
    if not isinstance(packings, Mapping) or set(packings) != {key for key, _, _ in instances}:
        raise ValueError(f"{name}: expected one packing per instance")
    used = np.array(
        [
            bins_used(packings[key], capacity, items, f"{name}/{key}")
            for key, capacity, items in instances
        ],
        dtype=float,
    )
    bounds = np.array([l1_bound(capacity, items) for _, capacity, items in instances], float)
    excess = float(100.0 * (used.mean() - bounds.mean()) / bounds.mean())
    normalised = 1.0 if excess <= 0.0 else min(1.0, FUNSEARCH_EXCESS[name] / excess)
    return {
        f"{name}_excess_percent": excess,
        f"{name}_normalised": normalised,
        f"{name}_mean_bins": float(used.mean()),
        f"{name}_mean_l1_bound": float(bounds.mean()),
        f"{name}_worst_instance_excess_percent": float(np.max(100.0 * (used - bounds) / bounds)),
    }


def verify(output: Any, split: str = "search") -> dict[str, float]:
    """Check ``output["construction"]`` (every packing of ``split``) and score it (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"or3": {...}, "weibull5k": {...}}}')
    construction = output["construction"]
    metrics: dict[str, float] = {}
    for name in DATASETS:
        metrics.update(dataset_metrics(name, construction.get(name), split))
    metrics["combined_score"] = float(np.mean([metrics[f"{n}_normalised"] for n in DATASETS]))
    return metrics


def evaluate_candidate(candidate: Any, split: str = "search") -> dict[str, Any]:
    """Pack every instance of ``split`` with the candidate's priority; return metrics and
    the packings."""
    if "priority" not in candidate.functions:
        raise AttributeError("the program must define priority(item, bins)")
    instances = [
        (name, key, capacity, items)
        for name in DATASETS
        for key, capacity, items in load_dataset(name, split)
    ]
    packings = pack_all(candidate, [(capacity, items) for _, _, capacity, items in instances])
    construction: dict[str, dict[str, list[int]]] = {name: {} for name in DATASETS}
    for (name, key, _, _), packing in zip(instances, packings, strict=True):
        construction[name][key] = packing
    return {**verify({"construction": construction}, split), "construction": construction}


# The search split's instances are read here, at import: evoforge's template process imports
# this module once and forks every evaluation from it, so evaluations start with them read
# (the holdout and test splits, asked for rarely, are still read on first use).
for _name in DATASETS:
    load_dataset(_name, "search")
