"""Trusted evaluator for FunSearch-style online bin packing (OR3 and Weibull 5k).

Two halves, so that a candidate can never report its own score:

* ``evaluate(program_path)`` runs in the sandbox. The fixed online loop lives here; the
  candidate only supplies ``priority(item, bins)``. It returns the packings it produced as
  plain JSON data under ``"construction"`` (for each data set and instance, the bin index
  of every item, in arrival order), together with the metrics ``verify`` gives for them.
* ``verify(output)`` is the trusted check: evoforge calls it in its own process on the
  returned data. It checks every packing (one bin index per item, no bin over capacity,
  exact integer arithmetic) and counts the bins itself.

The loop is FunSearch's: one bin per item is allocated up front at full capacity; for each
item, in arrival order, the feasible bins are those whose remaining capacity is at least
the item, in index order; the item goes into the feasible bin of highest priority (the
first one on ties). An unused bin is always feasible, so choosing it opens a new bin.

Score per data set: ``excess_percent = 100 * (mean bins used - mean L1 bound) / mean L1
bound`` with the L1 bound ``ceil(sum(items) / capacity)`` per instance (FunSearch's
measure). Normalised per data set: ``min(1, funsearch_excess / excess)`` (1 at or beyond
FunSearch's evolved heuristic; best fit 0.579 on OR3, 0.171 on Weibull 5k);
``combined_score`` is the mean of the two.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).parent / "data"
DATASETS = ("or3", "weibull5k")
# Reference excess over the L1 bound, percent (FunSearch, Romera-Paredes et al. 2024).
BEST_FIT_EXCESS = {"or3": 5.37, "weibull5k": 3.98}
FUNSEARCH_EXCESS = {"or3": 3.11, "weibull5k": 0.68}

Priority = Callable[[float, np.ndarray], Any]
Instance = tuple[str, int, np.ndarray]  # (name, capacity, integer item sizes)


@cache
def load_dataset(name: str) -> tuple[Instance, ...]:
    """The instances of one data set as ``(name, capacity, items)``, in file order."""
    data = json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return tuple(
        (key, int(spec["capacity"]), np.asarray(spec["items"], dtype=np.int64))
        for key, spec in data["instances"].items()
    )


def load_candidate(program_path: str | Path) -> ModuleType:
    """Import the candidate file as a fresh module (not registered in ``sys.modules``)."""
    path = Path(program_path)
    spec = importlib.util.spec_from_file_location("candidate_program", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import candidate program {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def pack(priority: Priority, capacity: int, items: np.ndarray) -> list[int]:
    """Pack ``items`` online with ``priority``; return the bin index of each item."""
    remaining = np.full(len(items), float(capacity))
    assignment = np.empty(len(items), dtype=np.int64)
    for position, size in enumerate(items.tolist()):
        item = float(size)
        feasible = (remaining >= item).nonzero()[0]
        offered = remaining[feasible]  # a copy: the candidate cannot edit the real bins
        scores = checked_scores(priority(item, offered), len(feasible), item)
        chosen = int(feasible[scores.argmax()])
        remaining[chosen] -= item
        assignment[position] = chosen
    return assignment.tolist()


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


def dataset_metrics(name: str, packings: Any) -> dict[str, float]:
    """Verify every packing of one data set and return its metrics (keys prefixed by name)."""
    instances = load_dataset(name)
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


def verify(output: Any) -> dict[str, float]:
    """Check ``output["construction"]`` (every packing) and score it (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {"or3": {...}, "weibull5k": {...}}}')
    construction = output["construction"]
    metrics: dict[str, float] = {}
    for name in DATASETS:
        metrics.update(dataset_metrics(name, construction.get(name)))
    metrics["combined_score"] = float(np.mean([metrics[f"{n}_normalised"] for n in DATASETS]))
    return metrics


def evaluate(program_path: str) -> dict[str, Any]:
    """Pack every instance with the candidate's priority; return metrics and the packings."""
    priority = getattr(load_candidate(program_path), "priority", None)
    if not callable(priority):
        raise AttributeError("the program must define priority(item, bins)")
    construction = {
        name: {key: pack(priority, capacity, items) for key, capacity, items in load_dataset(name)}
        for name in DATASETS
    }
    return {**verify({"construction": construction}), "construction": construction}
