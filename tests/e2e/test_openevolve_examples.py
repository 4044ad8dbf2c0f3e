"""A problem written the way OpenEvolve's examples are runs unchanged, from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evoforge.program import EvalStatus
from evoforge.storage.db import RunDatabase

from .conftest import PROBLEMS, run_cli


def test_a_k_module_style_problem_runs_unchanged(tmp_path: Path) -> None:
    problem = tmp_path / "k_module"
    shutil.copytree(PROBLEMS / "k_module", problem)
    run_dir = tmp_path / "run"
    done = run_cli("run", str(problem), "--iterations", "12", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert best["initial_score"] == 0.25  # one module of four right
    assert best["score"] >= best["initial_score"]
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        steps = list(db.steps())
    finally:
        db.close()
    seed = steps[0].program
    # the "artifacts" mapping among the metrics became artifacts; the text metric is
    # kept as one too, and neither is fitness
    assert set(seed.metrics) == {
        "correct_modules",
        "total_modules",
        "accuracy",
        "combined_score",
        "eval_time",
    }
    assert seed.artifacts["status"] == "1/4 modules correct"
    assert seed.artifacts["metric:summary"] == "keep searching"
    evaluated = [s.program for s in steps[1:] if s.evaluated]
    assert evaluated and all(p.status is EvalStatus.OK for p in evaluated)
    # unusable configurations come back as {"metrics": ..., "artifacts": ...} and score 0
    for program in evaluated:
        if "validation_errors" in program.artifacts:
            assert program.score == 0.0 and program.artifacts["status"] == "VALIDATION_ERROR"


def test_an_openevolve_config_given_with_config_is_translated(tmp_path: Path) -> None:
    problem = tmp_path / "curve_fit"
    shutil.copytree(PROBLEMS / "curve_fit", problem)
    phase = tmp_path / "config_phase_1.yaml"  # OpenEvolve's examples name them so
    phase.write_text(
        "max_iterations: 2\nrandom_seed: 5\nllm:\n  temperature: 0.7\n"
        "evaluator:\n  parallel_evaluations: 1\n"
    )
    run_dir = tmp_path / "run"
    done = run_cli("run", str(problem), "--config", str(phase), "--out", str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (
        "config_phase_1.yaml is an OpenEvolve config; settings evoforge does not apply: "
        "llm.temperature" in done.stderr
    )
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["iterations"] == 2
