"""Soak: a long run with a fast evaluator, watching memory, database size and speed.

It runs ``--iterations`` (default 20,000) iterations of a tiny problem whose evaluator
costs next to nothing, through the real engine, loop, sandbox and database, with
``--workers`` (default 2) evaluations in flight. Every ``--sample-every`` committed steps
it records the resident memory (RSS) of this process, the run database's size on disk
and the wall-clock time. At the end it reports:

* memory over time, and the growth from the first sample to the last;
* database bytes per stored program;
* iterations per second over the first and the last ``--sample-every`` iterations.

and checks them against stated bounds (``--max-rss-growth-mb``, ``--min-speed-ratio``),
exiting 1 when one is exceeded. It is a benchmark, not a test: it takes a while (each
sandboxed evaluation starts a Python process). ::

    python benchmarks/soak.py                          # 20,000 iterations, 2 workers
    python benchmarks/soak.py --iterations 2000 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

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
    db_bytes: int
    programs: int


def rss_mb() -> float:
    """Resident memory of this process in MiB (from /proc; 0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


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

    def _sample(self, engine: Engine) -> None:
        sample = Sample(
            iterations=engine.counters.iterations,
            elapsed_s=time.monotonic() - self._started,
            rss_mb=rss_mb(),
            db_bytes=database_bytes(self.run_dir),
            programs=engine.counters.iterations + 1,
        )
        self.samples.append(sample)
        print(
            f"{sample.iterations:>7} it  {sample.elapsed_s:8.1f} s  {sample.rss_mb:7.1f} MiB  "
            f"db {sample.db_bytes / 1e6:7.2f} MB",
            file=sys.stderr,
            flush=True,
        )

    def start(self, engine: Engine, budget: Budget) -> None:
        self._started = time.monotonic()
        self._sample(engine)

    def step(self, engine: Engine, report: StepReport) -> None:
        # With several workers the counter can pass a multiple between two calls.
        if engine.counters.iterations >= self.samples[-1].iterations + self.every:
            self._sample(engine)

    def stop(self, engine: Engine) -> None:
        if self.samples[-1].iterations != engine.counters.iterations:
            self._sample(engine)


def summarise(samples: list[Sample], every: int) -> dict[str, float]:
    """Memory growth, bytes per program and the speed of the first and last windows."""
    first, last = samples[0], samples[-1]
    after_first = next((s for s in samples if s.iterations >= every), last)
    before_last = next(
        (s for s in reversed(samples) if s.iterations <= last.iterations - every), first
    )
    first_rate = after_first.iterations / max(after_first.elapsed_s, 1e-9)
    last_rate = (last.iterations - before_last.iterations) / max(
        last.elapsed_s - before_last.elapsed_s, 1e-9
    )
    return {
        "iterations": last.iterations,
        "elapsed_s": last.elapsed_s,
        "rss_first_mb": first.rss_mb,
        "rss_after_first_window_mb": after_first.rss_mb,
        "rss_last_mb": last.rss_mb,
        "rss_max_mb": max(s.rss_mb for s in samples),
        "rss_growth_mb": last.rss_mb - after_first.rss_mb,
        "db_bytes": last.db_bytes,
        "db_bytes_per_program": last.db_bytes / max(last.programs, 1),
        "first_window_it_per_s": first_rate,
        "last_window_it_per_s": last_rate,
        "speed_ratio_last_to_first": last_rate / max(first_rate, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample-every", type=int, default=1_000)
    parser.add_argument(
        "--max-rss-growth-mb",
        type=float,
        default=150.0,
        help="allowed RSS growth from the end of the first window to the end",
    )
    parser.add_argument(
        "--min-speed-ratio",
        type=float,
        default=0.5,
        help="the last window must run at least this fraction of the first one's speed",
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
            },
            run_dir=run_dir,
            reporter=reporter,
        )
        summary = summarise(reporter.samples, args.sample_every)
    summary["stop_reason"] = result.stop_reason  # type: ignore[assignment]
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
    if summary["rss_growth_mb"] > args.max_rss_growth_mb:
        failures.append(
            f"RSS grew {summary['rss_growth_mb']:.1f} MiB (bound {args.max_rss_growth_mb} MiB)"
        )
    if summary["speed_ratio_last_to_first"] < args.min_speed_ratio:
        failures.append(
            f"last window ran at {summary['speed_ratio_last_to_first']:.2f} of the first "
            f"(bound {args.min_speed_ratio})"
        )
    for failure in failures:
        print(f"soak: FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
