"""The ``evoforge`` command as a program: the console script and ``python -m evoforge``.

Two things only a whole program can do are done here, around :func:`evoforge.cli.main`
(which returns its exit status and is what code calling the command in-process uses):

- a Ctrl-C while the command is still loading (before :mod:`evoforge.cli` could take
  it) ends it with one line, ``evoforge: interrupted``, not an import traceback; this
  module and ``import evoforge`` import nothing heavy, so the whole load is covered;
- a command that was interrupted (exit status 130: SIGINT, SIGTERM or SIGHUP stopped it,
  and it has stopped cleanly) ends by SIGINT itself, as a shell expects of a program
  that Ctrl-C stopped: ``$?`` is 130, and a script looping over commands stops too
  (bash goes on with a loop whose command merely exited with 130).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

#: The exit status of an interrupted command (also ``evoforge.cli.EXIT_INTERRUPTED``).
INTERRUPTED = 130


def main() -> int:
    """Run the command on ``sys.argv``; return its exit status, or end the process by
    SIGINT when it was interrupted."""
    try:
        from evoforge.cli import main as command

        status = command()
    except KeyboardInterrupt:  # while loading, or a late one while it ended
        _say_interrupted()
        status = INTERRUPTED
    if status == INTERRUPTED:
        end_by_sigint()
    return status


def _say_interrupted() -> None:
    with contextlib.suppress(OSError, ValueError):  # no terminal left to say it to
        print("evoforge: interrupted", file=sys.stderr, flush=True)


def end_by_sigint() -> None:
    """Flush the output and end the process by SIGINT with its default action (no
    handler, no traceback). Returns only if SIGINT cannot end it (a platform without
    it), so that the caller can exit with 130 instead."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a terminal gone
            stream.flush()
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
        os.kill(os.getpid(), signal.SIGINT)
    except (AttributeError, OSError, ValueError):
        return


if __name__ == "__main__":
    sys.exit(main())
