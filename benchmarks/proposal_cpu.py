"""CPU per iteration of the symbolic operators and the children's facts, in one process.

The scale-out benchmark's limit on a 2-core machine is the proposal pool's CPU per child
(``benchmarks/results/scale/README.md``). This measures that work alone and exactly
repeatably: the scale-out problem, seed 0, one worker, the default symbolic operators run
in this process (``run.proposal_processes: 0``), an evaluation backend that answers at
once with a score derived from the code. It reports the process's CPU time per iteration
(the driver's part included, which is small) and a fingerprint of every program the run
made: a change meant only to be faster must leave the fingerprint as it was.

    python benchmarks/proposal_cpu.py --iterations 1500
    python benchmarks/proposal_cpu.py --iterations 1500 --json out.json

Compare two trees by running it alternately from each (``PYTHONPATH=<tree>``): CPU time
moves with the machine's load, the fingerprint must not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from scale_out import EVALUATOR, PROGRAM, _Settings

from evoforge.config import resolve_config
from evoforge.engine import Engine
from evoforge.loop import Budget, drive
from evoforge.problem import load_problem
from evoforge.report.progress import make_reporter
from evoforge.storage.db import RunDatabase


def measure(iterations: int, seed: int) -> dict[str, object]:
    """CPU seconds per iteration of one run and the fingerprint of its programs."""
    _Settings.eval_s = 0.0
    _Settings.workers = 1
    with tempfile.TemporaryDirectory(prefix="evoforge-proposal-cpu-") as tmp:
        directory = Path(tmp)
        (directory / "problem").mkdir()
        (directory / "problem" / "initial_program.py").write_text(PROGRAM)
        (directory / "problem" / "evaluator.py").write_text(EVALUATOR)
        config = resolve_config(
            cli_layer={
                "seed": seed,
                "run": {"workers": 1, "log_mode": "quiet", "proposal_processes": 0},
                "evaluator": {"backend": "simulated"},
            }
        )
        engine = Engine.create(load_problem(directory / "problem"), config, directory / "run")
        started = time.process_time()
        try:
            result = drive(engine, Budget(iterations=iterations), make_reporter("quiet"), 1)
        finally:
            cpu = time.process_time() - started
            engine.close()
        with sqlite3.connect(directory / "run" / RunDatabase.FILENAME) as database:
            codes = [row[0] for row in database.execute("SELECT code FROM programs ORDER BY seq")]
    digest = hashlib.sha256("\x00".join(codes).encode()).hexdigest()[:16]
    return {
        "iterations": result.iterations,
        "cpu_ms_per_iteration": round(cpu / max(1, result.iterations) * 1000, 3),
        "programs": len(codes),
        "fingerprint": digest,
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args.iterations, args.seed)
    text = json.dumps(figures)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
