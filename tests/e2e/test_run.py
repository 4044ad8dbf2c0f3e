"""Whole runs offline: improvement, the JSON contracts of best/status, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evoforge
from evoforge.engine import EngineError
from evoforge.storage.db import RunDatabase

from .conftest import run_cli


def _history(run_dir: Path) -> list[tuple[str, str, float | None, str]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        return [
            (s.program.code_hash, s.program.status.value, s.program.score, s.program.operator)
            for s in db.steps()
        ]
    finally:
        db.close()


def test_a_run_improves_on_the_seed(curve_fit: Path, tmp_path: Path) -> None:
    result = evoforge.run(curve_fit, iterations=60, seed=1, out=tmp_path / "run")
    assert result.iterations == 60
    assert result.initial_score is not None and result.best_score is not None
    assert result.best_score > result.initial_score
    assert result.stop_reason == "iterations budget reached"


def test_best_and_status_json_contracts(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_cli("run", str(curve_fit), "--iterations", "20", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    for key in (
        "program_id",
        "score",
        "initial_score",
        "metrics",
        "iteration_found",
        "operator",
        "code",
    ):
        assert key in best
    assert best["score"] >= best["initial_score"]
    assert "mse" in best["metrics"]
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    for key in ("iterations", "evaluations", "programs", "best_score", "failures", "operators"):
        assert key in status
    assert status["iterations"] == 20
    assert status["programs"] == 21
    assert status["best_score"] == best["score"]
    assert sum(op["uses"] for op in status["operators"].values()) == 20
    for stats in status["operators"].values():
        assert set(stats) >= {"uses", "successes", "mean_reward"}
    human = run_cli("status", str(run_dir))
    assert human.returncode == 0 and "operator" in human.stdout


def test_sequential_runs_are_reproducible(curve_fit: Path, tmp_path: Path) -> None:
    first = tmp_path / "a"
    second = tmp_path / "b"
    evoforge.run(curve_fit, iterations=16, seed=5, workers=1, out=first)
    evoforge.run(curve_fit, iterations=16, seed=5, workers=1, out=second)
    assert _history(first) == _history(second)
    other = tmp_path / "c"
    evoforge.run(curve_fit, iterations=16, seed=6, workers=1, out=other)
    assert _history(other) != _history(first)


def test_operators_in_worker_processes_give_the_run_they_give_in_the_driver(
    curve_fit: Path, tmp_path: Path
) -> None:
    pooled = tmp_path / "pooled"
    in_driver = tmp_path / "in_driver"
    for out, processes in ((pooled, 1), (in_driver, 0)):
        config = {"run": {"proposal_processes": processes}}
        evoforge.run(curve_fit, iterations=16, seed=3, workers=1, config=config, out=out)
    assert _history(pooled) == _history(in_driver)


def test_resume_continues_the_same_run(curve_fit: Path, tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    evoforge.run(curve_fit, iterations=16, seed=2, workers=1, out=straight)
    split = tmp_path / "split"
    evoforge.run(curve_fit, iterations=8, seed=2, workers=1, out=split)
    done = run_cli("resume", str(split), "--iterations", "8", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _history(split) == _history(straight)


def test_resume_evaluations_carries_on_a_run_that_spent_its_evaluations(
    curve_fit: Path, tmp_path: Path
) -> None:
    """More iterations cannot carry on a run stopped at its evaluations budget: that says
    so in one line (exit 2) and runs nothing; ``--evaluations N`` allows N more, and that
    becomes the run's budget (a plain resume then has nothing left to do)."""
    run_dir = tmp_path / "run"
    config = {"run": {"max_evaluations": 6}}
    first = evoforge.run(curve_fit, iterations=40, seed=2, workers=1, config=config, out=run_dir)
    assert first.stop_reason == "evaluations budget reached" and first.evaluations == 6
    more = run_cli("resume", str(run_dir), "--iterations", "10", "--quiet")
    assert more.returncode == 2 and more.stderr.count("\n") == 1, more.stderr
    assert (
        f"{run_dir} would stop again before its first step: evaluations budget reached (6 of 6):"
        f" 'evoforge resume {run_dir} --evaluations N' allows N more" in more.stderr
    )
    assert len(_history(run_dir)) == first.iterations + 1  # nothing ran
    done = run_cli("resume", str(run_dir), "--evaluations", "4", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["evaluations"] == 10 and status["budget_evaluations"] == 10
    assert status["stop_reason"] == "evaluations budget reached"
    again = evoforge.resume(run_dir)  # the stored budget: 10
    assert again.evaluations == 10 and again.iterations == status["iterations"]
    with pytest.raises(EngineError, match=r"evaluations budget reached \(10 of 10\)"):
        evoforge.resume(run_dir, iterations=5)


def test_resume_past_a_met_target_says_it_is_a_new_run(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = evoforge.run(
        curve_fit,
        iterations=40,
        seed=2,
        workers=1,
        config={"run": {"target_score": -1e9}},
        out=run_dir,
    )
    assert first.stop_reason == "target score reached"
    more = run_cli("resume", str(run_dir), "--iterations", "10", "--quiet")
    assert more.returncode == 2, more.stderr
    assert "would stop again before its first step: target score reached (-1e+09; its best" in (
        more.stderr
    )
    assert "a new run with a higher run.target_score" in more.stderr


def test_openevolve_problem_runs_unchanged(openevolve_problem: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_cli(
        "run", str(openevolve_problem), "--iterations", "40", "--out", str(run_dir), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    assert "llm.primary_model" in done.stderr  # the not-applied settings are named
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert best["score"] > best["initial_score"]
