"""cache_eviction: the evaluator serves the traces; the candidate only ranks the cached pages.

Fast logic tests call the evaluator's functions with :class:`LocalCandidate` (the channel's
encoding, no isolation) and score the output with the trusted ``verify``; the seed and a
program that hunts for the evaluator (files, modules, objects, frames) also run through the
real :class:`ProblemEvaluator` (two jailed processes).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import OrderedDict
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.local_candidate import LocalCandidate
from evoforge.evaluation.sandbox import filesystem_isolation
from evoforge.problem import load_problem
from evoforge.program import EvalStatus

PROBLEM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "problems" / "cache_eviction"
SEED = PROBLEM_DIR / "initial_program.py"

# LRU, unless the program reaches the evaluator's files or objects: then it raises (the
# old shared-process form let a candidate replace the simulator with Belady's optimum).
HUNT = """
import gc
import os
import sys

TARGETS = ("simulate_all", "make_traces", "belady_hit_flags")
HUNTED = []


def reached():
    try:
        os.stat(@EVALUATOR@)
        return "the evaluator's file"
    except OSError:
        pass
    for module in list(sys.modules.values()):
        if any(hasattr(module, name) for name in TARGETS):
            return f"the module {module.__name__}"
    for thing in gc.get_objects():
        if callable(thing) and getattr(thing, "__name__", None) in TARGETS:
            return f"the function {thing.__name__}"
    frame = sys._getframe()
    while frame is not None:
        if "servers" in frame.f_locals:
            return "the simulator's frame"
        frame = frame.f_back
    return None
