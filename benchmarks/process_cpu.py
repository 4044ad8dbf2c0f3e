"""CPU time of a run's parts, read from ``/proc`` (Linux): where an iteration's CPU goes.

A benchmark takes one :class:`CpuSnapshot` before a run and one after it (before the
run's child processes exit) and reports :meth:`CpuSnapshot.parts_since`: CPU seconds of

* ``driver_loop``: the thread that calls :meth:`CpuSnapshot.take` (the one that runs the
  event loop);
* ``driver_other_threads``: every other thread of this process, those that ended
  included (evaluation helpers, the proposal pool's carriers, the checkpoint thread);
* ``proposal_pool``: the processes whose ids the caller names as the pool's;
* ``named``: other processes the caller names (an oracle);
* ``other_children``: every other descendant of this process, with what the children
  it reaped used (template processes and the runs they forked), plus the children this
  process reaped itself (:meth:`CpuSnapshot.other_children_system_since` gives the
  kernel's share of it: process creation, namespaces, mounts).

Figures are user + system time. Without ``/proc`` the per-process parts read 0.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_cpu_s(pid: int, *, reaped_children: bool = False, system_only: bool = False) -> float:
    """User + system seconds of process ``pid`` (with ``reaped_children``, also of the
    children it waited for; with ``system_only``, the system time alone); 0 when it is
    gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = (0 if system_only else int(fields[11])) + int(fields[12])  # utime, stime
    if reaped_children:
        ticks += (0 if system_only else int(fields[13])) + int(fields[14])  # cutime, cstime
    return ticks * _TICK_S


def descendants(root: int) -> list[int]:
    """Process ids of every living descendant of ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rusage_s(who: int, *, system_only: bool = False) -> float:
    usage = resource.getrusage(who)
    return usage.ru_stime + (0.0 if system_only else usage.ru_utime)


@dataclass
class CpuSnapshot:
    """CPU seconds used so far by this process, its calling thread, its reaped
    children and the processes named (by part) at :meth:`take`."""

    process_s: float
    thread_s: float
    reaped_s: float
    named_s: dict[str, float] = field(default_factory=dict)
    pool_s: float = 0.0
    others_s: float = 0.0
    others_system_s: float = 0.0

    @classmethod
    def take(cls, pool: Sequence[int] = (), named: Mapping[str, int] | None = None) -> CpuSnapshot:
        """Now, from the calling thread: ``pool`` the proposal pool's process ids,
        ``named`` other processes to report by name."""
        named = dict(named or {})
        excluded = set(pool) | set(named.values())
        others = [pid for pid in descendants(os.getpid()) if pid not in excluded]
        return cls(
            process_s=_rusage_s(resource.RUSAGE_SELF),
            thread_s=time.thread_time(),
            reaped_s=_rusage_s(resource.RUSAGE_CHILDREN),
            named_s={name: process_cpu_s(pid) for name, pid in named.items()},
            pool_s=sum(process_cpu_s(pid) for pid in pool),
            others_s=sum(process_cpu_s(pid, reaped_children=True) for pid in others),
            others_system_s=sum(
                process_cpu_s(pid, reaped_children=True, system_only=True) for pid in others
            )
            + _rusage_s(resource.RUSAGE_CHILDREN, system_only=True),
        )

    def parts_since(self, before: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per part between ``before`` and this snapshot. The pool's and
        the other children's counts at ``before`` are subtracted, so processes that
        started in between count whole."""
        loop = self.thread_s - before.thread_s
        parts = {
            "driver_loop": loop,
            "driver_other_threads": (self.process_s - before.process_s) - loop,
            "proposal_pool": self.pool_s - before.pool_s,
            "other_children": (self.others_s - before.others_s) + (self.reaped_s - before.reaped_s),
        }
        for name, seconds in self.named_s.items():
            parts[name] = seconds - before.named_s.get(name, 0.0)
        return {name: max(0.0, seconds) for name, seconds in parts.items()}

    def other_children_system_since(self, before: CpuSnapshot) -> float:
        """Of ``other_children`` in :meth:`parts_since`, the system (kernel) seconds."""
        return max(0.0, self.others_system_s - before.others_system_s)


def per_iteration_ms(parts: dict[str, float], iterations: int) -> dict[str, float]:
    """The parts as milliseconds per iteration (and their ``total``), rounded to 0.01."""
    share = 1000.0 / max(1, iterations)
    result = {name: round(seconds * share, 2) for name, seconds in parts.items()}
    result["total"] = round(sum(parts.values()) * share, 2)
    return result
