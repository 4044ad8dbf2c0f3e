"""Run a coroutine to completion from synchronous code, whether or not the calling thread
already runs an event loop.

A notebook's cell runs inside an event loop, where ``asyncio.run`` refuses to start a
second one. :func:`run_to_completion` then runs the coroutine's own loop in a helper
thread and waits for it; an interrupt of the waiting thread (a notebook's stop button)
is handed to ``on_interrupt`` and the wait goes on, so the coroutine can wind down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_to_completion"]

T = TypeVar("T")


def run_to_completion(
    make: Callable[[], Coroutine[Any, Any, T]],
    *,
    on_interrupt: Callable[[], None] | None = None,
) -> T:
    """``asyncio.run(make())`` in this thread when it runs no event loop, else in a helper
    thread. ``on_interrupt``: called (in this thread) for each ``KeyboardInterrupt`` that
    reaches this thread while it waits for the helper; without it the interrupt is
    raised once the coroutine has finished."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except block: errors of the run would chain to its error
        return asyncio.run(make())
    interrupted = False
    with ThreadPoolExecutor(1, thread_name_prefix="evoforge-loop") as helper:
        future = helper.submit(asyncio.run, make())
        while True:
            try:
                result = future.result()
                break
            except KeyboardInterrupt:
                if on_interrupt is None:
                    interrupted = True
                else:
                    on_interrupt()
    if interrupted:
        raise KeyboardInterrupt
    return result
