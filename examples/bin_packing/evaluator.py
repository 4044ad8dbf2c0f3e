"""Trusted evaluator for FunSearch-style online bin packing on the OR3 instances.

The isolated form: ``evaluate_candidate(candidate)`` runs here, in the evaluator's sandbox;
the candidate program runs in a process of its own and is reached only through
``candidate`` (plain values, by copy). The packing loop lives here, not in the candidate:
the candidate only supplies ``priority(item, bins)``. For each item, in arrival order, the
feasible bins are those whose remaining capacity is at least the item; the item goes into
the feasible bin with the highest priority (the first one on ties). As in FunSearch, one
bin per item is allocated up front at full capacity, so an unused bin is always feasible
and choosing it opens a new bin. The instances are independent, so they are packed in
lockstep, one round trip per item position: one call of the program's ``choose_bins``
adapter (frozen outside the seed's evolve block; it calls ``priority`` for each instance
and returns the chosen bins) or, for a program without it, one batch of ``priority``
calls. Each instance sees exactly the calls, and gets exactly the packing, of packing it
alone.

Score: for each instance, the excess of the bins used over the L1 lower bound
``ceil(sum(items) / capacity)``; ``excess_percent`` is 100 * (mean bins used - mean L1
bound) / mean L1 bound over the 20 instances, and ``combined_score = -excess_percent``
(higher is better). Best fit scores 5.37 %, FunSearch's evolved heuristic 3.11 %.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_FILE = Path(__file__).parent / "data" / "or3.json"
ADAPTER = "choose_bins"  # the program's per-item-position entry point, when it has one


@cache
def load_instances() -> tuple[tuple[str, float, np.ndarray], ...]:
    """The OR3 instances as ``(name, capacity, items)``, in file order."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(
        (name, float(spec["capacity"]), np.asarray(spec["items"], dtype=np.float64))
        for name, spec in data["instances"].items()
    )


def _checked_scores(scores: object, count: int, item: float) -> np.ndarray:
    """The candidate's priorities as a finite float vector of length ``count``, or ValueError."""
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


def pack_all(candidate: Any, instances: Sequence[tuple[float, np.ndarray]]) -> list[int]:
    """Pack every ``(capacity, items)`` instance online; return the bins each one used.

    The instances are stepped in lockstep, one round trip per item position: through the
    program's ``choose_bins`` adapter when it has one (:func:`pack_with_adapter`), else
    by a batch of ``priority`` calls (:func:`pack_with_batches`). Both give each instance
    exactly the packing it would get alone.
    """
    if ADAPTER in candidate.functions:
        remaining = pack_with_adapter(candidate, instances)
    else:
        remaining = pack_with_batches(candidate, instances)
    return [
        int(np.count_nonzero(bins != capacity))
        for bins, (capacity, _) in zip(remaining, instances, strict=True)
    ]


def pack_with_batches(
    candidate: Any, instances: Sequence[tuple[float, np.ndarray]]
) -> list[np.ndarray]:
    """Pack by one ``candidate.batch("priority", ...)`` per item position; return the
    remaining capacities of every instance's bins.

    The batch holds the call of every instance that still has items, in instance order;
    each answer is checked here on its own (:func:`_checked_scores`); a candidate's
    exception propagates.
    """
    remaining = [np.full(len(items), capacity, dtype=np.float64) for capacity, items in instances]
    for position in range(max((len(items) for _, items in instances), default=0)):
        live = [index for index, (_, items) in enumerate(instances) if position < len(items)]
        feasibles: list[np.ndarray] = []
        calls: list[tuple[float, np.ndarray]] = []
        for index in live:
            item = float(instances[index][1][position])
            feasible = np.flatnonzero(remaining[index] >= item)
            feasibles.append(feasible)
            # a copy: the candidate never holds the real bins
            calls.append((item, remaining[index][feasible]))
        answers = candidate.batch("priority", calls)
        for index, feasible, (item, _), answer in zip(live, feasibles, calls, answers, strict=True):
            scores = _checked_scores(answer, len(feasible), item)
            remaining[index][feasible[int(np.argmax(scores))]] -= item
    return remaining


def pack_with_adapter(
    candidate: Any, instances: Sequence[tuple[float, np.ndarray]]
) -> list[np.ndarray]:
    """Pack by one call of the program's ``choose_bins`` per item position; return the
    remaining capacities of every instance's bins.

    The call gets, for every instance that still has items (in instance order), the item,
    and the feasible bins in a compact form: the remaining capacities of the feasible bins
    already used (``counts`` of them, concatenated in ``values``) and the number of
    never-used bins that follow them (``unused``, at full ``capacities``). While an
    instance's used bins are exactly its first bins this is its whole feasible array, in
    bin order; once a program skips a never-used bin, that instance's feasible bins are
    all sent as values (``unused`` 0). The answer must be, per instance, an integer index
    into its feasible bins.
    """
    remaining = [np.full(len(items), capacity, dtype=np.float64) for capacity, items in instances]
    used = [0] * len(instances)  # bins [0, used) are the used ones, while in order
    in_order = [True] * len(instances)
    for position in range(max((len(items) for _, items in instances), default=0)):
        live = [index for index, (_, items) in enumerate(instances) if position < len(items)]
        items_now: list[float] = []
        feasibles: list[np.ndarray] = []
        chunks: list[np.ndarray] = []
        unused: list[int] = []
        for index in live:
            item = float(instances[index][1][position])
            bins = remaining[index]
            if in_order[index]:
                feasible = np.flatnonzero(bins[: used[index]] >= item)
                unused.append(len(bins) - used[index])
            else:
                feasible = np.flatnonzero(bins >= item)
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
            np.array([instances[index][0] for index in live], dtype=np.float64),
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
    return remaining


def l1_bound(capacity: float, items: np.ndarray) -> int:
    """The L1 lower bound on the number of bins: ``ceil(sum(items) / capacity)``."""
    return math.ceil(float(np.sum(items)) / capacity)


def score_instances(candidate: Any) -> dict[str, float]:
    """Pack all the instances with the candidate's priority and return the metrics."""
    instances = load_instances()
    used = np.array(pack_all(candidate, [(cap, items) for _, cap, items in instances]), float)
    bounds = np.array([l1_bound(cap, items) for _, cap, items in instances], dtype=float)
    excess_percent = float(100.0 * (used.mean() - bounds.mean()) / bounds.mean())
    return {
        "combined_score": -excess_percent,
        "excess_percent": excess_percent,
        "mean_bins": float(used.mean()),
        "mean_l1_bound": float(bounds.mean()),
        "worst_instance_excess_percent": float(np.max(100.0 * (used - bounds) / bounds)),
    }


def evaluate_candidate(candidate: Any) -> dict[str, float]:
    """Pack all 20 OR3 instances with the candidate's priority function."""
    if "priority" not in candidate.functions:
        raise AttributeError("the program must define priority(item, bins)")
    return score_instances(candidate)
