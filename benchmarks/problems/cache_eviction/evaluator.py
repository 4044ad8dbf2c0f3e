"""Trusted evaluator for paging with one-bit predictions: evolve the eviction priority.

The isolated form, in two halves, so that a candidate can never report its own score:

* ``evaluate_candidate(candidate)`` runs in the evaluator's sandbox; the candidate runs in
  a process of its own and is reached only through ``candidate`` (plain values, by copy).
  It generates the request traces (fixed seeds, :func:`make_traces`), serves them with a
  cache of ``C`` pages and, on every miss with a full cache, evicts the cached page of
  lowest priority (ties: the least recently used of the tied pages). The candidate sees
  only the state of the cached pages at each eviction, never the trace. It returns the
  eviction decisions as plain JSON data under ``"construction"`` (per trace, the evicted
  page ids in order) with the metrics ``verify`` gives for them.
* ``verify(output)`` is the trusted check, run by evoforge in its own process: it
  regenerates the traces, replays the decisions (each must evict a page that is in the
  cache, exactly one per eviction), counts the hits itself and compares them with LRU and
  with Belady's offline optimum, both computed here.

The candidate program defines ``priority(page_state)`` (evolved) and, outside its evolve
block, the adapter ``eviction_priorities(states)``: ``states`` is an int64 array with one
row per cached page holding the :class:`PageState` fields in order; the adapter turns each
row into a ``PageState`` named tuple (a named tuple cannot cross the channel) and returns
``priority`` of each, in row order. The traces are independent, so they are served in
lockstep: the evictions that fall on the same request index in several traces go to the
candidate in one call (their rows stacked, trace after trace, each eviction's pages least
recently used first); each trace gets exactly the evictions of serving it alone.

Predictions. Each request carries one bit about the requested page: 1 means "Belady's
optimal schedule keeps this page in the cache until its next request" (the next request
is an OPT hit), 0 means OPT evicts it first or it is never requested again. Each bit is
flipped independently with the trace's stated error rate (:data:`TRACE_SPECS`).

Score per trace: ``(hits - hits_LRU) / (hits_OPT - hits_LRU)`` (0 = LRU, 1 = Belady's
offline optimum, which no online policy can be sure to reach; negative when worse than
LRU). ``normalised_unclipped`` is the mean over the traces; ``combined_score`` is that mean
clipped to [0, 1].

Instance splits (``split=``, chosen by evoforge on the trusted side): ``search`` is the six
traces of :data:`TRACE_SPECS` (the single set this problem was scored on before splits);
``holdout`` draws each of the six kinds again from 2 fresh seeds (12 traces) and ``test``
from 3 more (18 traces), same parameters otherwise (:func:`split_specs`).
"""

from __future__ import annotations

import heapq
import numbers
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, NamedTuple

import numpy as np


class PageState(NamedTuple):
    """What the policy sees of one cached page at an eviction (all counts in requests)."""

    recency: int  # requests since this page was last requested (>= 1)
    age: int  # requests since this page was brought into the cache (>= recency)
    hits: int  # hits on this page since it was brought into the cache
    frequency: int  # requests to this page so far in the trace, earlier stays included
    last_gap: int  # requests between its two most recent requests (0 if requested once)
    predicted: int  # prediction bit of its most recent request: 1 = "will be reused soon"
    cache_size: int  # C, the capacity of the cache


@dataclass(frozen=True)
class TraceSpec:
    """How one trace is generated: ``kind`` with its parameters, capacity and error rate."""

    name: str
    kind: str  # zipf | loop | scan | phases
    length: int
    cache_size: int
    error_rate: float
    seed: int
    pages: int = 0  # page universe (zipf, phases: pages per phase)
    skew: float = 0.0  # Zipf exponent
    loop_pages: int = 0  # loop: cycle length
    noise: float = 0.0  # loop: share of random requests; scan: share of scan requests


TRACE_SPECS = (
    TraceSpec("zipf_0.7", "zipf", 2500, 32, 0.10, 11, pages=500, skew=0.7),
    TraceSpec("zipf_1.0", "zipf", 2500, 32, 0.10, 12, pages=500, skew=1.0),
    TraceSpec("zipf_1.0_noisy", "zipf", 2500, 32, 0.35, 13, pages=500, skew=1.0),
    TraceSpec("loop", "loop", 2500, 32, 0.15, 14, pages=200, loop_pages=40, noise=0.1),
    TraceSpec("scan", "scan", 2500, 32, 0.10, 15, pages=40, skew=0.8, noise=0.3),
    TraceSpec("phases", "phases", 2500, 32, 0.20, 16, pages=64, skew=0.9),
)

