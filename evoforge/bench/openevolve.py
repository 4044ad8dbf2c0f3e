"""The ``openevolve`` engine: OpenEvolve from the package registry, against the oracle.

The harness installs ``openevolve==0.4.0`` once into ``OUT/.venvs/openevolve`` (a plain
``python -m venv`` plus ``pip install``) and reuses it. Each run writes an OpenEvolve
config that points its language model at the oracle, and an ``evaluator.py`` wrapper
that sends each program OpenEvolve hands it to evoforge's sandboxed evaluator (a
:class:`~evoforge.bench.evaluate_one.ScoringServer` on a Unix socket, served by the bench
worker for the length of the run). So OpenEvolve's children are scored by exactly
the code that scores everyone else's, and the wrapper's log gives the count of
evaluations and the trajectory, independent of OpenEvolve's own bookkeeping.

OpenEvolve evaluates the initial program and then one child per iteration, so a budget
of B evaluations is ``B - 1`` iterations. An iteration whose answer OpenEvolve cannot
apply evaluates nothing, so a run may end with fewer than B evaluations; the record
says how many it made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evoforge.bench.foreign import SCORING_CLIENT, ForeignEngine, ForeignRun, ensure_venv
from evoforge.bench.records import STATUS_FAILED, RunRecord

if TYPE_CHECKING:
    from evoforge.bench.engines import RunTask

OPENEVOLVE = ForeignEngine(
    venv="openevolve", requirement="openevolve==0.4.0", command="openevolve-run"
)
OPENEVOLVE_REQUIREMENT = OPENEVOLVE.requirement


def ensure_openevolve(
    venvs_dir: Path, log: Path, on_install: Callable[[], None] | None = None
) -> Path:
    """The ``bin`` directory of a virtual environment holding OpenEvolve, made if needed
    (see :func:`~evoforge.bench.foreign.ensure_venv`)."""
    return ensure_venv(OPENEVOLVE, venvs_dir, log, on_install)


def openevolve_config(
    *, oracle_url: str, seed: int, iterations: int, timeout_s: float
) -> dict[str, Any]:
    """OpenEvolve's config for one run: its defaults except what parity requires.

    Parity: one evaluation at a time (as evoforge runs with ``workers=1``), the oracle as
    the only model, no cascade and no retries (the wrapper runs evoforge's evaluator,
    whose result is final), and a population large enough to keep every program.
    """
    return {
        "max_iterations": iterations,
        "checkpoint_interval": max(iterations, 1),
        "log_level": "INFO",
        # no global seed: OpenEvolve would send its one derived seed with every request,
        # and the oracle, like a seeded model, would repeat itself on repeated prompts;
        # unseeded, the oracle samples anew (see evoforge.llm.oracle)
        "random_seed": None,
        "language": "python",
        "diff_based_evolution": True,
        "max_code_length": 100000,
        "llm": {
            # the name keeps each run's draws apart at the shared oracle
            "models": [{"name": f"oracle-s{seed}", "weight": 1.0}],
            "api_base": oracle_url,
            "api_key": "none",
            "temperature": 0.7,
            "max_tokens": 4096,
            "timeout": 120,
            "retries": 2,
            "retry_delay": 1,
        },
        "database": {
            "population_size": max(1000, 2 * iterations),
            "random_seed": seed,
        },
        "evaluator": {
            "timeout": int(timeout_s),
            "max_retries": 0,
            "cascade_evaluation": False,
            "parallel_evaluations": 1,
            "use_llm_feedback": False,
        },
    }


_WRAPPER = (
    '''"""OpenEvolve evaluator written by evoforge bench: scores with evoforge's sandbox."""

import json
import socket

'''
    + SCORING_CLIENT
    + """

def evaluate(program_path):
    verdict = verdict_of(program_path)
    if verdict["status"] != "ok" or verdict["score"] is None:
        raise RuntimeError(verdict["status"] + ": " + verdict["reason"][:300])
    metrics = dict(verdict["metrics"])
    metrics["combined_score"] = verdict["score"]
    return metrics
"""
)


def run_openevolve(task: RunTask) -> RunRecord:
    """One OpenEvolve run for a :class:`~evoforge.bench.engines.RunTask`; always restarts."""
    if task.engine_bin is None or task.oracle_url is None:
        return task.record(status=STATUS_FAILED, reason="openevolve needs its venv and the oracle")
    run = ForeignRun(task, "openevolve")
    work = run.work
    (work / "initial_program.py").write_text(run.problem.initial_code, encoding="utf-8")
    iterations = max(task.budget - 1, 0)
    config = openevolve_config(
        oracle_url=task.oracle_url,
        seed=task.seed,
        iterations=iterations,
        timeout_s=run.eval_timeout + 90,
    )
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [
        str(task.engine_bin / OPENEVOLVE.command),
        str(work / "initial_program.py"),
        str(work / "evaluator.py"),
        "--config",
        str(work / "config.yaml"),
        "--iterations",
        str(iterations),
        "--output",
        str(work / "output"),
    ]
    returncode, stop_reason = run.run(command, wrapper=_WRAPPER, wrapper_path=work / "evaluator.py")
    extra: dict[str, Any] = {"iterations": iterations}
    if returncode == 0:
        parents = parent_statistics(run.output.read_text(encoding="utf-8", errors="replace"))
        if parents["iterations"]:
            extra["parents"] = parents
        info = _best_program_info(work / "output")
        if info is not None:
            extra["openevolve_best_metrics"] = info.get("metrics")
    return run.record(returncode, stop_reason, program="openevolve-run", extra=extra)


_EVALUATED_RE = re.compile(r"Evaluated program ([0-9a-f-]{36}) in ")
_FAILED_RE = re.compile(r"All evaluation attempts failed for program ([0-9a-f-]{36})")
_ITERATION_RE = re.compile(r"Iteration \d+: Program ([0-9a-f-]{36}) \(parent: ([0-9a-f-]{36})\)")


def parent_statistics(log_text: str) -> dict[str, int]:
    """How OpenEvolve 0.4.0 chose parents, read from its log: ``iterations`` (with a
    parent), ``failed`` (the parent had failed its evaluation: OpenEvolve keeps failed
    programs in its database) and ``seed`` (the parent was the initial program, the
    first program evaluated). Parents it copied between islands carry new ids and count
    in neither."""
    failed = set(_FAILED_RE.findall(log_text))
    first = _EVALUATED_RE.search(log_text)
    seed_id = first.group(1) if first else None
    counts = {"iterations": 0, "failed": 0, "seed": 0}
    for _child, parent in _ITERATION_RE.findall(log_text):
        counts["iterations"] += 1
        counts["failed"] += parent in failed
        counts["seed"] += parent == seed_id
    return counts


def _best_program_info(output_dir: Path) -> dict[str, Any] | None:
    for path in (output_dir / "best" / "best_program_info.json",):
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None
