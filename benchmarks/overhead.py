"""Engine overhead per iteration: everything except the evaluator's own work.

For each archive size it fills a real run (real SQLite database, real archive, real
operators and bandit) with N committed programs, then times further iterations of
ask -> propose -> check -> tell, where the evaluation is replaced by an instant,
deterministic in-process score. What remains is the engine's own cost: selection,
the operator, duplicate and frozen-code checks, feature extraction, archive insert,
bandit update and the database commit.

    python benchmarks/overhead.py                 # archives of 1,000 and 10,000 programs
    python benchmarks/overhead.py --sizes 1000 --timed 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import statistics
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from evoforge.config import resolve_config
from evoforge.engine import Engine
from evoforge.problem import load_problem
from evoforge.program import EvalStatus, EvaluationResult

PROBLEM = Path(__file__).resolve().parent.parent / "examples" / "circle_packing"


def instant_result(code: str) -> EvaluationResult:
    """A deterministic stand-in score, so no evaluator time is counted."""
    digest = hashlib.sha256(code.encode()).digest()
    score = int.from_bytes(digest[:4], "big") / 2**32
    return EvaluationResult(
        status=EvalStatus.OK, score=score, metrics={"combined_score": score, "aux": score / 2}
    )


async def one_iteration(engine: Engine) -> dict[str, float]:
    """Run one ask/propose/check/tell cycle and return the seconds spent in each phase."""
    marks = {"start": time.perf_counter()}
    job = engine.ask()
    marks["ask"] = time.perf_counter()
    proposal = await engine.propose(job)
    marks["propose"] = time.perf_counter()
    rejection = engine.check(job, proposal)
    marks["check"] = time.perf_counter()
    if rejection is None and proposal is not None:
        engine.tell(job, proposal, instant_result(proposal.code))
    else:
        assert rejection is not None
        engine.tell(job, proposal, rejection.result())
    marks["tell"] = time.perf_counter()
    order = ["start", "ask", "propose", "check", "tell"]
    return {phase: marks[phase] - marks[previous] for previous, phase in pairwise(order)}


async def measure(size: int, timed: int, seed: int) -> dict[str, float]:
    problem = load_problem(PROBLEM)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"seed": seed, "run": {"workers": 1}}
    )
    with tempfile.TemporaryDirectory() as scratch:
        engine = Engine.create(problem, config, Path(scratch) / "run")
        try:
            while engine.db.count_programs() < size:
                await one_iteration(engine)
            phases: list[dict[str, float]] = [await one_iteration(engine) for _ in range(timed)]
        finally:
            engine.close()
    totals = [sum(p.values()) for p in phases]
    summary = {
        "archive_programs": float(size),
        "iterations_timed": float(timed),
        "mean_ms": 1000 * statistics.fmean(totals),
        "median_ms": 1000 * statistics.median(totals),
        "p95_ms": 1000 * sorted(totals)[int(0.95 * (len(totals) - 1))],
    }
    for phase in ("ask", "propose", "check", "tell"):
        summary[f"{phase}_ms"] = 1000 * statistics.fmean(p[phase] for p in phases)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--timed", type=int, default=300, help="iterations timed per size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {python}")
    print(
        f"problem: {PROBLEM.name}; operators: tune, mutate, crossover, simplify; seed {args.seed}"
    )
    header = "| programs in run | mean ms/iter | median | p95 | ask | propose | check | tell |"
    print(header)
    print("|" + "---|" * 8)
    for size in args.sizes:
        s = asyncio.run(measure(size, args.timed, args.seed))
        print(
            f"| {int(s['archive_programs']):,} | {s['mean_ms']:.2f} | {s['median_ms']:.2f} | "
            f"{s['p95_ms']:.2f} | {s['ask_ms']:.2f} | {s['propose_ms']:.2f} | "
            f"{s['check_ms']:.2f} | {s['tell_ms']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
