"""The bench report's wall-time accounting."""

from __future__ import annotations

import pytest

from evoforge.bench.report import busy_seconds


def test_overlapping_runs_count_once() -> None:
    # Two jobs at once: [0, 10] and [5, 12] keep the machine busy for 12 s.
    assert busy_seconds([(0.0, 10.0), (5.0, 12.0)]) == pytest.approx(12.0)


def test_a_pause_between_sessions_is_not_counted() -> None:
    # A bench stopped at 20 s and resumed a day later.
    day = 86_400.0
    intervals = [(0.0, 10.0), (10.0, 20.0), (day, day + 30.0)]
    assert busy_seconds(intervals) == pytest.approx(50.0)


def test_nested_unordered_and_invalid_intervals() -> None:
    intervals = [(50.0, 60.0), (0.0, 100.0), (20.0, 30.0), (5.0, 1.0)]
    assert busy_seconds(intervals) == pytest.approx(100.0)


def test_no_runs_is_zero() -> None:
    assert busy_seconds([]) == 0.0
