"""The ray backend on a real local Ray instance (2 CPUs, one for the whole module).

A problem runs end to end on it; a worker killed mid-evaluation costs a retry, not the
run, and every evaluation is recorded once; hostile candidates are contained on Ray
workers as on the local backend.

Every test that starts a local Ray instance is in this module, and ``make test`` runs a
module's tests on one worker (``--dist loadfile``): one Ray instance at a time, never two
of 2 CPUs each, and the count of the Ray workers' problem copies in the temp directory
sees this module's workers alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

import evoforge
from evoforge.config import resolve_config
from evoforge.engine import Engine
from evoforge.evaluation.backends.ray_backend import RayBackend
from evoforge.evaluation.raw import RawEvaluation
from evoforge.kinds import StopReason
from evoforge.loop import Budget, drive
from evoforge.problem import load_problem
from evoforge.program import EvalStatus
from evoforge.report.progress import make_reporter
from evoforge.storage.db import RunDatabase
from tests.adversarial.conftest import (
    CONFIG,
    EVALUATOR,
    INITIAL_PROGRAM,
    SECRET_VARIABLE,
    TAG_VARIABLE,
    HostileRun,
)
from tests.adversarial.test_hostile_candidates import CASES, _check_aftermath

PROBLEMS = Path(__file__).resolve().parents[2] / "e2e" / "problems"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[dict[str, str]]:
    """One local Ray instance with 2 CPUs. The hostile candidates' tag and secret are in
    the environment before it starts, so its workers inherit them as a user's would."""
    names = {TAG_VARIABLE: uuid.uuid4().hex, SECRET_VARIABLE: f"sk-ray-{uuid.uuid4().hex}"}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield names
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_a_problem_runs_end_to_end_on_ray(ray_instance: dict[str, str], tmp_path: Path) -> None:
    problem_dir = tmp_path / "problem"
    shutil.copytree(PROBLEMS / "isolated_curve_fit", problem_dir)
    result = evoforge.run(
        problem_dir,
        iterations=16,
        workers=2,
        seed=2,
        config={"evaluator": {"backend": "ray"}},
        out=tmp_path / "run",
    )
    assert result.stop_reason is StopReason.ITERATIONS and result.iterations == 16
    assert result.evaluations >= 8  # the seed and most children (some are duplicates)
    assert result.best_score is not None and result.initial_score is not None
    assert result.best_score >= result.initial_score
    engine = Engine.open(tmp_path / "run")
    try:
        assert isinstance(engine.backend, RayBackend)  # a resume keeps the backend
        assert engine.db.count_programs() == 17
    finally:
        engine.close()


SLOW_EVALUATOR = """\
import importlib.util
import time


def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    time.sleep(1.5)  # long enough for the test to kill the worker in the middle
    return {"combined_score": -abs(module.value() - 3.0)}
"""

SLOW_PROGRAM = """\
# EVOLVE-BLOCK-START
def value():
    return 1.0
# EVOLVE-BLOCK-END
"""


def _problem_copies() -> set[str]:
    """The Ray workers' copies of problem directories now in the temp directory."""
    return {path.name for path in Path(tempfile.gettempdir()).glob("evoforge-ray-problem-*")}


def test_a_worker_killed_mid_evaluation_costs_a_retry_not_the_run(
    ray_instance: dict[str, str], tmp_path: Path
) -> None:
    problem_dir = tmp_path / "problem"
    problem_dir.mkdir()
    (problem_dir / "initial_program.py").write_text(SLOW_PROGRAM)
    (problem_dir / "evaluator.py").write_text(SLOW_EVALUATOR)
    problem = load_problem(problem_dir)
    config = resolve_config(
        cli_layer={
            "seed": 1,
            "evaluator": {"backend": "ray", "timeout_s": 30},
            "operators": {"enabled": ["tune"]},
            "archive": {"num_islands": 1},
        }
    )
    copies_before = _problem_copies()
    engine = Engine.create(problem, config, tmp_path / "run")
    backend = engine.backend
    assert isinstance(backend, RayBackend)
    killed: list[tuple[str, int]] = []

    def kill_one_worker_mid_evaluation() -> None:
        """Kill the worker of the first evaluation seen starting, at once: well inside
        its 1.5 s (and before it starts, if Ray is still starting the worker)."""
        deadline = time.monotonic() + 300
        while not killed and time.monotonic() < deadline:
            for key in backend.busy_keys():
                pid = backend.worker_pid(key)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((key, pid))
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker_mid_evaluation)
    killer.start()
    try:
        result = drive(engine, Budget(iterations=6), make_reporter("quiet"), workers=2)
    finally:
        killer.join()
        engine.close()
    assert killed, "no evaluation was ever in flight"
    assert result.stop_reason is StopReason.ITERATIONS and result.iterations == 6
    reopened = Engine.open(tmp_path / "run")
    try:
        steps = list(reopened.db.steps())
        ids = [step.program.id for step in steps]
        assert len(ids) == len(set(ids)) == 7  # the seed and 6 children, each once
        assert reopened.counters.evaluations == sum(step.evaluated for step in steps)
        assert reopened.counters.evaluations == result.evaluations
        victim = reopened.db.program(killed[0][0])
        assert victim is not None and victim.status is EvalStatus.OK, victim
        assert "retried after a lost Ray worker" in victim.artifacts["backend"]
    finally:
        reopened.close()
    # the killed worker never removed its copy of the problem; the worker started for the
    # retry did (its sandbox sweeps the directories of processes that no longer exist),
    # and the others removed theirs when the engine closed
    assert _problem_copies() - copies_before == set()


