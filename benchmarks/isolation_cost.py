"""What running candidates apart from their evaluator costs, against the shared-process form.

Three measurements, each as figures and ratios in one run on this machine:

1. **Channel round trip**: one call of a candidate function with a 50-element float array
   and back, timed inside a real isolated evaluation (µs per call), against the same call
   made in-process as the shared-process form does.
2. **Whole evaluations** of bin_packing and cache_eviction's seed programs: the isolated
   evaluators in ``benchmarks/problems`` against the shared-process evaluators they replaced
   (read from git at ``--old-revision``), each through evoforge's real sandbox. The isolated
   form twice: as evoforge runs it here (its two sides on two free processors, polling each
   other's pipe; see ``evoforge/evaluation/placement.py``) and with this process confined
   to one processor (``isolated_one_processor``: the sides share it and block, as they do
   whenever no second processor is free, e.g. with as many workers as processors).
3. **Fixed cost of one evaluation** on an instant evaluator: wall time from request to
   judged result minus the evaluator's own time, for the shared-process and the isolated
   form, each with a fresh process per evaluation and with template processes.

    python benchmarks/isolation_cost.py                      # writes benchmarks/results/isolation/
    python benchmarks/isolation_cost.py --repeats 3 --fixed 20 --out /tmp/iso
    python benchmarks/isolation_cost.py --only fixed_cost_ms --fixed 30   # one figure, printed

Medians over ``--repeats`` (whole evaluations) and ``--fixed`` (fixed cost) evaluations,
after one warm-up evaluation each. The machine and its load are recorded with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.program import EvalStatus

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "benchmarks" / "problems"
DEFAULT_OLD_REVISION = "03e0ed4"  # the last revision with the shared-process evaluators

_CALLS = 2000
_ROUND_TRIP_EVALUATOR = f"""
import time
import numpy as np


def evaluate_candidate(candidate):
    bins = np.arange(50.0)
    candidate.functions
    theirs = candidate.cpu()
    start, ours = time.perf_counter(), time.process_time()
    for _ in range({_CALLS}):
        candidate.priority(1.0, bins)
    elapsed, ours = time.perf_counter() - start, time.process_time() - ours
    theirs = candidate.cpu() - theirs
    return {{
        "combined_score": 1.0,
        "us_per_call": elapsed / {_CALLS} * 1e6,
        "cpu_us_per_call": (ours + theirs) / {_CALLS} * 1e6,
    }}
"""
_IN_PROCESS_EVALUATOR = f"""
import importlib.util
import time
import numpy as np


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bins = np.arange(50.0)
    start = time.perf_counter()
    for _ in range({_CALLS}):
        module.priority(1.0, bins)
    elapsed = time.perf_counter() - start
    return {{"combined_score": 1.0, "us_per_call": elapsed / {_CALLS} * 1e6}}
"""
_PRIORITY_PROGRAM = """import time

import numpy as np


def priority(item, bins):
    return -bins


def cpu():
    return time.process_time()
"""
_INSTANT_ISOLATED = """
import time


def evaluate_candidate(candidate):
    start = time.perf_counter()
    value = candidate.answer()
    return {"combined_score": float(value), "own_s": time.perf_counter() - start}
"""
_INSTANT_SHARED = """
import importlib.util
import time


def evaluate(program_path):
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value = module.answer()
    return {"combined_score": float(value), "own_s": time.perf_counter() - start}
