"""Score every stored data_selection best program on the search, holdout and test splits.

Reads each distinct ``best_code`` of a data_selection run in the ``runs.jsonl`` records
under ``benchmarks/results/`` and writes, per program (the first 12 hex digits of its
SHA-256), each split's status, score and metrics as JSON:

    .venv/bin/python benchmarks/results/split-tasks/rescore.py OUT.json

Run from two checkouts, it shows whether a change moved any stored program's scores
(``cmp`` the two files).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import yaml

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator

ROOT = Path(__file__).resolve().parents[3]
PROBLEM = ROOT / "benchmarks" / "problems" / "data_selection"
SPLITS = ("search", "holdout", "test")


def stored_programs() -> list[str]:
    """Every distinct best program of a data_selection run in the committed records."""
    codes: set[str] = set()
    for record in sorted((ROOT / "benchmarks" / "results").rglob("*.jsonl")):
        for line in record.read_text().splitlines():
            try:
                run = json.loads(line)
            except ValueError:
                continue
            if not isinstance(run, dict) or run.get("problem") != "data_selection":
                continue
            if isinstance(run.get("best_code"), str) and run["best_code"]:
                codes.add(run["best_code"])
    return sorted(codes)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: rescore.py OUT.json")
    settings = yaml.safe_load((PROBLEM / "config.yaml").read_text())["evaluator"]
    evaluator = ProblemEvaluator(PROBLEM / "evaluator.py", EvaluatorConfig(**settings))
    scores: dict[str, dict[str, list[object]]] = {}
    try:
        for number, code in enumerate(stored_programs(), 1):
            key = hashlib.sha256(code.encode()).hexdigest()[:12]
            results = {split: evaluator.evaluate(code, split) for split in SPLITS}
            scores[key] = {
                split: [result.status.value, result.score, result.metrics]
                for split, result in results.items()
            }
            shown = {split: scores[key][split][1] for split in SPLITS}
            print(number, key, shown, flush=True)
    finally:
        evaluator.close()
    Path(sys.argv[1]).write_text(json.dumps(scores))


if __name__ == "__main__":
    main()
