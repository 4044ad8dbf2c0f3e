"""The template's helpers for a fresh child: its environment made exactly the request's,
and every descriptor but the kept ones closed (each checked in a child process of this
test, whose environment and descriptors are its own to change)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

from evoforge.evaluation.sandbox.zygote import Kernel, close_all_but, set_environment


def _in_child(body: Callable[[int], Any]) -> Any:
    """``body(answer_fd)`` run in a forked child; what it returns, through a pipe (the
    descriptor it is given, which it must keep) as JSON."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            answer: Any = body(write_end)
        except BaseException as exc:
            answer = {"child raised": repr(exc)}
        try:
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def test_the_environment_becomes_exactly_the_requested_one() -> None:
    def body(answer_fd: int) -> dict[str, Any]:
        ctypes.CDLL(None).clearenv()  # what this test's process put there directly too
        os.environ.clear()
        os.environ.update({"KEPT": "same", "CHANGED": "old", "DROPPED": "gone"})
        set_environment({"KEPT": "same", "CHANGED": "new", "ADDED": "here"})
        # what a program the child executes would inherit, as well as os.environ
        listing = subprocess.run(["/usr/bin/env"], capture_output=True, text=True, check=True)
        executed = sorted(listing.stdout.splitlines())
        return {"environ": dict(os.environ), "executed": executed}

    seen = _in_child(body)
    assert seen["environ"] == {"KEPT": "same", "CHANGED": "new", "ADDED": "here"}
    assert seen["executed"] == ["ADDED=here", "CHANGED=new", "KEPT=same"]


def test_every_descriptor_but_the_kept_ones_is_closed() -> None:
    def body(answer_fd: int) -> dict[str, Any]:
        # above every descriptor open here (a test worker holds more than a lone pytest),
        # so that none of them, the answer's among them, is overwritten
        base = max(int(name) for name in os.listdir("/proc/self/fd")) + 10
        null = os.open(os.devnull, os.O_RDONLY)
        for fd in range(base, base + 8):  # gaps of one and of several between the kept ones
            os.dup2(null, fd)
        kept = {0, 1, 2, answer_fd, base + 2, base + 4, base + 7}
        close_all_but(Kernel(), kept)
        # the listing holds one more descriptor while it runs: the lowest free one
        return {
            "open": sorted(int(name) for name in os.listdir("/proc/self/fd")),
            "kept": sorted(kept),
            "base": base,
        }

    seen = _in_child(body)
    extra = [fd for fd in seen["open"] if fd not in seen["kept"]]
    assert len(extra) == 1 and extra[0] < seen["base"], seen
    assert set(seen["kept"]) <= set(seen["open"])


def test_without_close_range_the_listing_closes_them() -> None:
    def body(answer_fd: int) -> list[int]:
        kernel = Kernel()
        kernel.close_range = None
        for _ in range(4):
            os.open(os.devnull, os.O_RDONLY)
        os.dup2(answer_fd, 900)
        os.close(answer_fd)
        close_all_but(kernel, {0, 1, 2, 900})
        opened = sorted(int(name) for name in os.listdir("/proc/self/fd"))
        os.dup2(900, answer_fd)
        return opened

    assert _in_child(body) == [0, 1, 2, 3, 900]  # 3: the listing's own, while it runs
