"""The benchmarks' CPU accounting puts a process's CPU time in the part it belongs to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from process_cpu import CpuSnapshot, descendants, per_iteration_ms

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# burns at least 0.3 s of its own CPU, says so, then waits for its input to close
_BURNER = """
import sys, time
while time.process_time() < 0.3:  # a system call: made once per 100,000 steps
    for _ in range(100_000):
        pass
print("done", flush=True)
sys.stdin.read()
"""


def _burner() -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "done\n"
    return process


def _finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def test_each_child_is_counted_in_its_own_part() -> None:
    before = CpuSnapshot.take()
    pool, oracle, other = _burner(), _burner(), _burner()
    try:
        assert {pool.pid, oracle.pid, other.pid} <= set(descendants(os.getpid()))
        after = CpuSnapshot.take(pool=[pool.pid], named={"oracle": oracle.pid})
    finally:
        for process in (pool, oracle, other):
            _finish(process)
    parts = after.parts_since(before)
    # /proc counts CPU in clock ticks (10 ms here): 0.3 s of process_time can read as 29
    # ticks, whose sum of floats is a hair under 0.29
    assert parts["proposal_pool"] >= 0.27
    assert parts["oracle"] >= 0.27
    assert parts["other_children"] >= 0.27
    # each burner is counted once: in its own part, not also in another
    assert parts["proposal_pool"] < 0.6 and parts["oracle"] < 0.6
    assert parts["other_children"] < 0.6


def test_a_reaped_child_counts_as_another_child() -> None:
    before = CpuSnapshot.take()
    _finish(_burner())  # waited for by this process: its time is in RUSAGE_CHILDREN
    after = CpuSnapshot.take()
    parts = after.parts_since(before)
    assert parts["other_children"] >= 0.29
    # a busy loop is user time: the kernel's share is a small part of it
    assert 0.0 <= after.other_children_system_since(before) < parts["other_children"] / 2


def test_the_calling_thread_and_the_others_are_apart() -> None:
    import threading
    import time

    def burn() -> None:
        started = time.thread_time()
        while time.thread_time() - started < 0.2:
            pass

    before = CpuSnapshot.take()
    helper = threading.Thread(target=burn)
    helper.start()
    helper.join()
    parts = CpuSnapshot.take().parts_since(before)
    assert parts["driver_other_threads"] >= 0.19
    assert parts["driver_loop"] < parts["driver_other_threads"]


def test_per_iteration_milliseconds_and_total() -> None:
    assert per_iteration_ms({"a": 0.5, "b": 0.25}, 100) == {"a": 5.0, "b": 2.5, "total": 7.5}
