"""Parallel efficiency of the evaluation backends: throughput with W workers / 1 worker.

A problem whose evaluator is CPU-bound (a pure-Python loop of ``--steps`` steps, about
half a second of one core of the reference machine by default) is evaluated ``--evaluations``
times through a backend, with 1 and then 2 evaluations in flight (``--workers``). Each
evaluation is a distinct program (the same loop, a different constant), runs in the real
sandbox and is judged by the real judge, exactly as a run's evaluations are; operators,
checks and the archive are left out so that only the backend's parallelism is measured.

    efficiency(W) = throughput(W workers) / throughput(1 worker)

ideal is W (2.0 for 2 workers on 2 cores). Each row also sums the evaluations' own CPU time
(the sandbox's resource usage of each run) and divides it by the wall time: ``cores_busy``,
how many cores the evaluations kept busy on average (ideally W), a figure that says whether
the runs overlapped even where other work on the machine takes cores. ``local`` is the
sandbox started from threads of this process; ``ray`` is the same sandbox on Ray actors of a
local Ray instance with as many CPUs as the largest W (started once, after a warm-up
evaluation per worker so that actor start-up is not counted). The machine's load average is
recorded before and after each measurement: on a shared machine other work takes cores away
and the ratio falls.

    python benchmarks/parallel_efficiency.py --out benchmarks/results/scale
    python benchmarks/parallel_efficiency.py --backends local --evaluations 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.backends.base import EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus
from evoforge.registry import BACKENDS

EVALUATOR = """\
import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"combined_score": module.work()}
"""

PROGRAM = """\
# EVOLVE-BLOCK-START
def work():
    total = 0
    for step in range({steps}):
        total = (total * 31 + step + {variant}) % 1000003
    return total / 1000003
# EVOLVE-BLOCK-END
"""


def _load() -> float:
    return os.getloadavg()[0]


async def _throughput(
    backend: EvaluationBackend, judge: ProblemEvaluator, codes: list[str], workers: int
) -> dict[str, Any]:
    """Evaluate every code with ``workers`` in flight; evaluations per second and checks."""
    queue = list(codes)
    statuses: list[EvalStatus] = []
    cpu_s = 0.0

    async def worker() -> None:
        nonlocal cpu_s
        while queue:
            code = queue.pop()
            raw = await backend.evaluate(EvaluationRequest(code=code))
            statuses.append(judge.judge(raw).status)
            cpu_s += raw.run.cpu_time_s if raw.run is not None else 0.0

    load_before = _load()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = time.perf_counter() - started
    failed = sum(status is not EvalStatus.OK for status in statuses)
    return {
        "workers": workers,
        "evaluations": len(statuses),
        "failed": failed,
        "wall_s": round(wall, 3),
        "evaluations_per_s": round(len(statuses) / wall, 4),
        "evaluation_cpu_s": round(cpu_s, 3),
        "cores_busy": round(cpu_s / wall, 3),
        "load_before": round(load_before, 2),
        "load_after": round(_load(), 2),
    }


def measure(backend_name: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    steps = args.steps
    config = EvaluatorConfig(
        timeout_s=120, backend=backend_name, template_processes=not args.no_templates
    )
    judge = ProblemEvaluator(directory / "evaluator.py", config)
    if backend_name == "ray":
        import ray

        ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    backend = BACKENDS.load(backend_name).from_config(config, judge)
    variant = 0

    def codes(count: int) -> list[str]:
        nonlocal variant
        made = [PROGRAM.format(steps=steps, variant=variant + i) for i in range(count)]
        variant += count
        return made

    try:
        # warm up: templates (local), actors and their templates (ray), one per worker
        asyncio.run(_throughput(backend, judge, codes(max(args.workers)), max(args.workers)))
        rows = []
        for workers in args.workers:
            rows.append(asyncio.run(_throughput(backend, judge, codes(args.evaluations), workers)))
        base = rows[0]["evaluations_per_s"] if rows[0]["workers"] == 1 else None
        for row in rows:
            row["efficiency"] = None if base is None else round(row["evaluations_per_s"] / base, 3)
        return {"backend": backend_name, "rows": rows}
    finally:
        backend.close()
        judge.close()
        if backend_name == "ray":
            import ray

            ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["local", "ray"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--evaluations", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2_000_000, help="loop steps per evaluation")
    parser.add_argument(
        "--no-templates", action="store_true", help="a fresh process per evaluation"
    )
    parser.add_argument("--out", type=Path, help="directory for the JSON record")
    parser.add_argument("--name", default="parallel_efficiency", help="the record's file name")
    args = parser.parse_args(argv)
    if args.workers[0] != 1:
        parser.error("--workers must start with 1 (the baseline)")
    with tempfile.TemporaryDirectory(prefix="evoforge-parallel-") as tmp:
        directory = Path(tmp)
        (directory / "evaluator.py").write_text(EVALUATOR)
        results = [measure(name, args, directory) for name in args.backends]
    record = {
        "benchmark": "parallel_efficiency",
        "command": "python benchmarks/parallel_efficiency.py " + " ".join(argv or sys.argv[1:]),
        "evaluations": args.evaluations,
        "steps": args.steps,
        "template_processes": not args.no_templates,
        "load_note": "2-core machine shared with other engineers' tests and benchmarks",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    for result in results:
        for row in result["rows"]:
            print(
                f"{result['backend']:5s} workers={row['workers']} "
                f"{row['evaluations_per_s']:.3f} evaluations/s "
                f"efficiency={row['efficiency']} failed={row['failed']} "
                f"cores busy {row['cores_busy']} "
                f"load {row['load_before']}->{row['load_after']}"
            )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{args.name}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
