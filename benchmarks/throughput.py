"""Throughput: evoforge against OpenEvolve 0.4.0, one machine, an instant evaluator.

Both engines evolve the same tiny problem (three coefficients; its evaluator costs next
to nothing) and get their children from the same instant oracle
(:mod:`evoforge.llm.oracle`, an OpenAI-compatible server on 127.0.0.1): evoforge with its
language-model operators only, OpenEvolve as its only model. Each evaluates its own way:
evoforge in its sandbox (template processes, jail where the OS allows), OpenEvolve by
importing the evaluator in its own worker processes. Both keep ``--workers`` evaluations
in flight. The engines run one after the other, never at the same time.

For each engine it reports iterations per second over the ``--window`` iterations before
each checkpoint (default 1,000 and 5,000) and overall, from the time each iteration was
committed (evoforge: the run loop's step callback; OpenEvolve: the timestamps of its
``Iteration N`` log lines). An iteration is one child asked of the model, whether or not
it was evaluated (both engines refuse some answers unevaluated).

The oracle runs in a process of its own (``evoforge oracle``, as ``evoforge bench`` runs
it), so that its work shares no interpreter with either engine; ``--oracle thread``
serves it from a thread of this process instead (as records before this option did).
Each engine's row also gives the CPU time per iteration of every part of the run
(:mod:`process_cpu`): evoforge's event-loop thread, its other threads, its proposal pool,
its other child processes (the sandbox's template processes and their runs), the
oracle; OpenEvolve's processes and the oracle. evoforge's figures come twice: over the
whole run, its start-up included (the configuration, the model's preflight, the seed's
evaluation, the pool's start), and under ``steady`` over the last window alone (the
iterations after ``max(checkpoints) - window``), the cost of an iteration once the run
is going. OpenEvolve's processes are read once they have exited, so its figures cover
the whole run.

OpenEvolve is installed once into ``--venvs``/openevolve from the package registry (as
``evoforge bench`` does). ::

    python benchmarks/throughput.py                               # 5,000 iterations each
    python benchmarks/throughput.py --iterations 1000 --checkpoints 500 1000 --json t.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from process_cpu import CpuSnapshot, per_iteration_ms
from soak import _EVALUATOR  # the same instant evaluator as the soak benchmark

from evoforge.bench.harness import OracleProcess
from evoforge.bench.openevolve import ensure_openevolve, openevolve_config
from evoforge.engine import Engine, StepReport
from evoforge.llm.oracle import start_oracle
from evoforge.llm.request_process import ProcessChatClient, requests_apart
from evoforge.loop import Budget
from evoforge.registry import OPERATORS
from evoforge.report.progress import Reporter
from evoforge.runs import start_run

_INITIAL_PROGRAM = '''"""Throughput problem: three coefficients to tune."""


# EVOLVE-BLOCK-START
def coefficients():
    a = 0.5
    b = 0.25
    c = 0.125
    return [a, b, c]


# EVOLVE-BLOCK-END
'''

_CONFIG = """evaluator:
  timeout_s: 10
  memory_mb: 512
