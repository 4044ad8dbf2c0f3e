"""The run loop's budgets and log modes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
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
from evoforge.runs import _InterruptAfterSeed, default_run_dir
from evoforge.storage.db import RunDatabase
from tests.problem_files import write_problem

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


def test_a_block_the_symbolic_operators_cannot_change_is_named_when_the_run_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terms = " + ".join(["0.5"] * 600)  # valid Python, too deep for ast.unparse
    directory = write_problem(
        tmp_path / "deep",
        program=f"# EVOLVE-BLOCK-START\nTOTAL = {terms}\n# EVOLVE-BLOCK-END\n",
        evaluator="def evaluate(program_path):\n    return {'combined_score': 1.0}\n",
    )
    run = ["run", str(directory), "--iterations", "1", "--out", str(tmp_path / "r"), "--jsonl"]
    assert main(run) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert (
        "the symbolic operators can make no child of evolve block 1 (line 2): it is nested "
        "too deeply for ast.unparse"
    ) in notes


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


def test_fresh_also_clears_the_report_written_into_the_run_directory(
    problem: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "r"
    assert main(["run", str(problem), "--iterations", "2", "--out", str(run_dir), "--quiet"]) == 0
    assert main(["report", str(run_dir)]) == 0  # writes RUN_DIR/report.html
    assert (run_dir / "report.html").is_file()
    argv = ["run", str(problem), "--iterations", "2", "--out", str(run_dir), "--fresh", "--quiet"]
    assert main(argv) == 0
    assert not (run_dir / "report.html").exists()


def test_runs_started_in_the_same_second_get_directories_of_their_own(
    problem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda pattern, *rest: "20261206-120000")
    loaded = load_problem(problem)
    first, second, third = (default_run_dir(loaded) for _ in range(3))
    assert first.name == "problem-20261206-120000"
    assert second.name == "problem-20261206-120000-2"
    assert third.name == "problem-20261206-120000-3"
    assert all(path.is_dir() and not any(path.iterdir()) for path in (first, second, third))


def _stop_while_the_seed_is_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next seed evaluation ends as a Ctrl-C would end it (what a ``kill -9`` at that
    moment leaves on disk is the same: every earlier write is committed)."""
    real = Engine.evaluate

    def interrupted(self: Engine, code: str) -> object:
        monkeypatch.setattr(Engine, "evaluate", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "evaluate", interrupted)


