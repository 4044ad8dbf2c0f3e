"""CPU time and page faults per evaluation of the sandbox's template path, nothing else.

The throughput benchmark's evoforge side spends most of its CPU in the sandbox's processes
(``benchmarks/results/driver/README.md``), but there it shares the machine with the driver,
the proposal pool and the oracle, whose load moves its figures from run to run. This runs
evaluations alone: one :class:`~evoforge.evaluation.evaluator.ProblemEvaluator` with
template processes (the default), an instant evaluator in the shared-process form (the
throughput problem's), ``--evaluations`` of them one after the other after a warm-up.
It reports, per evaluation, the CPU time (user and system) and the minor page faults of
the template process and of everything it reaped (each evaluation's C1 and C2), read from
``/proc/PID/stat``; and the wall time.

    python benchmarks/sandbox_cpu.py --evaluations 300
    python benchmarks/sandbox_cpu.py --evaluations 300 --json out.json

Page faults hardly move with the machine's load; CPU time does. To compare two trees, run
it alternately from each, several times (``benchmarks/results/driver/bare-fork-ab/``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from soak import _EVALUATOR as EVALUATOR  # the throughput benchmark's instant evaluator

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.sandbox.templates import ZYGOTE_PATH

PROGRAM = "def coefficients():\n    return [0.5, {b!r}, 0.125]\n"

WARM_UP = 20  # evaluations before the measured ones: the template's start, its spares


@dataclass(frozen=True)
class TreeUsage:
    """What a process and the children it reaped have used so far."""

    user_s: float
    system_s: float
    minor_faults: int

    @classmethod
    def read(cls, pid: int) -> TreeUsage:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return cls(
            user_s=(int(fields[11]) + int(fields[13])) / tick,
            system_s=(int(fields[12]) + int(fields[14])) / tick,
            minor_faults=int(fields[7]) + int(fields[8]),
        )


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        pid = _parent(pid)
    return pid == ancestor


def find_template(wait_s: float = 5.0) -> int:
    """The pid of this process's one template: a descendant running ``zygote.py`` that is
    not itself one of its evaluations (named ``evoforge-*``) and whose children are.

    Looked for again until ``wait_s`` has passed: right after an evaluation the template
    may not have forked (or named) its next spare yet."""
    deadline = time.monotonic() + wait_s
    while True:
        found = _templates()
        if len(found) == 1:
            return found.pop()
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected one template process, found {sorted(found)}")
        time.sleep(0.05)


def _templates() -> set[int]:
    candidates: set[int] = set()
    parents_of_evaluations: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if str(ZYGOTE_PATH).encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            if not _descends_from(pid, os.getpid()):
                continue
            if Path(f"/proc/{pid}/comm").read_text().startswith("evoforge-"):
                parents_of_evaluations.add(_parent(pid))
            else:
                candidates.add(pid)
        except (OSError, ValueError):
            continue
    return candidates & parents_of_evaluations


def measure(evaluations: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="evoforge-sandbox-cpu-") as scratch:
        problem = Path(scratch) / "problem"
        problem.mkdir()
        (problem / "evaluator.py").write_text(EVALUATOR)
        evaluator = ProblemEvaluator(
            problem / "evaluator.py", EvaluatorConfig(timeout_s=10, memory_mb=512)
        )
        try:
            if evaluator.sandbox.filesystem != "mountns":
                raise RuntimeError("template processes need the jail (user and mount namespaces)")
            for index in range(WARM_UP):
                result = evaluator.evaluate(PROGRAM.format(b=index * 0.01))
                if result.reason:
                    raise RuntimeError(f"the warm-up evaluation failed: {result.reason}")
            template = find_template()
            before, started = TreeUsage.read(template), time.perf_counter()
            for index in range(evaluations):
                evaluator.evaluate(PROGRAM.format(b=index * 0.001))
            wall = time.perf_counter() - started
            time.sleep(0.3)  # the last C1 removes its cgroups after reporting
            after = TreeUsage.read(template)
        finally:
            evaluator.close()
    return {"evaluations": evaluations, **per_evaluation(before, after, evaluations, wall)}


def per_evaluation(
    before: TreeUsage, after: TreeUsage, evaluations: int, wall_s: float
) -> dict[str, float]:
    """The figures of ``evaluations`` that took ``wall_s`` between the two readings."""

    def each_ms(seconds: float) -> float:
        return round(seconds / evaluations * 1000, 3)

    return {
        "cpu_ms_per_evaluation": each_ms(
            after.user_s + after.system_s - before.user_s - before.system_s
        ),
        "system_ms_per_evaluation": each_ms(after.system_s - before.system_s),
        "minor_faults_per_evaluation": round(
            (after.minor_faults - before.minor_faults) / evaluations
        ),
        "wall_ms_per_evaluation": each_ms(wall_s),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.evaluations < 1:
        parser.error("--evaluations must be at least 1")
    try:
        figures = measure(args.evaluations)
    except RuntimeError as exc:
        print(f"sandbox_cpu: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(figures)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
