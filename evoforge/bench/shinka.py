"""The ``shinkaevolve`` engine: ShinkaEvolve from the package registry, against the oracle.

The harness installs ``shinka-evolve==0.0.7`` once into ``OUT/.venvs/shinkaevolve`` and
reuses it. Each run writes a task directory for ShinkaEvolve's own launcher
(``shinka_run``): the seed as ``initial.py``, a config that points its language model and
its embedding model at the oracle, and an ``evaluate.py`` wrapper that sends each program
ShinkaEvolve hands it to evoforge's sandboxed evaluator (the same
:class:`~evoforge.bench.evaluate_one.ScoringServer` OpenEvolve's runs use) and writes the
verdict in ShinkaEvolve's form (``metrics.json`` with ``combined_score``,
``correct.json``). The scoring server's log counts the evaluations and gives the
trajectory, independent of ShinkaEvolve's own bookkeeping.

ShinkaEvolve evaluates the initial program as generation 0 and one child per later
generation, so a budget of B evaluations is B generations. A generation whose answer it
cannot apply (after its own retries) evaluates nothing, so a run may end with fewer than
B evaluations; the record says how many it made.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evoforge.bench.foreign import SCORING_CLIENT, ForeignEngine, ForeignRun
from evoforge.bench.records import STATUS_FAILED, RunRecord

if TYPE_CHECKING:
    from evoforge.bench.engines import RunTask

SHINKA = ForeignEngine(
    venv="shinkaevolve", requirement="shinka-evolve==0.0.7", command="shinka_run"
)

#: The model name ShinkaEvolve asks the oracle's embeddings of (the oracle serves any name).
_EMBEDDING_MODEL = "oracle-embed"


def shinka_config(*, oracle_url: str, seed: int) -> dict[str, Any]:
    """ShinkaEvolve's config for one run (``shinka_run --config-fname``): its defaults
    except what parity requires.

    Parity: one evaluation at a time (as evoforge runs with ``workers=1``) and one proposal
    at a time (so every child is proposed from a database that holds every earlier
    result, as evoforge's are), the oracle as the only model (its name carries the seed,
    which keeps each run's draws apart at the shared oracle, as OpenEvolve's runs do) and
    as the embedding model (ShinkaEvolve's near-copy filter stays on). Everything else
    (patch types and their odds, islands, parent choice, inspirations) is ShinkaEvolve's
    default.
    """
    base = oracle_url.rstrip("/")
    return {
        "evo": {
            "llm_models": [f"local/oracle-s{seed}@{base}"],
            "embedding_model": f"local/{_EMBEDDING_MODEL}@{base}",
        },
        "max_evaluation_jobs": 1,
        "max_proposal_jobs": 1,
        "verbose": True,
    }


_WRAPPER = (
    '''"""ShinkaEvolve's evaluate.py, written by evoforge bench: evoforge scores."""

import argparse
import json
import os
import socket

'''
    + SCORING_CLIENT
    + """

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", required=True)
    parser.add_argument("--results_dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.results_dir, exist_ok=True)
    verdict = verdict_of(os.path.abspath(args.program_path))
    scored = verdict["status"] == "ok" and verdict["score"] is not None
    metrics = {{
        "combined_score": verdict["score"] if scored else 0.0,
        "public": {{
            key: value
            for key, value in dict(verdict.get("metrics") or {{}}).items()
            if isinstance(value, (int, float))
        }},
        "private": {{}},
    }}
    correct = {{
        "correct": scored,
        "error": None if scored else verdict["status"] + ": " + verdict["reason"][:300],
    }}
    with open(os.path.join(args.results_dir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle)
    with open(os.path.join(args.results_dir, "correct.json"), "w") as handle:
        json.dump(correct, handle)


if __name__ == "__main__":
    main()
"""
)


def run_shinka(task: RunTask) -> RunRecord:
    """One ShinkaEvolve run for a :class:`~evoforge.bench.engines.RunTask`; always
    restarts."""
    if task.engine_bin is None or task.oracle_url is None:
        return task.record(
            status=STATUS_FAILED, reason="shinkaevolve needs its venv and the oracle"
        )
    run = ForeignRun(task, "shinkaevolve")
    task_dir = run.work / "task"
    task_dir.mkdir()
    (task_dir / "initial.py").write_text(run.problem.initial_code, encoding="utf-8")
    config = shinka_config(oracle_url=task.oracle_url, seed=task.seed)
    (task_dir / "shinka.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    generations = max(task.budget, 1)
    command = [
        str(task.engine_bin / SHINKA.command),
        "--task-dir",
        str(task_dir),
        "--results_dir",
        str(run.work / "results"),
        "--num_generations",
        str(generations),
        "--config-fname",
        "shinka.yaml",
    ]
    returncode, stop_reason = run.run(
        command, wrapper=_WRAPPER, wrapper_path=task_dir / "evaluate.py"
    )
    extra: dict[str, Any] = {"generations": generations}
    patches = patch_statistics(run.work / "results")
    if patches:
        extra["patch_types"] = patches
    return run.record(returncode, stop_reason, program="shinka_run", extra=extra)


def patch_statistics(results_dir: Path) -> dict[str, int]:
    """How many of ShinkaEvolve's stored programs each kind of patch made (``diff``,
    ``full``, ``cross``, ``init``), read from its database; empty where there is none."""
    databases = sorted(results_dir.glob("*.sqlite")) + sorted(results_dir.glob("*.db"))
    counts: dict[str, int] = {}
    for database in databases:
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
                rows = connection.execute("SELECT metadata FROM programs").fetchall()
        except sqlite3.Error:
            continue
        for (metadata,) in rows:
            try:
                kind = json.loads(metadata or "{}").get("patch_type") or "init"
            except (ValueError, AttributeError):
                continue
            counts[str(kind)] = counts.get(str(kind), 0) + 1
        if counts:
            break
    return counts