def test_a_run_stopped_while_its_seed_is_scored_resumes(
    problem: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = tmp_path / "r"
    _stop_while_the_seed_is_scored(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        evoforge.run(problem, iterations=4, out=run_dir)
    assert (run_dir / "run.sqlite").is_file()
    capsys.readouterr()
    assert main(["best", str(run_dir), "--json"]) == 0  # every key, empty
    unscored = json.loads(capsys.readouterr().out)
    assert unscored["program_id"] is None and unscored["code"] is None
    assert {"metrics", "iteration_found", "operator", "lineage"} <= set(unscored)
    assert main(["best", str(run_dir), "-o", str(tmp_path / "best.py")]) == 2
    assert "no scored program yet" in capsys.readouterr().err
    assert main(["resume", str(run_dir), "--quiet"]) == 0  # scores the seed, then runs
    database = RunDatabase(run_dir / "run.sqlite")
    try:
        assert database.program("seed") is not None
        assert database.count_programs() == 5  # the seed and four children, once each
    finally:
        database.close()


def test_a_run_stopped_while_its_seed_is_scored_can_be_started_again(
    problem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "r"
    _stop_while_the_seed_is_scored(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        evoforge.run(problem, iterations=4, out=run_dir)
    argv = ["run", str(problem), "--iterations", "3", "--out", str(run_dir), "--quiet"]
    assert main(argv) == 0  # no progress was made: no --fresh needed
    assert main(["status", str(run_dir), "--json"]) == 0


def test_a_ctrl_c_while_the_seed_is_scored_lets_it_finish_then_stops(tmp_path: Path) -> None:
    """The first SIGINT is noted and the seed's evaluation goes on; the run stops after
    it (KeyboardInterrupt, the engine closed); a second SIGINT abandons at once."""
    notes: list[str] = []

    class _Closable:
        closed = False

        def close(self) -> None:
            self.closed = True

    with _InterruptAfterSeed(notes.append, tmp_path / "r") as interrupt:
        os.kill(os.getpid(), signal.SIGINT)  # handled: nothing is raised here
        carried_on = True
    assert carried_on and interrupt.pressed
    assert "the seed's evaluation" in notes[0] and "evoforge resume" in notes[0]
    engine = _Closable()
    with pytest.raises(KeyboardInterrupt):
        interrupt.check(engine)  # type: ignore[arg-type]
    assert engine.closed
    with pytest.raises(KeyboardInterrupt), _InterruptAfterSeed(notes.append, tmp_path / "r"):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)  # the second one abandons
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    before_term = signal.getsignal(signal.SIGTERM)
    with _InterruptAfterSeed(notes.append, tmp_path / "r") as interrupt:
        os.kill(os.getpid(), signal.SIGTERM)  # a service manager's stop: the same
    assert interrupt.pressed and signal.getsignal(signal.SIGTERM) is before_term


def test_a_run_stopped_before_its_setup_says_how_to_start_it_again(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    RunDatabase(run_dir / "run.sqlite", create=True).close()  # the schema, nothing else
    assert main(["resume", str(run_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert "holds no run to resume" in error and "evoforge run PROBLEM_DIR" in error
    assert len(error.splitlines()) == 1
    argv = ["run", str(problem), "--iterations", "2", "--out", str(run_dir), "--quiet"]
    assert main(argv) == 0


def test_a_database_that_is_not_a_run_is_never_replaced_unasked(
    problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "run.sqlite").write_bytes(b"not a database at all, but someone's file" * 50)
    argv = ["run", str(problem), "--iterations", "2", "--out", str(run_dir), "--quiet"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "holds a run database SQLite cannot read; move it away, or pass --fresh" in error
    assert (run_dir / "run.sqlite").read_bytes().startswith(b"not a database")


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


def test_a_run_started_inside_a_running_event_loop_completes(problem: Path, tmp_path: Path) -> None:
    """A notebook's cell runs in an event loop: the run's own loop then runs beside it."""

    async def cell() -> evoforge.RunResult:
        return evoforge.run(problem, iterations=6, workers=2, seed=1, out=tmp_path / "r")

    result = asyncio.run(cell())
    assert result.stop_reason == "iterations budget reached" and result.iterations == 6
    assert result.best_score is not None and result.best_score >= result.initial_score


def test_an_interrupt_of_a_run_inside_an_event_loop_stops_it_as_ctrl_c_does(
    tmp_path: Path,
) -> None:
    """The stop button of a notebook interrupts the waiting thread: the evaluations in
    flight finish, the run stops as interrupted and resumes."""
    import threading

    problem = write_problem(
        tmp_path / "slow",
        program="# EVOLVE-BLOCK-START\ndef value():\n    return 1.0\n# EVOLVE-BLOCK-END\n",
        evaluator="import importlib.util, time\n\n\n"
        "def evaluate(program_path):\n"
        "    spec = importlib.util.spec_from_file_location('c', program_path)\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    time.sleep(0.2)\n"
        "    return {'combined_score': -abs(module.value() - 3.0)}\n",
    )
    run_dir = tmp_path / "run"
    main_thread = threading.get_ident()

    def committed() -> int:
        """Programs committed so far (0 while the database is being made)."""
        import sqlite3

        try:
            uri = f"file:{run_dir / RunDatabase.FILENAME}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                return int(db.execute("SELECT COUNT(*) FROM programs").fetchone()[0])
        except sqlite3.Error:
            return 0

    def interrupt_once_children_are_committed() -> None:
        for _ in range(600):
            if committed() >= 3:
                signal.pthread_kill(main_thread, signal.SIGINT)
                return
            threading.Event().wait(0.1)

    async def cell() -> evoforge.RunResult:
        return evoforge.run(
            problem,
            iterations=300,
            workers=1,
            config={"operators": {"enabled": ["tune"]}},
            out=run_dir,
        )

    interrupter = threading.Thread(target=interrupt_once_children_are_committed)
    interrupter.start()
    loop = asyncio.new_event_loop()  # a kernel's loop: no SIGINT handler of its own
    try:
        result = loop.run_until_complete(cell())
    finally:
        loop.close()
        interrupter.join()
    assert result.stop_reason == "interrupted", result.stop_reason
    assert 2 <= result.iterations < 300
    resumed = evoforge.resume(run_dir, iterations=2)
    assert resumed.iterations == result.iterations + 2


def test_python_api_arguments_of_the_wrong_kind_are_one_line_config_errors(
    problem: Path, tmp_path: Path
) -> None:
    with pytest.raises(evoforge.ConfigError, match="config: expected a YAML path or a mapping"):
        evoforge.run(problem, config=[1, 2], out=tmp_path / "r")  # type: ignore[arg-type]
    assert not (tmp_path / "r").exists()
    with pytest.raises(evoforge.ConfigError, match=r"resume\(\) arguments: iterations"):
        evoforge.resume(tmp_path / "r", iterations=-1)
    with pytest.raises(evoforge.ConfigError, match=r"resume\(\) arguments: log_mode"):
        evoforge.resume(tmp_path / "r", log_mode="loud")


def test_a_resumed_run_is_not_reported_stopped_while_it_runs(problem: Path, tmp_path: Path) -> None:
    """The stop of the first invocation is cleared when the loop starts again (``status``
    and the web view read it); the resume's own stop is written when it ends."""
    from evoforge.report.progress import Reporter

    run_dir = tmp_path / "r"
    evoforge.run(problem, iterations=2, workers=1, out=run_dir)
    seen: list[object] = []

    class Watching(Reporter):
        def start(self, engine: Engine, budget: Budget) -> None:
            seen.append(engine.db.get_state("stop_reason"))

    engine = Engine.open(run_dir)
    try:
        assert engine.db.get_state("stop_reason") == "iterations budget reached"
        result = drive(engine, Budget(iterations=4), Watching(), workers=1)
        assert seen == [None]
        assert engine.db.get_state("stop_reason") == "iterations budget reached"
        assert result.iterations == 4
    finally:
        engine.close()


def test_a_run_whose_directory_is_deleted_stops_with_one_line_and_status_2(
    problem: Path, tmp_path: Path
) -> None:
    """Commits into an unlinked database are lost: the run says so and stops instead of
    reporting success for a run directory that no longer exists."""
    import subprocess
    import sys

    run_dir = tmp_path / "r"
    process = subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", "run", str(problem), "--out", str(run_dir),
         "--iterations", "2000", "--workers", "1", "--jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if '"iteration": 5,' in line:
            shutil.rmtree(run_dir)
            break
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 2, errors
    lines = errors.strip().splitlines()
    assert lines[-1].startswith(f"evoforge: error: the run database {run_dir / 'run.sqlite'}")
    assert "was removed or replaced while this run wrote it" in lines[-1]
