"""The driver's serial time per iteration: ask + check + tell, with the database commit.

For each run size it fills a real run (real SQLite database, archive, operators, bandit,
proposal pool) with N committed programs, then times further iterations one at a time.
The first ``--real-fill`` programs (default 500) are real children; the rest are made
cheaply (the seed with one numeric literal changed, its facts taken from the seed's)
and committed through the engine's own ``tell``, so that a 10,000-program run can be
filled in minutes on a small machine: what the driver's cost could grow with (rows and
indexes of the database, the archive, the relatives window) is filled either way.
The evaluation is an instant, deterministic in-process score, so what is timed is the
engine's own work. Iterations are timed twice: one at a time (``in flight 1``: every
call starts after the driver waited for the pool, its caches cold), and with
``--in-flight`` jobs at once (default 4), as a driver feeding several workers runs.
Per iteration it reports:

* the driver's serial part, ask + check + tell (tell includes the SQLite commit): the
  work one driver does for every child, whatever the number of workers. Both wall time
  and the driver thread's CPU time are given: on a loaded machine the wall time includes
  moments when another process held the core, the CPU time does not;
* the commit alone (inside tell);
* propose: the wall time from handing the job to the proposal pool until the child and
  its facts are back. It runs in the pool's processes, in parallel with the driver, so
  it is not part of the serial part (with ``--proposal-processes 0`` it runs in the
  driver and is).

    python benchmarks/overhead.py                       # runs of 1,000 and 10,000 programs
    python benchmarks/overhead.py --sizes 1000 --timed 200 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evoforge.config import resolve_config
from evoforge.cpus import usable_cpus
from evoforge.engine import Engine
from evoforge.facts import child_facts
from evoforge.operators.base import Proposal
from evoforge.problem import load_problem
from evoforge.program import EvalStatus, EvaluationResult

PROBLEM = Path(__file__).resolve().parent.parent / "examples" / "circle_packing"
PHASES = ("ask", "propose", "check", "tell", "commit")


def instant_result(code: str) -> EvaluationResult:
    """A deterministic stand-in score, so no evaluator time is counted."""
    digest = hashlib.sha256(code.encode()).digest()
    score = int.from_bytes(digest[:4], "big") / 2**32
    return EvaluationResult(
        status=EvalStatus.OK, score=score, metrics={"combined_score": score, "aux": score / 2}
    )


class _CommitTimer:
    """Wraps the run database's ``commit_step`` to time it (wall and thread CPU)."""

    def __init__(self, engine: Engine) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        original: Callable[..., None] = engine.db.commit_step

        def timed(*args: Any, **kwargs: Any) -> None:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                original(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - wall
                self.cpu += time.thread_time() - cpu

        engine.db.commit_step = timed  # type: ignore[method-assign]

    def take(self) -> tuple[float, float]:
        spent = (self.wall, self.cpu)
        self.wall = self.cpu = 0.0
        return spent


async def one_iteration(engine: Engine, commits: _CommitTimer | None = None) -> dict[str, float]:
    """One ask/propose/check/tell cycle; seconds per phase (``*_cpu``: thread CPU time)."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def mark(phase: str, started: tuple[float, float]) -> tuple[float, float]:
        now = (time.perf_counter(), time.thread_time())
        wall[phase] = now[0] - started[0]
        cpu[phase] = now[1] - started[1]
        return now

    started = (time.perf_counter(), time.thread_time())
    job = engine.ask()
    started = mark("ask", started)
    proposal = await engine.propose(job)
    started = mark("propose", started)
    rejection = engine.check(job, proposal)
    started = mark("check", started)
    if rejection is None and proposal is not None:
        engine.tell(job, proposal, instant_result(proposal.code))
    else:
        assert rejection is not None
        engine.tell(job, proposal, rejection.result())
    mark("tell", started)
    if commits is not None:
        wall["commit"], cpu["commit"] = commits.take()
    return wall | {f"{phase}_cpu": value for phase, value in cpu.items()}


async def fill(engine: Engine, size: int, in_flight: int) -> None:
    """Commit real iterations until the run holds ``size`` programs, ``in_flight`` at a
    time."""
    while engine.counters.iterations + 1 < size:
        batch = min(in_flight, size - engine.counters.iterations - 1)
        await asyncio.gather(*(one_iteration(engine) for _ in range(batch)))


_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)")


def fill_cheaply(engine: Engine, size: int) -> None:
    """Commit children until the run holds ``size`` programs, each the seed with one
    numeric literal of its evolve blocks replaced, with the seed's facts (a fresh hash),
    through ``ask`` and ``tell``: no operator and no parse."""
    seed = engine.seed_program
    assert seed is not None
    head, _, rest = seed.code.partition("EVOLVE-BLOCK-START")
    numbers = list(_NUMBER.finditer(rest))
    facts = child_facts(seed.code, seed.code, engine.facts_settings)
    while engine.counters.iterations + 1 < size:
        job = engine.ask()
        k = engine.counters.iterations
        number = numbers[k % len(numbers)]
        value = f"{float(number.group(1)) * (1 + (k + 1) * 1e-6):.9g}"
        code = head + "EVOLVE-BLOCK-START" + rest[: number.start()] + value + rest[number.end() :]
        digest = hashlib.sha256(code.encode()).hexdigest()[:32]
        proposal = Proposal(
            code=code,
            operator=job.operator.name,
            note="fill",
            facts=dataclasses.replace(facts, code_hash=digest),
        )
        engine.tell(job, proposal, instant_result(code))


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean_ms": 1000 * statistics.fmean(values),
        "median_ms": 1000 * statistics.median(values),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
    }


async def measure(
    size: int, timed: int, seed: int, processes: int | None, real_fill: int, in_flight_timed: int
) -> list[dict[str, Any]]:
    problem = load_problem(PROBLEM)
    in_flight = max(2, usable_cpus())
    run_layer: dict[str, Any] = {
        "workers": 1,
        # the fill keeps several jobs in flight; the timed iterations run one at a time
        "proposal_processes": in_flight if processes is None else processes,
    }
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"seed": seed, "run": run_layer}
    )
    with tempfile.TemporaryDirectory() as scratch:
        engine = Engine.create(problem, config, Path(scratch) / "run")
        try:
            started = time.monotonic()
            await fill(engine, min(size, real_fill), in_flight)
            fill_cheaply(engine, size)
            filled_s = time.monotonic() - started
            commits = _CommitTimer(engine)
            timings = {}
            for concurrent in sorted({1, in_flight_timed}):
                phases: list[dict[str, float]] = []
                while len(phases) < timed:
                    batch = [one_iteration(engine, commits) for _ in range(concurrent)]
                    phases += await asyncio.gather(*batch)
                timings[concurrent] = phases
        finally:
            engine.close()
    results = []
    for concurrent, phases in timings.items():
        serial = [p["ask"] + p["check"] + p["tell"] for p in phases]
        serial_cpu = [p["ask_cpu"] + p["check_cpu"] + p["tell_cpu"] for p in phases]
        summary: dict[str, Any] = {
            "programs": size,
            "in_flight": concurrent,
            "iterations_timed": len(phases),
            "fill_s": round(filled_s, 1),
            "real_fill": min(size, real_fill),
            "serial_wall": _stats(serial),
            "serial_cpu": _stats(serial_cpu),
        }
        for phase in PHASES:
            summary[f"{phase}_ms"] = 1000 * statistics.fmean(p[phase] for p in phases)
            summary[f"{phase}_cpu_ms"] = 1000 * statistics.fmean(p[f"{phase}_cpu"] for p in phases)
        results.append(summary)
    return results


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_1m": round(load[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--timed", type=int, default=300, help="iterations timed per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--proposal-processes",
        type=int,
        default=None,
        help="run.proposal_processes (default: one per core; 0: operators in the driver)",
    )
    parser.add_argument(
        "--real-fill",
        type=int,
        default=500,
        help="programs of the fill made by the real operators (the rest: cheap copies)",
    )
    parser.add_argument(
        "--in-flight", type=int, default=4, help="jobs in flight in the second timing"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    about = machine()
    print(
        f"machine: {about['machine']}, {about['cores']} cores, {about['python']}, "
        f"load average {about['load_average_1m']} at start"
    )
    print(
        f"problem: {PROBLEM.name}; operators: tune, mutate, crossover, simplify; seed {args.seed}"
    )
    print(
        "| programs | in flight | serial ms (CPU) mean / median | serial ms (wall) mean / "
        "median / p95 | ask (CPU) | check | tell | of which commit | propose (pool, wall) |"
    )
    print("|" + "---|" * 9)
    results = []
    for size in args.sizes:
        measured = asyncio.run(
            measure(
                size, args.timed, args.seed, args.proposal_processes, args.real_fill, args.in_flight
            )
        )
        results += measured
        for s in measured:
            wall, cpu = s["serial_wall"], s["serial_cpu"]
            print(
                f"| {size:,} | {s['in_flight']} | {cpu['mean_ms']:.2f} / {cpu['median_ms']:.2f} | "
                f"{wall['mean_ms']:.2f} / {wall['median_ms']:.2f} / {wall['p95_ms']:.2f} | "
                f"{s['ask_cpu_ms']:.2f} | {s['check_cpu_ms']:.2f} | {s['tell_cpu_ms']:.2f} | "
                f"{s['commit_cpu_ms']:.2f} | {s['propose_ms']:.2f} |",
                flush=True,
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "command": "python benchmarks/overhead.py",
            "args": vars(args) | {"json": None},
        }
        record |= {"about": about, "results": results}
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
