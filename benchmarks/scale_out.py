"""Scale-out without a cluster: can one driver keep N workers busy?

The real driver (the run loop, ask -> propose -> check -> evaluate -> tell with the
database commit, the default symbolic operators, ``run.workers = N``) feeds N simulated
workers whose every evaluation is a fixed sleep of ``--eval-s`` seconds. The simulated
workers are an evaluation backend registered by this script (one class and one
``BACKENDS.register`` call, as any backend): ``tasks`` sleeps in asyncio tasks of the
driver's own process, ``ray-actors`` in async Ray actors (``num_cpus=0``, N slots spread
over a few actors) of a local Ray instance, so each evaluation also makes a Ray round trip.
Each evaluation answers with a score derived from the code, judged by the real judge.

    utilisation = busy worker time / (N x wall time)

where busy worker time is evaluations x ``--eval-s`` (the work each worker did; a sleep
that overran because the driver's event loop was busy is the driver's time, not work),
and wall time runs from the first ask to the last commit (the seed excluded). A run
makes 40 x N iterations by default (``--rounds``) and leaves out the final simplification
of the best (``run.simplify_best``: one evaluation after all the others have finished,
the same at any N, not the driver feeding workers). Each row also gives the ramp (until
the N-th evaluation started: every worker given its first child) and the utilisation
after it. A driver that keeps up reaches ~1; one whose serial work per iteration
(everything but the evaluation) takes ``t`` seconds cannot start more than ``1/t``
evaluations a second, so at N workers it tops out at ``eval_s / (N * t)``. The script
reports that serial time as wall / iterations at the largest N, where the driver is the
bottleneck.

    python benchmarks/scale_out.py --out benchmarks/results/scale
    python benchmarks/scale_out.py --workers 8 32 --workers-kind tasks
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from process_cpu import CpuSnapshot, per_iteration_ms

from evoforge.config import EvaluatorConfig, resolve_config
from evoforge.engine import Engine
from evoforge.evaluation.backends.base import EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation
from evoforge.evaluation.sandbox.records import SandboxRun
from evoforge.loop import Budget, drive
from evoforge.problem import load_problem
from evoforge.registry import BACKENDS
from evoforge.report.progress import make_reporter

PROGRAM = """\
# EVOLVE-BLOCK-START
def f(x):
    a = 0.5
    b = 1.25
    c = -0.75
    d = 2.0
    return a * x * x + b * x + c + d * x * x * x
# EVOLVE-BLOCK-END
"""

EVALUATOR = """\
def evaluate(program_path):
    raise RuntimeError("the scale-out benchmark never runs this evaluator")
