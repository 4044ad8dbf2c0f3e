"""Seed program: the eviction priority of a cache that gets one-bit predictions.

On every miss with a full cache the evaluator asks for ``priority(page_state)`` of each cached
page and evicts the page of lowest priority (ties: the least recently used of them).
``page_state`` has the fields (all counts in requests):

- ``recency``: requests since the page was last requested (>= 1);
- ``age``: requests since the page entered the cache;
- ``hits``: hits on the page since it entered the cache;
- ``frequency``: requests to the page so far, earlier stays in the cache included;
- ``last_gap``: requests between its two most recent requests (0 if requested once);
- ``predicted``: 1 if the predictor says the page will be requested again before an
  optimal cache would drop it, else 0 (the predictor errs on 10-35 % of requests);
- ``cache_size``: the capacity of the cache.

The seed is LRU (evict the page unused the longest). Its prediction bonus is 0: raising
it trusts the predictor more.

The evaluator runs in another process and sends the page states as rows of numbers;
``eviction_priorities`` (below the evolve block) turns each row into a ``PageState`` and
asks ``priority``.
"""

from typing import NamedTuple

import numpy as np


class PageState(NamedTuple):
    """What the policy sees of one cached page at an eviction (all counts in requests)."""

    recency: int
    age: int
    hits: int
    frequency: int
    last_gap: int
    predicted: int
    cache_size: int


# EVOLVE-BLOCK-START
def priority(page_state) -> float:
    """Keep-worthiness of one cached page; the lowest is evicted."""
    recency_weight = 1.0
    prediction_bonus = 0.0  # in units of the cache size
    return (
        -recency_weight * page_state.recency
        + prediction_bonus * page_state.predicted * page_state.cache_size
    )


# EVOLVE-BLOCK-END


def eviction_priorities(states):
    """The evaluator's call: ``priority`` of each row of ``states``, in row order.

    ``states`` is an int64 array with one row per cached page (the ``PageState`` fields in
    order), for the evictions of one request index across the traces. The answer is one
    float64 array when numpy makes one of the priorities (floats, or ints and bools among
    floats; faster to send), else the list of what ``priority`` returned.
    """
    new = tuple.__new__  # PageState._make without its length check: a row has 7 fields
    values = [priority(new(PageState, row)) for row in states.tolist()]
    try:
        answer = np.array(values)
    except (ValueError, TypeError, OverflowError):
        return values
    return answer if answer.dtype == np.float64 and answer.shape == (len(values),) else values
