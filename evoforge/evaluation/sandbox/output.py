"""Reading what a sandboxed command left, never trusting it: bounded, non-blocking reads.

A candidate can put a named pipe, a socket or a device where a file is expected, write
gigabytes, or keep a pipe open forever. Everything here reads at most a given number of
bytes, opens without following a final link and without blocking, and refuses anything
but a regular file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["drain", "head_tail", "read_head_tail", "read_regular_file"]


def drain(fd: int | None, budget: int) -> list[bytes]:
    """What is left in a pipe whose writer is gone, at most ``budget`` bytes, never blocking."""
    chunks: list[bytes] = []
    if fd is None or budget <= 0:
        return chunks
    with contextlib.suppress(OSError):
        os.set_blocking(fd, False)
        while budget > 0:
            try:
                chunk = os.read(fd, min(65536, budget))
            except BlockingIOError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            budget -= len(chunk)
    return chunks


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; refuses (``OSError``) anything but a regular file.

    Opened without following a final symlink and without blocking, then checked with
    ``fstat``: a named pipe, socket or device where a file was expected cannot hang us.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        chunks: list[bytes] = []
        while limit > 0:
            chunk = os.read(fd, min(limit, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_head_tail(path: Path, limit: int) -> str:
    """At most ``limit`` bytes of the file: its head and tail, with a note of what was cut."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        return head_tail(fd, limit)
    finally:
        os.close(fd)


def head_tail(fd: int, limit: int) -> str:
    """:func:`read_head_tail` of an open descriptor (read from offset 0 whatever its file
    position; anything but a regular file or a memfd reads as empty)."""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        size = info.st_size
        if size <= limit:
            data = os.pread(fd, size, 0)
        else:
            head_size = limit // 2
            tail_size = limit - head_size
            head = os.pread(fd, head_size, 0)
            tail = os.pread(fd, tail_size, size - tail_size)
            note = f"\n[... {size - head_size - tail_size} bytes dropped]\n".encode()
            data = head + note + tail
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