ADAPTER = "eviction_priorities"  # the candidate's per-eviction entry point
SPLITS = ("search", "holdout", "test")
SPLIT_DRAWS = {"holdout": (10, 2), "test": (20, 3)}  # seed offset, traces per kind


def split_specs(split: str) -> tuple[TraceSpec, ...]:
    """The trace specs of one split: the six of :data:`TRACE_SPECS` for ``search``; for
    ``holdout`` and ``test`` each kind again with seeds ``100 * seed + offset + k``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split == "search":
        return TRACE_SPECS
    offset, draws = SPLIT_DRAWS[split]
    return tuple(
        replace(spec, name=f"{spec.name}#{split}{k}", seed=100 * spec.seed + offset + k)
        for spec in TRACE_SPECS
        for k in range(draws)
    )


@dataclass(frozen=True)
class Trace:
    """A generated request sequence with its prediction bits."""

    spec: TraceSpec
    requests: np.ndarray  # page ids
    predictions: np.ndarray  # 0/1 per request (already with errors)


def zipf_draws(rng: np.random.Generator, pages: int, skew: float, count: int) -> np.ndarray:
    """``count`` draws from a Zipf law with exponent ``skew`` over ``pages`` pages (0 most
    popular), by inverting the cumulative weights (uses only uniform draws)."""
    weights = 1.0 / np.arange(1, pages + 1) ** skew
    cumulative = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cumulative, rng.random(count), side="right"), pages - 1)


def generate_requests(spec: TraceSpec, rng: np.random.Generator) -> np.ndarray:
    """The page ids of one trace."""
    t = spec.length
    if spec.kind == "zipf":
        return zipf_draws(rng, spec.pages, spec.skew, t)
    if spec.kind == "loop":  # a cycle a bit larger than the cache, with random interruptions
        requests = np.arange(t) % spec.loop_pages
        noisy = rng.random(t) < spec.noise
        requests[noisy] = spec.loop_pages + rng.integers(0, spec.pages, int(noisy.sum()))
        return requests
    if spec.kind == "scan":  # a Zipf hot set polluted by one-off sequential scan pages
        requests = zipf_draws(rng, spec.pages, spec.skew, t)
        scanning = rng.random(t) < spec.noise
        requests[scanning] = spec.pages + np.arange(int(scanning.sum()))
        return requests
    if spec.kind == "phases":  # four phases, each with its own working set
        phase = np.arange(t) * 4 // t
        return phase * spec.pages + zipf_draws(rng, spec.pages, spec.skew, t)
    raise ValueError(f"unknown trace kind {spec.kind!r}")


def next_uses(requests: np.ndarray) -> np.ndarray:
    """For each request, the index of the next request to the same page (len if none)."""
    following = np.full(len(requests), len(requests), dtype=np.int64)
    seen: dict[int, int] = {}
    for t in range(len(requests) - 1, -1, -1):
        page = int(requests[t])
        following[t] = seen.get(page, len(requests))
        seen[page] = t
    return following


def belady_hit_flags(requests: np.ndarray, cache_size: int) -> np.ndarray:
    """Which requests hit under Belady's rule (evict the page requested furthest in the
    future; never-again pages first, the smallest page id among equals)."""
    following = next_uses(requests)
    cached: dict[int, int] = {}  # page -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, page), stale entries skipped lazily
    hits = np.zeros(len(requests), dtype=bool)
    for t, page in enumerate(requests.tolist()):
        if page in cached:
            hits[t] = True
        elif len(cached) == cache_size:
            while True:
                negative_next, victim = heapq.heappop(heap)
                if cached.get(victim) == -negative_next:
                    del cached[victim]
                    break
        cached[page] = int(following[t])
        heapq.heappush(heap, (-int(following[t]), page))
    return hits


@cache
def make_traces(split: str = "search") -> tuple[Trace, ...]:
    """The traces of one split, generated from their fixed seeds (deterministic)."""
    traces = []
    for spec in split_specs(split):
        rng = np.random.default_rng(spec.seed)
        requests = generate_requests(spec, rng).astype(np.int64)
        opt_hit = np.append(belady_hit_flags(requests, spec.cache_size), False)
        truth = opt_hit[next_uses(requests)]  # the next request is an OPT hit
        flips = rng.random(len(requests)) < spec.error_rate
        predictions = (truth ^ flips).astype(np.int64)
        requests.flags.writeable = False
        predictions.flags.writeable = False
        traces.append(Trace(spec, requests, predictions))
    return tuple(traces)


def lru_hits(requests: np.ndarray, cache_size: int) -> int:
    """Hits of least-recently-used eviction."""
    cached: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for page in requests.tolist():
        if page in cached:
            hits += 1
            cached.move_to_end(page)
            continue
        if len(cached) == cache_size:
            cached.popitem(last=False)
        cached[page] = None
    return hits


def opt_hits(requests: np.ndarray, cache_size: int) -> int:
    """Hits of Belady's offline optimum (the most any eviction policy can get)."""
    return int(belady_hit_flags(requests, cache_size).sum())


