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

So an evaluation gets two processors and spins when two are free of this evaluator's other
evaluations, and shares one without spinning otherwise (with as many evaluations in flight
as processors, spinning sides would take time from the other evaluations' sides). A
spinning side yields its processor to anything else runnable there between its polls.
:class:`ProcessorClaims` makes these choices for one :class:`ProblemEvaluator`; the counts
are of its own evaluations, not of other work on the machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

__all__ = ["SPIN_WAIT_S", "Placement", "ProcessorClaims"]

SPIN_WAIT_S = 0.0005
"""How long a side on a processor of its own polls for the other side's message before it
blocks: a little more than most calls of the suite's per-step problems take."""


@dataclass(frozen=True)
class Placement:
    """The processors of an evaluation's evaluator side and candidate side (``None``: no
    pinning), and how long each side polls before blocking on a read (0: it blocks)."""

    judge: int | None
    subject: int | None
    spin_s: float = 0.0


class ProcessorClaims:
    """The processors this process may use, and how many evaluations each is serving.

    :meth:`claim` picks the processor with the fewest evaluations (round-robin among
    equals) for the evaluator side; the candidate side gets a second processor with none,
    and both spin, when there is one, else the same processor. Two evaluations in flight
    never share a processor while another has none. Thread-safe.
    """

    def __init__(self, allowed: list[int] | None = None) -> None:
        if allowed is None:
            try:
                allowed = sorted(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                allowed = []
        self.allowed = list(allowed)
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
            judge = min(order, key=self._load)
            spare = [cpu for cpu in order if cpu != judge and self._load(cpu) == 0]
            subject = spare[0] if self._load(judge) == 0 and spare else judge
            for cpu in {judge, subject}:
                self._busy[cpu] = self._load(cpu) + 1
            return Placement(judge, subject, SPIN_WAIT_S if subject != judge else 0.0)

    def release(self, placement: Placement) -> None:
        """Give back what :meth:`claim` returned."""
        with self._lock:
            for cpu in {placement.judge, placement.subject}:
                if cpu is not None:
                    self._busy[cpu] -= 1

    def _load(self, cpu: int) -> int:
        return self._busy.get(cpu, 0)
