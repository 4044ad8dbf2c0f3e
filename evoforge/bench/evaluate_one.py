"""Score one program file with evoforge's sandboxed evaluator (used by the OpenEvolve engine).

``python -m evoforge.bench.evaluate_one --problem DIR --program FILE --log LOG`` scores
FILE exactly as evoforge scores a child of DIR (the problem's evaluator settings, the
sandbox, a trusted ``verify`` when the problem has one), appends one JSON line to LOG
(``status``, ``score``, whether the code is the seed's) and prints one JSON object:
``status``, ``score``, ``metrics``, ``reason``. OpenEvolve's evaluator calls this, so
OpenEvolve's children are scored by the same code as everyone else's, and LOG counts
its evaluations and gives its trajectory.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evoforge.bench.evaluate_one")
    parser.add_argument("--problem", type=Path, required=True)
    parser.add_argument("--program", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)

    from evoforge.config import resolve_config
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from evoforge.problem import load_problem
    from evoforge.program import EvalStatus, code_hash

    problem = load_problem(args.problem)
    config = resolve_config(problem_layer=problem.config_layer)
    evaluator = ProblemEvaluator(
        problem.evaluator_path, config.evaluator, program_filename=problem.program_filename
    )
    code = args.program.read_text(encoding="utf-8")
    result = evaluator.evaluate(code)
    score = result.score if result.status is EvalStatus.OK else None
    line = {
        "time": time.time(),
        "status": result.status.value,
        "score": score,
        "is_seed": code_hash(code) == code_hash(problem.initial_code),
        "seconds": result.duration_s,
    }
    with open(args.log, "a", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write(json.dumps(line) + "\n")
        handle.flush()
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    print(
        json.dumps(
            {
                "status": result.status.value,
                "score": score,
                "metrics": dict(result.metrics),
                "reason": result.reason,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