def checked_priority(value: object) -> float:
    """The candidate's priority as a finite float, or ValueError saying why not."""
    kind = type(value)
    if kind is float or kind is int or kind is np.float64:  # the usual answers, checked fast
        number = float(value)  # type: ignore[arg-type]
        if number - number == 0.0:  # finite (inf - inf and nan - nan are nan)
            return number
        raise ValueError(f"priority(page_state) returned {number}")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"priority(page_state) must return a real number, got {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"priority(page_state) returned {number}")
    return number


def checked_priorities(answer: object, count: int) -> list[float]:
    """The adapter's answer for ``count`` pages as finite floats, or ValueError saying why not.

    The answer is a list (or tuple) of what ``priority`` returned, each checked by
    :func:`checked_priority`, or a float64 array of shape ``(count,)`` whose values must
    all be finite (the seed's adapter sends one when every priority is a float).
    """
    scores: list[float] = checked_priority_array(answer, count).tolist()
    return scores


def checked_priority_array(answer: object, count: int) -> np.ndarray:
    """:func:`checked_priorities` as a float64 array (the answer itself when it is one)."""
    if type(answer) is np.ndarray and answer.dtype == np.float64 and answer.shape == (count,):
        if not np.isfinite(answer).all():
            raise ValueError(f"priority(page_state) returned {answer[~np.isfinite(answer)][0]}")
        return answer
    if not isinstance(answer, list | tuple) or len(answer) != count:
        raise ValueError(f"{ADAPTER}(states) must return a list of {count} priorities, one per row")
    return np.array([checked_priority(value) for value in answer], dtype=np.float64)


_FIELDS = 7  # the PageState fields
_UNUSED = np.iinfo(np.int64).min  # a slot no page holds: least recent of all (sorts last)


class _Cache:
    """One trace's cache being served: a slot per page it can hold.

    Per slot, the cached page's state is kept as :class:`PageState` needs it, except that
    its last access and insert time are negated (``-last, -insert, hits, frequency, last
    gap, prediction, cache size``: the state at request ``t`` is that plus ``t`` on the
    first two), in a Python list, updated per request, and copied into ``fields``, this
    trace's rows of an int64 array of every trace's slots, so that the states of every
    eviction at one request index are gathered, ordered and stacked in a few array
    operations (:func:`eviction_states`).
    """

    __slots__ = (
        "entries",
        "evicted",
        "fields",
        "free",
        "frequency",
        "hits",
        "last_request",
        "page_in",
        "requests",
        "size",
        "slot_of",
    )

    def __init__(self, trace: Trace, fields: np.ndarray) -> None:
        self.size = trace.spec.cache_size
        self.requests = list(zip(trace.requests.tolist(), trace.predictions.tolist(), strict=True))
        self.fields = fields
        self.entries: list[list[int]] = []  # per slot, its page's state (times negated)
        self.slot_of: dict[int, int] = {}  # cached page -> its slot
        self.page_in: list[int] = []  # slot -> its page
        self.free: int | None = None  # the slot the last eviction emptied
        self.frequency: dict[int, int] = {}
        self.last_request: dict[int, int] = {}
        self.evicted: list[int] = []
        self.hits = 0

    def must_evict(self, t: int) -> bool:
        """Whether request ``t`` misses with a full cache."""
        return len(self.slot_of) == self.size and self.requests[t][0] not in self.slot_of

    def evict(self, slot: int) -> None:
        """Evict the page in ``slot``; the next miss takes the slot."""
        victim = self.page_in[slot]
        del self.slot_of[victim]
        self.free = slot
        self.evicted.append(victim)

    def serve(self, t: int) -> None:
        """Serve request ``t`` (after its eviction, if it needed one)."""
        page, bit = self.requests[t]
        frequency = self.frequency.get(page, 0) + 1
        slot = self.slot_of.get(page)
        if slot is not None:  # a hit
            self.hits += 1
            entry = self.entries[slot]
            entry[4] = t + entry[0]  # the gap since its last access
            entry[0] = -t
            entry[2] += 1
            entry[3] = frequency
            entry[5] = bit
        else:
            last = self.last_request.get(page)
            entry = [-t, -t, 0, frequency, 0 if last is None else t - last, bit, self.size]
            slot = self.free
            if slot is None:  # the cache is not full yet: the next slot
                slot = len(self.entries)
                self.entries.append(entry)
                self.page_in.append(page)
            else:
                self.free = None
                self.entries[slot] = entry
                self.page_in[slot] = page
            self.slot_of[page] = slot
        self.fields[slot] = entry
        self.frequency[page] = frequency
        self.last_request[page] = t


