"""Pickled frames over a real pipe: what is written is read back whole, in order, and a
closed writer ends the reading with EOFError."""

from __future__ import annotations

import os
import threading

import pytest

from evoforge.pipe_frames import read_frame, write_frame


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
