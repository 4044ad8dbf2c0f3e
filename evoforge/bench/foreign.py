"""Engines from other projects, each installed into a virtual environment of its own.

A foreign engine (OpenEvolve, ShinkaEvolve) is a pinned requirement from the package
registry and the command it installs. :func:`ensure_venv` makes ``VENVS/NAME`` once (a
plain ``python -m venv`` plus ``pip install``) and reuses it while its stamp names the
same requirement. :func:`run_in_own_group` runs the engine's command so that nothing it
starts outlives the run, whatever way the run ends. :class:`ForeignRun` is one run:
its directory, the scoring server its wrapper talks to, and its record.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evoforge.bench.evaluate_one import best_path
from evoforge.bench.lifetime import die_with_parent
from evoforge.bench.records import STATUS_FAILED, STATUS_OK, RunRecord, best_so_far, count_failed

if TYPE_CHECKING:
    from evoforge.bench.engines import RunTask

STAMP = ".evoforge-installed"

#: The scoring server's client, for the evaluator scripts written for foreign engines (a
#: ``str.format`` template with ``socket_path`` and ``timeout``; it runs in the engine's
#: own interpreter, so the standard library only): ``verdict_of(path)`` sends one
#: program's path and returns the server's verdict (``status``, ``score``, ``metrics``,
#: ``reason``).
SCORING_CLIENT = """SOCKET = {socket_path!r}
TIMEOUT = {timeout!r}


def verdict_of(program_path):
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
    return json.loads(answer)
"""
_INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class ForeignEngine:
    """An engine from the package registry: its venv's name, the pinned requirement, and
    the command (in the venv's ``bin``) that the installed package provides."""

    venv: str
    requirement: str
    command: str


class EngineUnavailable(RuntimeError):
    """A foreign engine could not be installed; the message says why, in one line."""


def ensure_venv(
    engine: ForeignEngine,
    venvs_dir: Path,
    log: Path,
    on_install: Callable[[], None] | None = None,
) -> Path:
    """The ``bin`` directory of a virtual environment holding ``engine``, made if needed
    (``on_install`` is called first then, and only then).

    Raises :class:`EngineUnavailable` (no network, no such version, ...) with the last
    line pip printed.
    """
    venv = venvs_dir / engine.venv
    bin_dir = venv / "bin"
    stamp = venv / STAMP
    installed = stamp.is_file() and stamp.read_text().strip() == engine.requirement
    if installed and (bin_dir / engine.command).is_file():
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
            [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", engine.requirement],
        ]
        for command in steps:
            try:
                completed = subprocess.run(
                    command,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=_INSTALL_TIMEOUT_S,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise EngineUnavailable(f"{' '.join(command[:3])} failed: {exc}") from exc
            if completed.returncode != 0:
                output.flush()
                raise EngineUnavailable(
                    f"installing {engine.requirement} failed: {last_line(log)} (see {log})"
                )
    if not (bin_dir / engine.command).is_file():
        raise EngineUnavailable(f"{engine.requirement} installed no {engine.command}")
    stamp.write_text(engine.requirement + "\n")
    return bin_dir


def last_line(path: Path) -> str:
    """The last line of pip's output that says something (not a mirror's warning)."""
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip() and not line.startswith("WARNING: Location")
    ]
    return lines[-1][:200] if lines else "no output"


def run_in_own_group(
    command: list[str], *, cwd: Path, output: Any, env: dict[str, str], timeout: float | None
) -> tuple[int, str]:
    """Run an engine in a process group of its own; (exit status, stop reason).

    Whatever way it ends (exit, wall-time limit, an interrupt of the bench worker), the
    whole group is killed afterwards, so its evaluation processes never outlive the run.
    An interrupt is re-raised after that.
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


def engine_environment() -> dict[str, str]:
    """The environment a foreign engine runs in: this one without any real API key or
    endpoint (the engine talks to the oracle alone), with a placeholder key."""
    dropped = ("OPENAI_API_KEY", "OPENAI_API_BASE", "OPENAI_BASE_URL")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["OPENAI_API_KEY"] = "none"
    return env


def read_best(path: Path) -> str:
    """The best-scoring program the scoring server kept, or ``""``."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


class ForeignRun:
    """One run of a foreign engine in ``RUN_DIR/NAME`` (made afresh), its evaluations sent
    by the engine's wrapper to evoforge's scoring server, whose log (``evaluations.jsonl``)
    counts them and gives the trajectory, independent of the engine's own bookkeeping."""

    def __init__(self, task: RunTask, name: str) -> None:
        from evoforge.config import resolve_config
        from evoforge.problem import load_problem

        self.task = task
        self.name = name
        self.started = time.monotonic()
        self.work: Path = task.run_dir / name
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.problem = load_problem(task.problem_dir)
        config = resolve_config(problem_layer=self.problem.config_layer)
        self.eval_timeout: float = config.evaluator.timeout_s
        self.log = self.work / "evaluations.jsonl"
        self.log.touch()
        self.output = self.work / f"{name}.log"

    def run(self, command: list[str], *, wrapper: str, wrapper_path: Path) -> tuple[int, str]:
        """Serve the scoring server, write ``wrapper`` (a template with ``socket_path`` and
        ``timeout``) to ``wrapper_path`` and run ``command`` in ``work`` until it ends;
        (exit status, stop reason). A run ended by a signal raises ``RunInterrupted``."""
        from evoforge.bench.engines import RunInterrupted
        from evoforge.bench.evaluate_one import ScoringServer

        env = engine_environment()
        env["PYTHONUNBUFFERED"] = "1"
        with (
            ScoringServer(self.task.problem_dir.resolve(), self.log) as server,
            open(self.output, "w", encoding="utf-8") as output,
        ):
            wrapper_path.write_text(
                wrapper.format(socket_path=str(server.socket_path), timeout=self.eval_timeout + 60),
                encoding="utf-8",
            )
            returncode, stop_reason = run_in_own_group(
                command, cwd=self.work, output=output, env=env, timeout=self.task.max_run_seconds
            )
        if returncode < 0 or returncode == 130:
            raise RunInterrupted(str(self.work))
        return returncode, stop_reason

    def record(
        self, returncode: int, stop_reason: str, *, program: str, extra: dict[str, Any]
    ) -> RunRecord:
        """The run's record from the scoring server's log: failed (naming ``program``'s
        exit status and its output file) when the engine exited with an error."""
        entries = [
            json.loads(line)
            for line in self.log.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("{")
        ]
        wall_time_s = time.monotonic() - self.started
        if returncode != 0:
            return self.task.record(
                status=STATUS_FAILED,
                evaluations=len(entries),
                wall_time_s=wall_time_s,
                reason=f"{program} exited with {returncode} (see {self.output})",
            )
        scores: list[float | None] = [entry.get("score") for entry in entries]
        trajectory = best_so_far(scores)
        seed_scores = [entry.get("score") for entry in entries if entry.get("is_seed")]
        return self.task.record(
            status=STATUS_OK,
            best_score=trajectory[-1] if trajectory else None,
            initial_score=seed_scores[0] if seed_scores else None,
            evaluations=len(entries),
            wall_time_s=wall_time_s,
            stop_reason=stop_reason,
            trajectory=trajectory,
            failed_evaluations=count_failed(scores),
            best_code=read_best(best_path(self.log)),
            extra=extra,
        )
