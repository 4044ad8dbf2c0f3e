"""How long a run has run: the spans of its invocations, never the idle time between them.

A run may stop and be resumed days later; the days in between are no part of its elapsed
time, its evaluations per second or its wall-time budget. So each ``run``/``resume``
invocation records in the run's state (:data:`SPANS_STATE`) when its loop started and,
once it ends, when it ended, in wall-clock seconds (``time.time()``: the clock of a
program's ``created_at``). An invocation killed before it could record its end (``kill
-9``, a power cut) leaves its span open; the span is then taken to end at its last
commit. Invocations of a run made before spans were recorded have none: their time counts
from the first program to the last one before the first recorded span, the figure the
viewers showed before.
"""

from __future__ import annotations

import math
from typing import Any

SPANS_STATE = "running_spans"
"""State key: ``[[start, end or null], ...]``, one entry per invocation, oldest first."""

Span = tuple[float, float | None]


def read_spans(stored: Any) -> list[Span]:
    """The spans of a stored value, oldest first. Entries that are not a start and an end
    (or null) in finite seconds are left out: a damaged entry costs its span, never the
    view."""
    spans: list[Span] = []
    if not isinstance(stored, list):
        return spans
    for entry in stored:
        if not isinstance(entry, list) or len(entry) != 2:
            continue
        start, end = entry
        if not _seconds(start) or not (end is None or _seconds(end)):
            continue
        spans.append((float(start), None if end is None else max(float(start), float(end))))
    return spans


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def span_started(stored: Any, at: float) -> list[list[float | None]]:
    """The stored spans (as :func:`read_spans` reads them) and a new open one from ``at``."""
    return [[start, end] for start, end in read_spans(stored)] + [[at, None]]


def span_ended(stored: Any, at: float) -> list[list[float | None]]:
    """The stored spans with the last one, if open, ended at ``at``."""
    spans: list[list[float | None]] = [[start, end] for start, end in read_spans(stored)]
    if spans and spans[-1][1] is None:
        start = spans[-1][0]
        assert start is not None
        spans[-1][1] = max(start, at)
    return spans


class RunningClock:
    """Seconds of running at each commit of a run, folded in commit order.

    Give it the stored spans (:meth:`update`, whenever they may have changed: invocations
    only add spans and end the last one) and then the time of each commit in commit order
    (:meth:`at`). Each answer depends only on the spans that started before that commit,
    so folding a growing run step by step gives what a fresh read of the whole run gives.
    """

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._current = -1  # the span of the latest commit; -1: before any recorded span
        self._before = 0.0  # seconds of the spans before the current one
        self._start: float | None = None  # when the current span started
        self._last = 0.0  # the latest commit in the current span

    def update(self, spans: list[Span]) -> None:
        self._spans = list(spans)

    def at(self, time: float) -> float:
        """Seconds of running up to a commit made at ``time``."""
        while self._current + 1 < len(self._spans) and self._spans[self._current + 1][0] <= time:
            self._before += self._length()
            self._current += 1
            self._start = self._last = self._spans[self._current][0]
        if self._start is None:  # before any recorded span: the seed, or an older run
            self._start = self._last = time
        self._last = max(self._last, time)
        end = self._end()
        upto = time if end is None else min(time, end)
        return self._before + max(0.0, upto - self._start)

    def total(self) -> float:
        """Seconds of running of the whole run so far (an open span up to its last commit;
        a span that started after the last commit, by its recorded end)."""
        return self._before + self._length() + sum(self._closed_after())

    def latest(self) -> float | None:
        """Seconds of the latest invocation, ``None`` when no span is recorded."""
        if not self._spans:
            return None
        if self._current == len(self._spans) - 1:
            return self._length()
        later = self._closed_after()
        return later[-1] if self._spans[-1][1] is not None else 0.0

    def _closed_after(self) -> list[float]:
        return [end - start for start, end in self._spans[self._current + 1 :] if end is not None]

    def _end(self) -> float | None:
        return self._spans[self._current][1] if self._current >= 0 else None

    def _length(self) -> float:
        """Seconds of the current span: to its recorded end, else to its last commit."""
        if self._start is None:
            return 0.0
        end = self._end()
        return max(0.0, (self._last if end is None else end) - self._start)
