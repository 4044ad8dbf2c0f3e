"""Coroutines run to completion from synchronous code, in a running event loop or not."""

from __future__ import annotations

import asyncio

import pytest

from evoforge.blocking import run_to_completion


async def _fails() -> None:
    raise ConnectionRefusedError(111, "Connect call failed")


def test_an_error_of_the_coroutine_comes_back_with_its_own_causes_only() -> None:
    """Nothing of the check for a running loop is chained to what the coroutine raises
    (a reason built from the innermost cause named that check's RuntimeError)."""
    with pytest.raises(ConnectionRefusedError) as info:
        run_to_completion(_fails)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_inside_a_running_loop_the_coroutine_runs_beside_it() -> None:
    async def cell() -> int:
        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        return run_to_completion(answer)

    assert asyncio.run(cell()) == 42
