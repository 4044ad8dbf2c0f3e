"""Counts in messages, worded as a reader expects: ``1 run``, ``4 runs``, never ``run(s)``."""

from __future__ import annotations


def quantity(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` followed by ``noun`` for exactly one, else by ``plural`` (default: ``noun``
    with an ``s``): ``quantity(1, "run")`` is ``1 run``, ``quantity(0, "run")`` ``0 runs``."""
    word = noun if count == 1 else (plural if plural is not None else noun + "s")
    return f"{count} {word}"
