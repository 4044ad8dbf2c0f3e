"""Pickled messages over a pipe between two of evoforge's own processes.

A frame is an 8-byte little-endian length, then that many bytes of a pickle. Both ends
must be evoforge's code (the proposal pool's workers, the model request process):
unpickling runs code of the sender's choosing, so a frame never comes from a candidate.

A frame is written and read either on blocking streams (:func:`write_frame`,
:func:`read_frame`) or, on non-blocking descriptors, by a coroutine on the running event
loop (:func:`send_frame`, :func:`receive_frame`), which waits for the pipe without a
thread of its own. Where many callers of one loop write to one pipe, a
:class:`FrameOutbox` takes their frames at once and writes them whole, in order, as the
pipe drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import struct
import subprocess
import sys
from typing import IO, Any

__all__ = [
    "FrameOutbox",
    "FramedChild",
    "frame_bytes",
    "read_frame",
    "receive_frame",
    "send_frame",
    "write_frame",
]

_HEADER = struct.Struct("<Q")


def frame_bytes(payload: Any) -> bytes:
    """``payload`` as one frame: its pickle's length, then the pickle."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def write_frame(stream: IO[bytes], payload: Any) -> None:
    """Pickle ``payload`` and write it as one frame, then flush."""
    stream.write(frame_bytes(payload))
    stream.flush()


async def send_frame(fd: int, data: bytes) -> None:
    """Write ``data`` (frames, as :func:`frame_bytes` makes them) to the non-blocking
    descriptor ``fd``, waiting on the running loop while the pipe is full. Raises
    :class:`OSError` (:class:`BrokenPipeError` once the reader is gone)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _ready(fd, writing=True)


class FrameOutbox:
    """Frames for one non-blocking descriptor, written whole and in the order given.

    :meth:`put` never waits: what the pipe does not take at once waits here and is
    written by the running loop whenever the pipe can take more, so a reader that is
    slow (starting up, stopped) never holds the loop, and frames from callers that ran
    in turn never mix. Once the reader is gone, :meth:`put` raises
    :class:`BrokenPipeError` and what waited is dropped. Used from one event loop's
    thread; :meth:`discard` (there too) stops the writing before the descriptor closes.
    """

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self._waiting = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.broken = False

    @property
    def waiting(self) -> int:
        """Bytes given to :meth:`put` and not yet written."""
        return len(self._waiting)

    def put(self, data: bytes) -> None:
        """Write ``data`` (whole frames) after everything put before it."""
        if self.broken:
            raise BrokenPipeError("the reader of this pipe is gone")
        rest = memoryview(data)
        if not self._waiting:
            try:
                rest = rest[os.write(self.fd, rest) :]
            except BlockingIOError:
                pass
            except OSError:
                self.broken = True
                raise
            if not rest:
                return
        self._waiting += rest
        self._write_when_ready(asyncio.get_running_loop())

    def _write_when_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` write what waits whenever the pipe can take more (a loop of an
        earlier run, closed since, no longer can)."""
        if self._loop is loop:
            return
        self._stop_writing()
        self._loop = loop
        loop.add_writer(self.fd, self._drain)

    def _drain(self) -> None:
        try:
            written = os.write(self.fd, self._waiting)
        except BlockingIOError:
            return
        except OSError:
            self.broken = True
            self.discard()
            return
        del self._waiting[:written]
        if not self._waiting:
            self._stop_writing()

    def discard(self) -> None:
        """Drop what waits and stop writing (before the descriptor is closed)."""
        self._waiting.clear()
        self._stop_writing()

    def _stop_writing(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.remove_writer(self.fd)


async def receive_frame(fd: int) -> Any:
    """The payload of the next frame on the non-blocking descriptor ``fd``, read on the
    running loop (no byte past the frame is read). :class:`EOFError` once the other end
    has closed."""
    received = bytearray()
    needed = _HEADER.size
    while len(received) < needed:
        try:
            chunk = os.read(fd, needed - len(received))
        except BlockingIOError:
            await _ready(fd, writing=False)
            continue
        if not chunk:
            raise EOFError("the other end closed the pipe")
        received += chunk
        if needed == _HEADER.size and len(received) >= needed:
            (size,) = _HEADER.unpack_from(received)
            needed += size
    return pickle.loads(memoryview(received)[_HEADER.size : needed])


async def _ready(fd: int, *, writing: bool) -> None:
    """Wait until ``fd`` can be written (or read) without blocking."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writing:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writing:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's payload; :class:`EOFError` once the other end has closed."""
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


# A terminal's Ctrl-C, and its SIGHUP when it closes, reach every process of the
# foreground group: the driver decides when a run stops and ends its children by closing
# their input, so they ignore both from their first statement on (before the import of
# evoforge, which a Ctrl-C would otherwise interrupt with a traceback on the user's
# terminal; a SIGHUP would end them under the run that is stopping cleanly).
_IGNORE_TERMINAL_SIGNALS = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
)


def _same_import_path() -> str:
    """A statement giving a fresh interpreter this process's ``sys.path`` as it is now.

    Without it the child finds only what its interpreter finds by default: evoforge
    itself, when the driver imported it from a checkout it put on ``sys.path`` (a
    notebook, a script), and a problem's own modules the same way, would be missing
    there. Entries this process holds that are not strings (none by default) are left
    out."""
    entries = [entry for entry in sys.path if isinstance(entry, str)]
    return f"import sys; sys.path[:] = {entries!r}\n"


class FramedChild:
    """A fresh interpreter running ``python -c command`` that talks in frames: its stdin
    carries what it is sent, its stdout what it answers. It exits when its input ends,
    and ignores SIGINT and SIGHUP (a terminal's Ctrl-C or hangup is the driver's to
    handle). It imports from the same ``sys.path`` as the process that started it, taken
    when it starts."""

    def __init__(self, command: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _IGNORE_TERMINAL_SIGNALS + _same_import_path() + command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[bytes] = self.process.stdin
        self.stdout: IO[bytes] = self.process.stdout

    def end(self, timeout_s: float) -> None:
        """Close its input (it exits), wait up to ``timeout_s``, then kill it."""
        with contextlib.suppress(OSError, ValueError):
            self.stdin.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close_output(self) -> None:
        """Close the driver's end of its output (once nothing reads it any more)."""
        with contextlib.suppress(OSError, ValueError):
            self.stdout.close()
