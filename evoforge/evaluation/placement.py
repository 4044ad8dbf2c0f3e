"""Which processors the two sides of an isolated evaluation run on, and whether they spin.

An isolated evaluation is two processes that hand every call back and forth. Where both
sides share one processor each hand-over is a context switch, and each side resumes with
caches the other has just filled with its own work; on a processor of its own a side that
blocks is woken from another processor, which on virtual machines costs more than the
switch. A side on a processor of its own that **spins** (polls the pipe for a moment before
blocking) avoids both: on this project's 2-core VM a cache_eviction evaluation (2,468
calls) takes about 30 % less wall time that way (median of six runs), at the cost of both
sides' processors being busy while it runs (``benchmarks/isolation_cost.py``; figures in
``benchmarks/results/isolation/README.md``).

So an evaluation gets two processors and spins when two are free, and shares one without
spinning otherwise (with as many evaluations in flight as processors, spinning sides would
take time from the other evaluations' sides). A spinning side yields its processor to
anything else runnable there between its polls. Free means free of this process's other
evaluations and not used by another evoforge process of the same user on this machine (a
Ray worker, a second run): every evaluation holds a shared advisory lock on a file per
processor it uses (``<tmp>/evoforge-processors-<uid>/cpu<N>``) until it ends, and a
processor is free when its exclusive lock can be taken (then turned into a shared one);
the kernel drops a dead process's locks. An evaluation that found no processor free
still marks the one it shares, so that the others stop spreading onto it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SPIN_WAIT_S", "Placement", "ProcessorClaims", "default_lock_dir"]

SPIN_WAIT_S = 0.0005
"""How long a side on a processor of its own polls for the other side's message before it
blocks: a little more than most calls of the suite's per-step problems take."""


@dataclass(frozen=True)
class Placement:
    """The processors of an evaluation's evaluator side and candidate side (``None``: no
    pinning), and how long each side polls before blocking on a read (0: it blocks).
    ``held``: the descriptors of the processor locks it holds (see :class:`ProcessorClaims`)."""

    judge: int | None
    subject: int | None
    spin_s: float = 0.0
    held: tuple[int, ...] = field(default=(), compare=False)


def default_lock_dir() -> Path | None:
    """The directory of this user's processor locks, made if missing; ``None`` where it
    cannot be used (not a directory of this user's, or not writable)."""
    path = Path(tempfile.gettempdir()) / f"evoforge-processors-{os.getuid()}"
    try:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None
        if not os.access(path, os.W_OK | os.X_OK):
            return None
    except OSError:
        return None
    return path


_DEFAULT = Path("<default>")


class ProcessorClaims:
    """The processors this process may use, which are free, and how many evaluations of this
    process each is serving.

    :meth:`claim` gives an evaluation two free processors (the evaluator side on the first,
    the candidate side on the second, both spinning) when there are two, one free processor
    for both sides when there is one, and otherwise the processor with the fewest of this
    process's evaluations (round-robin among equals). ``lock_dir`` holds the locks that
    tell other evoforge processes which processors are taken (``None``: this process's own
    evaluations only). Thread-safe.
    """

    def __init__(self, allowed: list[int] | None = None, lock_dir: Path | None = _DEFAULT) -> None:
        if allowed is None:
            try:
                allowed = sorted(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                allowed = []
        self.allowed = list(allowed)
        self.lock_dir = default_lock_dir() if lock_dir is _DEFAULT else lock_dir
        self._busy: dict[int, int] = {}
        self._turn = -1
        self._lock = threading.Lock()

    def claim(self) -> Placement:
        """Processors for the next evaluation, held until :meth:`release`."""
        allowed = self.allowed
        if not allowed:
            return Placement(None, None)
        with self._lock:
            self._turn += 1
            start = self._turn % len(allowed)
            order = allowed[start:] + allowed[:start]
            free: list[tuple[int, int | None]] = []
            for cpu in order:
                if self._load(cpu) == 0:
                    taken, fd = self._try_lock(cpu)
                    if not taken:
                        free.append((cpu, fd))
                        if len(free) == 2:
                            break
            held = tuple(fd for _, fd in free if fd is not None)
            if len(free) == 2:
                judge, subject = free[0][0], free[1][0]
            elif free:
                judge = subject = free[0][0]
            else:
                judge = subject = min(order, key=self._load)
                marked = self._mark_shared(judge)
                held = (marked,) if marked is not None else ()
            for cpu in {judge, subject}:
                self._busy[cpu] = self._load(cpu) + 1
            spin = SPIN_WAIT_S if subject != judge else 0.0
            return Placement(judge, subject, spin, held)

    def release(self, placement: Placement) -> None:
        """Give back what :meth:`claim` returned."""
        with self._lock:
            for cpu in {placement.judge, placement.subject}:
                if cpu is not None:
                    self._busy[cpu] -= 1
            for fd in placement.held:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _load(self, cpu: int) -> int:
        return self._busy.get(cpu, 0)

    def _try_lock(self, cpu: int) -> tuple[bool, int | None]:
        """Whether another process holds ``cpu``'s lock and, when not, the descriptor of
        the lock, now held here (``None`` when there are no locks to take: then every
        processor counts as free of other processes)."""
        fd = self._open_lock(cpu)
        if fd is None:
            return False, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # others may share it from now on
        except OSError:
            os.close(fd)
            return True, None
        return False, fd

    def _mark_shared(self, cpu: int) -> int | None:
        """A shared lock on ``cpu``, held to show that it is in use (``None``: not taken)."""
        fd = self._open_lock(cpu)
        if fd is None:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def _open_lock(self, cpu: int) -> int | None:
        """A descriptor of ``cpu``'s lock file (made if missing), or ``None``."""
        if self.lock_dir is None:
            return None
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            return os.open(self.lock_dir / f"cpu{cpu}", flags, 0o600)
        except OSError:
            return None