"""

_REQUEST_PROCESS: dict[str, bool | str] = {"auto": "auto", "process": True, "driver": False}

_ITERATION_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*? Iteration (\d+): ", re.M)


class StepClock(Reporter):
    """Records the wall-clock time of every committed iteration, and the CPU of the
    run's parts at three moments: before the run starts (start-up included), when
    iteration ``steady_from`` is committed (after the start-up, the warm-up and the
    first windows), and when the loop stops (before the proposal pool's processes exit)."""

    def __init__(self, named: dict[str, int], steady_from: int = 0) -> None:
        self.started = 0.0
        self.times: list[float] = []
        self.named = named
        self.steady_from = steady_from
        self.before = CpuSnapshot.take(named=named)
        self.steady: CpuSnapshot | None = None
        self.after: CpuSnapshot | None = None

    def start(self, engine: Engine, budget: Budget) -> None:
        self.started = time.monotonic()

    def step(self, engine: Engine, report: StepReport) -> None:
        self.times.append(time.monotonic() - self.started)
        if len(self.times) == self.steady_from:
            self.steady = self._snapshot(engine)

    def stop(self, engine: Engine) -> None:
        self.after = self._snapshot(engine)

    def _snapshot(self, engine: Engine) -> CpuSnapshot:
        pool = engine.proposals.pids if engine.proposals is not None else []
        named = dict(self.named)
        requests = _request_process_pid(engine)
        if requests is not None:
            named["model_requests"] = requests
        return CpuSnapshot.take(pool=pool, named=named)


def _request_process_pid(engine: Engine) -> int | None:
    """The process id of the run's model request process, if it has one running."""
    if engine.llm is None:
        return None
    for client in engine.llm.router.clients.values():
        if isinstance(client, ProcessChatClient):
            return client.process.pid
    return None


class Oracle:
    """The instant oracle, in a process of its own or in a thread of this one."""

    def __init__(self, where: str, seed: int, log_path: Path) -> None:
        self.process = OracleProcess(log_path, seed) if where == "process" else None
        self.thread = start_oracle(seed=seed) if self.process is None else None
        self.url = self.process.url if self.process is not None else self.thread.url  # type: ignore[union-attr]

    @property
    def named(self) -> dict[str, int]:
        """Its process to report by name (none when it runs in this process)."""
        return {"oracle": self.process.process.pid} if self.process is not None else {}

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.thread is not None:
            self.thread.close()


def write_problem(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "initial_program.py").write_text(_INITIAL_PROGRAM)
    (directory / "evaluator.py").write_text(_EVALUATOR)
    (directory / "config.yaml").write_text(_CONFIG)
    return directory


def rates(times: list[float], checkpoints: list[int], window: int) -> dict[str, Any]:
    """Iterations per second over the ``window`` iterations before each checkpoint, and
    overall. ``times[k]``: seconds from the start to the commit of iteration k + 1."""
    result: dict[str, Any] = {"iterations": len(times), "windows": {}}
    if times:
        result["overall_it_per_s"] = len(times) / max(times[-1], 1e-9)
    for checkpoint in checkpoints:
        if checkpoint > len(times):
            continue
        first = max(checkpoint - window, 1)
        span = times[checkpoint - 1] - times[first - 1]
        result["windows"][str(checkpoint)] = {
            "from_iteration": first,
            "it_per_s": (checkpoint - first) / max(span, 1e-9),
        }
    return result


def run_evoforge(
    problem: Path,
    out: Path,
    oracle: Oracle,
    iterations: int,
    workers: int,
    seed: int,
    request_process: bool | str = "auto",
    steady_from: int = 0,
) -> tuple[list[float], dict[str, Any]]:
    """Commit times of the iterations, and CPU milliseconds per iteration by part
    (``request_process``: ``llm.request_process``): over the whole run, start-up
    included, and (key ``steady``) over the iterations after ``steady_from``, when that
    is between 0 and ``iterations``."""
    oracle_url = oracle.url
    clock = StepClock(oracle.named, steady_from)
    start_run(
        problem,
        cli_layer={
            "seed": seed,
            "run": {"iterations": iterations, "workers": workers, "log_mode": "quiet"},
            "operators": {"enabled": list(OPERATORS.names("llm"))},
            "llm": {
                "models": [{"model": "oracle", "base_url": oracle_url, "timeout_s": 120.0}],
                "auto_enable_operators": False,
                "request_process": request_process,
            },
        },
        run_dir=out,
        reporter=clock,
    )
    assert clock.after is not None, "the run loop never stopped"
    cpu: dict[str, Any] = per_iteration_ms(clock.after.parts_since(clock.before), len(clock.times))
    system = clock.after.other_children_system_since(clock.before)
    cpu["other_children_of_which_system"] = round(1000 * system / max(1, len(clock.times)), 2)
    if clock.steady is not None:
        steady_iterations = len(clock.times) - steady_from
        cpu["steady"] = per_iteration_ms(clock.after.parts_since(clock.steady), steady_iterations)
        cpu["steady"]["from_iteration"] = steady_from + 1
        cpu["steady"]["iterations"] = steady_iterations
    return clock.times, cpu


def run_openevolve(
    problem: Path,
    out: Path,
    oracle: Oracle,
    iterations: int,
    workers: int,
    seed: int,
    bin_dir: Path,
) -> tuple[list[float], dict[str, float]]:
    """Times of its ``Iteration N`` lines, and CPU milliseconds per iteration of its
    processes (``openevolve``) and of the oracle."""
    oracle_url = oracle.url
    out.mkdir(parents=True)
    config = openevolve_config(
        oracle_url=oracle_url, seed=seed, iterations=iterations, timeout_s=10
    )
    config["evaluator"]["parallel_evaluations"] = workers
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_API_BASE")}
    env["OPENAI_API_KEY"] = "none"
    command = [
        str(bin_dir / "openevolve-run"),
        str(problem / "initial_program.py"),
        str(problem / "evaluator.py"),
        "--config",
        str(out / "config.yaml"),
        "--iterations",
        str(iterations),
        "--output",
        str(out / "output"),
    ]
    log = out / "openevolve.log"
    with open(log, "w", encoding="utf-8") as output:
        before = CpuSnapshot.take(named=oracle.named)
        started = datetime.now()
        done = subprocess.run(
            command, cwd=out, stdout=output, stderr=subprocess.STDOUT, env=env, check=False
        )
        after = CpuSnapshot.take(named=oracle.named)
    if done.returncode != 0:
        raise RuntimeError(f"openevolve-run exited with {done.returncode} (see {log})")
    stamps: dict[int, float] = {}
    for match in _ITERATION_RE.finditer(log.read_text(encoding="utf-8", errors="replace")):
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        stamps.setdefault(int(match.group(2)), (when - started).total_seconds())
    parts = after.parts_since(before)
    cpu = {"openevolve": parts["other_children"]}  # its processes, reaped on exit
    if "oracle" in parts:
        cpu["oracle"] = parts["oracle"]
    else:  # the oracle's thread ran in this process while this one only waited
        cpu["oracle_thread"] = parts["driver_other_threads"]
    return sorted(stamps.values()), per_iteration_ms(cpu, len(stamps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", default=["evoforge", "openevolve"])
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "driver" / ".venvs",
        help="where OpenEvolve's virtual environment is made (once) and reused",
    )
    parser.add_argument(
        "--oracle",
        choices=["process", "thread"],
        default="process",
        help="serve the oracle from a process of its own (default) or a thread of this one",
    )
    parser.add_argument(
        "--requests",
        choices=["auto", "process", "driver"],
        default="auto",
        help="evoforge's llm.request_process: auto (the default), a process of their own, "
        "or the driver",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.engines) - {"evoforge", "openevolve"})
    if unknown:
        print(f"unknown engine {unknown[0]!r} (evoforge, openevolve)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    about = {
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_at_start": round(load[0], 2),
        "oracle": args.oracle,
        "requests": args.requests,
    }
    if args.requests == "auto":
        about["requests"] = f"auto: {'process' if requests_apart('auto') else 'driver'}"
    print(f"machine: {about}", flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="evoforge-throughput-") as scratch:
        oracle = Oracle(args.oracle, args.seed, Path(scratch) / "oracle.log")
        try:
            problem = write_problem(Path(scratch) / "problem")
            for engine in args.engines:
                out = Path(scratch) / engine
                load_before = os.getloadavg()[0]
                if engine == "evoforge":
                    times, cpu = run_evoforge(
                        problem,
                        out,
                        oracle,
                        args.iterations,
                        args.workers,
                        args.seed,
                        request_process=_REQUEST_PROCESS[args.requests],
                        steady_from=max(0, max(args.checkpoints) - args.window),
                    )
                else:
                    bin_dir = ensure_openevolve(args.venvs.resolve(), Path(scratch) / "install.log")
                    times, cpu = run_openevolve(
                        problem, out, oracle, args.iterations, args.workers, args.seed, bin_dir
                    )
                results[engine] = rates(times, args.checkpoints, args.window)
                results[engine]["cpu_ms_per_iteration"] = cpu
                results[engine]["load_before"] = round(load_before, 2)
                results[engine]["load_after"] = round(os.getloadavg()[0], 2)
                print(json.dumps({engine: results[engine]}), flush=True)
        finally:
            oracle.close()
    if "evoforge" in results and "openevolve" in results:
        ratios = {}
        for checkpoint, window in results["evoforge"]["windows"].items():
            other = results["openevolve"]["windows"].get(checkpoint)
            if other:
                ratios[checkpoint] = window["it_per_s"] / max(other["it_per_s"], 1e-9)
        results["evoforge_over_openevolve"] = ratios
        print(json.dumps({"evoforge_over_openevolve": ratios}), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "command": "python benchmarks/throughput.py " + " ".join(argv or sys.argv[1:]),
            "about": about,
            "results": results,
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
