"""Seconds of running: the spans of a run's invocations, never the idle time between them."""

from __future__ import annotations

import pytest

from evoforge.running_time import RunningClock, read_spans, span_ended, span_started


def _fold(
    spans: list[list[float | None]], commits: list[float]
) -> tuple[list[float], RunningClock]:
    clock = RunningClock()
    clock.update(read_spans(spans))
    return [clock.at(time) for time in commits], clock


def test_time_between_invocations_is_left_out() -> None:
    # seed at 99, first invocation 100-110, idle for a day, resumed 86500-86520
    spans: list[list[float | None]] = [[100.0, 110.0], [86_500.0, 86_520.0]]
    elapsed, clock = _fold(spans, [99.0, 101.0, 109.0, 86_505.0, 86_519.0])
    assert elapsed == [0.0, 1.0, 9.0, 15.0, 29.0]
    assert clock.total() == 30.0  # each span to its recorded end
    assert clock.latest() == 20.0


def test_a_run_without_spans_counts_from_its_first_to_its_last_program() -> None:
    elapsed, clock = _fold([], [50.0, 60.0, 5_000.0])
    assert elapsed == [0.0, 10.0, 4_950.0]
    assert clock.total() == 4_950.0
    assert clock.latest() is None


def test_older_invocations_without_spans_count_as_before_and_later_ones_by_their_spans() -> None:
    elapsed, clock = _fold([[1_000.0, 1_004.0]], [10.0, 12.0, 1_001.0, 1_003.0])
    assert elapsed == [0.0, 2.0, 3.0, 5.0]
    assert clock.total() == 6.0 and clock.latest() == 4.0


def test_a_killed_invocation_ends_at_its_last_commit() -> None:
    spans: list[list[float | None]] = [[100.0, None], [500.0, 510.0]]
    elapsed, clock = _fold(spans, [100.5, 103.0, 505.0])
    assert elapsed == [0.5, 3.0, 8.0]
    assert clock.total() == 13.0 and clock.latest() == 10.0


def test_a_live_invocation_counts_up_to_its_last_commit() -> None:
    spans: list[list[float | None]] = [[100.0, 110.0], [200.0, None]]
    elapsed, clock = _fold(spans, [105.0, 204.0])
    assert elapsed == [5.0, 14.0]
    assert clock.total() == 14.0 and clock.latest() == 4.0


def test_invocations_without_commits_count_by_their_recorded_span() -> None:
    _, clock = _fold([[100.0, 110.0], [200.0, 203.0], [300.0, None]], [105.0])
    assert clock.total() == 13.0
    assert clock.latest() == 0.0  # started, nothing committed yet


def test_folding_a_growing_run_gives_what_a_fresh_read_gives() -> None:
    commits = [99.0, 101.0, 109.0, 400.0, 402.0, 950.0]
    final: list[list[float | None]] = [[100.0, None], [399.0, 405.0], [900.0, 960.0]]
    fresh, whole = _fold(final, commits)
    clock = RunningClock()
    growing: list[list[float | None]] = []
    folded = []
    for time in commits:  # an invocation's end is stored before the next one starts
        while len(growing) < len(final) and final[len(growing)][0] <= time:
            growing = span_started(final[: len(growing)], float(final[len(growing)][0] or 0.0))
        clock.update(read_spans(growing))
        folded.append(clock.at(time))
    clock.update(read_spans(final))
    assert folded == fresh
    assert clock.total() == whole.total() == 9.0 + 6.0 + 60.0  # the first: to its last commit


def test_spans_are_started_and_ended_and_damaged_entries_left_out() -> None:
    spans = span_started(None, 10.0)
    assert spans == [[10.0, None]]
    spans = span_ended(spans, 12.5)
    assert spans == [[10.0, 12.5]]
    assert span_ended(spans, 20.0) == [[10.0, 12.5]]  # only an open span is ended
    assert span_ended(span_started(spans, 30.0), 29.0) == [[10.0, 12.5], [30.0, 30.0]]
    damaged = [[1.0, 2.0], "x", [3.0], [True, 4.0], [5.0, float("nan")], [6.0, None], None]
    assert read_spans(damaged) == [(1.0, 2.0), (6.0, None)]
    assert read_spans({"not": "a list"}) == []


@pytest.mark.parametrize("stored", [None, 3, "text", [[]]])
def test_anything_not_a_list_of_spans_reads_as_none(stored: object) -> None:
    assert read_spans(stored) == []
