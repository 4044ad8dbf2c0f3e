"""The instance splits of the five instance-scored problems: their sizes, and the seed
program's score on each split (through the real sandboxed evaluator).

    .venv/bin/python benchmarks/split_scores.py [PROBLEM...] [--json FILE]

Prints one Markdown table row per problem; with ``--json`` also writes the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from evoforge.config import EvaluatorConfig
from evoforge.evaluation.evaluator import ProblemEvaluator

SUITE = Path(__file__).resolve().parent / "problems"
PROBLEMS = (
    "bin_packing",
    "cache_eviction",
    "sor_relaxation",
    "optimizer_update_rule",
    "data_selection",
)
SPLITS = ("search", "holdout", "test")


def _evaluator_module(problem: str) -> ModuleType:
    name = f"_split_scores_{problem}"
    spec = importlib.util.spec_from_file_location(name, SUITE / problem / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def split_sizes(problem: str) -> dict[str, str]:
    """What each split holds, in the problem's own units."""
    module = _evaluator_module(problem)
    sizes: dict[str, str] = {}
    for split in SPLITS:
        if problem == "bin_packing":
            counts = [len(module.load_dataset(name, split)) for name in module.DATASETS]
            kind = "published" if split == "search" else "drawn"
            sizes[split] = f"{counts[0]} OR3 x 500 + {counts[1]} Weibull x 5,000 items ({kind})"
        elif problem == "cache_eviction":
            sizes[split] = f"{len(module.split_specs(split))} traces x 2,500 requests"
        elif problem == "sor_relaxation":
            sequences = len(module.split_specs(split))
            sizes[split] = f"{10 * sequences} systems ({sequences} sequence(s) of 10)"
        elif problem == "optimizer_update_rule":
            sizes[split] = f"{len(module.make_tasks(split))} tasks x 8 learning rates"
        else:
            sizes[split] = f"{module.SPLIT_TASKS[split]} task(s) of a 300-example pool"
    return sizes


def seed_scores(problem: str) -> dict[str, float | None]:
    """The seed program's score on each split."""
    evaluator = ProblemEvaluator(SUITE / problem / "evaluator.py", EvaluatorConfig(timeout_s=300))
    code = (SUITE / problem / "initial_program.py").read_text(encoding="utf-8")
    try:
        return {split: evaluator.evaluate(code, split).score for split in SPLITS}
    finally:
        evaluator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    records: dict[str, Any] = {}
    print("| problem | split | holds | seed score |")
    print("|---|---|---|---:|")
    for problem in args.problems:
        sizes, scores = split_sizes(problem), seed_scores(problem)
        records[problem] = {"sizes": sizes, "seed_scores": scores}
        for split in SPLITS:
            score = scores[split]
            shown = "failed" if score is None else f"{score:.4f}"
            print(f"| {problem} | {split} | {sizes[split]} | {shown} |", flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
