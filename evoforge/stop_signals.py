"""The signals that stop a run as Ctrl-C does, and what a closed terminal needs.

A run stops cleanly (evaluations in flight finish and commit, the stop is recorded, the
run resumes exactly) on SIGINT (Ctrl-C), SIGTERM (``kill``, a service manager) and SIGHUP
(its terminal closed, an ssh connection lost). SIGHUP is left alone when it was ignored
when the command started (``nohup evoforge run ...``): the run then outlives its
terminal, as asked. After a SIGHUP the terminal is gone, and writing to it fails, so the
standard streams that were on it are pointed at ``/dev/null`` first
(:func:`leave_terminal`); streams redirected to a file or a pipe keep their output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TextIO

__all__ = [
    "OutlivingStream",
    "leave_terminal",
    "outliving_the_terminal",
    "stop_signals",
    "stopping_as_ctrl_c",
    "when_received",
]


def stop_signals() -> tuple[signal.Signals, ...]:
    """The signals to take over now: SIGINT, SIGTERM, and SIGHUP unless it is ignored."""
    taken = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        taken.append(hangup)
    return tuple(taken)


def leave_terminal() -> None:
    """Point each standard stream that is not a file, a pipe or a socket (a terminal,
    which a SIGHUP says is gone) at ``/dev/null``, so that nothing written later fails."""
    for stream, fd in ((sys.stdin, 0), (sys.stdout, 1), (sys.stderr, 2)):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            continue
        if stream is not None and fd != 0:
            with contextlib.suppress(OSError, ValueError):  # what it no longer takes is lost
                stream.flush()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, fd)
        os.close(devnull)


def when_received(sig: int, action: Callable[[], Any]) -> Callable[[], Any]:
    """``action`` for ``sig``: after a SIGHUP, :func:`leave_terminal` runs first."""
    if sig != getattr(signal, "SIGHUP", None):
        return action

    def after_hangup() -> Any:
        leave_terminal()
        return action()

    return after_hangup


@contextlib.contextmanager
def stopping_as_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM (``kill``, a service manager's stop) and SIGHUP (the
    terminal closed; unless it is ignored) raise :class:`KeyboardInterrupt` as SIGINT's
    default handler does, so that every command stops the same way on each of them:
    ``finally`` blocks run (a staged file is removed, children are ended) and the command
    says so in one line, where by default these signals end the process at once. The
    handlers before it are put back after it. Only in the main thread, where Python
    delivers signals; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [sig for sig in stop_signals() if sig != signal.SIGINT]
    previous = [signal.signal(sig, _raise_interrupt) for sig in taken]
    try:
        yield
    finally:
        for sig, handler in zip(taken, previous, strict=True):
            if handler is not None:  # None: not set from Python, nothing to restore
                signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler: :class:`KeyboardInterrupt`, as SIGINT's default handler raises."""

    def interrupt() -> None:
        raise KeyboardInterrupt

    when_received(signum, interrupt)()


class OutlivingStream:
    """A text stream that outlives its terminal. The kernel hangs a terminal up before it
    sends SIGHUP, so output written in between fails with ``EIO``; such a write or flush
    points the standard descriptors that were on the terminal at ``/dev/null``
    (:func:`leave_terminal`) and is dropped, and the SIGHUP that follows stops the run.
    Any other error, and everything else, is the wrapped stream's."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            leave_terminal()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            leave_terminal()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def outliving_the_terminal() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` as :class:`OutlivingStream` while the block runs
    (the streams before it are put back after it)."""
    before = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = OutlivingStream(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = OutlivingStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = before
