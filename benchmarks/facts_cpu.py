"""CPU time of one child's facts (:func:`evoforge.facts.child_facts`), as a proposal
process pays it.

Children of the circle-packing seed are made by the four symbolic operators in turn
(mutate, tune, crossover, simplify), each child's facts computed right after it was made,
as a worker of the proposal pool does (the caches the operator filled are warm: the
child's normal form and names were checked by the operator). Then every cache keyed by
code text is emptied and each child's facts are computed again, as for a child that came
from elsewhere (a language model's answer). Both are reported as CPU milliseconds per
call (``time.process_time``: the time other processes held the core is not counted),
with the load average before and after.

    python benchmarks/facts_cpu.py --out benchmarks/results/scale --name facts_cpu

To compare two trees, run it with ``PYTHONPATH=<other tree>`` (the package it imported
is written into the record), alternating the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

import evoforge
from evoforge import program, static_check
from evoforge.config import NoveltyConfig, OperatorsConfig
from evoforge.facts import FactsSettings, child_facts
from evoforge.operators import ast_tools
from evoforge.operators.base import ProposalContext
from evoforge.operators.registry import build_operators
from evoforge.program import Program, code_hash, normalise_code
from evoforge.static_check import name_problems

SEED = Path(__file__).resolve().parent.parent / "examples" / "circle_packing" / "initial_program.py"
OPERATORS = ["mutate", "tune", "crossover", "simplify"]


def _forget_parses() -> None:
    """Empty the memos keyed by code text (whichever the imported tree has)."""
    for owner, function, memo in (
        (program, normalise_code, "_NORMAL_FORMS"),
        (static_check, name_problems, "_PROBLEMS"),
        (ast_tools, ast_tools.parse_program, "_PARSED"),
        (ast_tools, ast_tools.literal_skeleton, "_SKELETONS"),
    ):
        if hasattr(function, "cache_clear"):
            function.cache_clear()
        if hasattr(owner, memo):
            getattr(owner, memo).clear()


def measure(children: int) -> dict[str, Any]:
    """Make ``children`` children and time their facts, warm and then cold."""
    seed_code = SEED.read_text()
    settings = FactsSettings(
        initial_code=seed_code, static_check=True, novelty=NoveltyConfig(), complexity=True
    )
    operators = build_operators(OperatorsConfig(enabled=OPERATORS))
    parent = Program(id="seed", code=seed_code, code_hash=code_hash(seed_code), score=1.0)
    made: list[str] = []
    warm_s = 0.0
    step = 0
    while len(made) < children:
        operator = operators[OPERATORS[step % len(OPERATORS)]]
        inspiration = Program(
            id="other", code=made[-1] if made else seed_code, code_hash="", score=0.5
        )
        context = ProposalContext(
            parent=parent, rng=np.random.default_rng(step), inspirations=(inspiration,)
        )
        step += 1
        proposal = asyncio.run(operator.propose(context))
        if proposal is None or proposal.rejection or proposal.code in made:
            continue
        started = time.process_time()
        child_facts(seed_code, proposal.code, settings)
        warm_s += time.process_time() - started
        made.append(proposal.code)
    _forget_parses()
    child_facts(seed_code, seed_code, settings)  # the parent's own facts, cached in a worker
    started = time.process_time()
    for code in made:
        child_facts(seed_code, code, settings)
    cold_s = time.process_time() - started
    return {
        "children": len(made),
        "warm_ms_per_call": round(warm_s / len(made) * 1e3, 3),
        "cold_ms_per_call": round(cold_s / len(made) * 1e3, 3),
    }


def _commit(directory: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON record")
    parser.add_argument("--name", default="facts_cpu")
    args = parser.parse_args()
    package = Path(evoforge.__file__).resolve().parent
    load_before = os.getloadavg()[0]
    row = measure(args.children)
    row.update(
        {
            "package": str(package),
            "commit": _commit(package),
            "python": platform.python_version(),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
        }
    )
    print(json.dumps(row))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.name}.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