""".replace("@EVALUATOR@", repr(str(PROBLEM_DIR / "evaluator.py")))
HUNTING_BODY = """
    if not HUNTED:  # hunt once, on the first call
        HUNTED.append(reached())
    if HUNTED[0] is not None:
        raise RuntimeError(f"reached {HUNTED[0]}")
    return -page_state.recency"""


@cache
def evaluator() -> ModuleType:
    """The problem's evaluator, imported once under a private name (as ``verify`` runs)."""
    name = "_bench_cache_eviction_evaluator"
    spec = importlib.util.spec_from_file_location(name, PROBLEM_DIR / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def program(body: str, prelude: str = "") -> str:
    """The seed with its evolve block replaced: ``priority`` runs ``body`` (or returns it,
    when ``body`` is one expression); ``prelude`` goes before the block."""
    seed = SEED.read_text(encoding="utf-8")
    head, rest = seed.split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    if "\n" not in body:
        body = f"\n    return {body}"
    block = f"import numpy as np\n{prelude}\n\ndef priority(page_state):{body}\n\n\n"
    return f"{head}# EVOLVE-BLOCK-START\n{block}# EVOLVE-BLOCK-END\n{tail}"


def simulate(body: str, trace: Any) -> list[int]:
    """The evictions on ``trace`` of a program whose ``priority`` returns ``body``."""
    evictions: list[list[int]] = evaluator().simulate_all(
        LocalCandidate(code=program(body)), [trace]
    )
    return evictions[0]


def scored(code: str) -> dict[str, float]:
    output = evaluator().evaluate_candidate(LocalCandidate(code=code))
    metrics: dict[str, float] = evaluator().verify(output)
    assert metrics == {key: value for key, value in output.items() if key != "construction"}
    return metrics


def sandboxed() -> ProblemEvaluator:
    return ProblemEvaluator(PROBLEM_DIR / "evaluator.py", EvaluatorConfig(timeout_s=60))


def test_problem_dir_loads_in_the_isolated_form() -> None:
    assert load_problem(PROBLEM_DIR).notices == ()
    assert sandboxed().form == "isolated"


def test_seed_is_lru() -> None:
    metrics = scored(SEED.read_text(encoding="utf-8"))
    assert metrics["normalised_unclipped"] == 0.0
    assert metrics["combined_score"] == 0.0


def test_documented_policies_score_as_the_readme_says() -> None:
    lfu = scored(program("page_state.frequency"))
    assert lfu["normalised_unclipped"] == pytest.approx(0.253, abs=5e-4)
    trusting = scored(program("-page_state.recency + 5 * page_state.predicted * 32"))
    assert trusting["normalised_unclipped"] == pytest.approx(0.480, abs=5e-4)
    assert trusting["zipf_1.0_noisy_normalised"] == pytest.approx(-0.16, abs=5e-3)


def test_priorities_of_every_real_type_count_and_ties_evict_the_lru_page() -> None:
    trace = evaluator().make_traces()[0]
    lru = simulate("-page_state.recency", trace)
    assert simulate("1.0", trace) == lru  # all tied: least recently used
    assert simulate("0 if page_state.predicted else -1", trace) == simulate(
        "0.0 if page_state.predicted else -1.0", trace
    )
    for convert in ("int", "float", "np.float64", "np.int32", "np.float32", "np.array"):
        assert simulate(f"{convert}(-page_state.recency)", trace) == lru
    checked_priority = evaluator().checked_priority
    assert checked_priority(-0.0) == 0.0
    for bad, reason in ((True, "real number"), (np.float64("inf"), "inf"), ("1", "real")):
        with pytest.raises(ValueError, match=reason):
            checked_priority(bad)


def test_the_adapters_answer_is_checked() -> None:
    checked = evaluator().checked_priorities
    assert checked(np.array([1.0, -2.5]), 2) == [1.0, -2.5]
    assert checked([1, np.float32(0.5)], 2) == [1.0, 0.5]
    for answer, reason in (
        (np.array([1.0, np.nan]), "nan"),
        (np.array([1.0, 2.0, 3.0]), "2 priorities"),
        ([1.0], "2 priorities"),
        ({"a": 1.0, "b": 2.0}, "2 priorities"),
        ([1.0, None], "real number"),
    ):
        with pytest.raises(ValueError, match=reason):
            checked(answer, 2)


def test_traces_in_lockstep_evict_as_they_would_alone() -> None:
    traces = evaluator().make_traces()
    code = program("page_state.frequency - page_state.recency / 100")
    together = LocalCandidate(code=code)
    evictions = evaluator().simulate_all(together, traces)
    assert together.calls <= max(len(trace.requests) for trace in traces)  # one per index
    for trace, evicted in zip(traces, evictions, strict=True):
        assert evaluator().simulate_all(LocalCandidate(code=code), [trace]) == [evicted]


def reference_evictions(module: Any, traces: Any) -> list[list[int]]:
    """The evictions of a plain simulation in this process: each trace's cache an ordered
    dict (least recently used first), ``module.priority`` called directly on a
    ``module.PageState`` per cached page, traces stepped by request index in trace order
    (the order in which the evaluator's calls reach ``priority``)."""
    caches: list[OrderedDict[int, list[int]]] = [OrderedDict() for _ in traces]
    frequency: list[dict[int, int]] = [{} for _ in traces]
    last_request: list[dict[int, int]] = [{} for _ in traces]
    evicted: list[list[int]] = [[] for _ in traces]
    for t in range(max(len(trace.requests) for trace in traces)):
        for k, trace in enumerate(traces):
            if t >= len(trace.requests):
                continue
            page, bit = int(trace.requests[t]), int(trace.predictions[t])
            cached, size = caches[k], trace.spec.cache_size
            if page not in cached and len(cached) == size:
                scores = [
                    float(
                        module.priority(
                            module.PageState(t - last, t - insert, hits, freq, gap, pred, size)
                        )
                    )
                    for insert, last, hits, freq, gap, pred in cached.values()
                ]
                victim = list(cached)[scores.index(min(scores))]
                del cached[victim]
                evicted[k].append(victim)
            freq = frequency[k].get(page, 0) + 1
            frequency[k][page] = freq
            if page in cached:
                insert, last, hits, _, _, _ = cached.pop(page)
                cached[page] = [insert, t, hits + 1, freq, t - last, bit]
            else:
                gap = t - last_request[k][page] if page in last_request[k] else 0
                cached[page] = [t, t, 0, freq, gap, bit]
            last_request[k][page] = t
    return evicted


STATEFUL_PRIORITY = """
CALLS = []


def priority(page_state):
    CALLS.append(page_state.recency)  # depends on every call before it, in order
    return (len(CALLS) * 7919 % 101) - page_state.recency
"""


@pytest.mark.parametrize(
    "body",
    [
        "-page_state.recency",
        "-page_state.recency + 5 * page_state.predicted * 32",
        "page_state.frequency - page_state.recency / 100",
        "1.0",  # every page tied: the least recently used goes
        "page_state.hits * 3 - page_state.age + page_state.last_gap",  # ints
        STATEFUL_PRIORITY,
    ],
    ids=["lru", "trusting", "frequency", "ties", "integers", "stateful"],
)
def test_the_evictions_are_those_of_a_plain_simulation(body: str) -> None:
    ev = evaluator()
    if body is STATEFUL_PRIORITY:
        seed = SEED.read_text(encoding="utf-8")
        head, rest = seed.split("# EVOLVE-BLOCK-START\n")
        _, tail = rest.split("# EVOLVE-BLOCK-END\n")
        code = f"{head}# EVOLVE-BLOCK-START\n{body}\n# EVOLVE-BLOCK-END\n{tail}"
    else:
        code = program(body)
    search = ev.make_traces()
    # and caches of several sizes, traces of several lengths
    mixed = [
        ev.Trace(
            replace(trace.spec, cache_size=size),
            trace.requests[:length],
            trace.predictions[:length],
        )
        for trace, size, length in zip(
            search, (8, 32, 5, 40, 16, 32), (900, 2500, 40, 1700, 0, 1300), strict=True
        )
    ]
    for traces in (search, mixed):
        candidate = LocalCandidate(code=code)
        evictions = ev.simulate_all(candidate, traces)
        assert evictions == reference_evictions(LocalCandidate(code=code)._module, traces)
        assert sum(map(len, evictions)) > 1000


def test_belady_beats_every_policy_on_the_traces() -> None:
    ev = evaluator()
    policies = [
        "-page_state.recency",
        "page_state.frequency",
        "page_state.predicted * 100 - page_state.recency",
    ]
    for trace in ev.make_traces()[:3]:
        lru, opt = ev.reference_hits()[trace.spec.name]
        assert opt > lru
        for policy in policies:
            assert ev.replay_hits(trace, simulate(policy, trace)) <= opt


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
    ev = evaluator()
    rng = np.random.default_rng(7)
    for _ in range(5):
        requests = rng.integers(0, 5, size=11)
        assert ev.opt_hits(requests, 3) == brute_force_hits(requests.tolist(), 3)
    fixed = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]
    assert ev.opt_hits(np.array(fixed), 3) == brute_force_hits(fixed, 3) == 5


