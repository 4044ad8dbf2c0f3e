"""A badly built plugin part is reported by name and costs a step, never the run or a
leak: errors when parts are built, when they run, and misspelled feature names."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import evoforge
from evoforge.engine import EngineError
from evoforge.registry import BACKENDS, FEATURES, OPERATORS

PROBLEM = Path(__file__).parent / "e2e" / "problems" / "curve_fit"
FAULTY = "tests.plugins.faulty"


@pytest.fixture
def registered() -> Iterator[list[tuple[Any, str]]]:
    """Registrations a test adds, forgotten after it."""
    added: list[tuple[Any, str]] = []
    yield added
    for registry, name in added:
        registry.unregister(name)


def _register(added: list[tuple[Any, str]], registry: Any, name: str, target: str) -> None:
    registry.register(name, f"{FAULTY}:{target}", tags=("symbolic",))
    added.append((registry, name))


def _run(tmp_path: Path, config: dict[str, Any], iterations: int = 4) -> evoforge.RunResult:
    problem = tmp_path / "problem"
    if not problem.exists():
        shutil.copytree(PROBLEM, problem)
    return evoforge.run(
        problem, iterations=iterations, seed=1, config=config, out=tmp_path / "run", fresh=True
    )


def _children() -> set[int]:
    """Process ids whose parent is this process (Linux /proc)."""
    mine = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == mine:
            found.add(int(entry.name))
    return found


def _rows(tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as connection:
        return connection.execute(query).fetchall()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("RaisingOperator", r"register its builder 'tests\.plugins\.faulty:RaisingOperator\."),
        ("NeedsArgumentOperator.from_settings", r"TypeError: .*missing 1 required positional"),
        ("NoSuchOperator.from_settings", r"does not load: AttributeError: .*NoSuchOperator"),
    ],
)
def test_an_operator_that_cannot_be_built_stops_the_start_naming_its_entry(
    tmp_path: Path, registered: list[tuple[Any, str]], target: str, message: str
) -> None:
    _register(registered, OPERATORS, "faulty", target)
    with pytest.raises(EngineError, match=rf"^operator 'faulty' \({FAULTY}:.*" + message):
        _run(tmp_path, {"operators": {"enabled": ["faulty", "tune"]}})
    assert not (tmp_path / "run").exists()


def test_a_backend_that_raises_while_starting_stops_the_start_and_leaves_nothing(
    tmp_path: Path, registered: list[tuple[Any, str]]
) -> None:
    _register(registered, BACKENDS, "unreachable", "UnreachableBackend")
    before = _children()
    with pytest.raises(
        EngineError,
        match=r"^evaluation backend 'unreachable' \(.*\) could not be built: "
        r"ConnectionError: cannot reach the cluster",
    ):
        _run(tmp_path, {"evaluator": {"backend": "unreachable"}})
    assert not (tmp_path / "run").exists()
    assert _children() <= before


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("RaisingBackend", "evaluation backend 'broken' raised ConnectionError: lost the cluster"),
        ("SilentBackend", "evaluation backend 'broken' returned NoneType, not a RawEvaluation"),
    ],
)
def test_a_backend_that_fails_an_evaluation_fails_that_evaluation_only(
    tmp_path: Path, registered: list[tuple[Any, str]], target: str, reason: str
) -> None:
    _register(registered, BACKENDS, "broken", target)
    # the seed is an evaluation like the others: the start says why it did not score
    with pytest.raises(EngineError, match=r"the seed program did not score.*" + reason):
        _run(tmp_path, {"evaluator": {"backend": "broken"}})
    assert not (tmp_path / "run").exists()


def test_a_feature_that_raises_on_a_program_gives_it_0_and_records_why(
    tmp_path: Path, registered: list[tuple[Any, str]]
) -> None:
    _register(registered, FEATURES, "fragile", "fragile_feature")
    config = {"archive": {"num_islands": 1, "features": [{"name": "fragile"}]}}
    result = _run(tmp_path, config, iterations=3)
    assert result.iterations == 3
    rows = _rows(tmp_path, "SELECT features, artifacts FROM programs WHERE status = 'ok'")
    assert rows
    for features, artifacts in rows:
        assert json.loads(features) == {"fragile": 0.0}
        assert json.loads(artifacts)["feature_errors"] == (
            "feature 'fragile' failed, 0.0 used: ValueError: cannot measure this program"
        )


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("RaisingOperator", "operator 'faulty' raised ZeroDivisionError: the operator divided"),
        ("IntCodeOperator", "operator 'faulty' returned a Proposal whose code is int (not text)"),
        ("TextOperator", "operator 'faulty' returned str (not a Proposal or None)"),
    ],
)
def test_an_operator_that_raises_or_answers_wrongly_is_a_rejection_saying_so(
    tmp_path: Path, registered: list[tuple[Any, str]], target: str, reason: str
) -> None:
    _register(registered, OPERATORS, "faulty", f"{target}.from_settings")
    config = {"operators": {"enabled": ["faulty"]}, "run": {"workers": 1}}
    result = _run(tmp_path, config, iterations=2)
    assert result.iterations == 2
    rows = _rows(tmp_path, "SELECT status, rejection, reason FROM programs WHERE seq > 0")
    assert len(rows) == 2
    for status, rejection, text in rows:
        assert (status, rejection) == ("rejected", "operator_error")
        assert text.splitlines()[-1].startswith(reason)
    if target == "RaisingOperator":  # the traceback's last lines come first
        assert 'raise ZeroDivisionError("the operator divided by zero")' in text


def test_a_misspelled_feature_stops_the_start_naming_it_and_the_metrics(tmp_path: Path) -> None:
    before = _children()
    config = {"archive": {"features": [{"name": "complexty"}]}, "run": {"workers": 2}}
    with pytest.raises(
        EngineError,
        match=r"^archive\.features: 'complexty' is neither a registered feature "
        r"\(complexity, diversity, score, behaviour\) nor a metric the evaluator reported "
        r"for the seed \(combined_score, mse\)",
    ):
        _run(tmp_path, config)
    assert not (tmp_path / "run").exists()  # tidied as any failed start
    assert _children() <= before  # the proposal workers were stopped


def test_a_feature_the_evaluator_reports_is_accepted(tmp_path: Path) -> None:
    result = _run(tmp_path, {"archive": {"features": [{"name": "mse"}]}}, iterations=1)
    assert result.iterations == 1


@pytest.mark.timeout(120)
def test_an_operator_that_never_answers_does_not_hold_the_run_past_its_wall_time(
    tmp_path: Path, registered: list[tuple[Any, str]]
) -> None:
    """The job still making its child is cancelled when the wall time is up (nothing of
    it was evaluated); the run ends instead of waiting for it."""
    _register(registered, OPERATORS, "faulty", "StallingOperator.from_settings")
    config = {
        "operators": {"enabled": ["faulty"]},
        "run": {"workers": 1, "max_wall_time_s": 1.0},
    }
    result = _run(tmp_path, config, iterations=10)
    assert result.stop_reason == "wall-time budget reached"
    assert result.iterations == 0
    assert _rows(tmp_path, "SELECT COUNT(*) FROM programs") == [(1,)]  # the seed alone
