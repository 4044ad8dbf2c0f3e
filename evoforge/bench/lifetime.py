"""Processes the bench starts must not outlive it.

A ``kill -9`` of the bench leaves no handler to stop what it started: its run processes
would go on (and a re-run would find their run directories in use), and the oracle,
in a session of its own so that a Ctrl-C reaches it only through the bench, would serve
nobody for ever. :func:`die_with_parent` asks Linux to send a signal to the calling
process when its parent ends (``PR_SET_PDEATHSIG``); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int, parent_pid: int | None = None) -> bool:
    """Have ``signum`` sent to this process when its parent ends; whether it is set.

    ``parent_pid`` closes the race with a parent that ended before this call: if the
    parent is no longer ``parent_pid``, the signal is sent at once. Also fit for a
    ``preexec_fn`` (no allocation beyond ctypes' call).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)
    return True
