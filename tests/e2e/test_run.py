"""Whole runs offline: improvement, the JSON contracts of best/status, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import evoforge
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


def test_openevolve_problem_runs_unchanged(openevolve_problem: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_cli(
        "run", str(openevolve_problem), "--iterations", "40", "--out", str(run_dir), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    assert "llm.primary_model" in done.stderr  # the not-applied settings are named
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert best["score"] > best["initial_score"]
