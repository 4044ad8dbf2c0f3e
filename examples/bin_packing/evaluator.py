"""Trusted evaluator for FunSearch-style online bin packing on the OR3 instances.

The packing loop lives here, not in the candidate: the candidate only supplies
``priority(item, bins)``. For each item, in arrival order, the feasible bins are those
whose remaining capacity is at least the item; the item goes into the feasible bin with
the highest priority (the first one on ties). As in FunSearch, one bin per item is
allocated up front at full capacity, so an unused bin is always feasible and choosing it
opens a new bin.

Score: for each instance, the excess of the bins used over the L1 lower bound
``ceil(sum(items) / capacity)``; ``excess_percent`` is 100 * (mean bins used - mean L1
bound) / mean L1 bound over the 20 instances, and ``combined_score = -excess_percent``
(higher is better). Best fit scores 5.37 %, FunSearch's evolved heuristic 3.11 %.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

DATA_FILE = Path(__file__).parent / "data" / "or3.json"
STAGE1_INSTANCES = 4  # the cheap cascade stage packs only the first few instances

Priority = Callable[[float, np.ndarray], np.ndarray]


@cache
def load_instances() -> tuple[tuple[str, float, np.ndarray], ...]:
    """The OR3 instances as ``(name, capacity, items)``, in file order."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(
        (name, float(spec["capacity"]), np.asarray(spec["items"], dtype=np.float64))
        for name, spec in data["instances"].items()
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


def pack(priority: Priority, capacity: float, items: np.ndarray) -> int:
    """Pack ``items`` online with ``priority`` and return the number of bins used."""
    remaining = np.full(len(items), capacity, dtype=np.float64)
    for item in items:
        feasible = np.flatnonzero(remaining >= item)
        offered = remaining[feasible]  # a copy: the candidate cannot edit the real bins
        scores = _checked_scores(priority(float(item), offered), len(feasible), float(item))
        remaining[feasible[int(np.argmax(scores))]] -= item
    return int(np.count_nonzero(remaining != capacity))


def l1_bound(capacity: float, items: np.ndarray) -> int:
    """The L1 lower bound on the number of bins: ``ceil(sum(items) / capacity)``."""
    return math.ceil(float(np.sum(items)) / capacity)


def score_instances(priority: Priority, limit: int | None = None) -> dict[str, float]:
    """Pack the first ``limit`` instances (all when None) and return the metrics."""
    instances = load_instances()[:limit]
    used = np.array([pack(priority, cap, items) for _, cap, items in instances], dtype=float)
    bounds = np.array([l1_bound(cap, items) for _, cap, items in instances], dtype=float)
    excess_percent = float(100.0 * (used.mean() - bounds.mean()) / bounds.mean())
    return {
        "combined_score": -excess_percent,
        "excess_percent": excess_percent,
        "mean_bins": float(used.mean()),
        "mean_l1_bound": float(bounds.mean()),
        "worst_instance_excess_percent": float(np.max(100.0 * (used - bounds) / bounds)),
    }


def _priority_of(program_path: str) -> Priority:
    module = load_candidate(program_path)
    priority = getattr(module, "priority", None)
    if not callable(priority):
        raise AttributeError("the program must define priority(item, bins)")
    return priority  # type: ignore[no-any-return]


def evaluate_stage1(program_path: str) -> dict[str, float]:
    """Cheap cascade stage: the first few instances only."""
    return score_instances(_priority_of(program_path), limit=STAGE1_INSTANCES)


def evaluate(program_path: str) -> dict[str, float]:
    """Pack all 20 OR3 instances with the candidate's priority function."""
    return score_instances(_priority_of(program_path))
