"""Soak: a long run with an instant evaluator, watching memory, database size and speed.

It runs ``--iterations`` (default 5,000; the acceptance run is 50,000) iterations of a
tiny problem whose evaluator costs next to nothing, through the real engine, loop,
proposal pool, sandbox and database, with ``--workers`` (default 2) evaluations in
flight. Every ``--sample-every`` committed steps it records the resident memory (RSS) of
the driver process and of the driver with every process it started (proposal workers,
sandbox templates), the memory blocks the driver's Python allocator holds
(``sys.getallocatedblocks()``: what its objects take, whatever the allocator keeps besides),
the run database's size on disk and the wall-clock time. At the end
it reports:

* memory: RSS after the warm-up (``--warmup`` iterations, default a tenth of the run)
  and at the end, and the growth between them in per cent;
* database bytes per stored program;
* speed: iterations per second over the first ``--sample-every`` iterations after the
  warm-up and over the last ``--sample-every``, and their ratio (end / start); the same
  ratio in evaluations per second, and each window's share of children evaluated (a
  rejected child costs next to nothing, so a search whose operators move from rejected
  children to evaluated ones slows in iterations, not in evaluations);

and checks them against stated bounds (``--max-rss-growth-pct``, default 10;
``--min-speed-ratio``, default 0.9), exiting 1 when one is missed. It is a benchmark,
not a test: it takes a while. ::

    python benchmarks/soak.py                                  # 5,000 iterations, 2 workers
    python benchmarks/soak.py --iterations 50000 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from process_cpu import CpuSnapshot, descendants, per_iteration_ms

from evoforge.engine import Engine, StepReport
from evoforge.loop import Budget
from evoforge.report.progress import Reporter
from evoforge.runs import start_run

_INITIAL_PROGRAM = '''"""Soak problem: three coefficients to tune."""


# EVOLVE-BLOCK-START
def coefficients():
    return [0.5, 0.25, 0.125]


# EVOLVE-BLOCK-END
'''

_EVALUATOR = """import importlib.util


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    a, b, c = (float(v) for v in module.coefficients())
    error = (a - 1.25) ** 2 + (b + 0.5) ** 2 + (c - 2.0) ** 2
    return {"combined_score": -error, "spread": abs(a - b) + abs(b - c)}
"""

_CONFIG = """evaluator:
  timeout_s: 10
  memory_mb: 512
archive:
  num_islands: 2