def _curve_fit_backend(tmp_path: Path, **options: Any) -> tuple[RayBackend, str]:
    """A backend (with ``options``) over a copy of the isolated curve-fit problem, and its
    seed's code."""
    from evoforge.config import EvaluatorConfig

    problem_dir = tmp_path / "problem"
    if not problem_dir.exists():
        shutil.copytree(PROBLEMS / "isolated_curve_fit", problem_dir)
    files = {p.name: p.read_bytes() for p in problem_dir.iterdir() if p.is_file()}
    backend = RayBackend(files, EvaluatorConfig(timeout_s=5), None, **options)
    return backend, (problem_dir / "initial_program.py").read_text()


def _evaluate_once(backend: RayBackend, code: str) -> RawEvaluation:
    """One evaluation of ``code`` on ``backend``, which is closed after it."""
    import asyncio

    from evoforge.evaluation.backends.base import EvaluationRequest

    try:
        return asyncio.run(backend.evaluate(EvaluationRequest(code=code, key="once")))
    finally:
        backend.close()


def test_more_evaluations_than_the_clusters_cpus_wait_for_a_worker(
    ray_instance: dict[str, str], tmp_path: Path
) -> None:
    """Four evaluations at once on 2 CPUs: two wait for a worker instead of an actor
    that Ray cannot place (which would pass for a lost worker and fail a sound child).
    Runs before the hostile candidates' module-wide engine holds workers of its own."""
    import asyncio

    from evoforge.evaluation.backends.base import EvaluationRequest

    backend, code = _curve_fit_backend(tmp_path)

    async def four() -> list[object]:
        requests = [EvaluationRequest(code=code, key=f"i{n}") for n in range(4)]
        return list(await asyncio.gather(*(backend.evaluate(r) for r in requests)))

    try:
        answers = asyncio.run(four())
    finally:
        backend.close()
    for raw in answers:
        assert not raw.error and raw.attempts == 1 and not raw.notes, raw


