"""A bounded memo of values computed from a program's text.

Like ``functools.lru_cache`` on a function of the text alone, but the caller supplies how
to compute a missing value, so one that already holds the text's parsed tree can have
the value computed from it (one parse fewer) and still share the memo with callers that
only have the text. Safe to use from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["TextMemo"]

T = TypeVar("T")


class TextMemo(Generic[T]):
    """The latest ``size`` values, keyed by text; the least recently used leaves first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size
        self._values: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str, compute: Callable[[], T]) -> T:
        """The value for ``text``: the memo's, else ``compute()`` (kept; what it raises
        is raised and nothing is kept)."""
        with self._lock:
            if text in self._values:
                self._values.move_to_end(text)
                return self._values[text]
        value = compute()
        with self._lock:
            self._values[text] = value
            self._values.move_to_end(text)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