def test_rejects_bad_priorities_and_bad_decisions() -> None:
    ev = evaluator()
    with pytest.raises(ValueError, match="nan"):
        ev.evaluate_candidate(LocalCandidate(code=program("float('nan')")))
    with pytest.raises(ValueError, match="real number"):
        ev.evaluate_candidate(LocalCandidate(code=program("'1'")))
    with pytest.raises(Exception, match="boom"):  # the candidate's error, propagated
        ev.evaluate_candidate(LocalCandidate(code=program("\n    raise RuntimeError('boom')")))
    trace = ev.make_traces()[0]
    decisions = simulate("-page_state.recency", trace)
    with pytest.raises(ValueError, match="not in the cache"):
        ev.replay_hits(trace, [10**6, *decisions[1:]])
    with pytest.raises(ValueError, match="too few"):
        ev.replay_hits(trace, decisions[:-1])


def test_a_program_without_the_adapter_is_refused() -> None:
    code = "def priority(page_state):\n    return -page_state.recency\n"
    with pytest.raises(AttributeError, match="eviction_priorities"):
        evaluator().evaluate_candidate(LocalCandidate(code=code))


def test_seed_scores_as_documented_through_the_sandbox() -> None:
    result = sandboxed().evaluate(SEED.read_text(encoding="utf-8"))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.0
    assert result.metrics["normalised_unclipped"] == 0.0
    assert result.metrics["zipf_1.0_hit_ratio"] == 0.4444


def test_the_evaluator_is_within_reach_in_process() -> None:
    with pytest.raises(Exception, match="reached"):
        evaluator().evaluate_candidate(LocalCandidate(code=program(HUNTING_BODY, HUNT)))


@pytest.mark.skipif(
    filesystem_isolation() != "mountns", reason="no filesystem jail on this machine"
)
def test_the_evaluator_is_out_of_reach_in_the_sandbox() -> None:
    result = sandboxed().evaluate(program(HUNTING_BODY, HUNT))
    assert result.status is EvalStatus.OK, result.reason
    assert result.score == 0.0
    assert result.metrics["normalised_unclipped"] == 0.0