"""

_ACTORS = 4  # Ray actors the N simulated workers are spread over


class _Settings:
    eval_s = 0.5
    kind = "tasks"
    workers = 8


def _raw_for(code: str, slept_s: float) -> RawEvaluation:
    """What a sandbox would report for a scored evaluation: a score from the code."""
    score = int.from_bytes(hashlib.sha256(code.encode()).digest()[:4], "big") / 2**32
    record = {"stages": [{"metrics": {"combined_score": score}, "artifacts": {}}], "error": None}
    run = SandboxRun(returncode=0, result=json.dumps(record).encode(), duration_s=slept_s)
    return RawEvaluation(run=run, duration_s=slept_s)


class SimulatedWorkers(EvaluationBackend):
    """N simulated workers; each evaluation sleeps ``_Settings.eval_s`` where it runs."""

    name = "simulated"

    def __init__(self) -> None:
        self.busy_s = 0.0
        self.answer_s = 0.0
        self.evaluations = 0
        self.starts: list[float] = []  # perf_counter() at each evaluation's start
        self._actors: list[Any] = []
        self._turn = 0
        if _Settings.kind == "ray-actors":
            import ray

            @ray.remote(num_cpus=0)
            class SleepWorker:
                async def run(self, seconds: float) -> float:
                    started = time.perf_counter()
                    await asyncio.sleep(seconds)
                    return time.perf_counter() - started

            slots = math.ceil(_Settings.workers / _ACTORS)
            options: Any = SleepWorker.options  # type: ignore[attr-defined]
            self._actors = [options(max_concurrency=slots).remote() for _ in range(_ACTORS)]
            ray.get([actor.run.remote(0.0) for actor in self._actors])  # started before timing

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> SimulatedWorkers:
        return cls()

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        self.starts.append(time.perf_counter())
        if self._actors:
            actor = self._actors[self._turn % len(self._actors)]
            self._turn += 1
            slept = float(await actor.run.remote(_Settings.eval_s))
        else:
            started = time.perf_counter()
            await asyncio.sleep(_Settings.eval_s)
            slept = time.perf_counter() - started
        self.busy_s += _Settings.eval_s
        self.answer_s += slept
        self.evaluations += 1
        return _raw_for(request.code, slept)


BACKENDS.register("simulated", f"{__name__}:SimulatedWorkers", summary="scale-out benchmark")


def measure(workers: int, iterations: int, directory: Path, seed: int) -> dict[str, Any]:
    _Settings.workers = workers
    problem = load_problem(directory / "problem")
    config = resolve_config(
        cli_layer={
            "seed": seed,
            # the final simplification of the best is one evaluation after every other
            # has finished (0.5 s whatever N): the end of a run, not the driver's feed
            "run": {"workers": workers, "log_mode": "quiet", "simplify_best": False},
            "evaluator": {"backend": "simulated"},
        }
    )
    engine = Engine.create(problem, config, directory / f"run-{workers}")
    backend = engine.backend
    assert isinstance(backend, SimulatedWorkers)
    backend.busy_s = backend.answer_s = 0.0  # the seed's evaluation is not measured
    backend.starts.clear()
    evaluations_before = backend.evaluations
    load_before = os.getloadavg()[0]
    pool_pids = engine.proposals.pids if engine.proposals is not None else []
    parts_before = CpuSnapshot.take(pool=pool_pids)
    driver_cpu, children_cpu = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        result = drive(engine, Budget(iterations=iterations), make_reporter("quiet"), workers)
    finally:
        wall = time.perf_counter() - started
        driver_cpu = _cpu(resource.RUSAGE_SELF) - driver_cpu
        parts = CpuSnapshot.take(pool=pool_pids).parts_since(parts_before)
        engine.close()  # the proposal workers exit: their CPU time is counted from here
        children_cpu = _cpu(resource.RUSAGE_CHILDREN) - children_cpu
    evaluations = backend.evaluations - evaluations_before
    per_iteration = 1 / max(1, result.iterations)
    ramp_s, after_ramp = _after_ramp(backend.starts, started, wall, workers)
    return {
        "workers": workers,
        "iterations": result.iterations,
        "evaluations": evaluations,
        "wall_s": round(wall, 3),
        "busy_worker_s": round(backend.busy_s, 3),
        "utilisation": round(backend.busy_s / (workers * wall), 4),
        # the ramp: until the N-th evaluation started (every worker given its first);
        # utilisation after it is busy time after the ramp / (N x the wall time left)
        "ramp_s": ramp_s,
        "utilisation_after_ramp": after_ramp,
        "mean_answer_s": round(backend.answer_s / max(1, evaluations), 4),
        "iterations_per_s": round(result.iterations / wall, 2),
        "evaluations_per_s": round(evaluations / wall, 2),
        # --eval-s 0 measures the most the driver and the proposal pool can feed
        "ideal_evaluations_per_s": (
            round(workers / _Settings.eval_s, 2) if _Settings.eval_s > 0 else None
        ),
        "driver_s_per_iteration": round(wall / max(1, result.iterations), 5),
        # CPU time per iteration: the driver's process (every thread) and the proposal
        # pool's worker processes (their start included); where both together need
        # more than the cores the run gets, the CPU is the wall, not the loop
        "driver_cpu_s_per_iteration": round(driver_cpu * per_iteration, 5),
        "proposal_pool_cpu_s_per_iteration": round(children_cpu * per_iteration, 5),
        # the same by part from the timed phase alone (the pool's start-up before it not
        # counted): the event loop's thread, the driver's other threads (the pool's
        # carriers, the judge's helpers, Ray's), the pool's workers; with the Ray
        # instance's processes (other_children) on ``ray-actors``
        "cpu_ms_per_iteration": per_iteration_ms(parts, result.iterations),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def _after_ramp(
    starts: list[float], started: float, wall: float, workers: int
) -> tuple[float | None, float | None]:
    """(seconds from the first ask until the ``workers``-th evaluation started, the
    workers' utilisation from then to the end), None when fewer evaluations ran."""
    if len(starts) < workers or _Settings.eval_s <= 0:
        return None, None
    ramp_end = sorted(starts)[workers - 1]
    end = started + wall
    if end <= ramp_end:
        return None, None
    busy = sum(
        max(0.0, min(start + _Settings.eval_s, end) - max(start, ramp_end)) for start in starts
    )
    return round(ramp_end - started, 3), round(busy / (workers * (end - ramp_end)), 4)


def _cpu(who: int) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF) or of its children that
    have exited (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--eval-s", type=float, default=0.5)
    parser.add_argument(
        "--rounds", type=int, default=40, help="iterations = rounds x N (at least 200)"
    )
    parser.add_argument(
        "--workers-kind", nargs="+", choices=["tasks", "ray-actors"], default=["tasks"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="directory for scale_out.json")
    args = parser.parse_args(argv)
    _Settings.eval_s = args.eval_s
    results = []
    for kind in args.workers_kind:
        _Settings.kind = kind
        if kind == "ray-actors":
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            for workers in args.workers:
                with tempfile.TemporaryDirectory(prefix="evoforge-scale-") as tmp:
                    directory = Path(tmp)
                    (directory / "problem").mkdir()
                    (directory / "problem" / "initial_program.py").write_text(PROGRAM)
                    (directory / "problem" / "evaluator.py").write_text(EVALUATOR)
                    row = measure(workers, max(200, args.rounds * workers), directory, args.seed)
                row["workers_kind"] = kind
                results.append(row)
                print(
                    f"{kind:10s} N={workers:4d} utilisation={row['utilisation']:.3f} "
                    f"(after a ramp of {row['ramp_s']} s: {row['utilisation_after_ramp']}) "
                    f"{row['evaluations_per_s']:.1f} evaluations/s "
                    f"(ideal {row['ideal_evaluations_per_s'] or math.inf:.0f}) "
                    f"{1000 * row['driver_s_per_iteration']:.2f} ms/iteration "
                    f"(CPU: driver {1000 * row['driver_cpu_s_per_iteration']:.2f} ms, "
                    f"proposal pool {1000 * row['proposal_pool_cpu_s_per_iteration']:.2f} ms; "
                    f"timed phase by part {row['cpu_ms_per_iteration']}) "
                    f"load {row['load_before']}->{row['load_after']}",
                    flush=True,
                )
        finally:
            if kind == "ray-actors":
                import ray

                ray.shutdown()
    record = {
        "benchmark": "scale_out",
        "command": "python benchmarks/scale_out.py " + " ".join(argv or sys.argv[1:]),
        "eval_s": args.eval_s,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / "scale_out.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
