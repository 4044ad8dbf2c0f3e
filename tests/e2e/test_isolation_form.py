"""`evoforge run` says which form a problem uses, and `status --json` records it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import PROBLEMS, run_cli


def _run_and_status(problem: Path, run_dir: Path) -> tuple[str, dict[str, object]]:
    done = run_cli("run", str(problem), "--iterations", "12", "--out", str(run_dir), "--quiet")
    assert done.returncode == 0, done.stderr
    status = run_cli("status", str(run_dir), "--json")
    assert status.returncode == 0, status.stderr
    return done.stderr, json.loads(status.stdout)


def test_an_isolated_problem_is_said_to_be_isolated_and_improves(tmp_path: Path) -> None:
    problem = tmp_path / "isolated_curve_fit"
    shutil.copytree(PROBLEMS / "isolated_curve_fit", problem)
    stderr, status = _run_and_status(problem, tmp_path / "run")
    assert "isolation" not in stderr and "shared-process form" not in stderr  # quiet: no news
    assert status["isolation"] == "isolated"
    shown = run_cli(
        "run", str(problem), "--iterations", "2", "--out", str(tmp_path / "r2"), "--jsonl"
    )
    notes = [json.loads(line) for line in shown.stdout.splitlines() if '"note"' in line]
    assert any(note["message"].startswith("isolation: isolated") for note in notes)
    assert isinstance(status["best_score"], float)
    assert isinstance(status["initial_score"], float)
    assert status["best_score"] >= status["initial_score"]


def test_a_shared_process_problem_gets_a_one_line_warning(curve_fit: Path, tmp_path: Path) -> None:
    stderr, status = _run_and_status(curve_fit, tmp_path / "run")
    warnings = [line for line in stderr.splitlines() if "shared-process form" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning:")
    assert "evaluate_candidate(candidate)" in warnings[0]
    assert status["isolation"] == "shared-process"
