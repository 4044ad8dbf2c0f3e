"""Seed program: the eviction priority of a cache that gets one-bit predictions.

On every miss with a full cache the evaluator calls ``priority(page_state)`` for each cached
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
"""


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
