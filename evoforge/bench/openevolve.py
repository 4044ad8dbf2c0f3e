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

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from evoforge.bench.evaluate_one import ScoringServer, best_path
from evoforge.bench.lifetime import die_with_parent
from evoforge.bench.records import STATUS_FAILED, STATUS_OK, RunRecord, best_so_far, count_failed

OPENEVOLVE_REQUIREMENT = "openevolve==0.4.0"
_STAMP = ".evoforge-installed"


class OpenEvolveUnavailable(RuntimeError):
    """OpenEvolve could not be installed; the message says why, in one line."""


def ensure_openevolve(
    venvs_dir: Path, log: Path, on_install: Callable[[], None] | None = None
) -> Path:
    """The ``bin`` directory of a virtual environment holding OpenEvolve, made if needed
    (``on_install`` is called first then, and only then).

    Raises :class:`OpenEvolveUnavailable` (no network, no such version, ...) with the
    last line pip printed.
    """
    venv = venvs_dir / "openevolve"
    bin_dir = venv / "bin"
    stamp = venv / _STAMP
    installed = stamp.is_file() and stamp.read_text().strip() == OPENEVOLVE_REQUIREMENT
    if installed and (bin_dir / "openevolve-run").is_file():
        return bin_dir
    if on_install is not None:
        on_install()
    if venv.exists():
        shutil.rmtree(venv)
    venvs_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as output:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", OPENEVOLVE_REQUIREMENT],
        ]
        for command in steps:
            try:
                completed = subprocess.run(
                    command, stdout=output, stderr=subprocess.STDOUT, timeout=900, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise OpenEvolveUnavailable(f"{' '.join(command[:3])} failed: {exc}") from exc
            if completed.returncode != 0:
                output.flush()
                raise OpenEvolveUnavailable(
                    f"installing {OPENEVOLVE_REQUIREMENT} failed: {_last_line(log)} (see {log})"
                )
    if not (bin_dir / "openevolve-run").is_file():
        raise OpenEvolveUnavailable(f"{OPENEVOLVE_REQUIREMENT} installed no openevolve-run")
    stamp.write_text(OPENEVOLVE_REQUIREMENT + "\n")
    return bin_dir


def _last_line(path: Path) -> str:
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip() and not line.startswith("WARNING: Location")
    ]
    return lines[-1][:200] if lines else "no output"


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


_WRAPPER = '''"""OpenEvolve evaluator written by evoforge bench: scores with evoforge's sandbox."""

import json
import socket

SOCKET = {socket_path!r}
TIMEOUT = {timeout!r}


def evaluate(program_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(TIMEOUT)
        connection.connect(SOCKET)
        connection.sendall((json.dumps({{"program": str(program_path)}}) + "\\n").encode())
        answer = b""
        while not answer.endswith(b"\\n"):
            chunk = connection.recv(1 << 16)
            if not chunk:
                raise RuntimeError("the evoforge scoring server closed the connection")
            answer += chunk
    verdict = json.loads(answer)
    if verdict["status"] != "ok" or verdict["score"] is None:
        raise RuntimeError(verdict["status"] + ": " + verdict["reason"][:300])
    metrics = dict(verdict["metrics"])
    metrics["combined_score"] = verdict["score"]
    return metrics
'''


def run_openevolve(task: Any) -> RunRecord:
    """One OpenEvolve run for a :class:`~evoforge.bench.engines.RunTask`; always restarts."""
    from evoforge.config import resolve_config
    from evoforge.problem import load_problem

    if task.openevolve_bin is None or task.oracle_url is None:
        return task.record(status=STATUS_FAILED, reason="openevolve needs its venv and the oracle")
    started = time.monotonic()
    work = task.run_dir / "openevolve"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    problem = load_problem(task.problem_dir)
    eval_timeout = resolve_config(problem_layer=problem.config_layer).evaluator.timeout_s
    log = work / "evaluations.jsonl"
    log.touch()
    (work / "initial_program.py").write_text(problem.initial_code, encoding="utf-8")
    iterations = max(task.budget - 1, 0)
    config = openevolve_config(
        oracle_url=task.oracle_url,
        seed=task.seed,
        iterations=iterations,
        timeout_s=eval_timeout + 90,
    )
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [
        str(task.openevolve_bin / "openevolve-run"),
        str(work / "initial_program.py"),
        str(work / "evaluator.py"),
        "--config",
        str(work / "config.yaml"),
        "--iterations",
        str(iterations),
        "--output",
        str(work / "output"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE")}
    env["OPENAI_API_KEY"] = "none"
    with (
        ScoringServer(task.problem_dir.resolve(), log) as server,
        open(work / "openevolve.log", "w", encoding="utf-8") as output,
    ):
        (work / "evaluator.py").write_text(
            _WRAPPER.format(socket_path=str(server.socket_path), timeout=eval_timeout + 60),
            encoding="utf-8",
        )
        returncode, stop_reason = _run_in_own_group(
            command, cwd=work, output=output, env=env, timeout=task.max_run_seconds
        )
    if returncode < 0 or returncode == 130:
        from evoforge.bench.engines import RunInterrupted

        raise RunInterrupted(str(work))
    entries = [
        json.loads(line)
        for line in log.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("{")
    ]
    if returncode != 0:
        return task.record(
            status=STATUS_FAILED,
            evaluations=len(entries),
            wall_time_s=time.monotonic() - started,
            reason=f"openevolve-run exited with {returncode} (see {work / 'openevolve.log'})",
        )
    scores: list[float | None] = [entry.get("score") for entry in entries]
    trajectory = best_so_far(scores)
    seed_scores = [entry.get("score") for entry in entries if entry.get("is_seed")]
    extra: dict[str, Any] = {"iterations": iterations}
    parents = parent_statistics(
        (work / "openevolve.log").read_text(encoding="utf-8", errors="replace")
    )
    if parents["iterations"]:
        extra["parents"] = parents
    info = _best_program_info(work / "output")
    if info is not None:
        extra["openevolve_best_metrics"] = info.get("metrics")
    return task.record(
        status=STATUS_OK,
        best_score=trajectory[-1] if trajectory else None,
        initial_score=seed_scores[0] if seed_scores else None,
        evaluations=len(entries),
        wall_time_s=time.monotonic() - started,
        stop_reason=stop_reason,
        trajectory=trajectory,
        failed_evaluations=count_failed(scores),
        best_code=_read_best(best_path(log)),
        extra=extra,
    )


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


def _run_in_own_group(
    command: list[str], *, cwd: Path, output: Any, env: dict[str, str], timeout: float | None
) -> tuple[int, str]:
    """Run OpenEvolve in a process group of its own; (exit status, stop reason).

    Whatever way it ends (exit, wall-time limit, an interrupt of the bench worker), the
    whole group is killed afterwards, so its evaluation pool never outlives the run. An
    interrupt is re-raised after that.
    """
    worker_pid = os.getpid()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        # a worker killed outright (kill -9 of the bench's group) must not leave it going
        preexec_fn=lambda: die_with_parent(signal.SIGTERM, worker_pid),
    )
    try:
        return process.wait(timeout=timeout), "iterations budget reached"
    except subprocess.TimeoutExpired:
        return 0, "wall-time budget reached"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _read_best(path: Path) -> str:
    """The best-scoring program the scoring server kept, or ``""``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _best_program_info(output_dir: Path) -> dict[str, Any] | None:
    for path in (output_dir / "best" / "best_program_info.json",):
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None
