"""Progress counts for the long loops of an export (reading a run, building examples).

An export of a run of tens of thousands of programs spends tens of seconds in each of
these loops; a count every hundredth of the way shows that it moves and how far it has
got, without a line per item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["Count", "counted"]

T = TypeVar("T")

Count = Callable[[int, int], None]
"""Told ``(done, total)``."""

STEPS = 100
"""About how many counts one loop tells (besides the first and the last)."""


def counted(items: Iterable[T], total: int, count: Count | None) -> Iterator[T]:
    """``items`` as they are, telling ``count(done, total)`` before the first item, after
    about every ``total / STEPS`` items and after the last (``done`` the items yielded
    so far; the last count is the items there were, whatever ``total`` said)."""
    if count is None:
        yield from items
        return
    every = max(1, total // STEPS)
    done = 0
    count(0, total)
    for item in items:
        yield item
        done += 1
        if done % every == 0 and done < total:
            count(done, total)
    count(done, max(done, total))