"""


@dataclass(frozen=True)
class Sample:
    """One observation during the run."""

    iterations: int
    elapsed_s: float
    rss_mb: float
    tree_rss_mb: float
    db_bytes: int
    programs: int
    python_blocks: int = 0  # sys.getallocatedblocks() of the driver
    # mean length in characters of the children committed since the previous sample: the
    # operators' and checks' work per child grows with it (parses, pyflakes, unparse)
    child_chars: float = 0.0
    # children evaluated so far (the others were refused before evaluation: duplicates,
    # failed checks), and CPU seconds since the start by part (process_cpu.CpuSnapshot)
    evaluations: int = 0
    cpu_s: dict[str, float] = field(default_factory=dict)


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (from /proc; 0 where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tree_rss_mb() -> float:
    """RSS of this process and all its descendants, in MiB (shared pages count twice)."""
    return rss_mb() + sum(rss_mb(pid) for pid in descendants(os.getpid()))


def database_bytes(run_dir: Path) -> int:
    """Bytes on disk of the run database, WAL included."""
    return sum(
        path.stat().st_size for path in run_dir.glob("run.sqlite*") if path.name != "run.lock"
    )


class SamplingReporter(Reporter):
    """Records a :class:`Sample` every ``every`` committed steps (and at the start and end)."""

    def __init__(self, run_dir: Path, every: int) -> None:
        self.run_dir = run_dir
        self.every = every
        self.samples: list[Sample] = []
        self._started = 0.0
        self._chars = 0  # of the children committed since the last sample
        self._children = 0
        self._cpu_start: CpuSnapshot | None = None

    def _sample(self, engine: Engine) -> None:
        snapshot = CpuSnapshot.take(pool=engine.proposals.pids if engine.proposals else ())
        if self._cpu_start is None:
            self._cpu_start = snapshot
        sample = Sample(
            iterations=engine.counters.iterations,
            elapsed_s=time.monotonic() - self._started,
            rss_mb=rss_mb(),
            tree_rss_mb=tree_rss_mb(),
            db_bytes=database_bytes(self.run_dir),
            programs=engine.counters.iterations + 1,
            python_blocks=sys.getallocatedblocks(),
            child_chars=self._chars / self._children if self._children else 0.0,
            evaluations=engine.counters.evaluations,
            cpu_s={
                name: round(seconds, 4)
                for name, seconds in snapshot.parts_since(self._cpu_start).items()
            },
        )
        self._chars = self._children = 0
        self.samples.append(sample)
        print(
            f"{sample.iterations:>7} it  {sample.elapsed_s:8.1f} s  {sample.rss_mb:7.1f} MiB  "
            f"(with its processes {sample.tree_rss_mb:7.1f} MiB)  "
            f"Python blocks {sample.python_blocks:>8}  db {sample.db_bytes / 1e6:7.2f} MB  "
            f"children {sample.child_chars:5.0f} chars  evaluated {sample.evaluations:>7}",
            file=sys.stderr,
            flush=True,
        )

    def start(self, engine: Engine, budget: Budget) -> None:
        self._started = time.monotonic()
        self._sample(engine)

    def step(self, engine: Engine, report: StepReport) -> None:
        self._chars += len(report.program.code)
        self._children += 1
        # With several workers the counter can pass a multiple between two calls.
        if engine.counters.iterations >= self.samples[-1].iterations + self.every:
            self._sample(engine)

    def stop(self, engine: Engine) -> None:
        if self.samples[-1].iterations != engine.counters.iterations:
            self._sample(engine)


def _rate(start: Sample, end: Sample) -> float:
    return (end.iterations - start.iterations) / max(end.elapsed_s - start.elapsed_s, 1e-9)


def _window(start: Sample, end: Sample) -> dict[str, object]:
    """What the run did between two samples: iterations and evaluations per second, the
    share of children evaluated, and CPU milliseconds per iteration by part."""
    iterations = max(1, end.iterations - start.iterations)
    seconds = max(end.elapsed_s - start.elapsed_s, 1e-9)
    evaluations = end.evaluations - start.evaluations
    parts = {name: seconds - start.cpu_s.get(name, 0.0) for name, seconds in end.cpu_s.items()}
    return {
        "it_per_s": round(iterations / seconds, 2),
        "evaluations_per_s": round(evaluations / seconds, 2),
        "evaluated_share": round(evaluations / iterations, 3),
        "child_chars": round(end.child_chars, 1),
        "cpu_ms_per_iteration": per_iteration_ms(parts, iterations),
    }


def summarise(samples: list[Sample], every: int, warmup: int) -> dict[str, Any]:
    """Memory growth after the warm-up, bytes per program, and the speed of the first
    window after the warm-up against the last window."""
    first, last = samples[0], samples[-1]
    warm = next((s for s in samples if s.iterations >= warmup), last)
    after_warm = next((s for s in samples if s.iterations >= warm.iterations + every), last)
    before_last = next(
        (s for s in reversed(samples) if s.iterations <= last.iterations - every), first
    )
    start_rate = _rate(warm, after_warm)
    end_rate = _rate(before_last, last)
    start_window, end_window = _window(warm, after_warm), _window(before_last, last)
    return {
        "iterations": last.iterations,
        "elapsed_s": last.elapsed_s,
        "warmup_iterations": warm.iterations,
        "rss_start_mb": first.rss_mb,
        "rss_after_warmup_mb": warm.rss_mb,
        "rss_end_mb": last.rss_mb,
        "rss_max_mb": max(s.rss_mb for s in samples),
        "rss_growth_pct": 100 * (last.rss_mb - warm.rss_mb) / max(warm.rss_mb, 1e-9),
        "python_blocks_after_warmup": warm.python_blocks,
        "python_blocks_max_after_warmup": max(
            s.python_blocks for s in samples if s.iterations >= warm.iterations
        ),
        "python_blocks_end": last.python_blocks,
        "tree_rss_after_warmup_mb": warm.tree_rss_mb,
        "tree_rss_end_mb": last.tree_rss_mb,
        "tree_rss_growth_pct": 100
        * (last.tree_rss_mb - warm.tree_rss_mb)
        / max(warm.tree_rss_mb, 1e-9),
        "db_bytes": last.db_bytes,
        "db_bytes_per_program": last.db_bytes / max(last.programs, 1),
        "overall_it_per_s": last.iterations / max(last.elapsed_s, 1e-9),
        "start_it_per_s": start_rate,
        "end_it_per_s": end_rate,
        "speed_ratio_end_to_start": end_rate / max(start_rate, 1e-9),
        # the same ratio in evaluations per second: a rejected child (a copy, an edit
        # that changed nothing) costs next to nothing, so where the operators' mix moves
        # from rejected children to evaluated ones, iterations slow while the engine
        # does not
        "evaluation_speed_ratio_end_to_start": float(end_window["evaluations_per_s"])
        / max(float(start_window["evaluations_per_s"]), 1e-9),
        # the children's mean length over the same two windows: a search whose programs
        # grow does more work per child at the end, whatever the engine's bookkeeping
        "child_chars_start": after_warm.child_chars,
        "child_chars_end": last.child_chars,
        # the same two windows in detail: whether the engine's own work per iteration
        # grew, or the children changed (longer, or fewer of them evaluated)
        "start_window": start_window,
        "end_window": end_window,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample-every", type=int, default=500)
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="iterations before memory and speed are compared (default: a tenth of the run)",
    )
    parser.add_argument(
        "--max-rss-growth-pct",
        type=float,
        default=10.0,
        help="allowed growth of the driver's RSS from the end of the warm-up to the end",
    )
    parser.add_argument(
        "--min-speed-ratio",
        type=float,
        default=0.9,
        help="the last window must run at least this fraction of the first one's speed",
    )
    parser.add_argument(
        "--operators",
        nargs="+",
        metavar="NAME",
        help="enable only these operators (default: the engine's); `--operators tune` keeps "
        "every child as long as the seed, so the work per child stays the same all run",
    )
    parser.add_argument("--json", type=Path, help="also write samples and summary here")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="evoforge-soak-") as scratch:
        problem = Path(scratch) / "problem"
        problem.mkdir()
        (problem / "initial_program.py").write_text(_INITIAL_PROGRAM)
        (problem / "evaluator.py").write_text(_EVALUATOR)
        (problem / "config.yaml").write_text(_CONFIG)
        run_dir = args.keep or Path(scratch) / "run"
        reporter = SamplingReporter(run_dir, args.sample_every)
        result = start_run(
            problem,
            cli_layer={
                "seed": 0,
                "run": {"iterations": args.iterations, "workers": args.workers},
                **({"operators": {"enabled": args.operators}} if args.operators else {}),
            },
            run_dir=run_dir,
            reporter=reporter,
        )
        warmup = args.warmup if args.warmup is not None else args.iterations // 10
        summary = summarise(reporter.samples, args.sample_every, max(warmup, args.sample_every))
    summary["stop_reason"] = result.stop_reason
    summary["operators"] = args.operators or "default"
    print(json.dumps(summary, indent=2))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"summary": summary, "samples": [asdict(s) for s in reporter.samples]}, indent=2
            )
        )
    failures = []
    if summary["rss_growth_pct"] > args.max_rss_growth_pct:
        failures.append(
            f"RSS grew {summary['rss_growth_pct']:.1f} % after the warm-up "
            f"(bound {args.max_rss_growth_pct} %)"
        )
    if summary["speed_ratio_end_to_start"] < args.min_speed_ratio:
        start, end = summary["start_window"], summary["end_window"]
        failures.append(
            f"the last window ran at {summary['speed_ratio_end_to_start']:.2f} of the first "
            f"after the warm-up (bound {args.min_speed_ratio}); in evaluations per second "
            f"{summary['evaluation_speed_ratio_end_to_start']:.2f}, with "
            f"{end['evaluated_share']:.0%} of its children evaluated against "
            f"{start['evaluated_share']:.0%}"
        )
    for failure in failures:
        print(f"soak: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
