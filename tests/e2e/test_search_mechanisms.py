"""Whole runs with the search mechanisms acting: stagnation responses (annealing and
island restarts) stay reproducible with one worker and resumable, they show in the run's
events, in ``status`` and on ``--jsonl``; every child records its parent source; the best
is offered one simplification before the run ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import evoforge
from evoforge.storage.db import RunDatabase

from .conftest import run_cli

# A short window, the highest threshold and a short patience: a 36-child run on
# curve_fit anneals islands and restarts one (at step 26 with seed 4).
EAGER = {
    "archive": {
        "num_islands": 3,
        "stagnation": {
            "window": 4,
            "entropy_threshold": 1.0,
            "patience": 2,
            "max_temperature": 2.0,
            "restart_elites": 2,
        },
    },
    "run": {"simplify_best": False},
}


def _history(run_dir: Path) -> tuple[list[tuple[Any, ...]], list[tuple[int, str, str]]]:
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        steps = [
            (s.program.code_hash, s.program.score, s.program.parent_id, s.program.parent_source)
            for s in db.steps()
        ]
        events = [
            (e.seq, e.kind, json.dumps(e.payload, sort_keys=True))
            for e in db.events()
            if e.kind in ("anneal", "island_restart", "migration", "new_best")
        ]
        return steps, events
    finally:
        db.close()


def test_island_restarts_are_reproducible_and_resumable(curve_fit: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    evoforge.run(curve_fit, iterations=36, seed=4, workers=1, config=EAGER, out=first)
    evoforge.run(curve_fit, iterations=36, seed=4, workers=1, config=EAGER, out=second)
    steps, events = _history(first)
    kinds = {kind for _, kind, _ in events}
    assert {"anneal", "island_restart"} <= kinds  # the mechanisms acted
    assert (steps, events) == _history(second)
    assert all(source for *_, source in steps[1:])  # every child names its parent source
    # stopped before the restart, or just after it (the replay rebuilds the restarted
    # island), and resumed: the same run
    for stop_at in (13, 27):
        split = tmp_path / f"split-{stop_at}"
        evoforge.run(curve_fit, iterations=stop_at, seed=4, workers=1, config=EAGER, out=split)
        done = run_cli("resume", str(split), "--iterations", str(36 - stop_at), "--quiet")
        assert done.returncode == 0, done.stderr
        assert _history(split) == (steps, events)


def test_status_and_jsonl_show_sources_and_stagnation(curve_fit: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = tmp_path / "eager.yaml"
    config.write_text(json.dumps(EAGER), encoding="utf-8")
    done = run_cli(
        "run",
        str(curve_fit),
        "--iterations",
        "36",
        "--workers",
        "1",
        "--seed",
        "4",
        "--config",
        str(config),
        "--out",
        str(run_dir),
        "--jsonl",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    steps = [line for line in lines if line["event"] == "step"]
    assert all(step["parent_source"] for step in steps)
    assert any(line["event"] == "anneal" for line in lines)
    assert any(line["event"] == "island_restart" for line in lines)
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert sum(s["uses"] for s in status["parent_sources"].values()) == 36
    assert {e["kind"] for e in status["stagnation_events"]} == {"anneal", "island_restart"}
    human = run_cli("status", str(run_dir)).stdout
    assert "parent source" in human and "annealed" in human and "restarted" in human


def test_the_best_is_simplified_before_the_run_ends(curve_fit: Path, tmp_path: Path) -> None:
    """A seed that carries dead code: the final pass removes it, the clean version scores
    the same and becomes the run's best, within the iteration budget."""
    program = curve_fit / "initial_program.py"
    code = program.read_text(encoding="utf-8")
    start = code.index("# EVOLVE-BLOCK-START") + len("# EVOLVE-BLOCK-START\n")
    program.write_text(code[:start] + "UNUSED_COPY = 1.0\nUNUSED_COPY = 2.0\n" + code[start:])
    run_dir = tmp_path / "run"
    only_tune = {"operators": {"enabled": ["tune"]}}  # nothing simplifies during the run
    result = evoforge.run(curve_fit, iterations=6, seed=1, workers=1, config=only_tune, out=run_dir)
    assert result.iterations == 6  # the final pass fits the budget
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert best["code"].count("UNUSED_COPY =") == 1  # the shadowed copy is gone
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        finals = [s.program for s in db.steps() if s.program.parent_source == "final"]
        simplified = db.events("best_simplified")
        parent = db.program(finals[0].parent_id or "") if finals else None
    finally:
        db.close()
    assert len(finals) == 1 and finals[0].operator == "simplify"
    assert parent is not None and parent.code.count("UNUSED_COPY =") == 2
    assert best["program_id"] == finals[0].id == simplified[0].payload["program_id"]
    assert best["score"] == parent.score  # the same score: the clean version replaces it
    assert result.best is not None and result.best.id == finals[0].id


def test_the_budget_is_used_when_the_clean_best_was_evaluated_already(
    curve_fit: Path, tmp_path: Path
) -> None:
    """``simplify`` children evaluate the clean seed during the run, at the seed's score,
    and replace it as the best; ordinary children use the whole evaluation budget, and
    the best at the end carries no shadowed copy."""
    program = curve_fit / "initial_program.py"
    code = program.read_text(encoding="utf-8")
    start = code.index("# EVOLVE-BLOCK-START") + len("# EVOLVE-BLOCK-START\n")
    program.write_text(code[:start] + "UNUSED_COPY = 1.0\nUNUSED_COPY = 2.0\n" + code[start:])
    config = {
        "operators": {"enabled": ["simplify", "tune"]},
        "run": {"max_evaluations": 12, "iterations": 200},
    }
    run_dir = tmp_path / "run"
    result = evoforge.run(curve_fit, seed=2, workers=1, config=config, out=run_dir)
    assert result.evaluations == 12
    assert result.stop_reason == "evaluations budget reached"
    # a simplify child at the best's score replaces it during the run: the best is clean
    best = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert result.best is not None and best["program_id"] == result.best.id
    assert best["code"].count("UNUSED_COPY =") <= 1
    status = json.loads(run_cli("status", str(run_dir), "--json").stdout)
    assert status["best_simplified"] is not None  # the latest replacement
    db = RunDatabase(run_dir / RunDatabase.FILENAME)
    try:
        first = db.events("best_simplified")[0].payload  # the clean seed took its place
        finals = [s.program for s in db.steps() if s.program.parent_source == "final"]
    finally:
        db.close()
    assert first["from"] == "seed" and first["score"] == status["initial_score"]
    assert finals == []  # every evaluation went to ordinary children