def eviction_states(
    fields: np.ndarray, evicting: list[int], sizes: list[int], t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The states of the cached pages of the traces ``evicting`` at request ``t``.

    ``fields`` holds every trace's slots (:class:`_Cache`), ``sizes`` the cache size of
    each trace in ``evicting``. Returns an int64 array with one row per cached page (the
    :class:`PageState` fields in order), trace after trace, each trace's pages least
    recently used first; the slot of each row (one row of slots per trace); and which
    slots of each row exist (None when every cache is as wide as ``fields``).
    """
    width = fields.shape[1]
    # least recently used first: the largest negated last access first (all distinct)
    order = fields[evicting, :, 0].argsort(axis=1)[:, ::-1]
    where = order + (np.array(evicting) * width)[:, None]
    states = fields.reshape(-1, _FIELDS)[where.ravel()]  # a copy
    mask = None
    if any(size != width for size in sizes):
        mask = np.arange(width)[None, :] < np.array(sizes)[:, None]
        states = states[mask.ravel()]
    states[:, :2] += t  # recency, age
    return states, order, mask


def chosen_slots(order: np.ndarray, mask: np.ndarray | None, scores: np.ndarray) -> list[int]:
    """Per row of ``order`` (from :func:`eviction_states`), the slot of the first lowest
    score: the least recently used page among ties."""
    if mask is None:
        table = scores.reshape(order.shape)
    else:
        table = np.full(order.shape, np.inf)
        table[mask] = scores
    slots: list[int] = order[np.arange(len(order)), table.argmin(axis=1)].tolist()
    return slots


def simulate_all(candidate: Any, traces: Sequence[Trace]) -> list[list[int]]:
    """Serve every trace evicting the lowest-priority page; return the evicted page ids
    (:func:`serve_all` also returns each trace's hits).

    The traces are served in lockstep: at each request index, the states of the cached
    pages of every trace whose request must evict a page are stacked (in trace order) into
    one array and sent in one call of the adapter; its answer is checked
    (:func:`checked_priorities`) and split back per trace. A candidate's exception
    propagates.
    """
    return [evicted for evicted, _ in serve_all(candidate, traces)]


def serve_all(candidate: Any, traces: Sequence[Trace]) -> list[tuple[list[int], int]]:
    """:func:`simulate_all`, with the hits each trace got: ``(evicted page ids, hits)``."""
    width = max((trace.spec.cache_size for trace in traces), default=0)
    fields = np.zeros((len(traces), width, _FIELDS), dtype=np.int64)
    fields[:, :, 0] = _UNUSED
    servers = [_Cache(trace, fields[index]) for index, trace in enumerate(traces)]
    lengths = [len(cache.requests) for cache in servers]
    everyone = list(range(len(servers)))
    shortest = min(lengths, default=0)
    for t in range(max(lengths, default=0)):
        live = everyone if t < shortest else [i for i in everyone if t < lengths[i]]
        evicting = [index for index in live if servers[index].must_evict(t)]
        if evicting:
            sizes = [servers[index].size for index in evicting]
            states, order, mask = eviction_states(fields, evicting, sizes, t)
            scores = checked_priority_array(candidate.call(ADAPTER, states), len(states))
            for index, slot in zip(evicting, chosen_slots(order, mask, scores), strict=True):
                servers[index].evict(slot)
        for index in live:
            servers[index].serve(t)
    return [(cache.evicted, cache.hits) for cache in servers]


def replay_hits(trace: Trace, evictions: Any) -> int:
    """Hits of the given eviction decisions on ``trace``, checked step by step (trusted)."""
    name = trace.spec.name
    if not isinstance(evictions, list) or not all(type(page) is int for page in evictions):
        raise ValueError(f"{name}: evictions must be a list of page ids (integers)")
    cached: set[int] = set()
    hits = 0
    used = 0
    for t, page in enumerate(trace.requests.tolist()):
        if page in cached:
            hits += 1
            continue
        if len(cached) == trace.spec.cache_size:
            if used == len(evictions):
                raise ValueError(f"{name}: too few evictions (ran out at request {t})")
            victim = evictions[used]
            used += 1
            if victim not in cached:
                raise ValueError(f"{name}: request {t} evicts page {victim}, not in the cache")
            cached.remove(victim)
        cached.add(page)
    if used != len(evictions):
        raise ValueError(f"{name}: {len(evictions) - used} evictions more than misses")
    return hits


@cache
def reference_hits(split: str = "search") -> dict[str, tuple[int, int]]:
    """(LRU hits, OPT hits) per trace of one split."""
    return {
        trace.spec.name: (
            lru_hits(trace.requests, trace.spec.cache_size),
            opt_hits(trace.requests, trace.spec.cache_size),
        )
        for trace in make_traces(split)
    }


def verify(output: Any, split: str = "search") -> dict[str, float]:
    """Replay ``output["construction"]`` (evictions per trace of ``split``) and score it
    (trusted)."""
    if not isinstance(output, Mapping) or not isinstance(output.get("construction"), Mapping):
        raise ValueError('expected {"construction": {trace name: [evicted page ids]}}')
    construction = output["construction"]
    traces = make_traces(split)
    if set(construction) != {trace.spec.name for trace in traces}:
        raise ValueError("expected one list of evictions per trace")
    return hit_metrics(
        [replay_hits(trace, construction[trace.spec.name]) for trace in traces], split
    )


def hit_metrics(hits_per_trace: Sequence[int], split: str = "search") -> dict[str, float]:
    """The metrics of the given hits, one count per trace of ``split`` in order."""
    metrics: dict[str, float] = {}
    normalised = []
    for trace, hits in zip(make_traces(split), hits_per_trace, strict=True):
        name = trace.spec.name
        lru, opt = reference_hits(split)[name]
        normalised.append((hits - lru) / (opt - lru))
        metrics[f"{name}_hit_ratio"] = hits / trace.spec.length
        metrics[f"{name}_normalised"] = normalised[-1]
    mean = float(np.mean(normalised))
    metrics["normalised_unclipped"] = mean
    metrics["combined_score"] = min(1.0, max(0.0, mean))
    return metrics


def evaluate_candidate(candidate: Any, split: str = "search") -> dict[str, Any]:
    """Serve every trace of ``split`` with the candidate's priority; return metrics and the
    evictions."""
    missing = [name for name in ("priority", ADAPTER) if name not in candidate.functions]
    if missing:
        raise AttributeError(
            "the program must define priority(page_state) and keep the seed's "
            f"{ADAPTER}(states) adapter; missing: {', '.join(missing)}"
        )
    traces = make_traces(split)
    served = serve_all(candidate, traces)
    construction = {
        trace.spec.name: evicted for trace, (evicted, _) in zip(traces, served, strict=True)
    }
    # the hits counted while serving; evoforge replays the evictions with verify() anyway
    return {**hit_metrics([hits for _, hits in served], split), "construction": construction}


# The search split's traces and reference hits are made here, at import: evoforge's template
# process imports this module once and forks every evaluation from it, so evaluations start
# with them ready instead of each regenerating them (the holdout and test splits, asked for
# rarely, are still made on first use).
reference_hits("search")
