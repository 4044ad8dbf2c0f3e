"""The run loop's budgets and log modes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import evoforge
from evoforge.cli import main

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
