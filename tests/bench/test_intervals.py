"""Bootstrap intervals over seeds: the statistic, its interval, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from evoforge.bench.intervals import mean_interval, median_interval


def test_the_interval_is_a_bootstrap_interval_of_the_mean() -> None:
    values = [0.60, 0.64, 0.70, 0.66, 0.75]
    interval = mean_interval(values)
    assert interval.value == pytest.approx(np.mean(values))
    assert interval.low is not None and interval.high is not None
    assert min(values) <= interval.low < interval.value < interval.high <= max(values)
    assert mean_interval(values) == interval  # seeded: the same every time
    assert mean_interval([0.5]).low is None  # one seed: no interval
    assert mean_interval([0.5, 0.5]).shown() == "0.5000 [0.5000, 0.5000]"


def test_the_median_interval_brackets_the_median_and_ignores_an_outlier() -> None:
    values = [0.80, 0.81, 0.82, 0.82, 0.83, 0.83, 0.84, 0.85, 5.0]
    interval = median_interval(values)
    assert interval.value == pytest.approx(0.83)
    assert interval.low is not None and interval.high is not None
    assert interval.low <= 0.83 <= interval.high
    # a resampled median of nine values is the outlier only when five or more of the nine
    # draws are the outlier (probability about 0.003), so the 95 % interval excludes it
    assert interval.high < 5.0
    assert mean_interval(values).high is not None
    assert mean_interval(values).high > interval.high  # the mean is pulled by the outlier


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError):
        median_interval([])