def test_a_split_scored_task_by_task_runs_each_task_fresh_on_a_worker(
    ray_instance: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three tasks of 1.5 s each on a worker, with a 3 s timeout (each task's) and a 1 s
    margin: the wait for the worker's answer allows for all three tasks (4.5 s would pass
    for a lost worker against one task's 3 + 1 s), and the judge sees a fresh candidate
    in each task."""
    import asyncio

    from evoforge.config import EvaluatorConfig
    from evoforge.evaluation.backends import ray_backend
    from evoforge.evaluation.backends.base import EvaluationRequest
    from evoforge.evaluation.evaluator import ProblemEvaluator
    from tests.evaluation.test_split_tasks import REMEMBERING, TASK_EVALUATOR

    monkeypatch.setattr(ray_backend, "_ANSWER_MARGIN_S", 1.0)
    problem_dir = tmp_path / "problem"
    problem_dir.mkdir()
    (problem_dir / "evaluator.py").write_text(TASK_EVALUATOR)
    config = EvaluatorConfig(timeout_s=3)
    judge = ProblemEvaluator(problem_dir / "evaluator.py", config)
    backend = RayBackend.from_config(config, judge)
    slow = "import time\n" + REMEMBERING.replace("SEEN.append", "time.sleep(1.5)\n    SEEN.append")
    try:
        raw = asyncio.run(backend.evaluate(EvaluationRequest(slow, "tasks", "holdout")))
    finally:
        backend.close()
    assert not raw.error and raw.attempts == 1 and len(raw.tasks) == 3, raw.error
    result = judge.judge(raw, split="holdout")
    judge.close()
    assert result.status is EvalStatus.OK, result.reason
    assert [result.metrics[f"task{task}_seen"] for task in range(3)] == [1.0, 1.0, 1.0]


def test_a_worker_with_no_cpu_free_fails_with_the_reason(
    ray_instance: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other work holds both CPUs: the evaluation fails once the placement limit passes,
    saying so, instead of counting as lost workers; freed CPUs serve the next one."""
    import asyncio

    from evoforge.evaluation.backends import ray_backend
    from evoforge.evaluation.backends.base import EvaluationRequest

    @ray.remote(num_cpus=1)
    class Holder:
        def ready(self) -> bool:
            return True

    holders = [Holder.remote() for _ in range(2)]  # type: ignore[attr-defined]
    ray.get([holder.ready.remote() for holder in holders], timeout=120)
    monkeypatch.setattr(ray_backend, "_PLACEMENT_LIMIT_S", 3.0)
    backend, code = _curve_fit_backend(tmp_path)
    try:
        raw = asyncio.run(backend.evaluate(EvaluationRequest(code=code, key="held")))
        assert raw.run is None and raw.attempts == 1, raw
        assert raw.error.startswith("no CPU of the Ray cluster came free"), raw.error
        for holder in holders:
            ray.kill(holder)
        monkeypatch.setattr(ray_backend, "_PLACEMENT_LIMIT_S", 120.0)
        raw = asyncio.run(backend.evaluate(EvaluationRequest(code=code, key="freed")))
        assert not raw.error and raw.attempts == 1, raw
    finally:
        backend.close()
        for holder in holders:
            ray.kill(holder)


def test_a_node_that_isolates_less_than_the_run_reported_is_refused(
    ray_instance: dict[str, str], tmp_path: Path
) -> None:
    """The run's isolation line describes the driver's machine; a worker whose node has
    no jail (played here by a worker that reports none) evaluates nothing, and says why."""

    from evoforge.evaluation.backends.ray_backend import SandboxWorker

    class NoJailWorker(SandboxWorker):
        def isolation(self) -> tuple[str, str]:
            return "none: no user namespaces on this node", "none: no user namespaces"

        def run(self, code: str, split: str | None = None) -> object:
            raise AssertionError("a refused worker was asked to run a candidate")

    backend, code = _curve_fit_backend(
        tmp_path, expected_isolation=("mountns", "userns+netns"), worker_body=NoJailWorker
    )
    raw = _evaluate_once(backend, code)
    assert raw.run is None and raw.attempts == 1, raw
    assert "gives candidates no filesystem jail (none: no user namespaces on this node)" in (
        raw.error
    )
    assert "and no network isolation" in raw.error and "the Ray worker on node " in raw.error
    # a driver without the jail itself expects none of its workers: this one is asked to run
    backend, code = _curve_fit_backend(
        tmp_path,
        expected_isolation=("none: no jail here either", "none: nor network isolation"),
        worker_body=NoJailWorker,
    )
    raw = _evaluate_once(backend, code)
    assert raw.error.startswith("lost the Ray worker"), raw


def _evoforge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", *args],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def _stored_ray_address(run_dir: Path) -> str | None:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return json.loads(db.get_meta("config") or "{}")["evaluator"]["ray_address"]
    finally:
        db.close()


def test_a_ray_run_prints_only_its_result_when_quiet_and_resumes_on_another_cluster(
    ray_instance: dict[str, str], tmp_path: Path
) -> None:
    """The local instance a run starts for itself says nothing of its own set-up; a
    resume given ``--ray-address`` joins that cluster from then on (here: this module's
    instance), and refuses an address where nothing listens, keeping the stored one."""
    problem_dir = tmp_path / "problem"
    shutil.copytree(PROBLEMS / "isolated_curve_fit", problem_dir)
    run_dir = tmp_path / "run"
    done = _evoforge("run", str(problem_dir), "--iterations", "2", "--executor", "ray",
                     "--quiet", "--out", str(run_dir))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 1 and "after 2 iterations" in done.stdout
    assert _stored_ray_address(run_dir) is None

    cluster = ray.get_runtime_context().gcs_address
    done = _evoforge("resume", str(run_dir), "--iterations", "2", "--ray-address", cluster,
                     "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "after 4 iterations" in done.stdout
    assert _stored_ray_address(run_dir) == cluster

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    done = _evoforge("resume", str(run_dir), "--iterations", "1", "--ray-address", closed)
    assert done.returncode == 2
    assert done.stderr.startswith(f"evoforge: error: cannot reach Ray at {closed}")
    assert len(done.stderr.splitlines()) == 1
    assert _stored_ray_address(run_dir) == cluster


def test_ray_address_on_resume_needs_a_run_on_the_ray_backend(tmp_path: Path) -> None:
    problem_dir = tmp_path / "problem"
    shutil.copytree(PROBLEMS / "isolated_curve_fit", problem_dir)
    run_dir = tmp_path / "run"
    evoforge.run(problem_dir, iterations=1, workers=1, out=run_dir)
    done = _evoforge("resume", str(run_dir), "--ray-address", "auto")
    assert done.returncode == 2
    assert done.stderr == (
        f"evoforge: error: {run_dir}: the run evaluates on the local backend, not on Ray: "
        "--ray-address does not apply\n"
    )


@pytest.fixture(scope="module")
def hostile_ray_run(
    ray_instance: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileRun]:
    base = tmp_path_factory.mktemp("hostile-ray")
    problem_dir = base / "problem"
    problem_dir.mkdir()
    (problem_dir / "initial_program.py").write_text(INITIAL_PROGRAM)
    (problem_dir / "evaluator.py").write_text(EVALUATOR)
    (problem_dir / "config.yaml").write_text(CONFIG)
    home = base / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the user's own file\n")
    problem = load_problem(problem_dir)
    config = resolve_config(
        problem_layer=problem.config_layer, cli_layer={"evaluator": {"backend": "ray"}}
    )
    engine = Engine.create(problem, config, base / "run")
    try:
        assert isinstance(engine.backend, RayBackend)
        yield HostileRun(
            engine,
            problem_dir,
            base / "run",
            home,
            ray_instance[TAG_VARIABLE],
            ray_instance[SECRET_VARIABLE],
        )
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("block", "status", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_hostile_candidate_is_contained_on_a_ray_worker(
    hostile_ray_run: HostileRun, block: str, status: EvalStatus, reason: str
) -> None:
    before = hostile_ray_run.outside_snapshot()
    program = hostile_ray_run.submit(hostile_ray_run.candidate(block))
    assert program.status is status, program.reason
    assert reason in program.reason
    _check_aftermath(hostile_ray_run, program, before)


def test_secrets_in_the_workers_environment_do_not_reach_a_candidate(
    hostile_ray_run: HostileRun,
) -> None:
    before = hostile_ray_run.outside_snapshot()
    program = hostile_ray_run.submit(
        hostile_ray_run.candidate(
            """
            import os
            def run():
                text = "\\n".join(f"{k}={v}" for k, v in os.environ.items())
                return {"combined_score": float("sk-ray-" in text), "env": text[-300:]}
            """
        )
    )
    assert program.status is EvalStatus.OK, program.reason
    assert program.score == 0.0  # the candidate saw no secret
    assert hostile_ray_run.secret not in program.artifacts.get("metric:env", "")
    _check_aftermath(hostile_ray_run, program, before)


def test_an_address_where_nothing_listens_is_refused_at_once() -> None:
    from evoforge.evaluation.backends.base import BackendError
    from evoforge.evaluation.backends.ray_backend import _check_reachable

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(BackendError, match=r"cannot reach Ray at 127\.0\.0\.1"):
        _check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(BackendError, match="not a HOST:PORT address"):
        _check_reachable("127.0.0.1:99999")
    _check_reachable("auto")  # left to Ray
    _check_reachable(None)


def test_a_workers_problem_copy_survives_another_namespaces_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen from another pid namespace (another container sharing the temp directory) a
    worker's pid means nothing: its claim keeps its copy of the problem. (The worker's
    body, without a cluster.)"""
    from evoforge.config import EvaluatorConfig
    from evoforge.evaluation.backends.ray_backend import SandboxWorker
    from evoforge.evaluation.sandbox import reaper, remove_stale_workdirs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the sweep takes only these
    evaluator = b"def evaluate(program_path):\n    return {'combined_score': 1.0}\n"
    worker = SandboxWorker({"evaluator.py": evaluator}, EvaluatorConfig(timeout_s=5))
    try:
        monkeypatch.setattr(reaper, "process_exists", lambda pid: False)
        remove_stale_workdirs(tmp_path)
        assert [path.name for path in tmp_path.glob("evoforge-ray-problem-*/*")] == ["evaluator.py"]
    finally:
        worker.close()
    assert not list(tmp_path.glob("evoforge-ray-problem-*"))