"""
_INSTANT_PROGRAM = "def answer():\n    return 1.0\n"


def _evaluator(directory: Path, source: str, **config: object) -> ProblemEvaluator:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "evaluator.py").write_text(source)
    return ProblemEvaluator(directory / "evaluator.py", EvaluatorConfig(**config))  # type: ignore[arg-type]


def _timed(evaluator: ProblemEvaluator, code: str, repeats: int) -> tuple[list[float], list[dict]]:
    """Wall times and metrics of ``repeats`` evaluations after one warm-up."""
    times, metrics, _ = _timed_cpu(evaluator, code, repeats)
    return times, metrics


def _timed_cpu(
    evaluator: ProblemEvaluator, code: str, repeats: int
) -> tuple[list[float], list[dict], list[float]]:
    """:func:`_timed`, and the CPU seconds of each evaluation's sandboxed processes (both
    sides in the isolated form), which other work on the machine does not inflate much."""
    warm = evaluator.evaluate(code)
    if warm.status is not EvalStatus.OK:
        raise SystemExit(f"warm-up evaluation failed: {warm.reason}")
    times: list[float] = []
    metrics: list[dict] = []
    cpu: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        raw = evaluator.run_raw(code)
        result = evaluator.judge(raw)
        times.append(time.perf_counter() - start)
        sides = [raw.run, raw.candidate]
        cpu.append(sum(side.cpu_time_s for side in sides if side is not None))
        if result.status is not EvalStatus.OK:
            raise SystemExit(f"evaluation failed: {result.reason}")
        metrics.append(dict(result.metrics))
    evaluator.close()
    return times, metrics, cpu


def round_trip(work: Path, repeats: int) -> dict[str, float]:
    isolated = _evaluator(work / "rt-isolated", _ROUND_TRIP_EVALUATOR, timeout_s=60)
    shared = _evaluator(work / "rt-shared", _IN_PROCESS_EVALUATOR, timeout_s=60)
    _, iso = _timed(isolated, _PRIORITY_PROGRAM, repeats)
    _, sha = _timed(shared, _PRIORITY_PROGRAM, repeats)
    channel = statistics.median(m["us_per_call"] for m in iso)
    direct = statistics.median(m["us_per_call"] for m in sha)
    cpu = statistics.median(m["cpu_us_per_call"] for m in iso)
    return {
        "channel_us": channel,
        "channel_cpu_us": cpu,
        "in_process_us": direct,
        "ratio": channel / direct,
    }


def _old_problem(name: str, revision: str, work: Path) -> Path:
    """The problem directory as it was at ``revision`` (the shared-process evaluator)."""
    target = work / f"old-{name}"
    shutil.copytree(PROBLEMS / name, target)
    for file in ("evaluator.py", "initial_program.py"):
        text = subprocess.run(
            ["git", "show", f"{revision}:benchmarks/problems/{name}/{file}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (target / file).write_text(text)
    return target


@contextlib.contextmanager
def _confined(one_processor: bool) -> Iterator[None]:
    """This process (and the sandbox processes it starts meanwhile) on its first allowed
    processor only, when ``one_processor``."""
    allowed = os.sched_getaffinity(0)
    if one_processor:
        os.sched_setaffinity(0, {min(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def whole_evaluations(work: Path, revision: str, repeats: int) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    for name in ("bin_packing", "cache_eviction"):
        old_dir = _old_problem(name, revision, work)
        new_dir = PROBLEMS / name
        figures: dict[str, float] = {}
        for label, directory in (
            ("shared_process", old_dir),
            ("isolated", new_dir),
            ("isolated_one_processor", new_dir),
        ):
            with _confined(label == "isolated_one_processor"):
                evaluator = ProblemEvaluator(
                    directory / "evaluator.py", EvaluatorConfig(timeout_s=120, memory_mb=4096)
                )
                times, metrics, cpu = _timed_cpu(
                    evaluator, (directory / "initial_program.py").read_text(), repeats
                )
            figures[f"{label}_s"] = statistics.median(times)
            figures[f"{label}_cpu_s"] = statistics.median(cpu)
            figures[f"{label}_score"] = metrics[0].get("combined_score", float("nan"))
        figures["ratio"] = figures["isolated_s"] / figures["shared_process_s"]
        figures["cpu_ratio"] = figures["isolated_cpu_s"] / figures["shared_process_cpu_s"]
        figures["ratio_one_processor"] = (
            figures["isolated_one_processor_s"] / figures["shared_process_s"]
        )
        figures["cpu_ratio_one_processor"] = (
            figures["isolated_one_processor_cpu_s"] / figures["shared_process_cpu_s"]
        )
        rows[name] = figures
    return rows


def fixed_costs(work: Path, count: int, fresh: bool = True) -> dict[str, float]:
    rows: dict[str, float] = {}
    for form, source in (("shared_process", _INSTANT_SHARED), ("isolated", _INSTANT_ISOLATED)):
        for templates in (False, True) if fresh else (True,):
            label = f"{form}_{'templates' if templates else 'fresh_process'}_ms"
            evaluator = _evaluator(
                work / f"fixed-{form}-{templates}",
                source,
                timeout_s=30,
                template_processes=templates,
            )
            times, metrics = _timed(evaluator, _INSTANT_PROGRAM, count)
            fixed = [t - m["own_s"] for t, m in zip(times, metrics, strict=True)]
            rows[label] = statistics.median(fixed) * 1000.0
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fixed", type=int, default=30)
    parser.add_argument("--old-revision", default=DEFAULT_OLD_REVISION)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "isolation")
    parser.add_argument(
        "--only",
        choices=["round_trip", "whole_evaluations", "fixed_cost_ms"],
        help="one measurement (the fixed cost with template processes only), printed, "
        "nothing written: for before/after comparisons",
    )
    args = parser.parse_args()
    if args.only:
        with tempfile.TemporaryDirectory(prefix="evoforge-isolation-bench-") as temporary:
            work = Path(temporary)
            load = os.getloadavg()[0]
            if args.only == "round_trip":
                figures: object = round_trip(work, args.repeats)
            elif args.only == "whole_evaluations":
                figures = whole_evaluations(work, args.old_revision, args.repeats)
            else:
                figures = fixed_costs(work, args.fixed, fresh=False)
        print(json.dumps({"load_average": [load, os.getloadavg()[0]], args.only: figures}))
        return
    with tempfile.TemporaryDirectory(prefix="evoforge-isolation-bench-") as temporary:
        work = Path(temporary)
        record = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
            "load_average_before": os.getloadavg()[0],
            "repeats": args.repeats,
            "fixed_cost_evaluations": args.fixed,
            "old_revision": args.old_revision,
            "round_trip": round_trip(work, args.repeats),
            "whole_evaluations": whole_evaluations(work, args.old_revision, args.repeats),
            "fixed_cost_ms": fixed_costs(work, args.fixed),
            "load_average_after": os.getloadavg()[0],
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "isolation_cost.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
