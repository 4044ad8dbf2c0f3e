"""Pickled frames over a real pipe: what is written is read back whole, in order, and a
closed writer ends the reading with EOFError, on blocking streams and on an event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from evoforge.pipe_frames import (
    FramedChild,
    FrameOutbox,
    frame_bytes,
    read_frame,
    receive_frame,
    send_frame,
    write_frame,
)


def test_frames_come_back_whole_and_in_order_and_then_end_of_file() -> None:
    read_fd, write_fd = os.pipe()
    big = "x" * 300_000  # larger than a pipe's buffer: read in several pieces
    payloads = [(1, "label", {"a": [1.5, None]}), big, b"", ()]
    with os.fdopen(read_fd, "rb") as reader, os.fdopen(write_fd, "wb") as writer:

        def write_all() -> None:
            for payload in payloads:
                write_frame(writer, payload)
            writer.close()

        thread = threading.Thread(target=write_all)
        thread.start()
        received = [read_frame(reader) for _ in payloads]
        with pytest.raises(EOFError):
            read_frame(reader)
        thread.join()
    assert received == payloads


def test_a_frame_cut_short_is_end_of_file_not_a_partial_payload() -> None:
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb") as reader:
        with os.fdopen(write_fd, "wb") as writer:
            writer.write((100).to_bytes(8, "little") + b"only a few bytes")
        with pytest.raises(EOFError):
            read_frame(reader)


def test_frames_travel_on_an_event_loop_over_non_blocking_pipes() -> None:
    """A frame larger than a pipe holds is written and read by two coroutines of one
    loop, each waiting for the pipe in turn; a closed writer is end of file."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    big = {"text": "y" * 500_000, "numbers": list(range(1000))}

    async def scenario() -> list[object]:
        sending = asyncio.ensure_future(send_frame(write_fd, frame_bytes(big) + frame_bytes(())))
        first = await receive_frame(read_fd)
        await sending
        second = await receive_frame(read_fd)
        os.close(write_fd)
        with pytest.raises(EOFError):
            await receive_frame(read_fd)
        return [first, second]

    try:
        assert asyncio.run(scenario()) == [big, ()]
    finally:
        os.close(read_fd)


def test_sending_to_a_closed_reader_is_a_broken_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    os.close(read_fd)
    try:
        with pytest.raises(BrokenPipeError):
            asyncio.run(send_frame(write_fd, frame_bytes("lost")))
    finally:
        os.close(write_fd)


def test_a_framed_child_imports_from_the_path_its_starter_had(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module reachable only through an entry the starting process put on its own
    ``sys.path`` (as a notebook does with a checkout of evoforge) imports in the child."""
    (tmp_path / "framed_child_only_here.py").write_text("VALUE = ('found', 42)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    child = FramedChild(
        "import sys, framed_child_only_here\n"
        "from evoforge.pipe_frames import write_frame\n"
        "write_frame(sys.stdout.buffer, framed_child_only_here.VALUE)\n"
        "sys.stdout.flush()\n"
    )
    try:
        assert read_frame(child.stdout) == ("found", 42)
    finally:
        child.end(timeout_s=10)
        child.close_output()
    assert child.process.returncode == 0


def test_an_outbox_takes_frames_at_once_and_writes_them_whole_in_order() -> None:
    """Frames far larger than the pipe holds are put while nobody reads: put returns at
    once, the loop stays free, and the reader later gets every frame whole, in order."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    outbox = FrameOutbox(write_fd)
    payloads = [{"n": n, "text": str(n) * 400_000} for n in range(3)] + ["small"]

    async def scenario() -> tuple[int, list[object]]:
        for payload in payloads:
            outbox.put(frame_bytes(payload))
        waiting = outbox.waiting  # the pipe took what it holds; the rest waits here
        await asyncio.sleep(0)  # the loop runs other work meanwhile
        received = [await receive_frame(read_fd) for _ in payloads]
        return waiting, received

    try:
        waiting, received = asyncio.run(scenario())
        assert waiting > 1_000_000
        assert received == payloads
        assert outbox.waiting == 0
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_an_outbox_whose_reader_is_gone_refuses_further_frames() -> None:
    read_fd, write_fd = os.pipe()
    outbox = FrameOutbox(write_fd)
    os.close(read_fd)

    async def scenario() -> None:
        with pytest.raises(BrokenPipeError):
            outbox.put(frame_bytes("lost"))
        with pytest.raises(BrokenPipeError):
            outbox.put(frame_bytes("lost again"))

    try:
        asyncio.run(scenario())
        assert outbox.broken
    finally:
        os.close(write_fd)
