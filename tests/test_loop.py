"""The run loop's budgets and log modes."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import evoforge
from evoforge.cli import main
from evoforge.config import EvaluatorConfig, resolve_config
from evoforge.engine import Engine
from evoforge.evaluation.backends.base import EvaluationBackend, EvaluationRequest
from evoforge.evaluation.evaluator import ProblemEvaluator
from evoforge.evaluation.raw import RawEvaluation
from evoforge.evaluation.sandbox.records import SandboxRun
from evoforge.loop import Budget, drive, proposals_ahead
from evoforge.problem import load_problem
from evoforge.registry import BACKENDS
from evoforge.report.progress import make_reporter

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"


@pytest.fixture
def problem(tmp_path: Path) -> Path:
    target = tmp_path / "problem"
    shutil.copytree(PROBLEM, target)
    return target


def test_evaluation_budget_counts_only_evaluations(problem: Path, tmp_path: Path) -> None:
    result = evoforge.run(
        problem, iterations=500, config={"run": {"max_evaluations": 12}}, out=tmp_path / "r"
    )
    assert result.stop_reason == "evaluations budget reached"
    assert result.evaluations == 12  # the seed's evaluation counts too
    assert result.iterations >= 11


def test_target_score_stops_the_run(problem: Path, tmp_path: Path) -> None:
    result = evoforge.run(
        problem, iterations=500, config={"run": {"target_score": -10.0}}, out=tmp_path / "r"
    )
    assert result.stop_reason == "target score reached"
    assert result.iterations < 500


def test_wall_time_budget(problem: Path, tmp_path: Path) -> None:
    result = evoforge.run(
        problem, iterations=100000, config={"run": {"max_wall_time_s": 1.0}}, out=tmp_path / "r"
    )
    assert result.stop_reason == "wall-time budget reached"
    assert result.iterations < 100000


def test_jsonl_mode_prints_one_object_per_event(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["run", str(problem), "--iterations", "5", "--out", str(tmp_path / "r"), "--jsonl"]
    )
    assert status == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert any("shared-process form" in note for note in notes)  # the problem's form
    events = [e for e in events if e["event"] != "note"]
    assert events[0]["event"] == "start"
    assert [e["event"] for e in events].count("step") == 5
    assert events[-1]["event"] == "end" and events[-1]["iterations"] == 5
    steps = [e for e in events if e["event"] == "step"]
    assert {"iteration", "operator", "status", "score", "reward", "best_score"} <= set(steps[0])


def test_fresh_replaces_a_previous_run_but_not_other_files(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "r"
    assert main(["run", str(problem), "--iterations", "3", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["run", str(problem), "--iterations", "3", "--out", str(run_dir), "--quiet"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (
        main(
            ["run", str(problem), "--iterations", "4", "--out", str(run_dir), "--fresh", "--quiet"]
        )
        == 0
    )
    (run_dir / "precious.txt").write_text("keep me")
    assert main(["run", str(problem), "--out", str(run_dir), "--fresh", "--quiet"]) == 2
    assert (run_dir / "precious.txt").exists()


class _CountingBackend(EvaluationBackend):
    """Evaluations that wait a little in the driver's loop and score from the code,
    recording how many ran at once and how many jobs were open meanwhile."""

    name = "loop-test-counting"
    engine: Engine | None = None
    running = 0
    most_running = 0
    most_open_jobs = 0

    @classmethod
    def from_config(cls, config: EvaluatorConfig, evaluator: ProblemEvaluator) -> EvaluationBackend:
        return cls()

    async def evaluate(self, request: EvaluationRequest) -> RawEvaluation:
        counts = type(self)
        counts.running += 1
        counts.most_running = max(counts.most_running, counts.running)
        if counts.engine is not None:
            counts.most_open_jobs = max(counts.most_open_jobs, len(counts.engine._open_jobs))
        try:
            await asyncio.sleep(0.02)
        finally:
            counts.running -= 1
        score = len(request.code) % 97 / 97
        record = {
            "stages": [{"metrics": {"combined_score": score}, "artifacts": {}}],
            "error": None,
        }
        run = SandboxRun(returncode=0, result=json.dumps(record).encode(), duration_s=0.02)
        return RawEvaluation(run=run, duration_s=0.02)


@pytest.fixture
def counting_backend() -> Iterator[None]:
    """The counting backend, registered for one test (the registry is process-wide: a
    name left behind would show up in every later configuration reference)."""
    BACKENDS.register(_CountingBackend.name, f"{__name__}:_CountingBackend", summary="loop test")
    try:
        yield
    finally:
        BACKENDS.unregister(_CountingBackend.name)


@pytest.mark.parametrize(("workers", "ahead"), [(1, 0), (3, 2), (40, 4)])
def test_the_loop_asks_ahead_but_never_evaluates_more_than_its_workers(
    problem: Path, tmp_path: Path, workers: int, ahead: int, counting_backend: None
) -> None:
    """With several workers, jobs beyond the workers propose while the workers evaluate
    (per proposal process, one for every 16 workers and at least one); with one worker
    the loop stays strictly sequential."""
    config = resolve_config(
        cli_layer={
            "seed": 0,
            "run": {"workers": workers, "proposal_processes": 2},
            "evaluator": {"backend": _CountingBackend.name},
        }
    )
    engine = Engine.create(load_problem(problem), config, tmp_path / "run")
    _CountingBackend.engine = engine
    _CountingBackend.most_running = _CountingBackend.most_open_jobs = 0
    try:
        result = drive(engine, Budget(iterations=60), make_reporter("quiet"), workers)
    finally:
        _CountingBackend.engine = None
        engine.close()
    assert result.iterations == 60
    assert _CountingBackend.most_running <= workers
    assert proposals_ahead(engine, workers) == ahead
    assert _CountingBackend.most_open_jobs == workers + ahead
