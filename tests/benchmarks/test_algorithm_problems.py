"""The algorithm benchmark problems: seeds score as their READMEs say, bad output is refused.

Each problem's ``evaluator.py`` is imported in-process (as evoforge's trusted ``verify``
would be) and its seed runs once per module through ``evaluate``; ``verify`` must agree
with what ``evaluate`` reported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.problem import load_problem

PROBLEMS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems"
NAMES = (
    "bin_packing",
    "cache_eviction",
)

_modules: dict[str, ModuleType] = {}
_seed_outputs: dict[str, dict[str, Any]] = {}


def evaluator(name: str) -> ModuleType:
    """The problem's evaluator module, imported once under a private name."""
    if name not in _modules:
        module_name = f"_bench_algorithm_{name}_evaluator"
        spec = importlib.util.spec_from_file_location(
            module_name, PROBLEMS_DIR / name / "evaluator.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        _modules[name] = module
    return _modules[name]


def seed_output(name: str) -> dict[str, Any]:
    """What ``evaluate`` returns for the problem's seed (computed once)."""
    if name not in _seed_outputs:
        path = PROBLEMS_DIR / name / "initial_program.py"
        _seed_outputs[name] = evaluator(name).evaluate(str(path))
    return _seed_outputs[name]


def seed_metrics(name: str) -> dict[str, float]:
    """The trusted ``verify`` metrics of the seed, checked against ``evaluate``'s own."""
    output = seed_output(name)
    metrics: dict[str, float] = evaluator(name).verify(output)
    assert metrics == {k: v for k, v in output.items() if k != "construction"}
    assert 0.0 <= metrics["combined_score"] <= 1.0
    return metrics


def candidate(tmp_path: Path, body: str) -> str:
    """A candidate program file with ``body`` as its code."""
    path = tmp_path / "candidate.py"
    path.write_text("import math\nimport numpy as np\n\n" + body, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", NAMES)
def test_every_problem_dir_loads(name: str) -> None:
    problem = load_problem(PROBLEMS_DIR / name)
    assert problem.notices == ()
    assert (PROBLEMS_DIR / name / "README.md").is_file()


# -- bin packing --------------------------------------------------------------------------


def test_bin_packing_seed_is_best_fit_with_the_published_excess() -> None:
    metrics = seed_metrics("bin_packing")
    assert metrics["or3_excess_percent"] == pytest.approx(5.37, abs=0.05)
    assert metrics["weibull5k_excess_percent"] == pytest.approx(3.98, abs=0.05)
    assert metrics["or3_mean_bins"] == 212.0
    assert metrics["weibull5k_mean_bins"] == 2067.0
    assert metrics["combined_score"] == pytest.approx(0.3750, abs=1e-4)


def test_bin_packing_rejects_bad_priorities() -> None:
    ev = evaluator("bin_packing")
    items = np.array([60, 50, 40], dtype=np.int64)
    with pytest.raises(ValueError, match="NaN"):
        ev.pack(lambda item, bins: bins * np.nan, 100, items)
    with pytest.raises(ValueError, match="shape"):
        ev.pack(lambda item, bins: np.zeros(len(bins) + 1), 100, items)
    with pytest.raises(ValueError, match="real"):
        ev.pack(lambda item, bins: bins.astype(str), 100, items)


def test_bin_packing_ties_go_to_the_first_bin_and_any_real_dtype_is_accepted() -> None:
    ev = evaluator("bin_packing")
    items = np.array([30, 30, 50, 40, 60, 20], dtype=np.int64)
    first_fit = ev.pack(lambda item, bins: np.zeros(len(bins)), 100, items)
    assert first_fit == [0, 0, 1, 0, 2, 1]
    best_fit = ev.pack(lambda item, bins: -(bins - item), 100, items)
    for dtype in (np.int64, np.float32):  # the fast path is for float64; others still count
        assert ev.pack(lambda item, bins, t=dtype: (item - bins).astype(t), 100, items) == best_fit
    assert ev.pack(lambda item, bins: list(item - bins), 100, items) == best_fit
    with pytest.raises(ValueError, match="infinite"):
        ev.pack(lambda item, bins: np.full(len(bins), -np.inf), 100, items)
    with pytest.raises(ValueError, match="real numbers"):
        ev.pack(lambda item, bins: bins > item, 100, items)


def test_bin_packing_verify_rejects_an_overfull_bin() -> None:
    ev = evaluator("bin_packing")
    construction = seed_output("bin_packing")["construction"]
    tampered = {name: dict(packings) for name, packings in construction.items()}
    key = next(iter(tampered["or3"]))
    tampered["or3"][key] = [0] * len(tampered["or3"][key])  # everything in one bin
    with pytest.raises(ValueError, match="capacity"):
        ev.verify({"construction": tampered})


# -- cache eviction -----------------------------------------------------------------------


def test_cache_seed_is_lru() -> None:
    metrics = seed_metrics("cache_eviction")
    assert metrics["normalised_unclipped"] == 0.0
    assert metrics["combined_score"] == 0.0


def test_cache_priorities_of_every_real_type_count_and_ties_evict_the_lru_page() -> None:
    ev = evaluator("cache_eviction")
    trace = ev.make_traces()[0]
    lru = ev.simulate(lambda s: -s.recency, trace)
    assert ev.simulate(lambda s: 1.0, trace) == lru  # all tied: least recently used
    assert ev.simulate(lambda s: 0 if s.predicted else -1, trace) == ev.simulate(
        lambda s: 0.0 if s.predicted else -1.0, trace
    )
    for convert in (int, float, np.float64, np.int32, np.float32, np.array):
        assert ev.simulate(lambda s, c=convert: c(-s.recency), trace) == lru
    assert ev.checked_priority(-0.0) == 0.0
    for bad, reason in ((True, "real number"), (np.float64("inf"), "inf"), ("1", "real")):
        with pytest.raises(ValueError, match=reason):
            ev.checked_priority(bad)


def test_belady_beats_every_policy_on_the_traces() -> None:
    ev = evaluator("cache_eviction")
    policies = [
        lambda s: -s.recency,
        lambda s: s.frequency,
        lambda s: s.predicted * 100 - s.recency,
    ]
    for trace in ev.make_traces()[:3]:
        lru, opt = ev.reference_hits()[trace.spec.name]
        assert opt > lru
        for policy in policies:
            assert ev.replay_hits(trace, ev.simulate(policy, trace)) <= opt


def brute_force_hits(requests: list[int], size: int) -> int:
    """The most hits any eviction schedule gets (exhaustive search, tiny traces only)."""

    def best(t: int, cached: frozenset[int]) -> int:
        if t == len(requests):
            return 0
        page = requests[t]
        if page in cached:
            return 1 + best(t + 1, cached)
        if len(cached) < size:
            return best(t + 1, cached | {page})
        return max(best(t + 1, (cached - {victim}) | {page}) for victim in cached)

    return best(0, frozenset())


def test_belady_equals_brute_force_on_tiny_traces() -> None:
    ev = evaluator("cache_eviction")
    rng = np.random.default_rng(7)
    for _ in range(5):
        requests = rng.integers(0, 5, size=11)
        assert ev.opt_hits(requests, 3) == brute_force_hits(requests.tolist(), 3)
    fixed = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    assert ev.opt_hits(np.array(fixed), 3) == brute_force_hits(fixed, 3) == 5


def test_cache_rejects_bad_priorities_and_bad_decisions(tmp_path: Path) -> None:
    ev = evaluator("cache_eviction")
    path = candidate(tmp_path, "def priority(page_state):\n    return float('nan')\n")
    with pytest.raises(ValueError, match="nan"):
        ev.evaluate(path)
    trace = ev.make_traces()[0]
    decisions = ev.simulate(lambda s: -s.recency, trace)
    with pytest.raises(ValueError, match="not in the cache"):
        ev.replay_hits(trace, [10**6, *decisions[1:]])
    with pytest.raises(ValueError, match="too few"):
        ev.replay_hits(trace, decisions[:-1])
