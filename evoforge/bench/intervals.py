"""Bootstrap confidence intervals over seeds, for the benchmark reports.

A benchmark row summarises a handful of seeds (typically 5) by a statistic (the median
best score, the mean test score). :func:`bootstrap_interval` gives that statistic with a
95 % percentile-bootstrap confidence interval (:func:`scipy.stats.bootstrap`, the seeds
resampled with replacement, a fixed generator so a report is the same every time it is
written). With fewer than two seeds there is no interval; with all seeds equal the
interval is that value. scipy is imported here only (the ``bench`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 9999
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A statistic over seeds, with its bootstrap interval (``None`` when fewer than two
    seeds)."""

    value: float
    low: float | None
    high: float | None

    def shown(self, digits: int = 4) -> str:
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap_interval(
    values: Sequence[float], statistic: Callable[..., float], seed: int = 0
) -> Interval:
    """``statistic(values)`` and a 95 % percentile-bootstrap interval of it.

    ``statistic`` takes an array and an ``axis`` keyword (``np.mean``, ``np.median``).
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to summarise")
    value = float(statistic(data))
    if data.size < 2:
        return Interval(value, None, None)
    if np.all(data == data[0]):
        return Interval(value, value, value)
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Interval(value, float(interval.low), float(interval.high))


def mean_interval(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean of ``values`` with its 95 % bootstrap interval."""
    return bootstrap_interval(values, np.mean, seed)


def median_interval(values: Sequence[float], seed: int = 0) -> Interval:
    """The median of ``values`` with its 95 % bootstrap interval."""
    return bootstrap_interval(values, np.median, seed)
